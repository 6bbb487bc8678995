/* SPDX-License-Identifier: MIT */
/* The futex parker: an idle CPU sleeps on its wake sequence (parker.h). */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "parker.h"
#include "timer.h"

static void futex_park(struct rt_cpu *c, uint32_t seq, uint64_t deadline)
{
	struct timespec ts, *tp = NULL;

	if (deadline) {
		uint64_t now = rt_now();
		uint64_t left = deadline > now ? deadline - now : 0;

		if (!left)
			return;
		ts.tv_sec = (time_t)(left / 1000000000u);
		ts.tv_nsec = (long)(left % 1000000000u);
		tp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)&c->wake_seq, FUTEX_WAIT_PRIVATE, seq, tp, NULL, 0);
}

static void futex_kick(struct rt_cpu *c)
{
	syscall(SYS_futex, (uint32_t *)&c->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int futex_poll(struct rt_cpu *c)
{
	(void)c;
	return 0; /* no events of its own */
}

const struct rt_parker rt_parker_futex = {
	.name = "futex",
	.park = futex_park,
	.kick = futex_kick,
	.poll = futex_poll,
};

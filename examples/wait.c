/* SPDX-License-Identifier: MIT */
/*
 * Wait queues on one CPU: waiters sleep until notified, notify_one wakes
 * the oldest, notify_all the rest, and nobody wakes up early.
 */
#include "check.h"
#include "vsched/vs.h"

#define N 5

static struct vs_wq wq = VS_WQ_INIT;
static int notified, woke[N], wake_order[N], nwoke;

static int waiter(void *arg)
{
	int i = (int)(long)arg;

	CHECK(vs_wq_wait(&wq) == 0);
	CHECK(notified > 0); /* never before a notify */
	woke[i]++;
	wake_order[nwoke++] = i;
	return 0;
}

int main(void)
{
	struct vs_config cfg;
	vs_task_t *t[N];
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	CHECK(vs_runtime_start(&cfg) == 0);
	CHECK(vs_wq_notify_one(&wq) == 0); /* nobody waits yet */
	for (long i = 0; i < N; i++)
		CHECK(vs_task_spawn(waiter, (void *)i, NULL, &t[i]) == 0);
	for (int r = 0; r < 3; r++)
		CHECK(vs_task_yield() == 0); /* let them all block */
	CHECK(nwoke == 0);

	notified = 1;
	CHECK(vs_wq_notify_one(&wq) == 1);
	CHECK(vs_task_join(t[0], &code) == 0);
	CHECK(nwoke == 1 && wake_order[0] == 0);

	notified = 2;
	CHECK(vs_wq_notify_all(&wq) == N - 1);
	for (int i = 1; i < N; i++)
		CHECK(vs_task_join(t[i], &code) == 0);
	CHECK(nwoke == N);
	for (int i = 0; i < N; i++) {
		CHECK(woke[i] == 1);
		CHECK(wake_order[i] == i); /* FIFO wake-up on one CPU */
	}
	CHECK(vs_wq_notify_all(&wq) == 0);
	CHECK(vs_runtime_stop() == 0);
	puts("wait: notify_one woke the oldest, notify_all the rest, in order");
	return 0;
}

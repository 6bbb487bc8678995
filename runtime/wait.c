/* SPDX-License-Identifier: MIT */
/*
 * The wait protocol every blocking call follows, so that a wait can end in
 * three ways (a notify, a timer, the canceller of a stopping runtime) and
 * the last two never touch a queue the wait has already left.
 */
#include <errno.h>

#include "rt.h"
#include "park.h"
#include "wait.h"
#include "wq.h"
#include "io.h"
#include "task.h"

/*
 * wword = the number of the task's current wait << 32 | pins. The task
 * bumps the number when a wait ends; a timer or canceller pins the word
 * (one RMW) and goes on only if the number is still the one it was given.
 * Both sides are read-modify-writes of one word, so they are totally
 * ordered: either the pin came first, and the task, seeing it, waits for
 * the unpin before it leaves (so the queue stays alive while the firer
 * uses it), or the bump came first, and the firer sees a new number and
 * touches nothing.
 */
#define WAIT_NUMBER ((uint64_t)1 << 32)
#define WAIT_PINS 0xffffffffu

/* The task is then marked BLOCKED by the core (with a release: a firer
 * that reads it with an acquire also sees the kind, wwq and direct, stored
 * here). */
void rt_wait_queue_locked(struct vs_task *me, struct vs_wq *wq, bool front)
{
	me->why = RT_WHY_NOTIFIED;
	me->wkind = RT_WAIT_QUEUE;
	me->wwq = wq;
	rt_wq_append_locked(wq, me, front);
}

void rt_wait_direct(struct vs_task *me)
{
	me->why = RT_WHY_NOTIFIED;
	me->wkind = RT_WAIT_DIRECT;
	atomic_store_explicit(&me->direct, 1, memory_order_relaxed);
}

/* A queue wait: off the queue, under its lock, if a notify has not taken
 * it off first. The pin keeps the queue alive meanwhile. */
static bool fire_queue(struct vs_task *t, uint8_t why)
{
	struct vs_wq *wq = t->wwq;
	bool wake = false;

	rt_wq_lock(wq);
	if (t->queued) {
		rt_wq_remove_locked(wq, t);
		t->why = why;
		wake = true;
	}
	rt_wq_unlock(wq);
	return wake;
}

/* A direct wait (sleep, join): whoever claims it first ends it. */
static bool fire_direct(struct vs_task *t, uint8_t why)
{
	if (!rt_wait_claim(t))
		return false;
	t->why = why;
	return true;
}

/* An I/O wait: the backend's (io.h). */
static bool fire_io(struct vs_task *t, uint8_t why)
{
	/* pooled is set before the wait begins; the state is the pool's */
	if (t->wio->pooled)
		return rt_offload_fire(t, why);
	return rt_g->io->fire(t, why);
}

const struct rt_wait_kind rt_wait_kinds[RT_WAIT_NKINDS] = {
	[RT_WAIT_DIRECT] = { .fire = fire_direct },
	[RT_WAIT_QUEUE] = { .fire = fire_queue },
	[RT_WAIT_IO] = { .fire = fire_io },
};

bool rt_wait_claim(struct vs_task *t)
{
	/* one claimer wins: the task is woken exactly once */
	return atomic_exchange_explicit(&t->direct, 0, memory_order_acquire) != 0;
}

int rt_wait_end(struct vs_task *me)
{
	/* acq_rel: the unpin of a firer that was inside (release) is seen,
	 * and so is the why it wrote */
	uint64_t w = atomic_fetch_add_explicit(&me->wword, WAIT_NUMBER, memory_order_acq_rel);

	while (w & WAIT_PINS) {
		rt_relax();
		w = atomic_load_explicit(&me->wword, memory_order_acquire);
	}
	return rt_wait_result(me);
}

int rt_why_err(uint8_t why)
{
	switch (why) {
	case RT_WHY_TIMEDOUT:
		return -ETIMEDOUT;
	case RT_WHY_CANCELED:
		return -ECANCELED;
	case RT_WHY_CLOSED:
		return -EBADF; /* vs_close of the fd waited on */
	default:
		return 0;
	}
}

int rt_wait_result(const struct vs_task *me)
{
	return rt_why_err(me->why);
}

bool rt_wait_fire(struct vs_task *t, uint32_t seq, uint8_t why)
{
	uint64_t w = atomic_fetch_add_explicit(&t->wword, 1, memory_order_acquire);
	bool wake = false, early = false;

	/* the number still matches: the task has not left wait @seq, and
	 * cannot until we unpin. BLOCKED (acquire) makes its kind and wait
	 * object visible. A task not blocked yet (still on its way to park,
	 * on another CPU than a firer that is an idle CPU helping) is told
	 * so: a timer is kept for later, the canceller tries again */
	if ((uint32_t)(w >> 32) == seq) {
		if (atomic_load_explicit(&rt_slot(t)->state, memory_order_acquire) ==
		    VSCHED_TASK_BLOCKED) {
			rt_tsan_acquire(t); /* the core's release of BLOCKED */
			if (t->wkind < RT_WAIT_NKINDS)
				wake = rt_wait_kinds[t->wkind].fire(t, why);
		} else {
			early = true;
		}
	}
	atomic_fetch_sub_explicit(&t->wword, 1, memory_order_release);
	/* still blocked (we took it off its queue, or claimed it): alive */
	if (wake)
		rt_wake(t, false);
	return early;
}

void rt_wait_cancel_all(void)
{
	uint32_t n = atomic_load_explicit(&vsched_vvar_glob(rt_g->vvar)->bump, memory_order_acquire);

	for (uint32_t i = 0; i < n; i++) {
		struct vs_task *t = &rt_g->recs[i];

		if (!rt_task_tryget(t))
			continue;
		if (!t->idle && !t->boot)
			(void)rt_wait_fire(t, rt_wait_seq(t), RT_WHY_CANCELED); /* or next sweep */
		rt_task_put(t);
	}
}

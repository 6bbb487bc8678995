/* SPDX-License-Identifier: MIT */
/*
 * Wait queues inside the runtime (wq.c): locking, queueing, blocking.
 */
#ifndef VS_RUNTIME_WQ_H
#define VS_RUNTIME_WQ_H

#include "rt.h"
#include "cpu.h"

static inline void rt_wq_lock(struct vs_wq *wq)
{
	rt_lock_flag(&wq->lock);
}

static inline void rt_wq_unlock(struct vs_wq *wq)
{
	rt_unlock_flag(&wq->lock);
}
/* Removes @t's queued waiter (wq locked). */
void rt_wq_remove_locked(struct vs_wq *wq, struct vs_task *t);
/* Appends @t's waiter (wq locked); with @front, puts it first. */
void rt_wq_append_locked(struct vs_wq *wq, struct vs_task *t, bool front);
/*
 * With @wq locked: blocks the calling stackful task until notified, until
 * @deadline (VS_NEVER: none) or, if @cancelable, until the runtime cancels; the
 * lock is dropped. Queued last, or with @front first (a waiter that keeps
 * its turn). 0, -ETIMEDOUT or -ECANCELED.
 */
int rt_wq_block_locked(struct vs_wq *wq, struct rt_cpu *c, uint64_t deadline, bool cancelable,
		       bool front);
/* The stackless form: registers @me (lock kept); -EAGAIN when registered,
 * -EBUSY if it already waits, -ETIMEDOUT, -ECANCELED. @plain: a wait
 * without a predicate, whose end the next poll reports (wq.c). */
int rt_wq_park_poll_locked(struct vs_wq *wq, struct vs_task *me, uint64_t deadline, bool plain);

#endif

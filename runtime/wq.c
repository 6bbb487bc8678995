/* SPDX-License-Identifier: MIT */
/*
 * Wait queues: a short spinlock over an intrusive list of waiting tasks. A
 * waiter marks itself blocked before the lock is dropped, so a notifier
 * that finds it can always hand it to vsched_unblock_task: no wake-up is
 * lost. How a wait begins and ends is wait.c's protocol.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"
#include "park.h"
#include "wait.h"
#include "timer.h"
#include "wq.h"

void vs_wq_init(struct vs_wq *wq)
{
	__atomic_clear(&wq->lock, __ATOMIC_RELAXED);
	wq->head = wq->tail = NULL;
}

void rt_wq_append_locked(struct vs_wq *wq, struct vs_task *t, bool front)
{
	struct rt_waiter *w = &t->waiter;

	if (front) {
		w->prev = NULL;
		w->next = wq->head;
		if (wq->head)
			((struct rt_waiter *)wq->head)->prev = w;
		else
			wq->tail = w;
		wq->head = w;
	} else {
		w->next = NULL;
		w->prev = wq->tail;
		if (wq->tail)
			((struct rt_waiter *)wq->tail)->next = w;
		else
			wq->head = w;
		wq->tail = w;
	}
	t->queued = true;
}

void rt_wq_remove_locked(struct vs_wq *wq, struct vs_task *t)
{
	struct rt_waiter *w = &t->waiter;

	if (w->prev)
		w->prev->next = w->next;
	else
		wq->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		wq->tail = w->prev;
	t->queued = false;
}

static struct vs_task *wq_pop(struct vs_wq *wq)
{
	struct rt_waiter *w = wq->head;

	if (!w)
		return NULL;
	rt_wq_remove_locked(wq, rt_waiter_task(w));
	return rt_waiter_task(w);
}

int rt_wq_block_locked(struct vs_wq *wq, struct rt_cpu *c, uint64_t deadline, bool cancelable,
		       bool front)
{
	struct vs_task *me = c->cur;
	int r = rt_wait_begin(c, me, deadline, cancelable);

	if (r < 0) {
		rt_wq_unlock(wq);
		return r;
	}
	rt_wait_queue_locked(me, wq, front);
	/* the lock goes once we are off the CPU */
	rt_park(c, me, rt_unlock_flag_cb, &wq->lock);
	return rt_wait_end(me);
}

int rt_wq_park_poll_locked(struct vs_wq *wq, struct vs_task *me, uint64_t deadline, bool plain)
{
	struct rt_cpu *c = rt_self();
	int r;

	if (me->in_wait)
		return -EBUSY;
	r = rt_wait_begin(c, me, deadline, true);
	if (r < 0)
		return r;
	me->in_wait = plain ? RT_IN_WAIT_PLAIN : RT_IN_WAIT;
	rt_wait_queue_locked(me, wq, false);
	rt_mark_blocked(c);
	return -EAGAIN;
}

/* The calling stackful task's CPU, or NULL. */
static struct rt_cpu *stackful_cpu(void)
{
	struct rt_cpu *c = rt_self();

	return c && c->cur && !c->cur->stackless && !c->cur->idle ? c : NULL;
}

/*
 * Waits until notified, or until pred (if any) holds, checked under the
 * queue's lock before each sleep; until @deadline (VS_NEVER: none).
 */
static int wait_stackful(struct vs_wq *wq, bool (*pred)(void *), void *arg, uint64_t deadline)
{
	struct rt_cpu *c = stackful_cpu();
	int r;

	if (!wq)
		return -EINVAL;
	if (!c)
		return -EPERM;
	for (;;) {
		rt_wq_lock(wq);
		if (pred && pred(arg)) {
			rt_wq_unlock(wq);
			return 0;
		}
		r = rt_wq_block_locked(wq, c, deadline, true, false);
		if (!pred)
			return r;
		if (r < 0) {
			bool held;

			/* the predicate decides, not the timer or the
			 * canceller: it may have become true meanwhile (a
			 * mutex handed over, an element taken) */
			rt_wq_lock(wq);
			held = pred(arg);
			rt_wq_unlock(wq);
			return held ? 0 : r;
		}
		c = rt_self();
	}
}

int vs_wq_wait(struct vs_wq *wq)
{
	return wait_stackful(wq, NULL, NULL, VS_NEVER);
}

int vs_wq_wait_until(struct vs_wq *wq, uint64_t deadline_ns)
{
	return wait_stackful(wq, NULL, NULL, deadline_ns);
}

int vs_wq_wait_pred(struct vs_wq *wq, bool (*pred)(void *arg), void *arg)
{
	if (!pred)
		return -EINVAL;
	return wait_stackful(wq, pred, arg, VS_NEVER);
}

int vs_wq_wait_pred_until(struct vs_wq *wq, bool (*pred)(void *arg), void *arg,
				  uint64_t deadline_ns)
{
	if (!pred)
		return -EINVAL;
	return wait_stackful(wq, pred, arg, deadline_ns);
}

/* The calling stackless task, or NULL. */
static struct vs_task *stackless_self(void)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;

	return me && me->stackless ? me : NULL;
}

/*
 * A plain wait has no condition to check again, so the poll that its
 * wake-up brings reports how it ended (wended: set for that poll only,
 * task.c); any other call begins a new wait.
 */
static int wait_poll(struct vs_wq *wq, uint64_t deadline)
{
	struct vs_task *me = stackless_self();
	int r;

	if (!wq)
		return -EINVAL;
	if (!me)
		return -EPERM;
	/* the plain wait on @wq that ended, not yet reported (a wait
	 * registered since, in this poll, is still in progress) */
	if (me->wended == RT_IN_WAIT_PLAIN && !me->in_wait && me->wwq == wq) {
		me->wended = 0;
		return rt_wait_result(me);
	}
	rt_wq_lock(wq);
	r = rt_wq_park_poll_locked(wq, me, deadline, true);
	rt_wq_unlock(wq);
	return r;
}

int vs_wq_wait_poll(struct vs_wq *wq)
{
	return wait_poll(wq, VS_NEVER);
}

int vs_wq_wait_until_poll(struct vs_wq *wq, uint64_t deadline_ns)
{
	return wait_poll(wq, deadline_ns);
}

int vs_wq_wait_pred_until_poll(struct vs_wq *wq, bool (*pred)(void *arg), void *arg,
				       uint64_t deadline_ns)
{
	struct vs_task *me = stackless_self();
	int r = 0;

	if (!wq || !pred)
		return -EINVAL;
	if (!me)
		return -EPERM;
	rt_wq_lock(wq);
	if (!pred(arg))
		r = rt_wq_park_poll_locked(wq, me, deadline_ns, false);
	rt_wq_unlock(wq);
	return r;
}

int vs_wq_wait_pred_poll(struct vs_wq *wq, bool (*pred)(void *arg), void *arg)
{
	return vs_wq_wait_pred_until_poll(wq, pred, arg, VS_NEVER);
}

int vs_wq_notify_one(struct vs_wq *wq)
{
	struct vs_task *t;

	if (!wq)
		return -EINVAL;
	rt_wq_lock(wq);
	t = wq_pop(wq);
	rt_wq_unlock(wq);
	if (!t)
		return 0;
	rt_wake(t, true);
	return 1;
}

int vs_wq_notify_task(struct vs_wq *wq, vs_task_t *t)
{
	bool found;

	if (!wq || !t)
		return -EINVAL;
	rt_wq_lock(wq);
	/* a task waits on one queue at a time: its own fields say which */
	found = t->queued && t->wkind == RT_WAIT_QUEUE && t->wwq == wq;
	if (found)
		rt_wq_remove_locked(wq, t);
	rt_wq_unlock(wq);
	if (!found)
		return 0;
	rt_wake(t, true);
	return 1;
}

int vs_wq_notify_all(struct vs_wq *wq)
{
	struct rt_waiter *w, *list;
	int n = 0;

	if (!wq)
		return -EINVAL;
	rt_wq_lock(wq);
	list = wq->head;
	for (w = list; w; w = w->next)
		rt_waiter_task(w)->queued = false;
	wq->head = wq->tail = NULL;
	rt_wq_unlock(wq);
	/* each waiter stays blocked, so its links stay put, until woken */
	while (list) {
		w = list;
		list = w->next;
		rt_wake(rt_waiter_task(w), false);
		n++;
	}
	return n;
}

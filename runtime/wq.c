/* SPDX-License-Identifier: MIT */
/*
 * Wait queues: a short spinlock over an intrusive list of waiters. A waiter
 * marks itself blocked before the lock is dropped, so a notifier that finds
 * it can always hand it to vsched_unblock_task: no wake-up is lost.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"

void vs_wq_init(struct vs_wq *wq)
{
	atomic_flag_clear(&wq->lock);
	wq->head = wq->tail = NULL;
}

void rt_wq_lock(struct vs_wq *wq)
{
	/* held for a few instructions; past a short spin the holder's thread
	 * was likely preempted by the OS: let it run */
	for (unsigned n = 0;
	     atomic_flag_test_and_set_explicit(&wq->lock, memory_order_acquire); n++) {
		if (n < 128)
			rt_relax();
		else
			sched_yield();
	}
}

void rt_wq_unlock(struct vs_wq *wq)
{
	atomic_flag_clear_explicit(&wq->lock, memory_order_release);
}

static void wq_append(struct vs_wq *wq, struct rt_waiter *w)
{
	w->next = NULL;
	w->prev = wq->tail;
	if (wq->tail)
		((struct rt_waiter *)wq->tail)->next = w;
	else
		wq->head = w;
	wq->tail = w;
	w->queued = true;
}

static struct rt_waiter *wq_pop(struct vs_wq *wq)
{
	struct rt_waiter *w = wq->head;

	if (!w)
		return NULL;
	wq->head = w->next;
	if (wq->head)
		((struct rt_waiter *)wq->head)->prev = NULL;
	else
		wq->tail = NULL;
	w->queued = false;
	return w;
}

static void mark_blocked(struct vs_task *t)
{
	/* relaxed: the unlock that follows (release) publishes it to the
	 * notifier, whose lock acquire precedes its unblock */
	atomic_store_explicit(&t->inner->state, VSCHED_TASK_BLOCKED, memory_order_relaxed);
}

void rt_wq_remove_locked(struct vs_wq *wq, struct rt_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		wq->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		wq->tail = w->prev;
	w->queued = false;
}

void rt_wq_park_locked(struct vs_wq *wq, struct rt_waiter *w, struct vs_task *me)
{
	wq_append(wq, w);
	mark_blocked(me);
}

int rt_wq_block_locked(struct vs_wq *wq, struct rt_cpu *c)
{
	struct vs_task *me = c->cur;
	struct rt_waiter w = { .task = me };

	rt_wq_park_locked(wq, &w, me);
	rt_wq_unlock(wq);
	rt_must(vsched_resched(c->id), "resched of a blocked task");
	rt_after_switch(me);
	return 0;
}

void rt_wake(struct vs_task *t, bool handoff)
{
	struct rt_cpu *c = rt_self();
	uint32_t src = c ? c->id : VSCHED_CPU_NONE;
	uint32_t dst = atomic_load_explicit(&t->inner->cpu, memory_order_relaxed);
	uint32_t flags = 0;
	vsched_ref_t ref = t->ref;
	int r;

	if (handoff && c) {
		/* Go's runnext: the woken task runs next here, cache-hot (the
		 * core moves it to a CPU its affinity allows if need be) */
		dst = c->id;
		flags = VSCHED_WAKE_NEXT;
	}
	if (dst >= rt_g->ncpus)
		dst = 0;
	/* from here on @t may run, exit and be freed: use only copies */
	r = vsched_unblock_task(dst, ref, flags, src);
	rt_must(r, "unblock");
	if (r != 1)
		return;
	/* where it landed (a hint: it may already run, even be gone) */
	dst = atomic_load_explicit(&rt_inner(ref)->cpu, memory_order_relaxed);
	if (dst >= rt_g->ncpus)
		return;
	if (dst != src)
		rt_kick(dst);
	else
		rt_wake_idle(src);
}

int vs_wq_wait(struct vs_wq *wq)
{
	struct rt_cpu *c = rt_self();

	if (!wq)
		return -EINVAL;
	if (!c || !c->cur || c->cur->stackless || c->cur->idle)
		return -EPERM;
	rt_wq_lock(wq);
	return rt_wq_block_locked(wq, c);
}

int vs_wq_wait_until(struct vs_wq *wq, bool (*pred)(void *arg), void *arg)
{
	struct rt_cpu *c = rt_self();

	if (!wq || !pred)
		return -EINVAL;
	if (!c || !c->cur || c->cur->stackless || c->cur->idle)
		return -EPERM;
	rt_wq_lock(wq);
	while (!pred(arg)) {
		rt_wq_block_locked(wq, c);
		c = rt_self();
		rt_wq_lock(wq);
	}
	rt_wq_unlock(wq);
	return 0;
}

int vs_wq_wait_poll(struct vs_wq *wq)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!wq)
		return -EINVAL;
	if (!me || !me->stackless)
		return -EPERM;
	rt_wq_lock(wq);
	r = rt_wq_park_poll_locked(wq, me);
	rt_wq_unlock(wq);
	return r;
}

int vs_wq_wait_until_poll(struct vs_wq *wq, bool (*pred)(void *arg), void *arg)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r = 0;

	if (!wq || !pred)
		return -EINVAL;
	if (!me || !me->stackless)
		return -EPERM;
	rt_wq_lock(wq);
	if (!pred(arg)) {
		r = rt_wq_park_poll_locked(wq, me);
		if (r == 0)
			r = -EAGAIN;
	}
	rt_wq_unlock(wq);
	return r;
}

int rt_wq_park_poll_locked(struct vs_wq *wq, struct vs_task *me)
{
	if (me->waiter.queued)
		return -EBUSY;
	me->waiter.task = me;
	wq_append(wq, &me->waiter);
	mark_blocked(me);
	return 0;
}

int vs_wq_notify_one(struct vs_wq *wq)
{
	struct rt_waiter *w;
	struct vs_task *t;

	if (!wq)
		return -EINVAL;
	rt_wq_lock(wq);
	w = wq_pop(wq);
	t = w ? w->task : NULL;
	rt_wq_unlock(wq);
	if (!t)
		return 0;
	rt_wake(t, true);
	return 1;
}

int vs_wq_notify_task(struct vs_wq *wq, vs_task_t *t)
{
	struct rt_waiter *w;

	if (!wq || !t)
		return -EINVAL;
	rt_wq_lock(wq);
	for (w = wq->head; w && w->task != t; w = w->next)
		;
	if (w)
		rt_wq_remove_locked(wq, w);
	rt_wq_unlock(wq);
	if (!w)
		return 0;
	rt_wake(t, true);
	return 1;
}

int vs_wq_notify_all(struct vs_wq *wq)
{
	struct rt_waiter *w, *list = NULL, **tail = &list;
	int n = 0;

	if (!wq)
		return -EINVAL;
	rt_wq_lock(wq);
	while ((w = wq_pop(wq))) {
		*tail = w;
		tail = &w->next;
	}
	*tail = NULL;
	rt_wq_unlock(wq);
	/* each waiter stays blocked, so its node stays valid, until woken */
	while (list) {
		w = list;
		list = w->next;
		rt_wake(w->task, false);
		n++;
	}
	return n;
}

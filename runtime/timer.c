/* SPDX-License-Identifier: MIT */
/*
 * Time: per-CPU timer heaps (each touched by its CPU's thread only), fired
 * at every resume point and by an idle CPU that sleeps until its next
 * deadline; sleep, and timeouts on waits. A timer names a task and the
 * number of the timed wait it was armed for, and holds a reference on the
 * task, so a stale timer (the wait ended, even the task exited) is safe.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "rt.h"

uint64_t rt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vs_now(void)
{
	return rt_now();
}

void rt_wait_lock(struct vs_task *t)
{
	while (atomic_flag_test_and_set_explicit(&t->wait_lock, memory_order_acquire))
		sched_yield(); /* held for a few instructions: rarely taken */
}

void rt_wait_unlock(struct vs_task *t)
{
	atomic_flag_clear_explicit(&t->wait_lock, memory_order_release);
}

static void heap_swap(struct rt_timer *h, unsigned a, unsigned b)
{
	struct rt_timer x = h[a];

	h[a] = h[b];
	h[b] = x;
}

static void heap_up(struct rt_timer *h, unsigned i)
{
	while (i && h[(i - 1) / 2].deadline > h[i].deadline) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct rt_timer *h, unsigned n, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && h[l].deadline < h[m].deadline)
			m = l;
		if (r < n && h[r].deadline < h[m].deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t seq, uint64_t deadline)
{
	struct rt_timers *ts = &c->timers;

	if (ts->n == ts->cap) {
		unsigned cap = ts->cap ? ts->cap * 2 : 64;
		struct rt_timer *h = realloc(ts->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		ts->heap = h;
		ts->cap = cap;
	}
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	ts->heap[ts->n] = (struct rt_timer){ .deadline = deadline, .seq = seq, .task = t };
	heap_up(ts->heap, ts->n++);
	return 0;
}

uint64_t rt_timers_next(struct rt_cpu *c)
{
	return c->timers.n ? c->timers.heap[0].deadline : 0;
}

/* Ends @t's timed wait @seq with a timeout, if it is still in it. */
static void fire(struct vs_task *t, uint64_t seq)
{
	bool wake = false;

	rt_wait_lock(t);
	if (atomic_load_explicit(&t->wait_seq, memory_order_relaxed) == seq) {
		struct vs_wq *wq = t->timed_wq;

		/* the waiter cannot leave its wait (and let the queue go)
		 * without wait_lock, which we hold */
		if (wq) {
			rt_wq_lock(wq);
			if (t->timed_w->queued) {
				rt_wq_remove_locked(wq, t->timed_w);
				wake = true;
			}
			rt_wq_unlock(wq);
		} else {
			wake = true; /* a sleep */
		}
		t->timed_out = wake;
	}
	rt_wait_unlock(t);
	if (wake)
		rt_wake(t, false);
}

void rt_timers_poll(struct rt_cpu *c)
{
	struct rt_timers *ts = &c->timers;
	uint64_t now;

	if (!ts->n)
		return;
	now = rt_now();
	while (ts->n && ts->heap[0].deadline <= now) {
		struct rt_timer e = ts->heap[0];

		ts->heap[0] = ts->heap[--ts->n];
		heap_down(ts->heap, ts->n, 0);
		fire(e.task, e.seq);
		rt_task_put(e.task);
	}
}

void rt_timers_fini(struct rt_cpu *c)
{
	while (c->timers.n)
		rt_task_put(c->timers.heap[--c->timers.n].task);
	free(c->timers.heap);
	c->timers.heap = NULL;
	c->timers.cap = 0;
}

/* Starts a timed wait of @me: its number, for the timer to name. */
static uint64_t timed_begin(struct vs_task *me, struct vs_wq *wq, struct rt_waiter *w)
{
	uint64_t seq;

	rt_wait_lock(me);
	seq = atomic_fetch_add_explicit(&me->wait_seq, 1, memory_order_relaxed) + 1;
	me->timed_wq = wq;
	me->timed_w = w;
	me->timed_out = false;
	rt_wait_unlock(me);
	return seq;
}

/* Ends it: a timer still pending for it finds it over. */
static bool timed_end(struct vs_task *me)
{
	bool out;

	rt_wait_lock(me);
	atomic_fetch_add_explicit(&me->wait_seq, 1, memory_order_relaxed);
	me->timed_wq = NULL;
	me->timed_w = NULL;
	out = me->timed_out;
	rt_wait_unlock(me);
	return out;
}

static struct vs_task *stackful_self(struct rt_cpu **cp)
{
	struct rt_cpu *c = rt_self();

	*cp = c;
	if (!c || !c->cur || c->cur->stackless || c->cur->idle)
		return NULL;
	return c->cur;
}

int vs_sleep_until(uint64_t deadline)
{
	struct rt_cpu *c;
	struct vs_task *me = stackful_self(&c);
	uint64_t seq;

	if (!me)
		return -EPERM;
	if (deadline <= rt_now())
		return 0;
	seq = timed_begin(me, NULL, NULL);
	rt_must(rt_timer_arm(c, me, seq, deadline), "arming a timer");
	atomic_store_explicit(&me->inner->state, VSCHED_TASK_BLOCKED, memory_order_relaxed);
	rt_must(vsched_resched(c->id), "resched of a sleeping task");
	rt_after_switch(me);
	timed_end(me);
	return 0;
}

int vs_sleep(uint64_t ns)
{
	return vs_sleep_until(rt_now() + ns);
}

int vs_sleep_until_poll(uint64_t deadline)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	uint64_t seq;

	if (!me || !me->stackless)
		return -EPERM;
	if (deadline <= rt_now()) {
		timed_end(me);
		return 0;
	}
	seq = timed_begin(me, NULL, NULL);
	rt_must(rt_timer_arm(c, me, seq, deadline), "arming a timer");
	atomic_store_explicit(&me->inner->state, VSCHED_TASK_BLOCKED, memory_order_relaxed);
	return -EAGAIN;
}

/*
 * One timed block on @wq until @deadline, unless @pred (if any) holds: the
 * timed wait begins before the queue is locked (lock order: the task's
 * wait_lock, then a queue's), so the check and the queueing happen under
 * one hold of the queue's lock and no notify falls in between.
 * Returns 1 if pred held, 0 if woken, -ETIMEDOUT.
 */
static int timed_block(struct vs_wq *wq, bool (*pred)(void *), void *arg, uint64_t deadline)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c->cur;
	struct rt_waiter w = { .task = me };
	uint64_t seq = timed_begin(me, wq, &w);

	rt_wq_lock(wq);
	if (pred && pred(arg)) {
		rt_wq_unlock(wq);
		timed_end(me);
		return 1;
	}
	if (rt_now() >= deadline) {
		rt_wq_unlock(wq);
		timed_end(me);
		return -ETIMEDOUT;
	}
	/* armed on this CPU: it only fires once we are off it */
	rt_must(rt_timer_arm(c, me, seq, deadline), "arming a timer");
	rt_wq_park_locked(wq, &w, me);
	rt_wq_unlock(wq);
	rt_must(vsched_resched(c->id), "resched of a blocked task");
	rt_after_switch(me);
	return timed_end(me) ? -ETIMEDOUT : 0;
}

int vs_wq_wait_timeout(struct vs_wq *wq, uint64_t timeout_ns)
{
	struct rt_cpu *c;

	if (!wq)
		return -EINVAL;
	if (!stackful_self(&c))
		return -EPERM;
	return timed_block(wq, NULL, NULL, rt_now() + timeout_ns);
}

int vs_wq_wait_until_timeout(struct vs_wq *wq, bool (*pred)(void *arg), void *arg,
			     uint64_t timeout_ns)
{
	uint64_t deadline = rt_now() + timeout_ns;
	struct rt_cpu *c;
	int r;

	if (!wq || !pred)
		return -EINVAL;
	if (!stackful_self(&c))
		return -EPERM;
	while ((r = timed_block(wq, pred, arg, deadline)) != 1) {
		if (r == -ETIMEDOUT) {
			bool held;

			/* the predicate decides, not the timer: it may have
			 * become true as the timer fired */
			rt_wq_lock(wq);
			held = pred(arg);
			rt_wq_unlock(wq);
			return held ? 0 : -ETIMEDOUT;
		}
	}
	return 0;
}

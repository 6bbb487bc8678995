/* SPDX-License-Identifier: MIT */
/*
 * Time: per-CPU timer heaps (each touched by its CPU's thread only), fired
 * at every resume point and by an idle CPU that sleeps until its next
 * deadline; sleep. A timer names a task and the number of the wait it was
 * armed for (wait.c), and holds a reference on the task, so a stale timer
 * (the wait ended, even the task exited) is safe.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "rt.h"

RT_TEXT uint64_t rt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

RT_TEXT uint64_t vs_now(void)
{
	return rt_now();
}

RT_TEXT static void heap_swap(struct rt_timer *h, unsigned a, unsigned b)
{
	struct rt_timer x = h[a];

	h[a] = h[b];
	h[b] = x;
}

RT_TEXT static void heap_up(struct rt_timer *h, unsigned i)
{
	while (i && h[(i - 1) / 2].deadline > h[i].deadline) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

RT_TEXT static void heap_down(struct rt_timer *h, unsigned n, unsigned i)
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

/* The earliest deadline, for the ticking thread (which may preempt a task
 * that keeps the CPU from firing it); relaxed: a hint, read and rechecked. */
RT_TEXT static void publish_next(struct rt_cpu *c)
{
	atomic_store_explicit(&c->next_timer, c->timers.n ? c->timers.heap[0].deadline : 0,
			      memory_order_relaxed);
}

RT_TEXT int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t deadline)
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
	ts->heap[ts->n] = (struct rt_timer){ .deadline = deadline,
					  .seq = rt_wait_seq(t),
					  .task = t };
	heap_up(ts->heap, ts->n++);
	publish_next(c);
	return 0;
}

RT_TEXT uint64_t rt_timers_next(struct rt_cpu *c)
{
	return c->timers.n ? c->timers.heap[0].deadline : 0;
}

RT_TEXT void rt_timers_poll(struct rt_cpu *c)
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
		rt_wait_fire(e.task, e.seq, RT_WHY_TIMEDOUT);
		rt_task_put(e.task);
	}
	publish_next(c);
}

RT_TEXT void rt_timers_fini(struct rt_cpu *c)
{
	while (c->timers.n)
		rt_task_put(c->timers.heap[--c->timers.n].task);
	free(c->timers.heap);
	c->timers.heap = NULL;
	c->timers.cap = 0;
	publish_next(c);
}

RT_TEXT static struct vs_task *stackful_self(struct rt_cpu **cp)
{
	struct rt_cpu *c = rt_self();

	*cp = c;
	if (!c || !c->cur || c->cur->stackless || c->cur->idle)
		return NULL;
	return c->cur;
}

RT_TEXT int vs_sleep_until(uint64_t deadline)
{
	struct rt_cpu *c;
	struct vs_task *me = stackful_self(&c);
	int r;

	if (!me)
		return -EPERM;
	if (rt_cancelled())
		return -ECANCELED;
	if (deadline <= rt_now())
		return 0;
	r = rt_timer_arm(c, me, deadline);
	if (r < 0)
		return r;
	rt_wait_direct(me);
	rt_park(c, me, NULL, NULL);
	r = rt_wait_end(me);
	return r == -ETIMEDOUT ? 0 : r;
}

RT_TEXT int vs_sleep(uint64_t ns)
{
	uint64_t now = rt_now();

	return vs_sleep_until(ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
}

RT_TEXT int vs_sleep_until_poll(uint64_t deadline)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!me || !me->stackless)
		return -EPERM;
	if (me->in_wait)
		return -EBUSY;
	if (rt_cancelled())
		return -ECANCELED;
	if (deadline <= rt_now())
		return 0;
	r = rt_timer_arm(c, me, deadline);
	if (r < 0)
		return r;
	me->in_wait = true;
	rt_wait_direct(me);
	rt_mark_blocked(c);
	return -EAGAIN;
}

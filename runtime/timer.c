/* SPDX-License-Identifier: MIT */
/*
 * Time: per-CPU timer heaps, each under a short lock: a CPU arms timers on
 * its own heap and fires them at every resume point; an idle CPU sleeps
 * until the earliest deadline of any CPU and fires the timers of CPUs that
 * are late with theirs (busy running a task that does not switch), as Go's
 * idle Ps run other Ps' timers; sleep. A timer names a task and the number of the wait it was
 * armed for (wait.c), and holds a reference on the task, so a stale timer
 * (the wait ended, even the task exited) is safe.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "rt.h"
#include "cpu.h"
#include "park.h"
#include "wait.h"
#include "timer.h"
#include "wq.h"
#include "task.h"

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

/* The earliest deadline, for the ticking thread (which may preempt a task
 * that keeps the CPU from firing it) and idle CPUs; relaxed: a hint, read
 * and rechecked under the lock. Under the lock. */
static void publish_next(struct rt_cpu *c)
{
	atomic_store_explicit(&c->next_timer, c->timers.n ? c->timers.heap[0].deadline : 0,
			      memory_order_relaxed);
}

/* Room for one more entry (under the lock): 0 or -ENOMEM. */
static int heap_room(struct rt_timers *ts)
{
	unsigned cap;
	struct rt_timer *h;

	if (ts->n < ts->cap)
		return 0;
	cap = ts->cap ? ts->cap * 2 : 64;
	h = realloc(ts->heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	ts->heap = h;
	ts->cap = cap;
	return 0;
}

int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t deadline)
{
	struct rt_timers *ts = &c->timers;

	rt_lock_flag(&ts->lock);
	if (heap_room(ts) < 0) {
		rt_unlock_flag(&ts->lock);
		return -ENOMEM;
	}
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	ts->heap[ts->n] = (struct rt_timer){ .deadline = deadline,
					  .seq = rt_wait_seq(t),
					  .task = t };
	heap_up(ts->heap, ts->n++);
	publish_next(c);
	rt_unlock_flag(&ts->lock);
	return 0;
}

/* The earliest deadline on @c, or 0 if none (a hint). */
static uint64_t timers_next(struct rt_cpu *c)
{
	return atomic_load_explicit(&c->next_timer, memory_order_relaxed);
}

#define FIRE_BATCH 16

/*
 * Fires the timers of @c due at @now, from any CPU: popped under the lock,
 * fired outside it (firing takes a wait queue's lock, and a queue's lock
 * holder may arm a timer). A timer whose task is not blocked yet (an idle
 * CPU helping may see a task between arming its timer and parking) goes
 * back into the heap, to be fired once it is: @c's own thread fires it at
 * its next switch, which is that task leaving.
 */
static void fire_due(struct rt_cpu *c, uint64_t now)
{
	struct rt_timers *ts = &c->timers;
	struct rt_timer due[FIRE_BATCH];
	unsigned n, kept;

	do {
		n = kept = 0;
		rt_lock_flag(&ts->lock);
		while (n < FIRE_BATCH && ts->n && ts->heap[0].deadline <= now) {
			due[n++] = ts->heap[0];
			ts->heap[0] = ts->heap[--ts->n];
			heap_down(ts->heap, ts->n, 0);
		}
		publish_next(c);
		rt_unlock_flag(&ts->lock);
		for (unsigned i = 0; i < n; i++) {
			RT_STAT_ANY(timers);
			if (rt_wait_fire(due[i].task, due[i].seq, RT_WHY_TIMEDOUT))
				due[kept++] = due[i]; /* keeps its reference */
			else
				rt_task_put(due[i].task);
		}
		if (kept) {
			rt_lock_flag(&ts->lock);
			for (unsigned i = 0; i < kept; i++) {
				/* they were in the heap a moment ago, but its
				 * thread may have armed more since: out of memory
				 * then, the wait is left to its notify or cancel */
				if (heap_room(ts) < 0) {
					rt_task_put(due[i].task);
					continue;
				}
				ts->heap[ts->n] = due[i];
				heap_up(ts->heap, ts->n++);
			}
			publish_next(c);
			rt_unlock_flag(&ts->lock);
			return; /* what is left is for later */
		}
	} while (n == FIRE_BATCH);
}

void rt_timers_poll_slow(struct rt_cpu *c, uint64_t nt)
{
	uint64_t now = rt_now();

	if (nt <= now)
		fire_due(c, now);
}

uint64_t rt_timers_help(struct rt_cpu *self, bool *fired)
{
	uint64_t now = 0, earliest = 0;

	*fired = false;
	for (unsigned i = 0; i < rt_g->ncpus; i++) {
		struct rt_cpu *c = &rt_g->cpus[i];
		uint64_t nt = timers_next(c);

		if (!nt)
			continue;
		if (c != self) {
			if (!now)
				now = rt_now();
			if (nt <= now) {
				fire_due(c, now);
				*fired = true;
				nt = timers_next(c);
				if (!nt)
					continue;
			}
		}
		if (!earliest || nt < earliest)
			earliest = nt;
	}
	return earliest;
}

void rt_timers_fini(struct rt_cpu *c)
{
	while (c->timers.n)
		rt_task_put(c->timers.heap[--c->timers.n].task);
	free(c->timers.heap);
	c->timers.heap = NULL;
	c->timers.cap = 0;
	publish_next(c);
}

static struct vs_task *stackful_self(struct rt_cpu **cp)
{
	struct rt_cpu *c = rt_self();

	*cp = c;
	if (!c || !c->cur || c->cur->stackless || c->cur->idle)
		return NULL;
	return c->cur;
}

int rt_wait_begin(struct rt_cpu *c, struct vs_task *me, uint64_t deadline, bool cancelable)
{
	if (cancelable && rt_cancelled())
		return -ECANCELED;
	if (deadline == VS_NEVER)
		return 0;
	if (rt_now() >= deadline)
		return -ETIMEDOUT;
	return rt_timer_arm(c, me, deadline);
}

int vs_sleep_until(uint64_t deadline)
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

uint64_t vs_deadline_in(uint64_t ns)
{
	uint64_t now = rt_now();

	return ns > VS_NEVER - now ? VS_NEVER : now + ns;
}

int vs_sleep(uint64_t ns)
{
	return vs_sleep_until(vs_deadline_in(ns));
}

int vs_sleep_until_poll(uint64_t deadline)
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
	me->in_wait = RT_IN_WAIT;
	rt_wait_direct(me);
	rt_mark_blocked(c);
	return -EAGAIN;
}

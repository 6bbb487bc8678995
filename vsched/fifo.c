/* SPDX-License-Identifier: MIT */
/*
 * FIFO: a runnext slot (a task just woken runs next, RUNNEXT_STREAK times
 * in a row at most) and the CPU's ring; then the global ring (first every
 * 61st pick, so it cannot starve) and stealing, as Go's scheduler does.
 * RR: FIFO with a time slice. Called through policy.c.
 */
#include "core.h"

#define RUNNEXT_STREAK 8
int fifo_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val, uint32_t flags)
{
	if (flags & ENQ_NEXT) {
		/* acq_rel: publishes the woken task to the CPU that takes it,
		 * and sees the task it displaces as its waker published it */
		val = atomic_exchange_explicit(&c->runnext, val, memory_order_acq_rel);
		if (!val)
			return 0;
		/* the displaced task goes to the tail, as Go does */
	}
	return rq_put(h, c, val, flags);
}
static struct vsched_task *take_runnext(struct vsched_vvar *h, struct vsched_cpu *c)
{
	/* relaxed peek: an empty slot (the common case) costs no RMW; a value
	 * seen here is only taken by the exchange, whose acquire pairs with
	 * the waker's exchange */
	if (!atomic_load_explicit(&c->runnext, memory_order_relaxed))
		return 0;
	return rq_checked(h, atomic_exchange_explicit(&c->runnext, 0, memory_order_acquire));
}

/*
 * runnext first (a task just woken, cache-hot), but only RUNNEXT_STREAK
 * times in a row, so two tasks waking each other cannot starve the ring;
 * then the ring, the global ring (first every 61st pick), and stealing.
 */
struct vsched_task *fifo_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_task *t;

	if (c->next_streak < RUNNEXT_STREAK) {
		t = take_runnext(h, c);
		if (t) {
			c->next_streak++;
			return t;
		}
	}
	c->next_streak = 0;
	if (++c->schedtick % RQ_GLOBAL_CHECK_EVERY == 0) {
		t = rq_global_take(h, c);
		if (t)
			return t;
	}
	t = rq_checked(h, rq_pop_raw(h, c));
	if (t)
		return t;
	t = take_runnext(h, c); /* it had its share, but nothing else waits */
	if (t)
		return t;
	t = rq_global_take(h, c);
	if (t)
		return t;
	return rq_steal(h, c);
}

/* -------------------------------------------------------------- RR */

static uint32_t slice_left(const struct vsched_task *t)
{
	/* relaxed: a ticking thread reads it while the owner writes it */
	return __atomic_load_n(&t->pol_aux, __ATOMIC_RELAXED);
}

static void set_slice_left(struct vsched_task *t, uint32_t v)
{
	__atomic_store_n(&t->pol_aux, v, __ATOMIC_RELAXED);
}

static uint32_t rr_slice(void)
{
	return HDR.slice > 0xffffffffu ? 0xffffffffu : (uint32_t)HDR.slice;
}

/*
 * A task whose slice is used up goes to the back with a new one; one
 * preempted with some left goes to the front (the runnext slot, whose
 * occupant goes to the back), to finish it.
 */
int rr_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t, uint32_t flags)
{
	if (!slice_left(t)) {
		set_slice_left(t, rr_slice());
		flags &= ~(uint32_t)ENQ_PREEMPT;
	}
	if (flags & ENQ_PREEMPT)
		flags |= ENQ_NEXT;
	return fifo_enqueue(h, c, (uint32_t)(t - core_tasks(h)) + 1, flags);
}

/* Charges @delta of running to @cur's slice. */
void rr_account(struct vsched_task *cur, uint64_t delta)
{
	set_slice_left(cur, delta >= slice_left(cur) ? 0 : slice_left(cur) - (uint32_t)delta);
}

/* @cur ran @ran since its switch: is its slice over, with others waiting? */
bool rr_due(struct vsched_vvar *h, struct vsched_cpu *c, const struct vsched_task *cur,
	    uint64_t ran)
{
	return ran >= slice_left(cur) &&
	       (rq_len(h, c) || atomic_load_explicit(&c->runnext, memory_order_relaxed));
}

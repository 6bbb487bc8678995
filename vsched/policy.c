/* SPDX-License-Identifier: MIT */
/*
 * The policy seam: enqueue_task / pick_next_task / set_prio / task_tick /
 * account, dispatched on the policy enum in the header (no function
 * pointers in data), and the run-queue helpers the policies share.
 * FIFO: a runnext slot and a per-CPU ring, spilling to the global ring when
 * full; the global ring is drained when the local one is empty, and looked
 * at first every 61st pick so it cannot starve; an empty CPU steals half of
 * another's ring (all as Go's scheduler does). RR: FIFO with a time slice.
 * CFS: cfs.c. Each hook is called by the owning CPU, except enqueue and
 * set_prio, which any CPU or foreign thread may call (remote wake-ups),
 * and tick, which a ticking thread calls for any CPU.
 */
#include "core.h"
#include "queue.h"

#define RUNNEXT_STREAK 8
/* A push to the global ring can only find it full while a consumer is
 * between claiming and releasing a cell: wait for it, within reason. */
#define GLOBAL_PUSH_SPINS (1u << 24)

static struct vs_ring local_ring(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return (struct vs_ring){
		.cells = vsched_vvar_rq(h, c->cpu_id),
		.enq = &c->rq_enq,
		.deq = &c->rq_deq,
		.mask = h->queue_cap - 1,
	};
}

static struct vs_ring global_ring(struct vsched_vvar *h)
{
	return (struct vs_ring){
		.cells = vsched_vvar_gq(h),
		.enq = &h->gq_enq,
		.deq = &h->gq_deq,
		.mask = h->gq_cap - 1,
	};
}

COLD static int global_push(struct vsched_vvar *h, uint32_t val)
{
	struct vs_ring gr = global_ring(h);

	for (uint32_t i = 0; i < GLOBAL_PUSH_SPINS; i++) {
		if (vs_ring_push(&gr, val))
			return 0;
		cpu_relax();
	}
	return -VSCHED_EAGAIN;
}

/* Onto @c's ring, or the global one if it is full (unless ENQ_LOCAL). */
int rq_put(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
		    uint32_t flags)
{
	struct vs_ring lr = local_ring(h, c);

	if (vs_ring_push(&lr, val))
		return 0;
	if (flags & ENQ_LOCAL)
		return -VSCHED_EAGAIN;
	return global_push(h, val);
}

static int fifo_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
			uint32_t flags)
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

/* A popped value names a ready task, or it is skipped (never followed). */
struct vsched_task *rq_checked(struct vsched_vvar *h, uint32_t val)
{
	struct vsched_task *t = val && !(val & VSCHED_RQ_MSG) ? task_at(h, val - 1) : 0;

	/* acquire: the ring's release published the state with the value */
	if (t && atomic_load_explicit(&t->state, memory_order_acquire) == VSCHED_TASK_READY &&
	    !(t->flags & VSCHED_TF_IDLE))
		return t;
	return 0;
}

bool rq_may_run(const struct vsched_task *t, const struct vsched_cpu *c)
{
	/* relaxed: the runtime sets STAY before the task is queued (the
	 * ring's release publishes it) and clears it once it runs again */
	if (__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & VSCHED_TF_STAY)
		return atomic_load_explicit(&t->cpu, memory_order_relaxed) == c->cpu_id;
	return vsched_affinity_allows(t->affinity, c->cpu_id);
}

/* Asks the runtime to wake @cpu: work went back onto a queue it may
 * have found empty before parking. */
void rq_want_kick(struct vsched_cpu *c, uint32_t cpu)
{
	/* relaxed: read by this CPU's own runtime, after the call returns */
	atomic_fetch_or_explicit(&c->kick, 1ull << (cpu < 63 ? cpu : 63),
				 memory_order_relaxed);
}

/* The first CPU @t may run on, to be woken for it. (A loop: a ctz builtin
 * may become a libgcc call, which the image cannot have.) */
static uint32_t a_cpu_for(const struct vsched_task *t)
{
	uint32_t cpu = 0;

	while (cpu < 63 && !((t->affinity >> cpu) & 1))
		cpu++;
	return t->affinity ? cpu : 0;
}

/* The global ring holds tasks of any affinity: one this CPU may not run
 * goes back to the tail, for a CPU that may. */
COLD struct vsched_task *rq_global_take(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring gr = global_ring(h);

	for (int tries = 0; tries < 2; tries++) {
		uint32_t val = vs_ring_pop(&gr);
		struct vsched_task *t = rq_checked(h, val);

		if (!val)
			return 0;
		if (!t)
			continue;
		if (rq_may_run(t, c))
			return t;
		if (global_push(h, val) < 0)
			return t; /* cannot put it back: run it rather than lose it */
		rq_want_kick(c, a_cpu_for(t));
	}
	return 0;
}

/*
 * Takes half of the first non-empty ring of another CPU (Go's runqsteal),
 * leaving what this CPU may not run. Returns one to run now; the rest go
 * to this CPU's ring.
 */
COLD struct vsched_task *rq_steal(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_cpu *cpus = vsched_vvar_cpus(h);
	uint32_t n = h->ncpus;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t v = (c->steal_from + k) % n;
		struct vsched_cpu *vc = cpus + v;
		struct vs_ring vr;
		struct vsched_task *first = 0;
		uint64_t len, take, got = 0;

		if (vc == c || atomic_load_explicit(&vc->online, memory_order_acquire) != 2)
			continue;
		vr = local_ring(h, vc);
		len = vs_ring_len(&vr);
		take = (len + 1) / 2;
		/* look at up to all of it, to get past tasks we may not run */
		for (uint64_t i = 0; i < len && got < take; i++) {
			uint32_t val = vs_ring_pop(&vr);
			struct vsched_task *t = rq_checked(h, val);

			if (!val)
				break;
			if (!t)
				continue;
			if (!rq_may_run(t, c)) {
				if (rq_put(h, vc, val, 0) < 0)
					return t; /* nowhere to put it: run it */
				rq_want_kick(c, v);
				continue;
			}
			atomic_store_explicit(&t->cpu, c->cpu_id, memory_order_relaxed);
			got++;
			if (!first)
				first = t;
			else if (rq_put(h, c, val, 0) < 0)
				return t; /* cannot happen: the global ring fits all */
		}
		if (first) {
			c->steal_from = v + 1;
			atomic_fetch_add_explicit(&c->nr_steals, got, memory_order_relaxed);
			return first;
		}
	}
	return 0;
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
static struct vsched_task *fifo_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c);
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
	t = rq_checked(h, vs_ring_pop(&lr));
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

uint64_t rq_len(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c);

	return vs_ring_len(&lr);
}

uint64_t rq_global_len(struct vsched_vvar *h)
{
	struct vs_ring gr = global_ring(h);

	return vs_ring_len(&gr);
}

uint32_t rq_pop_raw(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c);

	return vs_ring_pop(&lr);
}

/* ------------------------------------------------------------- RR */

static uint32_t slice_left(const struct vsched_task *t)
{
	/* relaxed: a ticking thread reads it while the owner writes it */
	return __atomic_load_n(&t->pol_aux, __ATOMIC_RELAXED);
}

static void set_slice_left(struct vsched_task *t, uint32_t v)
{
	__atomic_store_n(&t->pol_aux, v, __ATOMIC_RELAXED);
}

static uint32_t rr_slice(struct vsched_vvar *h)
{
	return h->slice > 0xffffffffu ? 0xffffffffu : (uint32_t)h->slice;
}

/*
 * A task whose slice is used up goes to the back with a new one; one
 * preempted with some left goes to the front (the runnext slot, whose
 * occupant goes to the back), to finish it.
 */
static int rr_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		      uint32_t flags)
{
	if (!slice_left(t)) {
		set_slice_left(t, rr_slice(h));
		flags &= ~(uint32_t)ENQ_PREEMPT;
	}
	if (flags & ENQ_PREEMPT)
		flags |= ENQ_NEXT;
	return fifo_enqueue(h, c, (uint32_t)(t - vsched_vvar_tasks(h)) + 1, flags);
}

/* ------------------------------------------------------- the seam */

int policy_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		   uint32_t flags)
{
	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
		return fifo_enqueue(h, c, (uint32_t)(t - vsched_vvar_tasks(h)) + 1, flags);
	case VSCHED_POLICY_RR:
		return rr_enqueue(h, c, t, flags);
	case VSCHED_POLICY_CFS:
		return cfs_enqueue(h, c, t, flags);
	default:
		return -VSCHED_EOPNOTSUPP;
	}
}

struct vsched_task *policy_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
	case VSCHED_POLICY_RR:
		return fifo_pick(h, c);
	case VSCHED_POLICY_CFS:
		return cfs_pick(h, c);
	default:
		return 0;
	}
}

int policy_set_prio(struct vsched_vvar *h, struct vsched_task *t, int32_t prio)
{
	if (prio < -20 || prio > 19)
		return -VSCHED_EINVAL;
	if (h->policy == VSCHED_POLICY_CFS)
		return cfs_set_prio(h, t, prio);
	/* kept for the task's record; FIFO and RR order do not use it */
	atomic_store_explicit(&t->prio, (int8_t)prio, memory_order_relaxed);
	return 0;
}

uint64_t core_clock(struct vsched_vvar *h)
{
	uint64_t v = atomic_load_explicit(&h->clock_override, memory_order_relaxed);

	return v ? v : vsched_clock_read();
}

void policy_account(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur)
{
	uint64_t now, start, delta;

	if (h->policy == VSCHED_POLICY_FIFO)
		return; /* FIFO never looks at the time */
	now = core_clock(h);
	start = atomic_load_explicit(&c->exec_start, memory_order_relaxed);
	delta = start && now > start ? now - start : 0;
	/* relaxed: a ticking thread only compares it with the clock */
	atomic_store_explicit(&c->exec_start, now, memory_order_relaxed);
	if (!cur || (cur->flags & VSCHED_TF_IDLE))
		return;
	if (h->policy == VSCHED_POLICY_RR)
		set_slice_left(cur, delta >= slice_left(cur) ? 0 : slice_left(cur) - (uint32_t)delta);
	else
		cfs_account(h, c, cur, delta);
}

int policy_tick(struct vsched_vvar *h, struct vsched_cpu *c, uint64_t now)
{
	struct vsched_task *cur;
	uint64_t start, ran;
	vsched_ref_t ref;
	bool due;

	if (h->policy == VSCHED_POLICY_FIFO)
		return 0; /* FIFO never preempts */
	ref = atomic_load_explicit(&c->current, memory_order_acquire);
	cur = task_get(h, ref);
	if (!cur || (cur->flags & VSCHED_TF_IDLE))
		return 0;
	if (!now)
		now = core_clock(h);
	start = atomic_load_explicit(&c->exec_start, memory_order_relaxed);
	ran = now > start ? now - start : 0;
	if (h->policy == VSCHED_POLICY_RR)
		due = ran >= slice_left(cur) &&
		      (rq_len(h, c) || atomic_load_explicit(&c->runnext, memory_order_relaxed));
	else
		due = ran >= h->slice && cfs_busy(h, c);
	if (!due)
		return 0;
	atomic_store_explicit(&cur->need_resched, 1, memory_order_relaxed);
	return 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * The policy seam: enqueue_task / pick_next_task / set_prio / task_tick,
 * dispatched on the policy enum in the header (no function pointers in
 * data). FIFO: a runnext slot and a per-CPU ring, spilling to the global
 * ring when full; the global ring is drained when the local one is empty,
 * and looked at first every 61st pick so it cannot starve; an empty CPU
 * steals half of another's ring (all as Go's scheduler does).
 * Each hook is called by the owning CPU, except enqueue, which any CPU or
 * foreign thread may call (remote wake-ups).
 */
#include "core.h"
#include "queue.h"

#define GLOBAL_CHECK_EVERY 61
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

static int global_push(struct vsched_vvar *h, uint32_t val)
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
static int ring_put(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
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
	return ring_put(h, c, val, flags);
}

/* A popped value names a ready task, or it is skipped (never followed). */
static struct vsched_task *checked(struct vsched_vvar *h, uint32_t val)
{
	struct vsched_task *t = val ? task_at(h, val - 1) : 0;

	/* acquire: the ring's release published the state with the value */
	if (t && atomic_load_explicit(&t->state, memory_order_acquire) == VSCHED_TASK_READY &&
	    !(t->flags & VSCHED_TF_IDLE))
		return t;
	return 0;
}

static bool may_run(const struct vsched_task *t, const struct vsched_cpu *c)
{
	return vsched_affinity_allows(t->affinity, c->cpu_id);
}

/* Asks the runtime to wake @cpu: work went back onto a queue it may
 * have found empty before parking. */
static void want_kick(struct vsched_cpu *c, uint32_t cpu)
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
static struct vsched_task *global_take(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring gr = global_ring(h);

	for (int tries = 0; tries < 2; tries++) {
		uint32_t val = vs_ring_pop(&gr);
		struct vsched_task *t = checked(h, val);

		if (!val)
			return 0;
		if (!t)
			continue;
		if (may_run(t, c))
			return t;
		if (global_push(h, val) < 0)
			return t; /* cannot put it back: run it rather than lose it */
		want_kick(c, a_cpu_for(t));
	}
	return 0;
}

/*
 * Takes half of the first non-empty ring of another CPU (Go's runqsteal),
 * leaving what this CPU may not run. Returns one to run now; the rest go
 * to this CPU's ring.
 */
static struct vsched_task *steal(struct vsched_vvar *h, struct vsched_cpu *c)
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
			struct vsched_task *t = checked(h, val);

			if (!val)
				break;
			if (!t)
				continue;
			if (!may_run(t, c)) {
				if (ring_put(h, vc, val, 0) < 0)
					return t; /* nowhere to put it: run it */
				want_kick(c, v);
				continue;
			}
			atomic_store_explicit(&t->cpu, c->cpu_id, memory_order_relaxed);
			got++;
			if (!first)
				first = t;
			else if (ring_put(h, c, val, 0) < 0)
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
	/* acquire: pairs with the waker's exchange */
	return checked(h, atomic_exchange_explicit(&c->runnext, 0, memory_order_acquire));
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
	if (++c->schedtick % GLOBAL_CHECK_EVERY == 0) {
		t = global_take(h, c);
		if (t)
			return t;
	}
	t = checked(h, vs_ring_pop(&lr));
	if (t)
		return t;
	t = take_runnext(h, c); /* it had its share, but nothing else waits */
	if (t)
		return t;
	t = global_take(h, c);
	if (t)
		return t;
	return steal(h, c);
}

int policy_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		   uint32_t flags)
{
	uint32_t val = (uint32_t)(t - vsched_vvar_tasks(h)) + 1;

	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
		return fifo_enqueue(h, c, val, flags);
	default:
		return -VSCHED_EOPNOTSUPP;
	}
}

struct vsched_task *policy_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
		return fifo_pick(h, c);
	default:
		return 0;
	}
}

int policy_set_prio(struct vsched_vvar *h, struct vsched_task *t, int32_t prio)
{
	if (prio < -20 || prio > 19)
		return -VSCHED_EINVAL;
	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
		/* kept for the task's record; FIFO order does not use it */
		atomic_store_explicit(&t->prio, (int8_t)prio, memory_order_relaxed);
		return 0;
	default:
		return -VSCHED_EOPNOTSUPP;
	}
}

int policy_tick(struct vsched_vvar *h, struct vsched_cpu *c, uint64_t now_ns)
{
	(void)c;
	(void)now_ns;
	switch (h->policy) {
	case VSCHED_POLICY_FIFO:
		return 0; /* FIFO never preempts */
	default:
		return -VSCHED_EOPNOTSUPP;
	}
}

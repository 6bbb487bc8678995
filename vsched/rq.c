/* SPDX-License-Identifier: MIT */
/*
 * The run-queue helpers every policy shares: the per-CPU rings and the
 * global one (a full ring spills to it), the checks on what a popped value
 * names and who may run it, and stealing half of another CPU's ring.
 * Enqueueing may come from any CPU or foreign thread (remote wake-ups);
 * taking, from the owning CPU or a thief.
 */
#include "core.h"
#include "queue.h"
/* A push to the global ring can only find it full while a consumer is
 * between claiming and releasing a cell: wait for it, within reason. */
#define GLOBAL_PUSH_SPINS (1u << 24)

static struct vs_ring local_ring(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return (struct vs_ring){
		.cells = core_rq(h, cpu_index(h, c)),
		.enq = &c->rq_enq,
		.deq = &c->rq_deq,
		.mask = HDR.queue_cap - 1,
	};
}

static struct vs_ring global_ring(struct vsched_vvar *h)
{
	return (struct vs_ring){
		.cells = core_gq(h),
		.enq = &glob(h)->gq_enq,
		.deq = &glob(h)->gq_deq,
		.mask = HDR.gq_cap - 1,
	};
}

COLD static int global_push(struct vsched_vvar *h, uint32_t val)
{
	struct vs_ring gr = global_ring(h);

	for (uint32_t i = 0; i < GLOBAL_PUSH_SPINS; i++) {
		int r = vs_ring_push(&gr, val);

		if (r != VS_RING_FULL)
			return r == 0 ? 0 : -VSCHED_EIO;
		cpu_relax();
	}
	return -VSCHED_EAGAIN;
}

/* A task any CPU may run: not kept on its CPU, no affinity. */
static bool runs_anywhere(struct vsched_vvar *h, uint32_t val)
{
	struct vsched_task *t = val && !(val & VSCHED_RQ_MSG) ? task_at(h, val - 1) : 0;

	/* relaxed: set by the runtime before the task is queued (as in
	 * rq_may_run); a stale read only misplaces it */
	return t && !(__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & VSCHED_TF_STAY) &&
	       !t->affinity;
}

/*
 * Onto @c's ring, or the global one if it is full (unless ENQ_LOCAL).
 * While the global ring holds tasks, a new one that any CPU may run
 * queues behind them there: tasks that spilled are older than any that
 * comes after, and a ring that wake-ups keep refilling would otherwise
 * overtake them again and again (an I/O CPU with more ready connections
 * than ring cells). Tasks moved between rings (ENQ_KEEP), kept on their
 * CPU or with an affinity stay on @c: other CPUs would only bounce them.
 * The check is a hint: a race with a spill only lets one task overtake.
 */
int rq_put(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
		    uint32_t flags)
{
	struct vs_ring lr = local_ring(h, c), gr = global_ring(h);

	int r;

	if (!(flags & (ENQ_LOCAL | ENQ_KEEP)) && vs_ring_len(&gr) && runs_anywhere(h, val))
		return global_push(h, val);
	r = vs_ring_push(&lr, val);
	if (r == 0)
		return 0;
	if (r == VS_RING_STUCK)
		return -VSCHED_EIO;
	if (flags & ENQ_LOCAL)
		return -VSCHED_EAGAIN;
	return global_push(h, val);
}


/*
 * A popped value names a ready task, or it is skipped (never followed): a
 * task this process has spawned and not seen exit (its private record
 * says so, whatever the shared slot claims), and not an idle task.
 */
struct vsched_task *rq_checked(struct vsched_vvar *h, uint32_t val)
{
	struct vsched_task *t = val && !(val & VSCHED_RQ_MSG) ? task_at(h, val - 1) : 0;
	struct vsched_task_priv *p;

	/* acquire: the ring's release published the state with the value */
	if (!t || atomic_load_explicit(&t->state, memory_order_acquire) != VSCHED_TASK_READY)
		return 0;
	p = task_priv(h, t);
	return p->live && !p->idle ? t : 0;
}

/* Values in a ring, as a count to loop over: never more than it holds (the
 * positions may be shared, and anything). */
static uint64_t ring_count(const struct vs_ring *r)
{
	uint64_t n = vs_ring_len(r);

	return n > (uint64_t)r->mask + 1 ? (uint64_t)r->mask + 1 : n;
}

bool rq_may_run(struct vsched_vvar *h, const struct vsched_task *t, const struct vsched_cpu *c)
{
	/* relaxed: the runtime sets STAY before the task is queued (the
	 * ring's release publishes it) and clears it once it runs again */
	if (__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & VSCHED_TF_STAY)
		return atomic_load_explicit(&t->cpu, memory_order_relaxed) == cpu_index(h, c);
	return vsched_affinity_allows(t->affinity, cpu_index(h, c));
}

/* Asks the runtime to wake @cpu: work went back onto a queue it may
 * have found empty before parking. */
void rq_want_kick(struct vsched_cpu *c, uint32_t cpu)
{
	/* relaxed: read by this CPU's own runtime, after the call returns */
	atomic_fetch_or_explicit(&c->kick, 1ull << (cpu < 63 ? cpu : 63),
				 memory_order_relaxed);
}

/* A CPU @t may run on, to be woken for it: its own if it must stay there,
 * else the first its affinity names. (A loop: a ctz builtin may become a
 * libgcc call, which the image cannot have.) */
static uint32_t a_cpu_for(const struct vsched_task *t)
{
	uint32_t cpu = 0;

	/* relaxed: as rq_may_run; read by the CPU holding @t, popped */
	if (__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & VSCHED_TF_STAY)
		return atomic_load_explicit(&t->cpu, memory_order_relaxed);

	while (cpu < 63 && !((t->affinity >> cpu) & 1))
		cpu++;
	return t->affinity ? cpu : 0;
}

/*
 * Takes a batch from the global ring, as Go's globrunqget does: its fair
 * share (a CPU's part of what waits there, plus one), at most half the
 * room left in this CPU's ring. Returns one to run now; the rest go to
 * this CPU's ring. One at a time would let a ring that new wake-ups keep
 * full starve the tasks that spilled: they would wait 61 picks each.
 * The global ring holds tasks of any affinity: one this CPU may not run
 * goes back to the tail, for a CPU that may (two such per call at most).
 */
COLD struct vsched_task *rq_global_take(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring gr = global_ring(h), lr = local_ring(h, c);
	uint64_t want = ring_count(&gr) / HDR.ncpus + 1;
	uint64_t room = (HDR.queue_cap - ring_count(&lr)) / 2 + 1;
	struct vsched_task *first = 0;
	uint64_t got = 0, looked = 0;
	int bounced = 0;

	if (want > room)
		want = room;
	/* at most a ring's worth of values looked at: what is skipped costs a
	 * turn too */
	while (got < want && bounced < 2 && looked++ <= gr.mask) {
		uint32_t val = vs_ring_pop(&gr), home;
		struct vsched_task *t = rq_checked(h, val);

		if (!val)
			break;
		if (!t)
			continue;
		if (!rq_may_run(h, t, c)) {
			/* where it may run, read while it is ours: once back in
			 * the ring, another CPU may take it and change both */
			home = a_cpu_for(t);
			bounced++;
			if (global_push(h, val) < 0) {
				if (!first)
					return t; /* cannot put it back: run it
						   * rather than lose it */
				if (rq_put(h, c, val, ENQ_LOCAL) < 0)
					return t; /* cannot happen: room */
				continue;
			}
			rq_want_kick(c, home);
			continue;
		}
		got++;
		if (!first) {
			first = t;
			continue;
		}
		atomic_store_explicit(&t->cpu, cpu_index(h, c), memory_order_relaxed);
		if (rq_put(h, c, val, ENQ_LOCAL) < 0 && global_push(h, val) < 0)
			return t; /* neither has room (cannot happen): run it */
	}
	return first;
}

/*
 * Takes half of the first non-empty ring of another CPU (Go's runqsteal),
 * leaving what this CPU may not run. Returns one to run now; the rest go
 * to this CPU's ring.
 */
COLD struct vsched_task *rq_steal(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_cpu *cpus = core_cpus(h);
	uint32_t n = HDR.ncpus;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t v = (c->steal_from + k) % n;
		struct vsched_cpu *vc = cpus + v;
		struct vs_ring vr;
		struct vsched_task *first = 0;
		uint64_t len, take, got = 0;

		if (vc == c || atomic_load_explicit(&core_pcpus(h)[v].online,
						    memory_order_acquire) != 2)
			continue;
		vr = local_ring(h, vc);
		len = ring_count(&vr);
		take = (len + 1) / 2;
		/* look at up to all of it, to get past tasks we may not run */
		for (uint64_t i = 0; i < len && got < take; i++) {
			uint32_t val = vs_ring_pop(&vr);
			struct vsched_task *t = rq_checked(h, val);

			if (!val)
				break;
			if (!t)
				continue;
			if (!rq_may_run(h, t, c)) {
				if (rq_put(h, vc, val, ENQ_KEEP) < 0)
					return t; /* nowhere to put it: run it */
				rq_want_kick(c, v);
				continue;
			}
			atomic_store_explicit(&t->cpu, cpu_index(h, c), memory_order_relaxed);
			got++;
			if (!first)
				first = t;
			else if (rq_put(h, c, val, ENQ_KEEP) < 0)
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

uint64_t rq_len(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c);

	return ring_count(&lr);
}

uint64_t rq_global_len(struct vsched_vvar *h)
{
	struct vs_ring gr = global_ring(h);

	return ring_count(&gr);
}

uint32_t rq_pop_raw(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c);

	return vs_ring_pop(&lr);
}

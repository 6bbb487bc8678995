/* SPDX-License-Identifier: MIT */
/*
 * The policy seam: enqueue_task / pick_next_task / set_prio / task_tick,
 * dispatched on the policy enum in the header (no function pointers in
 * data). FIFO: a per-CPU ring, spilling to the global ring when full; the
 * global ring is drained when the local one is empty, and looked at first
 * every 61st pick so it cannot starve (as Go's scheduler does).
 * Each hook is called by the owning CPU, except enqueue, which any CPU or
 * foreign thread may call (remote wake-ups).
 */
#include "core.h"
#include "queue.h"

#define GLOBAL_CHECK_EVERY 61
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

static int fifo_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
			uint32_t flags)
{
	struct vs_ring lr = local_ring(h, c), gr;

	if (vs_ring_push(&lr, val))
		return 0;
	if (flags & ENQ_LOCAL)
		return -VSCHED_EAGAIN;
	gr = global_ring(h);
	for (uint32_t i = 0; i < GLOBAL_PUSH_SPINS; i++) {
		if (vs_ring_push(&gr, val))
			return 0;
		cpu_relax();
	}
	return -VSCHED_EAGAIN;
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

static struct vsched_task *fifo_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vs_ring lr = local_ring(h, c), gr = global_ring(h);
	uint32_t val;

	if (++c->schedtick % GLOBAL_CHECK_EVERY == 0) {
		val = vs_ring_pop(&gr);
		if (val)
			return checked(h, val);
	}
	val = vs_ring_pop(&lr);
	if (!val)
		val = vs_ring_pop(&gr);
	return checked(h, val);
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
		atomic_store_explicit(&t->prio, prio, memory_order_relaxed);
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

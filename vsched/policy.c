/* SPDX-License-Identifier: MIT */
/*
 * The policy seam: enqueue_task / pick_next_task / set_prio / task_tick /
 * account, dispatched on the policy enum in the header (no function
 * pointers in data) to FIFO and RR (fifo.c) or CFS (cfs.c), which share
 * the run-queue helpers of rq.c. Each hook is called by the owning CPU,
 * except enqueue and set_prio, which any CPU or foreign thread may call
 * (remote wake-ups), and tick, which a ticking thread calls for any CPU.
 */
#include "core.h"

int policy_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		   uint32_t flags)
{
	switch (HDR.policy) {
	case VSCHED_POLICY_FIFO:
		return fifo_enqueue(h, c, (uint32_t)(t - core_tasks(h)) + 1, flags);
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
	switch (HDR.policy) {
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
	if (HDR.policy == VSCHED_POLICY_CFS)
		return cfs_set_prio(h, t, prio);
	/* kept for the task's record; FIFO and RR order do not use it */
	atomic_store_explicit(&t->prio, (int8_t)prio, memory_order_relaxed);
	return 0;
}

uint64_t core_clock(struct vsched_vvar *h)
{
	uint64_t v = atomic_load_explicit(&glob(h)->clock_override, memory_order_relaxed);

	return v ? v : vsched_clock_read();
}

void policy_account(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur)
{
	uint64_t now, start, delta;

	if (HDR.policy == VSCHED_POLICY_FIFO)
		return; /* FIFO never looks at the time */
	now = core_clock(h);
	start = atomic_load_explicit(&c->exec_start, memory_order_relaxed);
	delta = start && now > start ? now - start : 0;
	/* relaxed: a ticking thread only compares it with the clock */
	atomic_store_explicit(&c->exec_start, now, memory_order_relaxed);
	if (!cur || task_priv(h, cur)->idle)
		return;
	if (HDR.policy == VSCHED_POLICY_RR)
		rr_account(cur, delta);
	else
		cfs_account(h, c, cur, delta);
}

int policy_tick(struct vsched_vvar *h, struct vsched_cpu *c, uint64_t now)
{
	struct vsched_task *cur;
	uint64_t start, ran;
	vsched_ref_t ref;
	bool due;

	if (HDR.policy == VSCHED_POLICY_FIFO)
		return 0; /* FIFO never preempts */
	ref = atomic_load_explicit(&cpu_priv(h, c)->current, memory_order_acquire);
	cur = task_get(h, ref);
	if (!cur || task_priv(h, cur)->idle)
		return 0;
	if (!now)
		now = core_clock(h);
	start = atomic_load_explicit(&c->exec_start, memory_order_relaxed);
	ran = now > start ? now - start : 0;
	if (HDR.policy == VSCHED_POLICY_RR)
		due = rr_due(h, c, cur, ran);
	else
		due = ran >= HDR.slice && cfs_busy(h, c);
	if (!due)
		return 0;
	atomic_store_explicit(&cur->need_resched, 1, memory_order_relaxed);
	return 1;
}

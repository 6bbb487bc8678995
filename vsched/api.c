/* SPDX-License-Identifier: MIT */
/*
 * The exported entry points: each checks its arguments against the vvar
 * header, then calls into the state machine. Bad input gets -errno and
 * changes nothing.
 */
#include "core.h"

/* A header that at least claims to be ours; init checks it fully. */
static struct vsched_vvar *hdr(void)
{
	struct vsched_vvar *h = vvar();

	if (unlikely(h->magic != VSCHED_VVAR_MAGIC || h->version != VSCHED_VVAR_VERSION))
		return 0;
	return h;
}

#define GET_CPU(h, c, cpu_id)                                                    \
	struct vsched_vvar *h = hdr();                                           \
	struct vsched_cpu *c;                                                    \
	if (unlikely(!h))                                                        \
		return -VSCHED_ENODEV;                                           \
	c = cpu_get(h, cpu_id);                                                  \
	if (unlikely(!c))                                                        \
		return -VSCHED_EINVAL

int vsched_init(uint32_t cpu_id, vsched_ref_t idle, vsched_ref_t boot)
{
	return sched_init_cpu(vvar(), cpu_id, idle, boot, true);
}

int vsched_init_secondary(uint32_t cpu_id, vsched_ref_t idle)
{
	return sched_init_cpu(vvar(), cpu_id, idle, VSCHED_REF_NONE, false);
}

/* Works before any CPU is up (the boot and idle tasks come first). */
int vsched_task_alloc(uint32_t cpu_id, const struct vsched_task_desc *desc,
		      vsched_ref_t *out)
{
	struct vsched_vvar *h = hdr();

	if (!h || !vvar_geometry_ok(h))
		return -VSCHED_ENODEV;
	if (cpu_id != VSCHED_CPU_NONE && cpu_id >= h->ncpus)
		return -VSCHED_EINVAL;
	return task_alloc(h, desc, out);
}

int vsched_task_free(uint32_t cpu_id, vsched_ref_t task)
{
	struct vsched_vvar *h = hdr();

	if (!h)
		return -VSCHED_ENODEV;
	if (cpu_id != VSCHED_CPU_NONE && cpu_id >= h->ncpus)
		return -VSCHED_EINVAL;
	return task_free(h, task);
}

HOT int vsched_spawn(uint32_t cpu_id, vsched_ref_t task)
{
	struct vsched_vvar *h = hdr();

	if (!h)
		return -VSCHED_ENODEV;
	return sched_spawn(h, cpu_id, task);
}

HOT int vsched_yield_now(uint32_t cpu_id)
{
	GET_CPU(h, c, cpu_id);
	return sched_yield(h, c, false, false);
}

HOT int vsched_preempt_current(uint32_t cpu_id)
{
	GET_CPU(h, c, cpu_id);
	return sched_yield(h, c, false, true);
}

HOT int vsched_resched(uint32_t cpu_id)
{
	GET_CPU(h, c, cpu_id);
	return sched_resched(h, c, false);
}

HOT int vsched_resched_f(uint32_t cpu_id)
{
	GET_CPU(h, c, cpu_id);
	return sched_resched(h, c, true);
}

HOT int vsched_yield_f(uint32_t cpu_id)
{
	GET_CPU(h, c, cpu_id);
	return sched_yield(h, c, true, false);
}

HOT int vsched_switch_to(uint32_t cpu_id, vsched_ref_t prev, vsched_ref_t next)
{
	GET_CPU(h, c, cpu_id);
	return sched_switch_to(h, c, prev, next);
}

HOT int vsched_unblock_task(uint32_t cpu_id, vsched_ref_t task, uint32_t flags, uint32_t src_cpu)
{
	struct vsched_vvar *h = hdr();

	if (!h)
		return -VSCHED_ENODEV;
	return sched_unblock(h, cpu_id, task, flags, src_cpu);
}

int vsched_current(uint32_t cpu_id, vsched_ref_t *out)
{
	GET_CPU(h, c, cpu_id);
	if (!out)
		return -VSCHED_EINVAL;
	*out = atomic_load_explicit(&c->current, memory_order_relaxed);
	return 0;
}

/*
 * Returns the state the previous task had when this CPU switched away from
 * it (VSCHED_TASK_FREE if there is none): the task itself may since have
 * been woken and run elsewhere, so its state now says nothing about who
 * reclaims it. Only VSCHED_TASK_EXITED here means "yours to reclaim".
 */
HOT int vsched_take_prev_task(uint32_t cpu_id, vsched_ref_t *out)
{
	vsched_ref_t p;
	uint32_t st;

	GET_CPU(h, c, cpu_id);
	p = sched_take_prev(h, c, &st);
	if (out)
		*out = p;
	return (int)st;
}

int vsched_set_priority(uint32_t cpu_id, vsched_ref_t task, int32_t prio)
{
	struct vsched_task *t;

	GET_CPU(h, c, cpu_id);
	(void)c;
	t = task_get(h, task);
	if (!t)
		return -VSCHED_ESRCH;
	return policy_set_prio(h, t, prio);
}

int vsched_task_tick(uint32_t cpu_id, uint64_t now_ns)
{
	GET_CPU(h, c, cpu_id);
	return policy_tick(h, c, now_ns);
}

int vsched_migrate_entry(uint32_t cpu_id, uint32_t dst_cpu)
{
	GET_CPU(h, c, cpu_id);
	return sched_migrate(h, c, dst_cpu);
}

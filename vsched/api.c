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
	if (cpu_id != VSCHED_CPU_NONE && cpu_id >= HDR.ncpus)
		return -VSCHED_EINVAL;
	return task_alloc(h, desc, out);
}

int vsched_task_free(uint32_t cpu_id, vsched_ref_t task)
{
	struct vsched_vvar *h = hdr();

	if (!h)
		return -VSCHED_ENODEV;
	if (cpu_id != VSCHED_CPU_NONE && cpu_id >= HDR.ncpus)
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
	*out = atomic_load_explicit(&cpu_priv(h, c)->current, memory_order_relaxed);
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

/*
 * Marks the running task of @cpu_id blocked or exited (@state) without
 * leaving the CPU: the runtime does it under the lock its waker takes (a
 * blocked task), or once its joiner is told (an exited one), then
 * reschedules. -EINVAL for another state, or if no task runs there.
 */
HOT int vsched_mark_current(uint32_t cpu_id, uint32_t state)
{
	GET_CPU(h, c, cpu_id);
	return sched_mark_current(h, c, state);
}

/*
 * vsched_mark_current and vsched_resched in one: the running stackful task
 * of @cpu_id becomes blocked or exited (@state) and the CPU switches away.
 * Returns once it runs again (blocked), or never (exited). The runtime
 * keeps what a waker would need locked until it is off the CPU.
 */
HOT int vsched_park(uint32_t cpu_id, uint32_t state)
{
	GET_CPU(h, c, cpu_id);
	return sched_park(h, c, state);
}

/* The CPUs this CPU's own calls put work back on (stealing, the global
 * ring), to be woken by the runtime: a mask (bit 63: CPU 63 and above),
 * cleared as it is read. */
/*
 * While @on, the CPU picks no task: every switch on it goes to its idle
 * task, whose thread hands the CPU to the domain member that is to run
 * next. Its queued tasks stay, for its other CPUs to steal or for later.
 * The CPU's own thread only. Returns what it was (0 or 1).
 */
int vsched_set_foreign(uint32_t cpu_id, uint32_t on)
{
	struct vsched_cpu_priv *cp;
	uint32_t was;

	GET_CPU(h, c, cpu_id);
	if (on > 1)
		return -VSCHED_EINVAL;
	cp = cpu_priv(h, c);
	was = cp->foreign;
	cp->foreign = on;
	return (int)was;
}

HOT int vsched_take_kicks(uint32_t cpu_id, uint64_t *out)
{
	GET_CPU(h, c, cpu_id);
	if (!out)
		return -VSCHED_EINVAL;
	/* relaxed peek first: almost always 0, and then no RMW */
	*out = atomic_load_explicit(&c->kick, memory_order_relaxed);
	if (*out)
		*out = atomic_exchange_explicit(&c->kick, 0, memory_order_relaxed);
	return 0;
}

/*
 * How many tasks wait in @cpu_id's ring and runnext slot, or with
 * VSCHED_CPU_NONE in the global ring (0 for a CPU not up yet): a snapshot,
 * for placement and for an idle CPU deciding whether to sleep (any CPU or
 * thread may ask).
 */
int vsched_queue_len(uint32_t cpu_id, uint64_t *out)
{
	struct vsched_vvar *h = hdr();
	struct vsched_cpu *c;

	if (!h)
		return -VSCHED_ENODEV;
	if (!out)
		return -VSCHED_EINVAL;
	if (cpu_id == VSCHED_CPU_NONE) {
		*out = rq_global_len(h);
		return 0;
	}
	if (cpu_id >= HDR.ncpus)
		return -VSCHED_EINVAL;
	c = cpu_get(h, cpu_id);
	/* a CPU not up yet has nothing queued */
	*out = c ? rq_len(h, c) + (atomic_load_explicit(&c->runnext, memory_order_relaxed) != 0)
		 : 0;
	return 0;
}

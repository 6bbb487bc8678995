/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of the core: how it reaches the vvar area, validates
 * what callers hand it, and what each file provides to the others.
 */
#ifndef VSCHED_CORE_H
#define VSCHED_CORE_H

#include <stdbool.h>
#include "vvar.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define EXPORT __attribute__((visibility("default")))
/* An entry point on the switch path: everything it calls is inlined into
 * it (the cold paths are marked COLD), so yield, block and wake-up run as
 * one straight function each. */
#define HOT __attribute__((flatten))
#define COLD __attribute__((noinline, cold))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The exported prototypes, made from the one list. */
#define VSCHED_API(ret, name, params, args) EXPORT ret name params;
#include "vsched_api.def"
#undef VSCHED_API

/* Placed by the linker script right below the image: reached
 * PC-relatively. Read-only (the mapper protects it once written), and
 * declared so: the compiler loads each geometry field once per entry
 * point, not again after every atomic operation. */
extern const struct vsched_vvar __vsched_vvar HIDDEN;
#define HDR __vsched_vvar

static inline struct vsched_vvar *vvar(void)
{
	struct vsched_vvar *h = (struct vsched_vvar *)&__vsched_vvar;

	/* The parts lie below the header, outside the object the compiler
	 * knows: hide where the pointer comes from, or its bounds checks see
	 * every access as out of range. Costs nothing (the lea stays). */
	__asm__("" : "+r"(h));
	return h;
}

/*
 * The parts of the area, as vvar.h finds them, but with the distances read
 * from the read-only header object (HDR) rather than through @h, which is
 * the same address laundered for the compiler's bounds checks.
 */
static inline struct vsched_shared *glob(struct vsched_vvar *h)
{
	return (struct vsched_shared *)((char *)h - HDR.glob_off);
}

static inline struct vsched_task *core_tasks(struct vsched_vvar *h)
{
	return (struct vsched_task *)((char *)h - HDR.tasks_off);
}

static inline struct vsched_cpu *core_cpus(struct vsched_vvar *h)
{
	return (struct vsched_cpu *)((char *)h - HDR.cpus_off);
}

static inline vsched_cell_t *core_rq(struct vsched_vvar *h, uint32_t cpu)
{
	return (vsched_cell_t *)((char *)h - HDR.rq_off) + (uint64_t)cpu * HDR.queue_cap;
}

static inline vsched_cell_t *core_gq(struct vsched_vvar *h)
{
	return (vsched_cell_t *)((char *)h - HDR.gq_off);
}

static inline struct vsched_cpu_priv *core_pcpus(struct vsched_vvar *h)
{
	return (struct vsched_cpu_priv *)((char *)h - HDR.pcpu_off);
}

static inline struct vsched_cfs_ent *core_cfs(struct vsched_vvar *h, uint32_t cpu)
{
	return (struct vsched_cfs_ent *)((char *)h - HDR.cfs_off) + (uint64_t)cpu * HDR.ntasks;
}

static inline struct vsched_task_priv *core_tpriv(struct vsched_vvar *h, uint32_t idx)
{
	return (struct vsched_task_priv *)((char *)h - HDR.tpriv_off +
					   ((uint64_t)idx << HDR.priv_shift));
}

/* A CPU's number: its place in the array, never the copy stored in it. */
static inline uint32_t cpu_index(struct vsched_vvar *h, const struct vsched_cpu *c)
{
	return (uint32_t)(c - core_cpus(h));
}

/* A CPU's private record. */
static inline struct vsched_cpu_priv *cpu_priv(struct vsched_vvar *h, const struct vsched_cpu *c)
{
	return core_pcpus(h) + cpu_index(h, c);
}

/* A task's slot index (@t is a slot of the table). */
static inline uint32_t task_index(struct vsched_vvar *h, const struct vsched_task *t)
{
	return (uint32_t)(t - core_tasks(h));
}

/* A task's private record. */
static inline struct vsched_task_priv *task_priv(struct vsched_vvar *h,
						 const struct vsched_task *t)
{
	return core_tpriv(h, task_index(h, t));
}

static inline void cpu_relax(void)
{
	vsched_cpu_relax();
}

/* task.c: the task table */
HIDDEN bool vvar_geometry_ok(const struct vsched_vvar *h);
HIDDEN struct vsched_task *task_get(struct vsched_vvar *h, vsched_ref_t ref);
HIDDEN struct vsched_task *task_at(struct vsched_vvar *h, uint32_t idx);
HIDDEN vsched_ref_t task_ref(struct vsched_vvar *h, struct vsched_task *t);
HIDDEN int task_alloc(struct vsched_vvar *h, const struct vsched_task_desc *d,
		      vsched_ref_t *out);
HIDDEN int task_free(struct vsched_vvar *h, vsched_ref_t ref);

/* sched.c: the state machine */
HIDDEN struct vsched_cpu *cpu_get(struct vsched_vvar *h, uint32_t cpu_id);
HIDDEN int sched_init_cpu(struct vsched_vvar *h, uint32_t cpu_id,
			  vsched_ref_t idle, vsched_ref_t boot, bool primary);
HIDDEN int sched_spawn(struct vsched_vvar *h, uint32_t cpu_id, vsched_ref_t ref);
HIDDEN int sched_yield(struct vsched_vvar *h, struct vsched_cpu *c, bool stackless,
		       bool preempt);
HIDDEN int sched_resched(struct vsched_vvar *h, struct vsched_cpu *c, bool stackless);
HIDDEN int sched_switch_to(struct vsched_vvar *h, struct vsched_cpu *c,
			   vsched_ref_t prev, vsched_ref_t next);
HIDDEN int sched_unblock(struct vsched_vvar *h, uint32_t dst, vsched_ref_t ref,
			 uint32_t flags, uint32_t src);
HIDDEN int sched_migrate(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t dst);
HIDDEN vsched_ref_t sched_take_prev(struct vsched_vvar *h, struct vsched_cpu *c,
				   uint32_t *state);
/* The running task of @c becomes BLOCKED or EXITED (@state), in place. */
HIDDEN int sched_mark_current(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t state);
/* Marks the running stackful task of @c so, then switches away from it. */
HIDDEN int sched_park(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t state);

/* policy.c: the policy seam (enum dispatch, no pointers in data) */
#define ENQ_PREEMPT 0x1u /* preempted with time left (RR: to the front) */
#define ENQ_LOCAL 0x2u	 /* this CPU's queue only: no spill to the global ring */
#define ENQ_NEXT 0x4u	 /* into the runnext slot (a task just woken) */
#define ENQ_KEEP 0x8u	 /* moved between rings (stolen, put back): not sent
			  * behind the global ring's tasks */
HIDDEN int policy_enqueue(struct vsched_vvar *h, struct vsched_cpu *c,
			  struct vsched_task *t, uint32_t flags);
HIDDEN struct vsched_task *policy_pick(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN int policy_set_prio(struct vsched_vvar *h, struct vsched_task *t, int32_t prio);
/* Any thread, for any CPU: 1 if it set the current task's need_resched. */
HIDDEN int policy_tick(struct vsched_vvar *h, struct vsched_cpu *c, uint64_t now);
/* Charges the time since the last switch to @cur (owner, at every switch). */
HIDDEN void policy_account(struct vsched_vvar *h, struct vsched_cpu *c,
			   struct vsched_task *cur);
HIDDEN uint64_t core_clock(struct vsched_vvar *h);

/* fifo.c: FIFO and RR */
HIDDEN int fifo_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val,
			uint32_t flags);
HIDDEN struct vsched_task *fifo_pick(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN int rr_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		      uint32_t flags);
HIDDEN void rr_account(struct vsched_task *cur, uint64_t delta);
HIDDEN bool rr_due(struct vsched_vvar *h, struct vsched_cpu *c, const struct vsched_task *cur,
		   uint64_t ran);

/* rq.c: run-queue helpers the policies share */
#define RQ_GLOBAL_CHECK_EVERY 61
HIDDEN int rq_put(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t val, uint32_t flags);
HIDDEN uint32_t rq_pop_raw(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN uint64_t rq_len(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN uint64_t rq_global_len(struct vsched_vvar *h);
HIDDEN struct vsched_task *rq_checked(struct vsched_vvar *h, uint32_t val);
HIDDEN bool rq_may_run(struct vsched_vvar *h, const struct vsched_task *t,
		       const struct vsched_cpu *c);
HIDDEN void rq_want_kick(struct vsched_cpu *c, uint32_t cpu);
HIDDEN struct vsched_task *rq_global_take(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN struct vsched_task *rq_steal(struct vsched_vvar *h, struct vsched_cpu *c);

/* cfs.c */
HIDDEN int cfs_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		       uint32_t flags);
HIDDEN struct vsched_task *cfs_pick(struct vsched_vvar *h, struct vsched_cpu *c);
HIDDEN void cfs_account(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur,
			uint64_t delta);
HIDDEN int cfs_set_prio(struct vsched_vvar *h, struct vsched_task *t, int32_t prio);
/* Anything waiting on @c (any thread). */
HIDDEN bool cfs_busy(struct vsched_vvar *h, struct vsched_cpu *c);

#endif

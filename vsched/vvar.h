/* SPDX-License-Identifier: MIT */
/*
 * The vvar area: the scheduler's whole state, shared by libvsched.so (which
 * reaches the header PC-relatively) and the loader/runtime (which map it).
 * Freestanding: included by the core and by hosted code alike.
 *
 *   low addresses                                         high addresses
 *   [ task table | per-CPU rings | global ring | per-CPU | header ][ image ]
 *                                                           ^ __vsched_vvar
 *
 * Every part is found at a distance *below* the header recorded in the
 * header, so nothing in here is an absolute address (except the fields
 * tagged as owned by one address space). All-zero memory is a valid empty
 * state for every part but the header, so untouched pages cost nothing.
 */
#ifndef VSCHED_VVAR_H
#define VSCHED_VVAR_H

#define VSCHED_VVAR_MAGIC 0x48435356u /* "VSCH" */
#define VSCHED_VVAR_VERSION 2u
#define VSCHED_VVAR_HDR_SIZE 4096 /* the linker script places it there */

#define VSCHED_MAX_CPUS 1024u
#define VSCHED_MAX_TASKS (1u << 28)
#define VSCHED_MIN_QUEUE 4u
#define VSCHED_MAX_QUEUE (1u << 20)

#define VSCHED_CACHELINE 64

/*
 * The errno values the core returns (negated). The core has no libc; these
 * are Linux's numbers, the same on x86_64, aarch64 and riscv64, and the
 * interface layer checks them against <errno.h> at compile time.
 */
#define VSCHED_EPERM 1
#define VSCHED_ESRCH 3
#define VSCHED_EAGAIN 11
#define VSCHED_ENOMEM 12
#define VSCHED_EBUSY 16
#define VSCHED_ENODEV 19
#define VSCHED_EINVAL 22
#define VSCHED_EDEADLK 35
#define VSCHED_EOPNOTSUPP 95

#ifndef __ASSEMBLER__ /* the rest is C; the linker script needs only sizes */

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/cpu.h" /* vsched_cpu_relax, vsched_clock_read */

/* A task reference: generation in the high half, slot index in the low. */
typedef uint64_t vsched_ref_t;
#define VSCHED_REF_NONE ((vsched_ref_t)0)
#define VSCHED_REF_IDX(r) ((uint32_t)(r))
#define VSCHED_REF_GEN(r) ((uint32_t)((r) >> 32))
#define VSCHED_REF(gen, idx) (((uint64_t)(gen) << 32) | (uint32_t)(idx))

enum vsched_task_state {
	VSCHED_TASK_FREE = 0,	 /* slot unused (zero memory) */
	VSCHED_TASK_NEW = 1,	 /* allocated, not yet spawned */
	VSCHED_TASK_READY = 2,	 /* in a run queue (or about to be) */
	VSCHED_TASK_RUNNING = 3, /* current on some CPU */
	VSCHED_TASK_BLOCKED = 4, /* waiting; only unblock makes it ready */
	VSCHED_TASK_EXITED = 5,	 /* done; reclaimed after take_prev_task */
};

enum vsched_task_kind {
	VSCHED_KIND_STACKFUL = 0,
	VSCHED_KIND_STACKLESS = 1, /* runs on its CPU's idle context */
};

#define VSCHED_TF_IDLE 0x1u /* a CPU's idle task: never queued */
/* Runs next on the CPU in ->cpu and nowhere else: set by the core for a
 * task preempted asynchronously (its registers may hold addresses of its
 * thread's thread-local storage), for one that migrates, and, when asked
 * for at alloc, for a new task's first run; cleared by the core when that
 * CPU switches to it. */
#define VSCHED_TF_STAY 0x2u

#define VSCHED_CPU_NONE 0xffffffffu /* a caller that is not a CPU */

/* vsched_unblock_task flags */
#define VSCHED_WAKE_RESCHED 0x1u /* ask the current task of src to resched */
#define VSCHED_WAKE_NEXT 0x2u	 /* run it next on dst (runnext slot) */

/* What vsched_task_alloc needs to know of a new task. */
struct vsched_task_desc {
	uint32_t kind;	/* enum vsched_task_kind */
	uint32_t flags; /* 0, or VSCHED_TF_STAY: first run on the spawn CPU */
	uint32_t owner; /* address-space id of the caller */
	int32_t prio;
	uint64_t ctx_sp; /* (owner) initial stack pointer of a stackful task */
	uint64_t ext;	 /* (owner) extension pointer */
	uint64_t affinity; /* CPUs 0..63 it may run on; 0: any */
};

enum vsched_policy {
	VSCHED_POLICY_FIFO = 0,
	VSCHED_POLICY_RR = 1,
	VSCHED_POLICY_CFS = 2,
};

/*
 * One task-table slot ("TaskInner"). Fields marked (owner) hold addresses
 * of the owning address space and are only ever used by that owner. The
 * byte-sized atomics are only ever loaded and stored (never exchanged), so
 * they stay inline on every arch (riscv64 has no byte-wide AMOs).
 */
struct vsched_task {
	_Atomic uint32_t gen;	   /* bumped when the slot is freed; never 0 */
	_Atomic uint32_t state;	   /* enum vsched_task_state */
	_Atomic uint8_t on_cpu;	   /* 1 while a CPU is on (or leaving) it */
	_Atomic uint8_t need_resched;
	uint8_t kind;		   /* enum vsched_task_kind */
	uint8_t flags;		   /* VSCHED_TF_* */
	_Atomic int8_t prio;	   /* policy priority (nice for CFS) */
	uint8_t pad0[3];
	uint32_t owner;		   /* id of the owning address space */
	_Atomic uint32_t cpu;	   /* CPU it last ran on or was queued to */
	_Atomic uint32_t next_free; /* free-list link: index + 1, 0 = end */
	uint32_t pol_aux;	   /* policy private (RR: slice left; CFS: heap
				    * position + 1 while in the heap) */
	uint64_t affinity;	   /* CPUs 0..63 it may run on; 0: any CPU */
	uint64_t ctx_sp;	   /* (owner) saved stack pointer */
	uint64_t ext;		   /* (owner) runtime extension pointer */
	uint64_t vruntime;	   /* CFS: virtual runtime while queued or running,
				    * lag behind min_vruntime (signed) while not */
};

/* May a task with @affinity run on @cpu? (CPUs past 63 only if "any".) */
static inline int vsched_affinity_allows(uint64_t affinity, uint32_t cpu)
{
	return affinity == 0 || (cpu < 64 && ((affinity >> cpu) & 1));
}

/* Per-CPU state; the rings' positions sit on lines of their own. */
struct vsched_cpu {
	alignas(VSCHED_CACHELINE) _Atomic uint32_t online;
	uint32_t cpu_id;
	_Atomic vsched_ref_t current;
	_Atomic vsched_ref_t prev; /* switched away from, on_cpu still set */
	vsched_ref_t idle;
	uint32_t schedtick; /* picks, for the global-ring fairness check */
	uint32_t next_streak; /* picks in a row taken from runnext */
	_Atomic uint64_t nr_switches;
	_Atomic uint64_t nr_steals; /* tasks this CPU took from others */
	uint32_t steal_from; /* where the next steal starts looking */
	uint32_t prev_settled; /* prev's on_cpu already cleared (owner only) */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t rq_enq;
	alignas(VSCHED_CACHELINE) _Atomic uint64_t rq_deq;
	/* a task just woken, run next: index + 1, 0 = empty */
	alignas(VSCHED_CACHELINE) _Atomic uint32_t runnext;
	uint32_t prev_state; /* prev's state as it left (owner only) */
	/*
	 * CPUs this one put work back on (a stolen task it may not run): bit
	 * n for CPU n, bit 63 for CPUs 63 and up. The core cannot wake a CPU
	 * that parked meanwhile; the runtime drains this after every call
	 * that may pick, and wakes them.
	 */
	_Atomic uint64_t kick;
	/* time: the core's clock when current was switched in (read by a
	 * ticking thread), CFS's floor of virtual runtimes (read by anyone) */
	_Atomic uint64_t exec_start;
	_Atomic uint64_t min_vruntime;
	uint32_t cfs_nr; /* tasks in the CFS heap (owner only) */
	uint32_t pad2;
	/* CPUs that found nothing to steal and ask this one (CFS) to give
	 * them its tasks that would run last: bit n for CPU n, 63 for 63+ */
	_Atomic uint64_t steal_req;
	uint64_t pad3[2];
};

/* The header: geometry written by the mapper, then global state. */
struct vsched_vvar {
	/* line 0: geometry, written once by the mapper before vsched_init */
	alignas(VSCHED_CACHELINE) uint32_t magic;
	uint32_t version;
	uint32_t hdr_size;
	_Atomic uint32_t formatted; /* 0 raw, 1 being formatted, 2 ready */
	uint64_t area_size;	   /* whole area, header included */
	uint32_t ncpus;
	uint32_t queue_cap; /* per-CPU ring, power of two */
	uint32_t ntasks;
	uint32_t gq_cap; /* global ring, power of two >= ntasks */
	uint32_t policy;
	uint32_t task_size;
	uint32_t cpu_size;
	uint32_t pad0;
	/* distances below the header */
	uint64_t cpus_off;
	uint64_t gq_off;
	uint64_t rq_off;
	uint64_t tasks_off;
	uint64_t cfs_off; /* CFS heaps (0 for other policies) */
	uint64_t slice;	  /* RR slice, CFS granularity: core clock units */
	/* a test's clock: when not 0, the core reads this instead of the CPU's
	 * counter */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t clock_override;
	/* line: task-slot allocator */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t free_head; /* tag<<32 | idx+1 */
	_Atomic uint32_t bump; /* slots [0, bump) have been handed out once */
	_Atomic uint32_t nr_alive;
	/* global overflow ring positions */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t gq_enq;
	alignas(VSCHED_CACHELINE) _Atomic uint64_t gq_deq;
};

_Static_assert(sizeof(struct vsched_task) == 64, "task slot is one line");
_Static_assert(VSCHED_MIN_QUEUE >= 2, "a ring needs at least two cells");
_Static_assert(sizeof(struct vsched_cpu) == 256, "per-CPU is four lines");
_Static_assert(sizeof(struct vsched_vvar) <= VSCHED_VVAR_HDR_SIZE, "header");

/* A ring cell: (sequence - cell index) in the high half, index+1 low. */
typedef _Atomic uint64_t vsched_cell_t;

/* The geometry a mapper asks for. */
struct vsched_geometry {
	uint32_t ncpus;
	uint32_t queue_cap; /* rounded up to a power of two */
	uint32_t ntasks;
	uint32_t policy;
	uint64_t slice; /* core clock units; 0: VSCHED_DEFAULT_SLICE */
};

#define VSCHED_DEFAULT_SLICE (1ull << 23)

/* A run-queue value with this bit is a message, not a task (CFS: weigh
 * the task again); a task's vruntime of all ones: not placed yet. */
#define VSCHED_RQ_MSG 0x80000000u
#define VSCHED_VRUNTIME_NEW UINT64_MAX

/* One entry of a CPU's CFS heap (a binary min-heap on key, then idx). */
struct vsched_cfs_ent {
	uint64_t key; /* the task's vruntime */
	uint32_t idx; /* its slot */
	int32_t nice; /* the nice its key was last weighed with */
};

static inline uint64_t vsched_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint32_t vsched_pow2_ceil(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Fills the geometry part of a header for @g and returns the area size it
 * needs (header included), or 0 if @g is out of range. Shared by the mapper,
 * which writes the header, and the core, which checks it.
 */
static inline uint64_t vsched_vvar_layout(const struct vsched_geometry *g,
					  struct vsched_vvar *h)
{
	uint64_t off = 0;
	uint32_t qcap, gcap;

	if (g->ncpus == 0 || g->ncpus > VSCHED_MAX_CPUS || g->ntasks < 2 ||
	    g->ntasks > VSCHED_MAX_TASKS || g->queue_cap < VSCHED_MIN_QUEUE ||
	    g->queue_cap > VSCHED_MAX_QUEUE || g->policy > VSCHED_POLICY_CFS)
		return 0;
	qcap = vsched_pow2_ceil(g->queue_cap);
	gcap = vsched_pow2_ceil(g->ntasks + 1);

	h->magic = VSCHED_VVAR_MAGIC;
	h->version = VSCHED_VVAR_VERSION;
	h->hdr_size = VSCHED_VVAR_HDR_SIZE;
	h->ncpus = g->ncpus;
	h->queue_cap = qcap;
	h->ntasks = g->ntasks;
	h->gq_cap = gcap;
	h->policy = g->policy;
	h->task_size = sizeof(struct vsched_task);
	h->cpu_size = sizeof(struct vsched_cpu);
	off += vsched_align_up((uint64_t)g->ncpus * sizeof(struct vsched_cpu), 4096);
	h->cpus_off = off;
	off += vsched_align_up((uint64_t)gcap * sizeof(vsched_cell_t), 4096);
	h->gq_off = off;
	off += vsched_align_up((uint64_t)g->ncpus * qcap * sizeof(vsched_cell_t), 4096);
	h->rq_off = off;
	off += vsched_align_up((uint64_t)g->ntasks * sizeof(struct vsched_task), 4096);
	h->tasks_off = off;
	h->slice = g->slice ? g->slice : VSCHED_DEFAULT_SLICE;
	h->cfs_off = 0;
	if (g->policy == VSCHED_POLICY_CFS) {
		/* a task is in one heap at a time, but any heap may hold all */
		off += vsched_align_up((uint64_t)g->ncpus * g->ntasks *
					       sizeof(struct vsched_cfs_ent), 4096);
		h->cfs_off = off;
	}
	h->area_size = off + VSCHED_VVAR_HDR_SIZE;
	return h->area_size;
}

static inline struct vsched_task *vsched_vvar_tasks(struct vsched_vvar *h)
{
	return (struct vsched_task *)((char *)h - h->tasks_off);
}

static inline struct vsched_cpu *vsched_vvar_cpus(struct vsched_vvar *h)
{
	return (struct vsched_cpu *)((char *)h - h->cpus_off);
}

static inline vsched_cell_t *vsched_vvar_rq(struct vsched_vvar *h, uint32_t cpu)
{
	return (vsched_cell_t *)((char *)h - h->rq_off) + (uint64_t)cpu * h->queue_cap;
}

static inline struct vsched_cfs_ent *vsched_vvar_cfs(struct vsched_vvar *h, uint32_t cpu)
{
	return (struct vsched_cfs_ent *)((char *)h - h->cfs_off) + (uint64_t)cpu * h->ntasks;
}

static inline vsched_cell_t *vsched_vvar_gq(struct vsched_vvar *h)
{
	return (vsched_cell_t *)((char *)h - h->gq_off);
}

#endif /* !__ASSEMBLER__ */
#endif /* VSCHED_VVAR_H */

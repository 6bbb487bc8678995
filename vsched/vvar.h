/* SPDX-License-Identifier: MIT */
/*
 * The vvar area: the scheduler's whole state, reached by libvsched.so
 * PC-relatively through the header just below the image, and mapped by the
 * loader and the runtime. Freestanding: included by the core and by hosted
 * code alike.
 *
 *   low addresses                                                high addresses
 *   [ private part            ][ shared part                     ][ header ][ image ]
 *   [ task records | CFS heaps | CPU records ][ task table | rings | global ring |
 *                                              per-CPU | globals ]  ^ __vsched_vvar
 *
 * Three parts, each found at a distance below the header that the header
 * records:
 *  - the header: the geometry and those distances. Written by the mapper,
 *    then read-only; never in shared memory, so nothing another process
 *    writes can move what the core reaches.
 *  - the shared part: what other processes may map too (a domain): task
 *    slots, rings and counters. Only indices, states and counters; the
 *    core range-checks every value it reads from here before using it.
 *  - the private part: what steers the CPU of the process that maps it
 *    (saved stack pointers, which task is current, the CFS heaps), in
 *    memory no other process can write.
 * Nothing in any part is an absolute address except a task's saved stack
 * pointer, which is private. All-zero memory is a valid empty state for
 * every part but the header, so untouched pages cost nothing.
 */
#ifndef VSCHED_VVAR_H
#define VSCHED_VVAR_H

#define VSCHED_VVAR_MAGIC 0x48435356u /* "VSCH" */
#define VSCHED_VVAR_VERSION 3u
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
#define VSCHED_EIO 5
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
	uint64_t ctx_sp;   /* initial stack pointer of a stackful task */
	uint64_t affinity; /* CPUs 0..63 it may run on; 0: any */
};

enum vsched_policy {
	VSCHED_POLICY_FIFO = 0,
	VSCHED_POLICY_RR = 1,
	VSCHED_POLICY_CFS = 2,
};

/*
 * (shared) One task-table slot ("TaskInner"): what other CPUs, and other
 * processes of a domain, read and write to wake, place and weigh a task.
 * The byte-sized atomics are only ever loaded and stored (never
 * exchanged), so they stay inline on every arch (riscv64 has no byte-wide
 * AMOs).
 */
struct vsched_task {
	_Atomic uint32_t gen;	   /* bumped when the slot is freed; never 0 */
	_Atomic uint32_t state;	   /* enum vsched_task_state */
	_Atomic uint8_t need_resched;
	uint8_t flags;		   /* VSCHED_TF_* (IDLE: a copy, for readers) */
	_Atomic int8_t prio;	   /* policy priority (nice for CFS) */
	uint8_t pad0;
	uint32_t owner;		   /* id of the owning address space */
	_Atomic uint32_t cpu;	   /* CPU it last ran on or was queued to */
	_Atomic uint32_t next_free; /* free-list link: index + 1, 0 = end */
	uint32_t pol_aux;	   /* policy private (RR: slice left; CFS: heap
				    * position + 1 while in the heap) */
	uint32_t pad1;
	uint64_t affinity;	   /* CPUs 0..63 it may run on; 0: any CPU */
	uint64_t vruntime;	   /* CFS: virtual runtime while queued or running,
				    * lag behind min_vruntime (signed) while not */
	uint64_t pad2[2];
};

/*
 * (private) The core's part of a task's record in the process that owns
 * it: where its context is and who is running it. The first bytes of each
 * record of the private task array, whose stride the mapper chooses, so a
 * runtime keeps its own per-task record in the rest at no extra cost.
 */
struct vsched_task_priv {
	uint64_t ctx_sp;	   /* saved stack pointer (a stackful task) */
	_Atomic uint16_t run_cpu;  /* the CPU that switched to it last */
	_Atomic uint8_t on_cpu;	   /* 1 while a CPU is on (or leaving) it */
	uint8_t kind;		   /* enum vsched_task_kind */
	uint8_t idle;		   /* a CPU's idle task */
	/* spawned (or made a CPU's boot or idle task) and not yet seen exit:
	 * only such a task is ever run from a queue */
	_Atomic uint8_t live;
	/* allocated and not yet freed: a slot the shared free list or bump
	 * pointer hands out again while this is set is refused */
	_Atomic uint8_t used;
	uint8_t pad;
};

/* May a task with @affinity run on @cpu? (CPUs past 63 only if "any".) */
static inline int vsched_affinity_allows(uint64_t affinity, uint32_t cpu)
{
	return affinity == 0 || (cpu < 64 && ((affinity >> cpu) & 1));
}

/* (shared) Per-CPU state; the rings' positions sit on lines of their own. */
struct vsched_cpu {
	alignas(VSCHED_CACHELINE) _Atomic uint32_t online; /* a copy, for readers */
	uint32_t cpu_id; /* a copy, for readers: the core uses the index */
	_Atomic vsched_ref_t current; /* a copy of the private one, for readers */
	uint64_t pad0;
	uint32_t schedtick; /* picks, for the global-ring fairness check */
	uint32_t next_streak; /* picks in a row taken from runnext */
	_Atomic uint64_t nr_switches;
	_Atomic uint64_t nr_steals; /* tasks this CPU took from others */
	uint32_t steal_from; /* where the next steal starts looking */
	_Atomic uint32_t cfs_nr; /* a copy of the private count (CFS) */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t rq_enq;
	alignas(VSCHED_CACHELINE) _Atomic uint64_t rq_deq;
	/* a task just woken, run next: index + 1, 0 = empty */
	alignas(VSCHED_CACHELINE) _Atomic uint32_t runnext;
	uint32_t pad1;
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
	/* CPUs that found nothing to steal and ask this one (CFS) to give
	 * them its tasks that would run last: bit n for CPU n, 63 for 63+ */
	_Atomic uint64_t steal_req;
	uint64_t pad3[3];
};

/* (private) Per-CPU state that steers the CPU: which task runs, which
 * context is its idle one, which it just left. */
struct vsched_cpu_priv {
	alignas(VSCHED_CACHELINE) _Atomic vsched_ref_t current;
	_Atomic vsched_ref_t prev; /* switched away from, on_cpu still set */
	vsched_ref_t idle;
	uint32_t prev_settled; /* prev's on_cpu already cleared */
	uint32_t prev_state;   /* prev's state as it left */
	uint32_t cfs_nr;       /* tasks in the CFS heap */
	_Atomic uint32_t online; /* 0 down, 1 coming up, 2 up */
	/* the CPU is another process's now (a domain member holds it): every
	 * pick returns the idle task, which hands the CPU over */
	uint32_t foreign;
	uint32_t pad[5];
};

/* The geometry a mapper asks for. */
struct vsched_geometry {
	uint32_t ncpus;
	uint32_t queue_cap; /* rounded up to a power of two */
	uint32_t ntasks;
	uint32_t policy;
	uint64_t slice;	    /* core clock units; 0: VSCHED_DEFAULT_SLICE */
	/* bytes of each private task record, the core's part first: 0 for
	 * the core's part alone, else a power of two from 16 to 4096 */
	uint32_t priv_size;
	uint32_t pad;
};

/* (shared) The area's global state, in the shared part's top page. */
struct vsched_shared {
	alignas(VSCHED_CACHELINE) _Atomic uint32_t formatted; /* 0 raw, 1 being
							       * formatted, 2 ready */
	uint32_t pad0;
	/* a test's clock: when not 0, the core reads this instead of the
	 * CPU's counter */
	_Atomic uint64_t clock_override;
	/* the geometry the area was made with (priv_size 0): a mapper that
	 * attaches checks that its own agrees, and trusts nothing else here */
	struct vsched_geometry geom;
	/* task-slot allocator */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t free_head; /* tag<<32 | idx+1 */
	_Atomic uint32_t bump; /* slots [0, bump) have been handed out once */
	_Atomic uint32_t nr_alive;
	/* global overflow ring positions */
	alignas(VSCHED_CACHELINE) _Atomic uint64_t gq_enq;
	alignas(VSCHED_CACHELINE) _Atomic uint64_t gq_deq;
};

/* (private, read-only once written) The header: geometry and where each
 * part lies, as distances below the header. */
struct vsched_vvar {
	alignas(VSCHED_CACHELINE) uint32_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t priv_stride; /* bytes between private task records, 1 << priv_shift */
	uint64_t area_size;   /* the whole area: private, shared and header */
	uint64_t shared_size; /* the shared part alone (what a shared fd holds) */
	uint32_t ncpus;
	uint32_t queue_cap; /* per-CPU ring, power of two */
	uint32_t ntasks;
	uint32_t gq_cap; /* global ring, power of two >= ntasks */
	uint32_t policy;
	uint32_t task_size;
	uint32_t cpu_size;
	uint32_t priv_shift;
	uint64_t slice; /* RR slice, CFS granularity: core clock units */
	/* the shared part */
	uint64_t glob_off;
	uint64_t cpus_off;
	uint64_t gq_off;
	uint64_t rq_off;
	uint64_t tasks_off;
	/* the private part */
	uint64_t pcpu_off;
	uint64_t cfs_off; /* CFS heaps (0 for other policies) */
	uint64_t tpriv_off;
};

_Static_assert(sizeof(struct vsched_task) == 64, "task slot is one line");
_Static_assert(sizeof(struct vsched_task_priv) == 16, "private task part");
_Static_assert(VSCHED_MIN_QUEUE >= 2, "a ring needs at least two cells");
_Static_assert(sizeof(struct vsched_cpu) == 256, "per-CPU is four lines");
_Static_assert(sizeof(struct vsched_cpu_priv) == 64, "private per-CPU is a line");
_Static_assert(sizeof(struct vsched_shared) <= 4096, "globals fit a page");
_Static_assert(sizeof(struct vsched_vvar) <= VSCHED_VVAR_HDR_SIZE, "header");

/* A ring cell: (sequence - cell index) in the high half, index+1 low. */
typedef _Atomic uint64_t vsched_cell_t;

#define VSCHED_DEFAULT_SLICE (1ull << 23)
#define VSCHED_PRIV_MAX 4096u

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
 * Fills a header for @g and returns the area size it needs (header
 * included), or 0 if @g is out of range. Shared by the mapper, which
 * writes the header, and the core, which checks it. The parts are laid out
 * downwards from the header: the shared part first, then the private one.
 */
static inline uint64_t vsched_vvar_layout(const struct vsched_geometry *g,
					  struct vsched_vvar *h)
{
	uint64_t off = 0;
	uint32_t qcap, gcap, stride = g->priv_size ? g->priv_size : sizeof(struct vsched_task_priv);

	if (g->ncpus == 0 || g->ncpus > VSCHED_MAX_CPUS || g->ntasks < 2 ||
	    g->ntasks > VSCHED_MAX_TASKS || g->queue_cap < VSCHED_MIN_QUEUE ||
	    g->queue_cap > VSCHED_MAX_QUEUE || g->policy > VSCHED_POLICY_CFS ||
	    stride < sizeof(struct vsched_task_priv) || stride > VSCHED_PRIV_MAX ||
	    (stride & (stride - 1)) != 0)
		return 0;
	qcap = vsched_pow2_ceil(g->queue_cap);
	gcap = vsched_pow2_ceil(g->ntasks + 1);

	*h = (struct vsched_vvar){ 0 };
	h->magic = VSCHED_VVAR_MAGIC;
	h->version = VSCHED_VVAR_VERSION;
	h->hdr_size = VSCHED_VVAR_HDR_SIZE;
	h->priv_stride = stride;
	while ((1u << h->priv_shift) < stride)
		h->priv_shift++;
	h->ncpus = g->ncpus;
	h->queue_cap = qcap;
	h->ntasks = g->ntasks;
	h->gq_cap = gcap;
	h->policy = g->policy;
	h->task_size = sizeof(struct vsched_task);
	h->cpu_size = sizeof(struct vsched_cpu);
	h->slice = g->slice ? g->slice : VSCHED_DEFAULT_SLICE;
	/* shared */
	off += 4096;
	h->glob_off = off;
	off += vsched_align_up((uint64_t)g->ncpus * sizeof(struct vsched_cpu), 4096);
	h->cpus_off = off;
	off += vsched_align_up((uint64_t)gcap * sizeof(vsched_cell_t), 4096);
	h->gq_off = off;
	off += vsched_align_up((uint64_t)g->ncpus * qcap * sizeof(vsched_cell_t), 4096);
	h->rq_off = off;
	off += vsched_align_up((uint64_t)g->ntasks * sizeof(struct vsched_task), 4096);
	h->tasks_off = off;
	h->shared_size = off;
	/* private */
	/* half a page off the shared per-CPU records' alignment: a store to
	 * one and a load from the other at the same offset in a page would
	 * look alike to the CPU's store buffer (4 KiB aliasing) */
	off += vsched_align_up((uint64_t)g->ncpus * sizeof(struct vsched_cpu_priv) + 2048, 4096);
	h->pcpu_off = off - 2048;
	h->cfs_off = 0;
	if (g->policy == VSCHED_POLICY_CFS) {
		/* a task is in one heap at a time, but any heap may hold all */
		off += vsched_align_up((uint64_t)g->ncpus * g->ntasks *
					       sizeof(struct vsched_cfs_ent), 4096);
		h->cfs_off = off;
	}
	off += vsched_align_up((uint64_t)g->ntasks * stride, 4096);
	h->tpriv_off = off;
	h->area_size = off + VSCHED_VVAR_HDR_SIZE;
	return h->area_size;
}

static inline struct vsched_shared *vsched_vvar_glob(struct vsched_vvar *h)
{
	return (struct vsched_shared *)((char *)h - h->glob_off);
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

static inline vsched_cell_t *vsched_vvar_gq(struct vsched_vvar *h)
{
	return (vsched_cell_t *)((char *)h - h->gq_off);
}

static inline struct vsched_cpu_priv *vsched_vvar_pcpus(struct vsched_vvar *h)
{
	return (struct vsched_cpu_priv *)((char *)h - h->pcpu_off);
}

static inline struct vsched_cfs_ent *vsched_vvar_cfs(struct vsched_vvar *h, uint32_t cpu)
{
	return (struct vsched_cfs_ent *)((char *)h - h->cfs_off) + (uint64_t)cpu * h->ntasks;
}

/* The private record of slot @idx (the caller checks @idx < ntasks). */
static inline struct vsched_task_priv *vsched_vvar_tpriv(struct vsched_vvar *h, uint32_t idx)
{
	return (struct vsched_task_priv *)((char *)h - h->tpriv_off +
					   ((uint64_t)idx << h->priv_shift));
}

#endif /* !__ASSEMBLER__ */
#endif /* VSCHED_VVAR_H */

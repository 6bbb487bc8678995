/* SPDX-License-Identifier: MIT */
/*
 * The runtime's internal view: per-CPU worker state, the private task
 * record (stack, entry, exit code, joiners) and the accessors every layer
 * uses. Each layer's calls are in a header of its own, bottom up: stack.h,
 * cpu.h and parker.h (CPUs, idle, locks), park.h (park/ready), wait.h,
 * timer.h, wq.h, task.h, preempt.h.
 */
#ifndef VS_RT_H
#define VS_RT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>

#include "vsched/stats.h"
#include "vsched/vs.h"
#include "vsched_apis.h"
#include "stack.h"
#include "tsan.h"
#include "parker.h"

/* The handle's life: held, then detached or joined (given up either way);
 * a handle given up stays so until a new task reuses the record. */
enum { HANDLE_HELD = 0, HANDLE_DETACHED = 1, HANDLE_JOINING = 2, HANDLE_JOINED = 3 };

/* A stackless task's wait in progress: any, or a plain queue wait (no
 * predicate), whose end the next poll reports (wq.c). */
enum { RT_IN_WAIT = 1, RT_IN_WAIT_PLAIN = 2 };

/* How a wait ended, when not by a notify. */
enum { RT_WHY_NOTIFIED = 0, RT_WHY_TIMEDOUT = 1, RT_WHY_CANCELED = 2, RT_WHY_CLOSED = 3 };

/* A task's place in a wait queue: one per task, as it waits on one queue
 * at a time. */
struct rt_io_op;
struct vsd_cpu;
struct rt_io_backend;

struct rt_waiter {
	struct rt_waiter *next, *prev;
};

/*
 * The task record, private to this process: records sit in an array
 * parallel to the task table (rt->recs[slot index]), so their memory is
 * never given back while the runtime runs and a stale pointer still names
 * a record (timers and the canceller rely on that). A stackful task's stack
 * descriptor lives at the top of its own stack, so a stackless task pays
 * for none of it.
 */
struct vs_task {
	/* the core's private part of the task (vvar.h): this array is the
	 * private task array of the vvar area, one record per slot */
	struct vsched_task_priv core;
	uint32_t gen; /* its reference's generation (the index is its place) */
	int exit_code; /* under jlock */
	union {
		struct {
			vs_task_fn fn;
			void *arg;
		};
		struct {
			vs_poll_fn poll;
			void *state;
		};
	};
	struct rt_stack *stk;	/* stackful: at the top of its stack; else NULL */
	struct vs_task *joiner; /* the one joining; under jlock */
	struct rt_waiter waiter;
	union {
		struct vs_wq *wwq;	 /* the queue of a queue wait (RT_WAIT_QUEUE) */
		struct rt_io_op *wio; /* the operation of an I/O wait (RT_WAIT_IO) */
	};
	/* the wait protocol (wait.c): the number of the current wait << 32 |
	 * how many timers or cancellers are inside it */
	_Atomic uint64_t wword;
	_Atomic uint32_t refs;	 /* the task itself + the handle + timers */
	_Atomic uint32_t direct; /* 1 while a direct wait is not yet claimed */
	uint8_t why;		 /* how the last wait ended: RT_WHY_* */
	uint8_t wkind;		 /* the kind of the current wait: RT_WAIT_* */
	uint8_t handle;		 /* HANDLE_*; under jlock */
	bool queued;		 /* waiter is in wwq: under wwq's lock */
	uint8_t in_wait;	 /* stackless: a wait not yet ended: RT_IN_WAIT* */
	uint8_t wended;		 /* stackless: in the poll after a wait ended, its
				  * in_wait (wq.c) */
	bool done;		 /* exited; under jlock */
	bool stackless, boot, idle, started;
	bool preemptible;     /* may be switched out by the preemption signal */
	uint16_t preempt_off; /* vs_preempt_disable depth */
	unsigned char jlock; /* rt_lock_flag */
	char name[16];
#ifdef __SANITIZE_THREAD__
	void *tsan_fiber; /* a stackful task's TSan fiber (tsan.h) */
#endif
#ifdef __SANITIZE_ADDRESS__
	void *stack_lo;	    /* the usable range, for the sanitizer */
	uint32_t stack_len;
#endif
}
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
__attribute__((aligned(256)));
#else
__attribute__((aligned(128)));
#endif

/* the records are the vvar area's private task array, whose stride is a
 * power of two */
_Static_assert((sizeof(struct vs_task) & (sizeof(struct vs_task) - 1)) == 0, "record size");
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
_Static_assert(sizeof(struct vs_task) <= 128, "a task record is two lines");
#endif

/* A timer: wakes @task from the timed wait numbered @seq, if still in it. */
struct rt_timer {
	uint64_t deadline;
	uint32_t seq;
	struct vs_task *task; /* holds a reference until the timer is popped */
};

/* A CPU's timers: a binary min-heap on deadline, under @lock: armed by the
 * CPU's own thread, fired by it or by an idle CPU. */
struct rt_timers {
	struct rt_timer *heap;
	unsigned n, cap;
	unsigned char lock; /* rt_lock_flag */
};

/*
 * Counters (vsched/stats.h): a CPU's are written by its own thread only,
 * as a relaxed load and store (rt_stat_inc); the runtime's "outside" ones
 * by any other thread, with an atomic add (rt_stat_any).
 */
struct rt_stats {
	_Atomic uint64_t yields, parks, kicks, wakes_local, wakes_remote, timers, preempts;
	_Atomic uint64_t spawns;
	_Atomic uint64_t io[VS_IO_KINDS];
};

/* A task's times, in the core's clock units (kept with task_times). The
 * task itself writes them while it runs; whoever makes it ready writes
 * ready_at while it is not queued. */
struct rt_tstat {
	_Atomic uint64_t run, ready, switches;
	_Atomic uint64_t ready_at; /* when it became ready (0: it is not) */
	_Atomic uint64_t run_in;   /* when it was last switched in */
	uint64_t pad[3];
};

/* Trace events (trace.c). */
enum {
	RT_TE_SWITCH, RT_TE_WAKE, RT_TE_BLOCK, RT_TE_SPAWN, RT_TE_EXIT, RT_TE_STEAL,
	RT_TE_PARK, RT_TE_UNPARK, RT_TE_PREEMPT, RT_TE_IO_SUBMIT, RT_TE_IO_DONE,
	RT_TE_HANDOFF, RT_TE_KINDS
};

struct rt_cpu {
	uint32_t id;
	struct vsched_cpu *core; /* the core's record of this CPU, in the vvar */
	pthread_t thread;
	struct vs_task *idle;
	struct vs_task *cur; /* the task this CPU runs, as the runtime sees it */
	unsigned locks;	     /* runtime locks held or being taken (wq.c) */
#ifdef __SANITIZE_THREAD__
	void *tsan_transit; /* TSan's fiber for this thread between two tasks */
#endif
	void (*unlock)(void *); /* what the task that parked here left */
	void *unlock_arg;	/* locked, released on the next resume (park.c) */
	_Atomic int parked;
	_Atomic uint32_t wake_seq; /* bumped by every kick (parker.h) */
	struct rt_timers timers;
	_Atomic uint64_t next_timer;  /* the earliest deadline (0: none) */
	struct rt_stack_cache stacks; /* this CPU's thread only */
	void *io;		      /* the I/O backend's state for this CPU */
	uint32_t io_flags;	      /* nonzero: the backend ticks at every switch */
	uint32_t io_tick;	      /* the backend's count of switches */
	/* a domain member's (domain.h): this CPU's record in the domain;
	 * whether this worker holds it; whether it is to hand it over */
	struct vsd_cpu *dcpu;
	bool dheld, ddue;
	bool dspin; /* counted in its member's spinning workers (cpu.c) */
	_Atomic int dio; /* its worker sleeps in the I/O backend (cpu.c) */
	uint64_t tt_now; /* task times: the clock read by the task that left */
	uint64_t trace_n; /* trace events it wrote (trace.c) */
	uint64_t trace_sw; /* the core's switch count at its last switch event */
	struct rt_stats st __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct rt {
	struct vsa_image img;
	struct vsched_vvar *vvar;
	struct vs_config cfg;
	uint32_t owner;
	unsigned ncpus;
	struct rt_cpu *cpus;
	struct vs_task *boot;
	struct vs_task *recs; /* the task records, one per table slot: the
			       * vvar area's private task array */
	_Atomic int stopping;
	_Atomic int cancel;   /* stop is cancelling: blocking calls fail */
	_Atomic long live; /* tasks spawned and not yet reclaimed */
	struct vs_wq live_wq; /* the stopper waits here for live == 0 */
	_Atomic int online; /* CPUs that have come up, or failed to */
	_Atomic int up_err; /* why a CPU thread failed to come up */
	pthread_t sysmon;   /* the ticking thread (RR, CFS) */
	bool has_sysmon;
	uint64_t clk_per_ms; /* the core's clock units in a millisecond */
	_Atomic int nr_parked; /* CPUs asleep in the parker */
	const struct rt_parker *parker; /* how idle CPUs sleep (parker.h) */
	const struct rt_io_backend *io; /* the I/O backend (io.h) */
	bool ttimes;		 /* task times are kept (stats.c) */
	struct rt_tstat *tstats; /* per table slot, with ttimes */
	bool trace;		 /* VSCHED_TRACE (trace.c) */
	void *trace_mem;	 /* a ring per CPU, and the outside one */
	size_t trace_len;
	uint64_t trace_cap, trace_t0;
	_Atomic uint64_t trace_out_n;
	char *trace_path;
	cpu_set_t allowed; /* the process's CPUs at start: where pinned
			    * threads go, and the boot thread's mask after */
	/* counted by threads that are no CPU: last, on lines of its own, as
	 * its writers would take the line of the flags every switch reads */
	struct rt_stats outside __attribute__((aligned(64)));
};

extern struct rt *rt_g;

/* A spin-wait hint (the core's, from vvar.h). */
static inline void rt_relax(void)
{
	vsched_cpu_relax();
}
/* The CPU of the calling thread; never cached across a switch (a task may
 * resume on another thread): always call it again after one. */
struct rt_cpu *rt_self(void);
void rt_set_self(struct rt_cpu *c);

extern __thread struct rt_cpu *rt_tls_self __attribute__((tls_model("initial-exec")));

/*
 * rt_self() without the call, for a function's first look only: the
 * compiler may keep the thread's TLS address for the rest of the function,
 * so a caller that may switch (block, yield) reads it this way only before
 * its first switch, and calls rt_self() after.
 */
static inline struct rt_cpu *rt_self_entry(void)
{
	return rt_tls_self;
}

/* The running task of the calling thread's CPU, or NULL (none, or its idle
 * task): vs_task_self() inline, with rt_self_entry()'s rule. */
static inline struct vs_task *rt_task_self_entry(void)
{
	struct rt_cpu *c = rt_self_entry();

	return c && c->cur && !c->cur->idle ? c->cur : NULL;
}

/* A task's reference: its generation, and its place in the records. */
static inline vsched_ref_t rt_ref(const struct vs_task *t)
{
	return VSCHED_REF(t->gen, (uint32_t)(t - rt_g->recs));
}

static inline struct vsched_task *rt_inner(vsched_ref_t ref)
{
	return vsched_vvar_tasks(rt_g->vvar) + VSCHED_REF_IDX(ref);
}

/* A task's slot in the shared table. */
static inline struct vsched_task *rt_slot(const struct vs_task *t)
{
	return rt_inner(rt_ref(t));
}

static inline struct vs_task *rt_rec(vsched_ref_t ref)
{
	return rt_g->recs + VSCHED_REF_IDX(ref);
}

static inline struct vs_task *rt_waiter_task(struct rt_waiter *w)
{
	return (struct vs_task *)((char *)w - __builtin_offsetof(struct vs_task, waiter));
}

static inline bool rt_cancelled(void)
{
	return atomic_load_explicit(&rt_g->cancel, memory_order_relaxed);
}

/* Aborts with a message when a call that cannot fail did: a runtime bug. */
void rt_must(int r, const char *what);

/* Counts one on the calling CPU's own counter @p (its thread only). */
static inline void rt_stat_inc(_Atomic uint64_t *p)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Counts one in the struct rt_stats field at @off: the calling CPU's, or
 * the runtime's "outside" ones from any other thread. */
void rt_stat_any(size_t off);
#define RT_STAT_ANY(field) rt_stat_any(offsetof(struct rt_stats, field))

/* Task times (stats.c), with rt_g->ttimes: @me leaves its CPU (ready:
 * to be queued again, as a yield does); @me arrives on @c; @t is made
 * ready by someone else. */
void rt_tt_leave(struct rt_cpu *c, struct vs_task *me, bool ready);
void rt_tt_arrive(struct rt_cpu *c, struct vs_task *me);
void rt_tt_ready(struct vs_task *t);
void rt_tt_clear(struct vs_task *t);
/* With @task_times, makes room for task times (-ENOMEM); end frees it. */
int rt_stats_start(struct rt *rt, bool task_times);
void rt_stats_end(struct rt *rt);
/* VSCHED_TRACE: rings made at start (-ENOMEM), the file written at stop
 * once every CPU thread is gone; an event from any thread. */
int rt_trace_start(struct rt *rt);
void rt_trace_end(struct rt *rt);
void rt_trace_emit(unsigned kind, uint64_t a, uint64_t b, uint32_t x, const char *name);
/* @t runs on @c now: an event if the core switched since the last one
 * (the idle loop passes here also when it switched to nothing) */
void rt_trace_switch(struct rt_cpu *c, struct vs_task *t);
#define RT_TRACE(kind, a, b, x, name)                                 \
	do {                                                           \
		if (__builtin_expect(rt_g->trace, 0))                  \
			rt_trace_emit((kind), (a), (b), (x), (name)); \
	} while (0)
/* VSCHED_SCHEDTRACE: its thread, started last and stopped first. */
void rt_schedtrace_start(void);
void rt_schedtrace_stop(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The runtime's internal view: per-CPU worker state, the private task
 * extension (stack, entry, exit code, joiners) and helpers shared by the
 * runtime's files.
 */
#ifndef VS_RT_H
#define VS_RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "vsched/vs.h"
#include "vsched_apis.h"
#include "stack.h"
#include "tsan.h"

/* The handle's life: held, then detached or joined (given up either way);
 * a handle given up stays so until a new task reuses the record. */
enum { HANDLE_HELD = 0, HANDLE_DETACHED = 1, HANDLE_JOINING = 2, HANDLE_JOINED = 3 };

/* How a wait ended, when not by a notify. */
enum { RT_WHY_NOTIFIED = 0, RT_WHY_TIMEDOUT = 1, RT_WHY_CANCELED = 2 };

/* A task's place in a wait queue: one per task, as it waits on one queue
 * at a time. */
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
	vsched_ref_t ref;
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
	void *stack_lo;		/* the usable range, for the sanitizer */
	struct vs_task *joiner; /* the one joining; under jlock */
	struct rt_waiter waiter;
	struct vs_wq *wwq; /* the queue of the current wait; NULL for a direct
			    * wait (sleep, join) */
	/* the wait protocol (wait.c): the number of the current wait << 32 |
	 * how many timers or cancellers are inside it */
	_Atomic uint64_t wword;
	_Atomic uint32_t refs;	 /* the task itself + the handle + timers */
	_Atomic uint32_t direct; /* 1 while a direct wait is not yet claimed */
	int exit_code;		 /* under jlock */
	uint32_t stack_len;	 /* with stack_lo */
	uint8_t why;		 /* how the last wait ended: RT_WHY_* */
	uint8_t handle;		 /* HANDLE_*; under jlock */
	bool queued;		 /* waiter is in wwq: under wwq's lock */
	bool in_wait;		 /* stackless: a wait not yet ended */
	bool done;		 /* exited; under jlock */
	bool stackless, boot, idle, started;
	bool preemptible;     /* may be switched out by the preemption signal */
	uint16_t preempt_off; /* vs_preempt_disable depth */
	atomic_flag jlock;
	char name[16];
#ifdef __SANITIZE_THREAD__
	void *tsan_fiber; /* a stackful task's TSan fiber (tsan.h) */
#endif
} __attribute__((aligned(64)));

#ifndef __SANITIZE_THREAD__
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
	atomic_flag lock;
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
	_Atomic uint32_t futex;
	struct rt_timers timers;
	_Atomic uint64_t next_timer;  /* the earliest deadline (0: none) */
	struct rt_stack_cache stacks; /* this CPU's thread only */
} __attribute__((aligned(64)));

struct rt {
	struct vsa_image img;
	struct vsched_vvar *vvar;
	struct vs_config cfg;
	uint32_t owner;
	unsigned ncpus;
	struct rt_cpu *cpus;
	struct vs_task *boot;
	struct vs_task *recs; /* the task records, one per table slot */
	size_t recs_len;      /* bytes mapped for them */
	_Atomic int stopping;
	_Atomic int cancel;   /* stop is cancelling: blocking calls fail */
	_Atomic long live; /* tasks spawned and not yet reclaimed */
	struct vs_wq live_wq; /* the stopper waits here for live == 0 */
	_Atomic int online; /* CPUs that have come up, or failed to */
	_Atomic int up_err; /* why a CPU thread failed to come up */
	pthread_t sysmon;   /* the ticking thread (RR, CFS) */
	bool has_sysmon;
	uint64_t clk_per_ms; /* the core's clock units in a millisecond */
	_Atomic int nr_parked; /* CPUs asleep on their futex */
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

static inline struct vsched_task *rt_inner(vsched_ref_t ref)
{
	return vsched_vvar_tasks(rt_g->vvar) + VSCHED_REF_IDX(ref);
}

/* A task's slot in the shared table. */
static inline struct vsched_task *rt_slot(const struct vs_task *t)
{
	return rt_inner(t->ref);
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

/* runtime.c */
void rt_kick(uint32_t cpu);
/* Wakes the CPUs the core put work back on while this one stole. */
void rt_drain_kicks_slow(struct rt_cpu *c);
static inline void rt_drain_kicks(struct rt_cpu *c)
{
	/* a peek, at every switch: almost always 0 */
	if (atomic_load_explicit(&c->core->kick, memory_order_relaxed))
		rt_drain_kicks_slow(c);
}
/* Wakes one parked CPU other than @self, if any, to steal new work. */
void rt_wake_idle(uint32_t self);
bool rt_cpu_has_work(uint32_t cpu);
/* Tasks waiting on @cpu (its ring and runnext slot): a load estimate. */
uint64_t rt_cpu_load(uint32_t cpu);
void rt_idle_loop(struct rt_cpu *c);

/* park.c: the only caller of the core's switching entry points */
/* The resume hook every switch returns through: releases what the task
 * that parked left locked, reclaims an exited task, fires timers; returns
 * the CPU now running @me. */
struct rt_cpu *rt_after_switch(struct vs_task *me);
/* TSan (nothing in other builds): the thread of @c leaves its task for its
 * transit fiber before the core switches it; the context resumed by the
 * core tells TSan it is @me's first thing, before instrumented code runs.
 * So a task never is current on two threads at once in TSan's view, even
 * while another CPU resumes it as soon as the core lets it. */
void rt_tsan_leave(struct rt_cpu *c);
void rt_tsan_resume(struct vs_task *me);
/* Marks the running (stackless) task of @c blocked; the core writes it. */
void rt_mark_blocked(struct rt_cpu *c);
/* Marks @me, running on @c, blocked and leaves @c; @unlock(@arg) runs
 * once @me is off it. Returns @me's CPU once it runs again. */
struct rt_cpu *rt_park(struct rt_cpu *c, struct vs_task *me, void (*unlock)(void *), void *arg);
int rt_migrate(struct rt_cpu *c, struct vs_task *me, uint32_t cpu);
/* From the preemption handler: off the CPU, back later on this thread. */
void rt_preempt(struct rt_cpu *c, struct vs_task *me);
/* Marks @me exited and leaves the CPU for good. */
void rt_exit_cpu(struct rt_cpu *c, struct vs_task *me);
/* The idle task looks for work; true if it ran some. */
bool rt_idle_switch(struct rt_cpu *c);
/* A stackless task's poll is over: @done (exited), else blocked or ready
 * to be polled again. */
int rt_poll_leave(struct rt_cpu *c, struct vs_task *t, bool done);
/* Makes a blocked @t ready: on the caller's CPU to run next (@handoff,
 * for notify_one), else on the CPU it last ran on. */
void rt_wake(struct vs_task *t, bool handoff);

/* task.c */
/* Frees what an exited task held, once it is off every CPU. */
void rt_task_reclaim(struct rt_cpu *c, struct vs_task *t);
/* A new task, not yet spawned: its slot, its record and (stackful) its
 * stack with a context entering entry(arg). NULL with *err set. */
struct vs_task *rt_task_create(bool stackless, const struct vs_task_attr *attr,
			       void (*entry)(void *), void *arg, int *err);
/* The record of a task standing for a thread's own stack. */
struct vs_task *rt_task_create_thread(bool boot, int *err);
/* Undoes rt_task_create of a task never spawned. */
void rt_task_destroy(struct vs_task *t);
/* Drops a reference; the last one frees the slot (and so the record). */
void rt_task_put(struct vs_task *t);
/* Takes a reference on a record that may be free: false if it was. */
bool rt_task_tryget(struct vs_task *t);
void rt_dispatch(struct rt_cpu *c);

/* preempt.c */
/* The core clock's units in a millisecond, measured (policies with time). */
uint64_t rt_clock_calibrate(void);
/* Starts the ticking thread and the preemption signal; stops them. */
int rt_preempt_start(void);
void rt_preempt_stop(void);

/* timer.c */
uint64_t rt_now(void);
/* Fires the due timers of @c (its own thread). */
void rt_timers_poll(struct rt_cpu *c);
/* The earliest deadline on @c, or 0 if none (a hint). */
uint64_t rt_timers_next(struct rt_cpu *c);
/* An idle CPU @self fires the due timers of the others (*@fired says if
 * it did); returns the earliest deadline left on any CPU (0: none), to
 * sleep until. */
uint64_t rt_timers_help(struct rt_cpu *self, bool *fired);
/* Arms a timer on @c that ends @t's current wait at @deadline, if @t is
 * still in it then (takes a reference on @t). */
int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t deadline);
/* Drops @c's timers (at stop). */
void rt_timers_fini(struct rt_cpu *c);

/* wait.c: the one protocol every blocking call follows */
/* The number of @me's current (or next) wait. */
static inline uint32_t rt_wait_seq(struct vs_task *me)
{
	return (uint32_t)(atomic_load_explicit(&me->wword, memory_order_relaxed) >> 32);
}
/* Begins a wait of @me on @wq (locked): queued. A stackful task then
 * parks (rt_park, which marks it blocked), a stackless one marks itself
 * blocked (rt_mark_blocked) before the lock goes. */
void rt_wait_queue_locked(struct vs_task *me, struct vs_wq *wq);
/* Begins a direct wait of @me (sleep, join), claimed by whoever ends it
 * with rt_wait_claim; then as above. */
void rt_wait_direct(struct vs_task *me);
/* Claims @t's direct wait: true if the caller must wake @t. */
bool rt_wait_claim(struct vs_task *t);
/* Ends the wait of @me once it runs again: 0 if notified, -ETIMEDOUT or
 * -ECANCELED. */
int rt_wait_end(struct vs_task *me);
/* Ends @t's wait number @seq for @why (a timer, the canceller), if @t is
 * still blocked in it. The caller holds a reference on @t. */
void rt_wait_fire(struct vs_task *t, uint32_t seq, uint8_t why);
/* Cancels every blocked task's wait (stop with VS_STOP_CANCEL). */
void rt_wait_cancel_all(void);

/* wq.c */
/* runtime.c: a short spinlock (held for a few instructions), counted in
 * the CPU's locks: never preempted while held. */
void rt_lock_flag(atomic_flag *f);
void rt_unlock_flag(atomic_flag *f);
/* The calling thread's CPU holds none of the runtime's locks. */
static inline bool rt_locks_none(const struct rt_cpu *c)
{
	return !c || !__atomic_load_n(&c->locks, __ATOMIC_RELAXED);
}
static inline void rt_wq_lock(struct vs_wq *wq)
{
	rt_lock_flag(&wq->lock);
}

static inline void rt_wq_unlock(struct vs_wq *wq)
{
	rt_unlock_flag(&wq->lock);
}
/* Removes @t's queued waiter (wq locked). */
void rt_wq_remove_locked(struct vs_wq *wq, struct vs_task *t);
/* Appends @t's waiter (wq locked). */
void rt_wq_append_locked(struct vs_wq *wq, struct vs_task *t);
/*
 * With @wq locked: blocks the calling stackful task until notified, until
 * @deadline (0: none) or, if @cancelable, until the runtime cancels; the
 * lock is dropped. 0, -ETIMEDOUT or -ECANCELED.
 */
int rt_wq_block_locked(struct vs_wq *wq, struct rt_cpu *c, uint64_t deadline, bool cancelable);
/* The stackless form: registers @me (lock kept); -EAGAIN when registered,
 * -EBUSY if it already waits, -ETIMEDOUT, -ECANCELED. */
int rt_wq_park_poll_locked(struct vs_wq *wq, struct vs_task *me, uint64_t deadline);

#endif

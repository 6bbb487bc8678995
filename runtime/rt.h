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

enum { HANDLE_HELD = 0, HANDLE_DETACHED = 1, HANDLE_JOINING = 2 };

/* A waiter in a wait queue: on the waiter's stack, or in a stackless task. */
struct rt_waiter {
	struct rt_waiter *next, *prev;
	struct vs_task *task;
	bool queued; /* in a queue: only changed under that queue's lock */
};

/* The task extension (TaskInner.ext): private to this process. */
struct vs_task {
	vsched_ref_t ref;
	struct vsched_task *inner; /* the slot in the vvar area */
	bool stackless, boot, idle;
	vs_task_fn fn;
	void *arg;
	vs_poll_fn poll;
	void *state;
	struct rt_stack stack; /* zero for thread stacks and stackless tasks */
	void *stack_lo; /* usable range, for the sanitizer */
	size_t stack_len;
	int exit_code;
	bool done;	/* exited; under join_wq.lock */
	int handle;	/* HANDLE_*; under join_wq.lock */
	struct vs_task *joiner; /* the one joining; under join_wq.lock */
	_Atomic int refs; /* the task itself + the handle */
	struct vs_wq join_wq;
	struct rt_waiter waiter; /* a stackless task's waiter */
	/* timed waits: wait_lock guards these against the timer firing */
	atomic_flag wait_lock;
	_Atomic uint64_t wait_seq; /* bumped when a timed wait begins or ends */
	struct vs_wq *timed_wq;	   /* the queue of the current timed wait */
	struct rt_waiter *timed_w; /* its waiter in that queue */
	bool timed_out;
	char name[16];
};

/* A timer: wakes @task from the timed wait numbered @seq, if still in it. */
struct rt_timer {
	uint64_t deadline;
	uint64_t seq;
	struct vs_task *task; /* holds a reference until the timer is popped */
};

/* A CPU's timers: a binary min-heap on deadline, touched by its thread only. */
struct rt_timers {
	struct rt_timer *heap;
	unsigned n, cap;
};

struct rt_cpu {
	uint32_t id;
	pthread_t thread;
	struct vs_task *idle;
	struct vs_task *cur; /* the task this CPU runs, as the runtime sees it */
	_Atomic int parked;
	_Atomic uint32_t futex;
	struct rt_timers timers;
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
	_Atomic int stopping;
	_Atomic long live; /* tasks spawned and not yet reclaimed */
	struct vs_wq live_wq; /* the stopper waits here for live == 0 */
	_Atomic int online; /* CPUs that have come up */
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

/* Aborts with a message when a call that cannot fail did: a runtime bug. */
void rt_must(int r, const char *what);

/* runtime.c */
void rt_kick(uint32_t cpu);
/* Wakes the CPUs the core put work back on while this one stole. */
void rt_drain_kicks(struct rt_cpu *c);
/* Wakes one parked CPU other than @self, if any, to steal new work. */
void rt_wake_idle(uint32_t self);
bool rt_cpu_has_work(uint32_t cpu);
/* Tasks waiting on @cpu (its ring and runnext slot): a load estimate. */
uint64_t rt_cpu_load(uint32_t cpu);
void rt_idle_loop(struct rt_cpu *c);

/* task.c */
struct rt_cpu *rt_after_switch(struct vs_task *me);
struct vs_task *rt_task_new(bool stackless, const struct vs_task_attr *attr, int *err);
void rt_task_put(struct vs_task *t);
void rt_dispatch(struct rt_cpu *c);

/* timer.c */
uint64_t rt_now(void);
/* Fires the due timers of @c (its own thread only). */
void rt_timers_poll(struct rt_cpu *c);
/* The earliest deadline on @c, or 0 if none. */
uint64_t rt_timers_next(struct rt_cpu *c);
/* Arms a timer on @c for @t's timed wait @seq (takes a reference on @t). */
int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t seq, uint64_t deadline);
/* Drops @c's timers (at stop). */
void rt_timers_fini(struct rt_cpu *c);
void rt_wait_lock(struct vs_task *t);
void rt_wait_unlock(struct vs_task *t);

/* wq.c */
void rt_wq_lock(struct vs_wq *wq);
void rt_wq_unlock(struct vs_wq *wq);
/* With wq locked: queue the current task, mark it blocked, unlock, switch. */
int rt_wq_block_locked(struct vs_wq *wq, struct rt_cpu *c);
/* Queues @w for @me and marks @me blocked (wq locked). */
void rt_wq_park_locked(struct vs_wq *wq, struct rt_waiter *w, struct vs_task *me);
/* Removes a queued waiter (wq locked). */
void rt_wq_remove_locked(struct vs_wq *wq, struct rt_waiter *w);
/* With wq locked: queue stackless @me and mark it blocked (lock kept). */
int rt_wq_park_poll_locked(struct vs_wq *wq, struct vs_task *me);
/* Makes a blocked @t ready: on the caller's CPU to run next (@handoff,
 * for notify_one), else on the CPU it last ran on. */
void rt_wake(struct vs_task *t, bool handoff);

#endif

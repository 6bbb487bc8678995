/* SPDX-License-Identifier: MIT */
/*
 * libvsched's user runtime: CPUs (worker threads) scheduling stackful and
 * stackless tasks through libvsched.so. Every call returns 0 (or a count)
 * on success and a negative errno on failure, and changes nothing then.
 *
 * The conventions, the same in every family (here and in sync.h):
 * - a blocking call X blocks the calling stackful task (never its CPU);
 *   X_until(..., deadline_ns) is X giving up with -ETIMEDOUT once the
 *   deadline (vs_now() time; VS_NEVER: none) has passed, and returns
 *   -ECANCELED where it would block once the runtime is cancelling;
 * - X_poll is the stackless form: 0 when done, or -EAGAIN once the calling
 *   stackless task is registered to be woken (its poll function then
 *   returns VS_PENDING, and calls X_poll again when next polled);
 * - X_try (vs_mutex_try_lock, ...) never blocks: -EAGAIN where X would;
 * - a zeroed attribute or configuration struct means the defaults.
 */
#ifndef VSCHED_VS_H
#define VSCHED_VS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vsched/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* On calls whose result must be looked at: ignoring it is a bug (a lock
 * not taken, a task not spawned, a wait that timed out). */
#define VS_WARN_UNUSED __attribute__((warn_unused_result))

/* No deadline: an X_until call given it is X. */
#define VS_NEVER UINT64_MAX

/* A task: returned by spawn, valid until joined or detached. */
typedef struct vs_task vs_task_t;

/* A domain: processes that schedule through one scheduler (domain.h). */
typedef struct vs_domain vs_domain_t;

/*
 * Scheduling policies: FIFO (run to the next yield or block), RR (FIFO
 * with a time slice), CFS (the least weighted run time first, weights from
 * the nice in the task's priority).
 */
enum vs_policy { VS_POLICY_FIFO = 0, VS_POLICY_RR = 1, VS_POLICY_CFS = 2 };

/* The runtime's configuration: a zero field means its default, so a zeroed
 * struct, or one that sets only what it changes, is valid. */
struct vs_config {
	unsigned ncpus;	       /* worker CPUs; 0: as many as it may run on */
	int pin;	       /* pin each CPU thread to one of those */
	size_t stack_size;     /* default stack of a stackful task; 0: 256 KiB */
	unsigned queue_cap;    /* per-CPU run-queue capacity; 0: 256 */
	unsigned max_tasks;    /* size of the task table; 0: 2^20 */
	enum vs_policy policy; /* 0: FIFO */
	uint64_t slice_ns;     /* RR time slice, CFS granularity; 0: 3 ms */
	int preempt;	       /* switch out preemptible tasks that overrun
				* their slice (RR, CFS): see README */
	vs_domain_t *domain;   /* run as this process's member of a domain
				* (domain.h): ncpus, queue_cap and max_tasks
				* are the domain's (0 or the same, else
				* -EINVAL) */
	int task_times;	       /* keep each task's run and ready time
				* (stats.h): a clock read per switch; also
				* VSCHED_TASK_TIMES=1 in the environment */
};

/* Fills @cfg with the defaults, spelled out: what its zero fields mean. */
void vs_config_default(struct vs_config *cfg);

/*
 * Starts the runtime; the calling thread becomes the first task, on CPU 0.
 * Returns -EBUSY if one is running, -EINVAL for a bad @cfg (NULL means the
 * defaults), or the -errno of a failed mapping or thread creation. With
 * RR or CFS it measures the CPU's counter against CLOCK_MONOTONIC for
 * 2 ms, and starts a ticking thread.
 */
VS_WARN_UNUSED int vs_runtime_start(const struct vs_config *cfg);

/* How vs_runtime_shutdown treats the tasks still there. */
enum vs_stop {
	VS_STOP_WAIT = 0,   /* wait until every task has exited */
	VS_STOP_CANCEL = 1, /* cancel them, then wait until they have exited */
};

/*
 * Stops the runtime once every other task has exited, stops the CPUs and
 * frees everything. With VS_STOP_CANCEL, it first cancels: tasks that have
 * not started yet never run (a join gives -ECANCELED as their code), every
 * blocking call (waits, sleeps, joins, locks, channels, their _poll forms)
 * that would block returns -ECANCELED from then on, those already blocked
 * included (a lock that is free is still taken, an element that is there
 * still moves; a sleep fails at once), and spawning does too. A task that never blocks must check
 * vs_runtime_cancelled() itself. Only the first task may call it (-EPERM
 * otherwise); -EINVAL for an unknown @how.
 */
int vs_runtime_shutdown(enum vs_stop how);

/* vs_runtime_shutdown(VS_STOP_WAIT). */
int vs_runtime_stop(void);

/* True once a shutdown with VS_STOP_CANCEL has begun. */
bool vs_runtime_cancelled(void);

/* Where a new task starts. */
enum vs_place {
	/* the spawning CPU (CPU 0 from a thread that is not a task), or the
	 * least-loaded CPU the affinity allows if it does not allow that one */
	VS_PLACE_LOCAL = 0,
	VS_PLACE_CPU = 1,     /* CPU .cpu: its first run is there */
	VS_PLACE_BALANCE = 2, /* the least-loaded CPU the affinity allows */
};

/* Attributes of a new task; NULL, or a zero field, means the default. */
struct vs_task_attr {
	const char *name;    /* copied; at most 15 characters are kept */
	size_t stack_size;   /* 0: the runtime's default */
	enum vs_place place; /* 0: VS_PLACE_LOCAL */
	int cpu;	     /* with VS_PLACE_CPU (else it must be 0) */
	uint64_t affinity;   /* CPUs 0..63 it may ever run on; 0: any */
	int priority;	     /* -20..19: CFS's nice (FIFO and RR keep it) */
	int preemptible;     /* stackful: may be switched out when it overruns
			      * its slice (with vs_config.preempt) */
};

typedef int (*vs_task_fn)(void *arg);

/*
 * Spawns a stackful task running fn(arg); its return value is its exit
 * code. Returns -EPERM if the runtime is not running, -EINVAL for a bad
 * attribute, -EAGAIN when the task table is full, -ENOMEM, -ECANCELED
 * once the runtime is cancelling.
 */
VS_WARN_UNUSED int vs_task_spawn(vs_task_fn fn, void *arg, const struct vs_task_attr *attr,
				 vs_task_t **out);

/* What a stackless task's poll function returns. */
enum vs_poll { VS_PENDING = 0, VS_READY = 1 };

/*
 * A stackless task: poll(state, &code) runs on its CPU's own stack each
 * time the task is scheduled and returns VS_READY (done, *code set) or
 * VS_PENDING. Pending after a *_poll wait call blocks the task until it is
 * notified; pending otherwise just yields.
 */
typedef enum vs_poll (*vs_poll_fn)(void *state, int *code);

VS_WARN_UNUSED int vs_task_spawn_poll(vs_poll_fn poll, void *state,
				      const struct vs_task_attr *attr, vs_task_t **out);

/* The calling task, or NULL if the caller is not a task. */
vs_task_t *vs_task_self(void);

/* The CPU the caller runs on, or -1 outside the runtime. */
int vs_cpu_self(void);

/* Lets other ready tasks run. -EPERM outside a stackful task. */
int vs_task_yield(void);

/*
 * Moves the calling stackful task to CPU @cpu: it returns running there.
 * -EINVAL for a CPU out of range or one the task's affinity excludes,
 * -EPERM outside a stackful task or for the first task (which stays on
 * CPU 0), -EAGAIN if @cpu's queue is full.
 */
VS_WARN_UNUSED int vs_task_migrate(int cpu);

/*
 * Ends the calling stackful task with @code. Returns only on error:
 * -EPERM for the first task or a caller that is not a stackful task.
 */
int vs_task_exit(int code);

/*
 * Waits for @t to exit and gives its exit code in *@code (if @code is not
 * NULL); @t is invalid afterwards. -EDEADLK for the calling task itself,
 * -EINVAL for the first task, a detached task, one already joined or one
 * another task is joining, -EPERM from a thread that is not a stackful
 * task, -ECANCELED.
 */
VS_WARN_UNUSED int vs_task_join(vs_task_t *t, int *code);

/* vs_task_join with a deadline: -ETIMEDOUT, and @t still valid, if @t has
 * not exited by then. */
VS_WARN_UNUSED int vs_task_join_until(vs_task_t *t, int *code, uint64_t deadline_ns);

/*
 * The stackless forms: 0 (and *code) once @t has exited, @t invalid then;
 * else -EAGAIN after registering the calling stackless task to be woken
 * when it does. -EBUSY if that task already waits elsewhere.
 */
VS_WARN_UNUSED int vs_task_join_poll(vs_task_t *t, int *code);
VS_WARN_UNUSED int vs_task_join_until_poll(vs_task_t *t, int *code, uint64_t deadline_ns);

/* Lets @t be reclaimed on exit without a join. -EINVAL if joined/detached. */
int vs_task_detach(vs_task_t *t);

/*
 * Sets the priority (CFS: nice, -20..19) of @t, queued, running or
 * blocked. -EINVAL for a value out of range (nothing changed), -EPERM if
 * the runtime is not running, -ESRCH if @t has been reclaimed.
 */
int vs_task_set_priority(vs_task_t *t, int priority);

/*
 * Keep the calling task from being preempted until the matching enable
 * (they nest): wrap calls into code that takes locks, such as most of libc.
 * If a preemption was asked for meanwhile, the last enable yields.
 */
void vs_preempt_disable(void);
void vs_preempt_enable(void);

/* The task's name (empty if none). */
const char *vs_task_name(const vs_task_t *t);

/* The library's version, as VS_VERSION and VS_VERSION_STRING give the
 * headers': the library a program runs with may be newer. */
unsigned vs_version(void);
const char *vs_version_string(void);

/* Nanoseconds on CLOCK_MONOTONIC: the clock of every deadline. */
uint64_t vs_now(void);

/* The deadline @ns from now: vs_now() + @ns, or VS_NEVER if that
 * overflows. */
uint64_t vs_deadline_in(uint64_t ns);

/*
 * Blocks the calling stackful task until @deadline_ns / for @ns. The CPU
 * runs other tasks meanwhile, or sleeps until its next timer. 0 once the
 * time has come, -ECANCELED; -EPERM outside a stackful task; -ENOMEM if a
 * timer cannot be kept.
 */
int vs_sleep_until(uint64_t deadline_ns);
int vs_sleep(uint64_t ns);

/*
 * The stackless form: 0 once @deadline_ns has passed, else -EAGAIN after
 * arming a timer that wakes the calling stackless task. -EPERM outside a
 * stackless task, -EBUSY if it already waits elsewhere.
 */
VS_WARN_UNUSED int vs_sleep_until_poll(uint64_t deadline_ns);

/*
 * A wait queue. Embed it and initialise it with VS_WQ_INIT or vs_wq_init;
 * the fields are private. It may be freed once no task waits on it and
 * every task woken from it has returned from its wait call. Every wait
 * returns -ECANCELED once the runtime is cancelling (vs_runtime_shutdown).
 */
struct vs_wq {
	unsigned char lock; /* a spinlock, through atomic builtins */
	void *head, *tail;
};
#define VS_WQ_INIT { 0, NULL, NULL }

void vs_wq_init(struct vs_wq *wq);

/*
 * Blocks the calling stackful task until notified: 0, or -ETIMEDOUT once
 * @deadline_ns has passed. -EPERM outside a stackful task; -ENOMEM if a
 * deadline's timer cannot be kept.
 */
VS_WARN_UNUSED int vs_wq_wait(struct vs_wq *wq);
VS_WARN_UNUSED int vs_wq_wait_until(struct vs_wq *wq, uint64_t deadline_ns);

/*
 * Blocks the calling stackful task until pred(arg) holds: 0 then.
 * pred is checked under the queue's lock, so a notifier that makes it true
 * and then notifies is never missed. -ETIMEDOUT or -ECANCELED only if pred
 * still does not hold. -EPERM outside a stackful task.
 */
VS_WARN_UNUSED int vs_wq_wait_pred(struct vs_wq *wq, bool (*pred)(void *arg), void *arg);
VS_WARN_UNUSED int vs_wq_wait_pred_until(struct vs_wq *wq, bool (*pred)(void *arg), void *arg,
					 uint64_t deadline_ns);

/*
 * The stackless forms of vs_wq_wait: -EAGAIN after registering the calling
 * stackless task as a waiter. Called again in the task's next poll (the
 * one its wake-up brings), 0 if it was notified, -ETIMEDOUT or
 * -ECANCELED; a call at any other time registers anew. -EPERM outside a
 * stackless task, -EBUSY if it already waits elsewhere.
 */
VS_WARN_UNUSED int vs_wq_wait_poll(struct vs_wq *wq);
VS_WARN_UNUSED int vs_wq_wait_until_poll(struct vs_wq *wq, uint64_t deadline_ns);

/*
 * The stackless forms of vs_wq_wait_pred: 0 if pred(arg) holds (checked
 * under the queue's lock), else -EAGAIN after registering the calling
 * stackless task as a waiter (or -ETIMEDOUT, -ECANCELED). Keep the
 * deadline in the task's state and pass the same one on every poll.
 */
VS_WARN_UNUSED int vs_wq_wait_pred_poll(struct vs_wq *wq, bool (*pred)(void *arg), void *arg);
VS_WARN_UNUSED int vs_wq_wait_pred_until_poll(struct vs_wq *wq, bool (*pred)(void *arg),
					      void *arg, uint64_t deadline_ns);

/*
 * Wakes @t if it waits on @wq: 1 if it did, 0 if @t was not waiting there.
 * Callable from tasks and from any other thread.
 */
int vs_wq_notify_task(struct vs_wq *wq, vs_task_t *t);

/*
 * Wakes the oldest waiter / all waiters. Callable from tasks and from any
 * other thread. Returns how many were woken.
 */
int vs_wq_notify_one(struct vs_wq *wq);
int vs_wq_notify_all(struct vs_wq *wq);

#ifdef __cplusplus
}
#endif

#endif

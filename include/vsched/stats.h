/* SPDX-License-Identifier: MIT */
/*
 * What the runtime did: counters per CPU, tasks by state, and per task
 * its run time, ready time and switches.
 *
 * The counters are always on: each CPU's thread counts its own in memory
 * only it writes (no atomic read-modify-write, no fence), and a reader
 * sums them. They only grow, from the runtime's start; a reader racing
 * with the counting may see a count one behind, never ahead. What other
 * threads do (a wake-up from a thread that is not a CPU of the runtime, a
 * timer fired by the ticking thread) is counted apart, in "outside".
 *
 * A task's times cost a clock read per switch, so they are kept only if
 * the runtime was started with vs_config.task_times set (or with
 * VSCHED_TASK_TIMES=1 in the environment); its switches are counted then
 * too.
 */
#ifndef VSCHED_STATS_H
#define VSCHED_STATS_H

#include <stdint.h>

#include "vs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* I/O operations by kind (vsched/io.h), as counted when submitted. */
enum vs_io_kind {
	VS_IO_READ,    /* read, readv, pread, recv, recvmsg */
	VS_IO_WRITE,   /* write, writev, pwrite, send, sendmsg */
	VS_IO_ACCEPT,
	VS_IO_CONNECT,
	VS_IO_WAIT_FD, /* vs_wait_fd */
	VS_IO_OTHER,   /* openat, fsync, fdatasync, close */
	VS_IO_OFFLOAD, /* vs_offload: a function run by the blocking pool */
	VS_IO_KINDS
};

/* What a CPU is doing, as vs_stats_get found it. */
enum vs_cpu_state {
	VS_CPU_RUNNING, /* a task */
	VS_CPU_IDLE,	/* no task: looking for one (spinning) */
	VS_CPU_PARKED,	/* no task: its thread sleeps */
	VS_CPU_LENT,	/* a domain member's CPU that another member holds */
};

/* One CPU's counters, and a snapshot of it. */
struct vs_cpu_stats {
	uint64_t switches;     /* tasks switched to (stackful and stackless) */
	uint64_t yields;       /* vs_task_yield calls */
	uint64_t parks;	       /* times its thread went to sleep, idle */
	uint64_t kicks;	       /* wake-ups it sent to sleeping CPUs */
	uint64_t steals;       /* tasks it took from other CPUs' queues */
	uint64_t wakes_local;  /* tasks it woke to run on itself */
	uint64_t wakes_remote; /* tasks it woke to run on other CPUs */
	uint64_t timers;       /* timers it fired */
	uint64_t preempts;     /* tasks switched out at the end of a slice */
	uint64_t io[VS_IO_KINDS];
	/* the snapshot (not summed into a total) */
	uint32_t queued;       /* tasks in its run queue */
	uint32_t state;	       /* enum vs_cpu_state */
	uint64_t current;      /* vs_task_id of the task it runs, 0 if none */
};

/* Tasks by state. */
enum vs_task_state {
	VS_TASK_NEW,	 /* spawned, not run yet */
	VS_TASK_READY,	 /* queued to run */
	VS_TASK_RUNNING,
	VS_TASK_BLOCKED, /* waiting (on a queue, a timer, I/O, a join...) */
	VS_TASK_EXITED,	 /* done, its record not yet reclaimed */
	VS_TASK_STATES
};

struct vs_stats {
	uint32_t ncpus;
	uint32_t task_times;	       /* per-task times are kept */
	uint64_t tasks[VS_TASK_STATES]; /* live tasks by state (idle tasks not) */
	uint64_t spawned;	       /* tasks spawned since the start */
	struct vs_cpu_stats total;     /* the CPUs' counters, summed, and outside */
	struct vs_cpu_stats outside;   /* counted by threads that are no CPU */
};

/*
 * Fills @out, and @cpus[0..n) with the first @n CPUs' (or fewer: @cpus
 * may be NULL). Returns the number of CPUs; -EINVAL for a NULL @out,
 * -EPERM if no runtime runs. Callable from any thread.
 */
int vs_stats_get(struct vs_stats *out, struct vs_cpu_stats *cpus, unsigned n);

/* One task's. */
struct vs_task_stats {
	uint64_t run_ns;   /* time it ran (a stackless task: its polls) */
	uint64_t ready_ns; /* time it waited in a queue, ready to run */
	uint64_t switches; /* times it was switched to (polled) */
	uint32_t state;	   /* enum vs_task_state */
	int32_t cpu;	   /* where it runs or last ran; -1 if never */
};

/*
 * Fills @out for @t (the times and switches are 0 unless kept). -EINVAL
 * for a NULL or foreign @t or @out, -EPERM if no runtime runs, -ESRCH if
 * @t has been reclaimed. Callable from any thread.
 */
int vs_task_stats(vs_task_t *t, struct vs_task_stats *out);

/* A number that names @t while it lives (its table slot and generation:
 * never 0), as the statistics, VSCHED_SCHEDTRACE and the trace show it. */
uint64_t vs_task_id(const vs_task_t *t);

#ifdef __cplusplus
}
#endif

#endif

/* SPDX-License-Identifier: MIT */
/*
 * vsbench's workloads: each runs once with a given size and returns its
 * figure (ns per operation, or bytes per task for the memory workloads),
 * or a negative errno if it could not run.
 */
#ifndef VS_BENCH_H
#define VS_BENCH_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The resident-set figures of this process, in KiB (VmRSS, VmHWM). */
long bench_rss_kib(const char *key);

typedef double (*bench_fn)(long n);

/* limits.c */
double lim_switch(long n);
double lim_line_xcpu(long n);

/* workloads_vsched.c */
double vs_yield(long n);
double vs_wake(long n);
double vs_wake_xcpu(long n);
double vs_wake_pinned(long n);
double vs_spawn_join(long n);
double vs_fanout(long n);
double vs_fanout_1cpu(long n);
double vs_channel(long n);
double vs_channel_pinned(long n);
double vs_mutex(long n);
double vs_mutex_pinned(long n);
double vs_park_rss(long n);
double vs_stackless_rss(long n);

/* workloads_xproc.c: vsched is domain members, pthread plain processes */
double vs_xproc_wake(long n);
double vs_xproc_wake_spin(long n);
double pt_xproc_wake(long n);
double pt_xproc_wake_spin(long n);
double pt_xproc_pipe(long n);
double vs_xproc_cpu(long n);	/* kernel switches per second, not ns */
double pt_xproc_cpu(long n);

/* workloads_pthread.c */
double pt_yield(long n);
double pt_wake(long n);
double pt_wake_xcpu(long n);
double pt_wake_pinned(long n);
double pt_spawn_join(long n);
double pt_fanout(long n);
double pt_channel(long n);
double pt_channel_pinned(long n);
double pt_mutex(long n);
double pt_mutex_pinned(long n);
double pt_park_rss(long n);

#endif

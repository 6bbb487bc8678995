/* SPDX-License-Identifier: MIT */
/*
 * The same workloads on plain threads, as a C programmer would write them
 * without a user-level scheduler: sched_yield, futex ping-pong, mutex and
 * condition variable, pthread_create and pthread_join.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/* Pins the calling thread to @cpu; -1: leaves it where the kernel likes. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct arg {
	int cpu;
	int me;
	long n;
};

/* Two threads running @fn, pinned to @c0 and @c1; the time both take. */
static double pair(void *(*fn)(void *), int c0, int c1, long n)
{
	struct arg a[2] = { { c0, 0, n }, { c1, 1, n } };
	pthread_t t[2];
	uint64_t t0 = bench_now();

	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, fn, &a[i]))
			return -EAGAIN;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (double)(bench_now() - t0);
}

static void *yielder(void *p)
{
	struct arg *a = p;

	pin(a->cpu);
	for (long i = 0; i < a->n; i++)
		sched_yield();
	return NULL;
}

double pt_yield(long n)
{
	double ns = pair(yielder, 0, 0, n);

	return ns < 0 ? ns : ns / (2.0 * (double)n);
}

/* ----------------------------------------------- futex ping-pong */

static _Atomic uint32_t turn;

static void *ponger(void *p)
{
	struct arg *a = p;

	pin(a->cpu);
	for (long i = 0; i < a->n; i++) {
		uint32_t t;

		while ((t = atomic_load_explicit(&turn, memory_order_acquire)) != (uint32_t)a->me)
			syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, t, NULL, NULL, 0);
		atomic_store_explicit(&turn, (uint32_t)!a->me, memory_order_release);
		syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static double pingpong(int c0, int c1, long n)
{
	double ns;

	atomic_store(&turn, 0);
	ns = pair(ponger, c0, c1, n);
	return ns < 0 ? ns : ns / (double)n;
}

double pt_wake(long n)
{
	return pingpong(0, 0, n);
}

double pt_wake_xcpu(long n)
{
	return pingpong(-1, -1, n);
}

double pt_wake_pinned(long n)
{
	return pingpong(0, 1, n);
}

/* ------------------------------------------------------- threads */

static void *nop(void *p)
{
	return p;
}

double pt_spawn_join(long n)
{
	uint64_t t0 = bench_now();

	for (long i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, nop, NULL))
			return -EAGAIN;
		pthread_join(t, NULL);
	}
	return (double)(bench_now() - t0) / (double)n;
}

/* As many as the machine takes at once is far fewer than a million: in
 * batches of a thousand, created together then joined together. */
double pt_fanout(long n)
{
	enum { BATCH = 1000 };
	pthread_t t[BATCH];
	uint64_t t0 = bench_now();
	long done = 0;

	while (done < n) {
		int k = n - done < BATCH ? (int)(n - done) : BATCH;

		for (int i = 0; i < k; i++)
			if (pthread_create(&t[i], NULL, nop, NULL))
				return -EAGAIN;
		for (int i = 0; i < k; i++)
			pthread_join(t[i], NULL);
		done += k;
	}
	return (double)(bench_now() - t0) / (double)n;
}

/* --------------------------------------- bounded queue, mutex+cond */

enum { QCAP = 64 };
static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	long buf[QCAP];
	unsigned head, len;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER };

static void *queue_side(void *p)
{
	struct arg *a = p;

	pin(a->cpu);
	for (long i = 0; i < a->n; i++) {
		pthread_mutex_lock(&q.lock);
		if (a->me == 0) {
			while (q.len == QCAP)
				pthread_cond_wait(&q.not_full, &q.lock);
			q.buf[(q.head + q.len++) % QCAP] = i;
			pthread_cond_signal(&q.not_empty);
		} else {
			while (!q.len)
				pthread_cond_wait(&q.not_empty, &q.lock);
			if (q.buf[q.head] != i)
				abort();
			q.head = (q.head + 1) % QCAP;
			q.len--;
			pthread_cond_signal(&q.not_full);
		}
		pthread_mutex_unlock(&q.lock);
	}
	return NULL;
}

static double channel(int c0, int c1, long n)
{
	double ns;

	q.head = q.len = 0;
	ns = pair(queue_side, c0, c1, n);
	return ns < 0 ? ns : ns / (double)n;
}

double pt_channel(long n)
{
	return channel(-1, -1, n);
}

double pt_channel_pinned(long n)
{
	return channel(0, 1, n);
}

static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static volatile long shared;

static void *locker(void *p)
{
	struct arg *a = p;

	pin(a->cpu);
	for (long i = 0; i < a->n; i++) {
		pthread_mutex_lock(&mx);
		shared++;
		pthread_mutex_unlock(&mx);
	}
	return NULL;
}

static double mutex(int c0, int c1, long n)
{
	double ns = pair(locker, c0, c1, n);

	return ns < 0 ? ns : ns / (2.0 * (double)n);
}

double pt_mutex(long n)
{
	return mutex(-1, -1, n);
}

double pt_mutex_pinned(long n)
{
	return mutex(0, 1, n);
}

/* ------------------------------------------------------- memory */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static long parked;
static int released;

static void *parker(void *p)
{
	pthread_mutex_lock(&park_lock);
	parked++;
	while (!released)
		pthread_cond_wait(&park_cv, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return p;
}

/* @n threads asleep on a condition variable, default attributes. */
double pt_park_rss(long n)
{
	pthread_t *t = malloc(sizeof(*t) * (size_t)n);
	long before = bench_rss_kib("VmRSS:"), made = 0, peak;

	if (!t)
		return -ENOMEM;
	parked = 0;
	released = 0;
	for (; made < n; made++)
		if (pthread_create(&t[made], NULL, parker, NULL))
			break;
	for (;;) {
		pthread_mutex_lock(&park_lock);
		if (parked == made) {
			pthread_mutex_unlock(&park_lock);
			break;
		}
		pthread_mutex_unlock(&park_lock);
		usleep(1000);
	}
	peak = bench_rss_kib("VmHWM:");
	pthread_mutex_lock(&park_lock);
	released = 1;
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_lock);
	for (long i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	free(t);
	if (!made)
		return -EAGAIN;
	return (double)(peak - before) * 1024.0 / (double)made;
}

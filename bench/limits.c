/* SPDX-License-Identifier: MIT */
/*
 * The two limits vsbench's figures are held against, measured in the same
 * run: the core's own register switch (vsched_arch_switch, built from the
 * same source as the image's) between two contexts, per switch; and a
 * cache-line round trip between two threads pinned to two CPUs.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "arch/switch.h"
#include "bench.h"
#include "ctx.h"

/* ------------------------------------------------------------- switch */

static uint64_t main_sp, peer_sp;

static void peer(void *arg)
{
	(void)arg;
	for (;;)
		vsched_arch_switch(&peer_sp, main_sp);
}

double lim_switch(long n)
{
	enum { STACK = 64 * 1024 };
	void *stack = aligned_alloc(64, STACK);
	uint64_t t0;

	if (!stack)
		return -ENOMEM;
	peer_sp = vs_ctx_init(stack, STACK, peer, NULL);
	if (!peer_sp) {
		free(stack);
		return -EINVAL;
	}
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		vsched_arch_switch(&main_sp, peer_sp);
	t0 = bench_now() - t0;
	free(stack); /* the peer is suspended for good: its stack is not used */
	return (double)t0 / (2.0 * (double)n);
}

/* --------------------------------------------------- cache-line round trip */

static struct {
	alignas(64) _Atomic long turn; /* alone on its line */
	alignas(64) long n;
	int cpu[2];
} line;

static void *bouncer(void *arg)
{
	long me = (long)(intptr_t)arg;
	cpu_set_t set;
	int bad;

	CPU_ZERO(&set);
	CPU_SET(line.cpu[me], &set);
	bad = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (long i = 0; i < line.n; i++) {
		/* each side waits for its value and writes the other's: the
		 * line moves to this CPU and back once per round */
		while (atomic_load_explicit(&line.turn, memory_order_acquire) != 2 * i + me)
			;
		atomic_store_explicit(&line.turn, 2 * i + me + 1, memory_order_release);
	}
	return bad ? (void *)-1 : NULL; /* unpinned, it was no limit */
}

double lim_line_xcpu(long n)
{
	cpu_set_t all;
	pthread_t t[2];
	void *r[2];
	uint64_t t0;
	int k = 0;

	if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2)
		return -EINVAL;
	for (int i = 0; i < CPU_SETSIZE && k < 2; i++)
		if (CPU_ISSET(i, &all))
			line.cpu[k++] = i;
	atomic_store(&line.turn, 0);
	line.n = n;
	t0 = bench_now();
	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, bouncer, (void *)(intptr_t)i))
			return -EAGAIN;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], &r[i]);
	t0 = bench_now() - t0;
	if (r[0] || r[1])
		return -EINVAL;
	return (double)t0 / (double)n;
}

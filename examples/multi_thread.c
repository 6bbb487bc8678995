/* SPDX-License-Identifier: MIT */
/*
 * Two CPUs: tasks pinned by affinity stay on their CPU even though idle
 * CPUs steal, and wake each other across CPUs through a wait queue (a
 * ping-pong whose every hand-off crosses CPUs).
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "check.h"
#include "vsched/vs.h"

#define PER_CPU 50
#define PINGS 2000

static atomic_int ran_on[2];
static atomic_int wrong_cpu;

static int counter(void *arg)
{
	int cpu = (int)(long)arg;

	for (int i = 0; i < 10; i++) {
		if (vs_cpu_self() != cpu)
			atomic_fetch_add(&wrong_cpu, 1);
		CHECK(vs_task_yield() == 0);
	}
	atomic_fetch_add(&ran_on[cpu], 1);
	return cpu;
}

static struct vs_wq ping_wq = VS_WQ_INIT, pong_wq = VS_WQ_INIT;
static atomic_int turn; /* even: ping's turn, odd: pong's */

static bool my_turn(void *arg)
{
	return (atomic_load(&turn) & 1) == (int)(long)arg;
}

static int player(void *arg)
{
	int me = (int)(long)arg;
	struct vs_wq *mine = me ? &pong_wq : &ping_wq;
	struct vs_wq *other = me ? &ping_wq : &pong_wq;

	for (int i = 0; i < PINGS; i++) {
		CHECK(vs_wq_wait_pred(mine, my_turn, arg) == 0);
		CHECK(vs_cpu_self() == me);
		atomic_fetch_add(&turn, 1);
		CHECK(vs_wq_notify_one(other) >= 0);
	}
	return 0;
}

int main(void)
{
	struct vs_config cfg;
	vs_task_t *t[2 * PER_CPU], *p[2];
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 2;
	CHECK(vs_runtime_start(&cfg) == 0);
	for (long i = 0; i < 2 * PER_CPU; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)(i & 1), .affinity = 1ull << (i & 1) };

		CHECK(vs_task_spawn(counter, (void *)(i & 1), &a, &t[i]) == 0);
	}
	for (int i = 0; i < 2 * PER_CPU; i++) {
		CHECK(vs_task_join(t[i], &code) == 0);
		CHECK(code == (i & 1));
	}
	CHECK(ran_on[0] == PER_CPU && ran_on[1] == PER_CPU);
	CHECK(wrong_cpu == 0);

	for (long i = 0; i < 2; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)i, .affinity = 1ull << i };

		CHECK(vs_task_spawn(player, (void *)i, &a, &p[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK(vs_task_join(p[i], &code) == 0);
	CHECK(turn == 2 * PINGS);
	CHECK(vs_runtime_stop() == 0);
	printf("multi_thread: %d tasks per CPU, %d cross-CPU hand-offs\n", PER_CPU, 2 * PINGS);
	return 0;
}

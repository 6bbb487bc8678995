/* SPDX-License-Identifier: MIT */
/*
 * Timers wake tasks in deadline order: tasks on two CPUs, spawned in a
 * scrambled order, each sleep until their own deadline; the order they
 * wake in must be the order of the deadlines, and none wakes early.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "vsched/vs.h"

#define N 10
#define STEP_NS 20000000ull /* 20 ms between deadlines */

static uint64_t base;
static atomic_int woke[N], nwoke, early;

static int sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint64_t deadline = base + (uint64_t)(i + 1) * STEP_NS;

	CHECK(vs_sleep_until(deadline) == 0);
	if (vs_now() < deadline)
		atomic_fetch_add(&early, 1);
	woke[atomic_fetch_add(&nwoke, 1)] = i;
	return 0;
}

int main(void)
{
	static const int scramble[N] = { 7, 2, 9, 0, 5, 3, 8, 1, 6, 4 };
	struct vs_config cfg;
	vs_task_t *t[N];
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 2;
	CHECK(vs_runtime_start(&cfg) == 0);
	base = vs_now();
	for (int k = 0; k < N; k++) {
		struct vs_task_attr a = { .cpu = k & 1 };

		CHECK(vs_task_spawn(sleeper, (void *)(intptr_t)scramble[k], &a, &t[k]) == 0);
	}
	for (int k = 0; k < N; k++)
		CHECK(vs_task_join(t[k], &code) == 0 && code == 0);
	CHECK(nwoke == N);
	CHECK(early == 0);
	for (int i = 0; i < N; i++)
		CHECK(woke[i] == i);
	CHECK(vs_runtime_stop() == 0);
	printf("sleep: %d tasks on 2 CPUs woke in deadline order, %d ms apart\n", N,
	       (int)(STEP_NS / 1000000));
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Timers wake tasks in deadline order: tasks on two CPUs, spawned in a
 * scrambled order, each sleep until their own deadline; the order they
 * wake in must be the order of the deadlines, and none wakes early. The
 * deadlines are set once every task is waiting for them, and are 20 ms
 * apart (100 ms with VSCHED_UNTIMED, as under valgrind, which runs one
 * thread at a time).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "vsched/vs.h"

#define N 10
#define MS 1000000ull

static uint64_t step = 20 * MS;
static _Atomic uint64_t base;
static atomic_int woke[N], nwoke, early, ready;
static struct vs_wq start = VS_WQ_INIT;

static bool base_set(void *arg)
{
	(void)arg;
	return atomic_load(&base) != 0;
}

static int sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint64_t deadline;

	atomic_fetch_add(&ready, 1);
	CHECK(vs_wq_wait_pred(&start, base_set, NULL) == 0);
	deadline = atomic_load(&base) + (uint64_t)(i + 1) * step;
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

	if (getenv("VSCHED_UNTIMED"))
		step = 100 * MS;
	vs_config_default(&cfg);
	cfg.ncpus = 2;
	CHECK(vs_runtime_start(&cfg) == 0);
	for (int k = 0; k < N; k++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = k & 1 };

		CHECK(vs_task_spawn(sleeper, (void *)(intptr_t)scramble[k], &a, &t[k]) == 0);
	}
	while (atomic_load(&ready) < N)
		CHECK(vs_sleep(MS) == 0);
	atomic_store(&base, vs_now() + step);
	vs_wq_notify_all(&start);
	for (int k = 0; k < N; k++)
		CHECK(vs_task_join(t[k], &code) == 0 && code == 0);
	CHECK(nwoke == N);
	CHECK(early == 0);
	for (int i = 0; i < N; i++)
		CHECK(woke[i] == i);
	CHECK(vs_runtime_stop() == 0);
	printf("sleep: %d tasks on 2 CPUs woke in deadline order, %d ms apart\n", N,
	       (int)(step / MS));
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Fills one CPU's run queue to its capacity minus two, then lets them all
 * run: each task must run exactly once, in the order it was spawned.
 */
#include "check.h"
#include "vsched/vs.h"

#define QCAP 64
#define N (QCAP - 2)

static int order[N], ran[N], next;

static int body(void *arg)
{
	int i = (int)(long)arg;

	ran[i]++;
	order[next++] = i;
	return i * 3;
}

int main(void)
{
	struct vs_config cfg;
	vs_task_t *t[N];

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.queue_cap = QCAP;
	CHECK(vs_runtime_start(&cfg) == 0);
	for (long i = 0; i < N; i++)
		CHECK(vs_task_spawn(body, (void *)i, NULL, &t[i]) == 0);
	CHECK(next == 0); /* spawned, not run: the spawner still has the CPU */
	for (int i = 0; i < N; i++) {
		int code = -1;

		CHECK(vs_task_join(t[i], &code) == 0);
		CHECK(code == i * 3);
	}
	CHECK(next == N);
	for (int i = 0; i < N; i++) {
		CHECK(ran[i] == 1);
		CHECK(order[i] == i);
	}
	CHECK(vs_runtime_stop() == 0);
	printf("spawn: %d tasks ran once each, in order\n", N);
	return 0;
}

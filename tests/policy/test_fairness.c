/* SPDX-License-Identifier: MIT */
/*
 * Fairness on one CPU, through the runtime on real time: CPU-bound tasks
 * that never yield, preempted at the end of their slices, share the CPU
 * as their policy says. CFS: nice 0 and nice 5 get 1024:335 (75.4% and
 * 24.6%); RR: four equal tasks get 25% each; within 5 points, over one
 * second after a warm-up. Under qemu-user the CPU is emulated on a host
 * shared with qemu's own threads, so the bound widens to 10 points.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "vsched/vs.h"

#define MS 1000000ull

struct worker {
	int nice;
	_Atomic uint64_t work;
};

static atomic_int stop;

/* Work in units of equal cost, until told to stop. */
static int burn(void *arg)
{
	struct worker *w = arg;
	volatile uint64_t x = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1000; i++)
			x += (uint64_t)i;
		atomic_fetch_add_explicit(&w->work, 1, memory_order_relaxed);
	}
	return 0;
}

/* Runs @n workers on one CPU under @policy; fills @pct with their shares. */
static void measure(enum vs_policy policy, struct worker *w, int n, double *pct)
{
	struct vs_config cfg;
	vs_task_t *t[8];
	uint64_t a[8], total = 0;
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.policy = policy;
	cfg.preempt = 1;
	atomic_store(&stop, 0);
	assert_int_equal(vs_runtime_start(&cfg), 0);
	for (int i = 0; i < n; i++) {
		struct vs_task_attr at = { .cpu = -1, .priority = w[i].nice, .preemptible = 1 };

		atomic_store(&w[i].work, 0);
		assert_int_equal(vs_task_spawn(burn, &w[i], &at, &t[i]), 0);
	}
	assert_int_equal(vs_sleep(200 * MS), 0); /* warm-up */
	for (int i = 0; i < n; i++)
		a[i] = atomic_load(&w[i].work);
	assert_int_equal(vs_sleep(1000 * MS), 0);
	for (int i = 0; i < n; i++) {
		a[i] = atomic_load(&w[i].work) - a[i];
		total += a[i];
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(vs_task_join(t[i], &code), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_true(total > 0);
	for (int i = 0; i < n; i++)
		pct[i] = 100.0 * (double)a[i] / (double)total;
}

static double bound(void)
{
	return getenv("VSCHED_EMULATED") ? 10.0 : 5.0;
}

static void test_cfs_nice(void **state)
{
	struct worker w[2] = { { .nice = 0 }, { .nice = 5 } };
	double pct[2];

	(void)state;
	measure(VS_POLICY_CFS, w, 2, pct);
	print_message("cfs: nice0 %.1f%%, nice5 %.1f%% (expected 75.4 / 24.6)\n", pct[0], pct[1]);
	assert_true(pct[0] > 75.4 - bound() && pct[0] < 75.4 + bound());
	assert_true(pct[1] > 24.6 - bound() && pct[1] < 24.6 + bound());
}

static void test_rr_equal(void **state)
{
	struct worker w[4] = { { 0 } };
	double pct[4];

	(void)state;
	measure(VS_POLICY_RR, w, 4, pct);
	print_message("rr: %.1f%% %.1f%% %.1f%% %.1f%% (expected 25 each)\n", pct[0], pct[1],
		      pct[2], pct[3]);
	for (int i = 0; i < 4; i++)
		assert_true(pct[i] > 25.0 - bound() && pct[i] < 25.0 + bound());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfs_nice),
		cmocka_unit_test(test_rr_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

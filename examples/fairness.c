/* SPDX-License-Identifier: MIT */
/*
 * Fairness: CPU-bound tasks that never yield share one CPU as their policy
 * says, switched out by preemption at the end of their slices. CFS gives a
 * nice 0 and a nice 5 task 1024:335 of the CPU; RR gives four equal tasks
 * a quarter each. Prints a table and one "share" line per task; exits 0
 * only if every share is within 5 points of its target (10 under
 * emulation, where the host's other threads get in the way; not judged
 * with VSCHED_UNTIMED set, as under valgrind, which runs one thread at a
 * time).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vsched/vs.h"

#define MS 1000000ull

struct worker {
	const char *name;
	int nice;
	double target; /* percent */
	_Atomic uint64_t work;
	double share;
};

static atomic_int stop;

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

/* One CPU, @n workers under @policy, measured for a second after 200 ms. */
static int run(enum vs_policy policy, struct worker *w, int n)
{
	struct vs_config cfg;
	vs_task_t *t[4];
	uint64_t base[4], total = 0;
	int code, r;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.policy = policy;
	cfg.preempt = 1;
	atomic_store(&stop, 0);
	r = vs_runtime_start(&cfg);
	if (r < 0)
		return r;
	for (int i = 0; i < n; i++) {
		struct vs_task_attr a = { .name = w[i].name, .priority = w[i].nice,
					  .preemptible = 1 };

		if ((r = vs_task_spawn(burn, &w[i], &a, &t[i])) < 0)
			return r;
	}
	if ((r = vs_sleep(200 * MS)) < 0)
		return r;
	for (int i = 0; i < n; i++)
		base[i] = atomic_load(&w[i].work);
	if ((r = vs_sleep(1000 * MS)) < 0)
		return r;
	for (int i = 0; i < n; i++) {
		base[i] = atomic_load(&w[i].work) - base[i];
		total += base[i];
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++)
		if ((r = vs_task_join(t[i], &code)) < 0)
			return r;
	if ((r = vs_runtime_stop()) < 0)
		return r;
	for (int i = 0; i < n; i++)
		w[i].share = total ? 100.0 * (double)base[i] / (double)total : 0;
	return 0;
}

static int report(const char *policy, struct worker *w, int n, double bound)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		int ok = w[i].share > w[i].target - bound && w[i].share < w[i].target + bound;

		printf("  %-4s %-6s nice %3d  %6.1f%%  (target %4.1f%%) %s\n", policy, w[i].name,
		       w[i].nice, w[i].share, w[i].target, ok ? "ok" : "OFF");
		bad += !ok;
	}
	return bad;
}

int main(void)
{
	struct worker cfs[2] = {
		{ .name = "nice0", .nice = 0, .target = 100.0 * 1024 / 1359 },
		{ .name = "nice5", .nice = 5, .target = 100.0 * 335 / 1359 },
	};
	struct worker rr[4] = {
		{ .name = "rr0", .target = 25 }, { .name = "rr1", .target = 25 },
		{ .name = "rr2", .target = 25 }, { .name = "rr3", .target = 25 },
	};
	double bound = getenv("VSCHED_UNTIMED") ? 100.0 : getenv("VSCHED_EMULATED") ? 10.0 : 5.0;
	int bad = 0, r;

	if ((r = run(VS_POLICY_CFS, cfs, 2)) < 0 || (r = run(VS_POLICY_RR, rr, 4)) < 0) {
		fprintf(stderr, "fairness: %d\n", r);
		return 1;
	}
	printf("CPU shares on one CPU over 1 s of CPU-bound work (bound +-%.0f points):\n", bound);
	bad += report("cfs", cfs, 2, bound);
	bad += report("rr", rr, 4, bound);
	for (int i = 0; i < 2; i++)
		printf("share\tcfs\t%s\t%.1f\n", cfs[i].name, cfs[i].share);
	for (int i = 0; i < 4; i++)
		printf("share\trr\t%s\t%.1f\n", rr[i].name, rr[i].share);
	return bad ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Ten million parked stackless tasks: every one parks on one wait queue,
 * one notify_all wakes them all, each runs to completion exactly once, and
 * the peak memory per parked task is measured and bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc.h"
#include "vsched/vs.h"
#include "vvar.h"

#include "asan.h"

#define NCPUS 2
#define FULL_COUNT 10000000u
#define SMALL_COUNT 200000u	 /* under emulation or a sanitizer */
#define KIB_PER_TASK 1		 /* MemAvailable asked for per task */
#define COUNT_ENV "VSCHED_STACKLESS_TASKS"
#define STALL_S 30.0		 /* no progress for this long fails the test */
#define CEILING_PER_TASK 512	 /* bytes of peak RSS per parked task */
#define MIN_MEASURED 100000	 /* fewer tasks: fixed costs swamp the figure */

/* ran[i]: bit 0 set when task i first parks; +2 each time it completes */
enum { RAN_PARKED = 1, RAN_DONE = 2 };

static struct {
	struct vs_wq wq;   /* where the tasks park */
	struct vs_wq main; /* where the first task waits for them */
	_Atomic bool go;
	_Atomic long parked;
	_Atomic long done;
	long n;
	uint8_t *ran; /* byte i written only by task i while it runs */
} S;

static bool go_set(void *arg)
{
	(void)arg;
	return atomic_load_explicit(&S.go, memory_order_relaxed);
}

static bool all_parked(void *arg)
{
	(void)arg;
	return atomic_load(&S.parked) >= S.n;
}

static bool all_done(void *arg)
{
	(void)arg;
	return atomic_load(&S.done) >= S.n; /* more: checked below */
}

static enum vs_poll parked_poll(void *state, int *code)
{
	uintptr_t i = (uintptr_t)state;
	int r = vs_wq_wait_pred_poll(&S.wq, go_set, NULL);

	if (r == -EAGAIN) {
		/* counted once registered: notify_all will find it queued */
		if (!(S.ran[i] & RAN_PARKED)) {
			S.ran[i] |= RAN_PARKED;
			if (atomic_fetch_add(&S.parked, 1) + 1 == S.n)
				vs_wq_notify_all(&S.main);
		}
		return VS_PENDING;
	}
	*code = r < 0 ? -1000 + r : (int)(i % 1000);
	S.ran[i] += RAN_DONE;
	if (atomic_fetch_add(&S.done, 1) + 1 == S.n)
		vs_wq_notify_all(&S.main);
	return VS_READY;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits until pred() holds; fails if @progress stands still for STALL_S. */
static void wait_for(bool (*pred)(void *), _Atomic long *progress, const char *what)
{
	long last = -1;
	double since = now_s();

	for (;;) {
		int r = vs_wq_wait_pred_until(&S.main, pred, NULL, vs_deadline_in(1000000000ull));
		long p = atomic_load(progress);

		if (r == 0)
			return;
		assert_int_equal(r, -ETIMEDOUT);
		if (p != last) {
			last = p;
			since = now_s();
		} else if (now_s() - since > STALL_S) {
			fail_msg("stackless: %s stalled at %ld of %ld tasks", what, p, S.n);
		}
	}
}

/* Resident KiB of the mapping of exactly @size bytes (the vvar area), or -1. */
static long mapping_rss_kib(uint64_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	long rss = -1;
	int found = 0;
	bool match = false;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		long kib;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			match = hi - lo == size;
		else if (match && sscanf(line, "Rss: %ld kB", &kib) == 1) {
			rss = kib;
			found++;
			match = false;
		}
	}
	fclose(f);
	return found == 1 ? rss : -1; /* two candidates: no answer */
}

static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/* Ten million natively; fewer under emulation or ASan, or short of memory.
 * VSCHED_STACKLESS_TASKS overrides all of that. */
static long task_count(void)
{
	const char *env = getenv(COUNT_ENV);
	long n = getenv("VSCHED_EMULATED") || UNDER_SANITIZER ? SMALL_COUNT : FULL_COUNT;
	long avail = proc_kib("/proc/meminfo", "MemAvailable");

	if (env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (*env && !*end && v > 0 && v <= VSCHED_MAX_TASKS - 16)
			return (long)v;
		fail_msg("stackless: %s=%s is not a count in 1..%u", COUNT_ENV, env,
			 VSCHED_MAX_TASKS - 16);
	}
	if (avail > 0 && avail < n * KIB_PER_TASK) {
		print_message("stackless: only %ld MiB available: %ld tasks instead of %ld\n",
			      avail >> 10, avail / KIB_PER_TASK, n);
		n = avail / KIB_PER_TASK;
	}
	return n;
}

static void test_ten_million_parked(void **state)
{
	const long n = task_count();
	struct vs_config cfg;
	struct vsched_geometry g;
	struct vsched_vvar h;
	vs_task_t **t;
	long rss0, rss, hwm, vvar_kib;
	size_t heap0, heap;
	uint64_t area;
	double t0, t1, t2, t3, per_task;
	int woken;

	(void)state;
	assert_true(n > 0);
	S.n = n;
	S.ran = calloc((size_t)n, 1);
	t = calloc((size_t)n, sizeof(*t));
	assert_non_null(S.ran);
	assert_non_null(t);
	/* fault the test's own arrays in now: only the runtime is measured */
	memset(S.ran, 0, (size_t)n);
	memset(t, 0, (size_t)n * sizeof(*t));
	vs_wq_init(&S.wq);
	vs_wq_init(&S.main);
	atomic_store(&S.go, false);
	atomic_store(&S.parked, 0);
	atomic_store(&S.done, 0);

	vs_config_default(&cfg);
	cfg.ncpus = NCPUS;
	cfg.max_tasks = (unsigned)n + 16; /* the tasks, the first task, the idles */
	g = (struct vsched_geometry){ .ncpus = cfg.ncpus, .queue_cap = cfg.queue_cap,
				      .ntasks = cfg.max_tasks, .policy = VSCHED_POLICY_FIFO };
	area = vsched_vvar_layout(&g, &h);
	assert_true(area > 0);
	assert_int_equal(vs_runtime_start(&cfg), 0);

	rss0 = proc_kib("/proc/self/status", "VmRSS");
	heap0 = heap_in_use();
	t0 = now_s();
	for (long i = 0; i < n; i++)
		assert_int_equal(vs_task_spawn_poll(parked_poll, (void *)(uintptr_t)i, NULL, &t[i]),
				 0);
	/* each counts itself after it is queued and marked blocked: once all
	 * have, nothing is runnable but this task */
	wait_for(all_parked, &S.parked, "parking");
	t1 = now_s();
	hwm = proc_kib("/proc/self/status", "VmHWM");
	rss = proc_kib("/proc/self/status", "VmRSS");
	heap = heap_in_use();
	vvar_kib = mapping_rss_kib(area);
	assert_int_equal(atomic_load(&S.done), 0);

	atomic_store(&S.go, true);
	woken = vs_wq_notify_all(&S.wq);
	assert_int_equal(woken, n); /* every one was waiting, once */
	wait_for(all_done, &S.done, "completion");
	for (long i = 0; i < n; i++) {
		int code = -1;

		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, (int)(i % 1000));
	}
	t2 = now_s();
	for (long i = 0; i < n; i++)
		if (S.ran[i] != (RAN_PARKED | RAN_DONE))
			fail_msg("stackless: task %ld: parked %d, completed %d times", i,
				 S.ran[i] & RAN_PARKED, S.ran[i] / RAN_DONE);
	assert_int_equal(atomic_load(&S.done), n);
	assert_int_equal(atomic_load(&S.parked), n);
	assert_int_equal(vs_runtime_stop(), 0);
	t3 = now_s();

	print_message("stackless: %ld tasks parked on one wait queue, %d CPUs\n", n, NCPUS);
	print_message("stackless: spawn+park %.2f s, wake+join %.2f s, stop %.2f s\n", t1 - t0,
		      t2 - t1, t3 - t2);
	per_task = (double)(hwm - rss0) * 1024.0 / (double)n;
	print_message("stackless: peak RSS %.1f bytes/task (VmHWM %ld MiB, VmRSS %ld -> %ld MiB)\n",
		      per_task, hwm >> 10, rss0 >> 10, rss >> 10);
	print_message("stackless:   task slot in the vvar table: %zu bytes\n",
		      sizeof(struct vsched_task));
	if (vvar_kib >= 0)
		print_message("stackless:   vvar area resident: %.1f bytes/task (%ld of %llu MiB: "
			      "slots and global ring cells touched)\n",
			      (double)vvar_kib * 1024.0 / (double)n, vvar_kib >> 10,
			      (unsigned long long)(area >> 20));
	if (!UNDER_SANITIZER && heap > heap0)
		print_message("stackless:   malloc heap in use: %.1f bytes/task (chunk headers "
			      "included)\n",
			      (double)(heap - heap0) / (double)n);
	/* ASan's shadow and quarantine are not the runtime's */
	if (!UNDER_SANITIZER && n >= MIN_MEASURED && per_task > CEILING_PER_TASK)
		fail_msg("stackless: %.1f bytes of peak RSS per parked task, over %d", per_task,
			 CEILING_PER_TASK);
	free(t);
	free(S.ran);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ten_million_parked),
	};

	return cmocka_run_group_tests_name("stackless", tests, NULL, NULL);
}

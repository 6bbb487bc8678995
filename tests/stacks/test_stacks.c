/* SPDX-License-Identifier: MIT */
/*
 * Task stacks: a warm pool spawns without mapping, stacks never overlap, an
 * overflow stops the process naming the task (guard page or canary), and a
 * million stackful tasks can be parked at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "cpu.h"

#include "asan.h"

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static void start(unsigned ncpus, size_t stack_size, unsigned max_tasks)
{
	struct vs_config cfg;

	vs_config_default(&cfg);
	cfg.ncpus = ncpus;
	if (stack_size)
		cfg.stack_size = stack_size;
	if (max_tasks)
		cfg.max_tasks = max_tasks;
	assert_int_equal(vs_runtime_start(&cfg), 0);
}

static long maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int ch;

	if (!f)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* A "Vm...:" line of /proc/self/status, in KiB. */
static long status_kib(const char *key)
{
	return proc_kib("/proc/self/status", key);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

/* Spawns @n tasks (at most 16 at a time) and joins them, checking codes. */
static void spawn_join(unsigned n, const struct vs_task_attr *attr)
{
	vs_task_t *t[16];

	for (unsigned i = 0; i < n; i += 16) {
		unsigned k = n - i < 16 ? n - i : 16;

		for (unsigned j = 0; j < k; j++)
			assert_int_equal(vs_task_spawn(ret_arg, (void *)(intptr_t)(i + j), attr, &t[j]),
					 0);
		for (unsigned j = 0; j < k; j++) {
			int code = -1;

			assert_int_equal(vs_task_join(t[j], &code), 0);
			assert_int_equal(code, (int)(i + j));
		}
	}
}

/*
 * (1) One CPU: once warm, spawning and joining maps nothing. Two CPUs,
 * stacks taken on one and freed on the other: the slabs stay bounded.
 * Stopping unmaps everything.
 */
static void test_pool_warm(void **state)
{
	struct rt_stack_stats s0, s1, s2, s3;
	struct vs_task_attr odd = { .stack_size = 64 << 10 };
	struct vs_task_attr on1 = { .place = VS_PLACE_CPU, .cpu = 1 };
	unsigned rounds = emulated() ? 2000 : 50000;
	long l1, l2, held;

	(void)state;
	rt_stack_stats(&s0);
	start(1, 0, 0);
	spawn_join(256, NULL);
	rt_stack_stats(&s1);
	l1 = maps_lines();
	spawn_join(rounds, NULL);
	rt_stack_stats(&s2);
	l2 = maps_lines();
	print_message("stacks: %u spawn+join on one CPU: %llu new stack mappings, "
		      "/proc/self/maps %ld -> %ld lines, %ld slabs\n",
		      rounds, (unsigned long long)(s2.maps - s1.maps), l1, l2, s2.slabs);
	assert_true(s1.maps > s0.maps); /* warm-up did map */
	assert_int_equal(s2.maps, s1.maps);
	assert_int_equal(s2.unmaps, s1.unmaps);
	if (!UNDER_SANITIZER)
		assert_true(l2 <= l1);

	/* a size other than the default gets a mapping of its own, and
	 * gives it back */
	spawn_join(3, &odd);
	rt_stack_stats(&s3);
	assert_int_equal(s3.maps - s2.maps, 3);
	assert_int_equal(s3.unmaps - s2.unmaps, 3);
	assert_int_equal(vs_runtime_stop(), 0);
	rt_stack_stats(&s3);
	assert_int_equal(s3.maps - s0.maps, s3.unmaps - s0.unmaps); /* nothing leaked */
	assert_int_equal(s3.slabs, 0);
	assert_int_equal(s3.guards, 0);

	start(2, 0, 0);
	spawn_join(rounds, &on1);
	rt_stack_stats(&s2);
	/* what the caches and live tasks can hold, with room for slabs
	 * left part-used: a stack lost or hoarded per round would exceed it */
	held = 2 * RT_STACK_CACHE + 16 + 1;
	print_message("stacks: %u spawn on CPU 0, exit on CPU 1: %llu stack mappings, %ld slabs "
		      "of %u\n",
		      rounds, (unsigned long long)(s2.maps - s3.maps), s2.slabs, s2.slab_slots);
	assert_true(s2.slabs * (long)s2.slab_slots <= 4 * held);
	assert_int_equal(vs_runtime_stop(), 0);
	rt_stack_stats(&s2);
	assert_int_equal(s2.maps - s0.maps, s2.unmaps - s0.unmaps);
	assert_int_equal(s2.slabs, 0);
}

/* Stacks of live tasks, as each task sees its own. */
#define NLIVE 300
static struct {
	struct vs_wq wq;
	_Atomic bool go;
	_Atomic int arrived;
	struct rt_stack st[NLIVE];
	char *local[NLIVE];
} L;

/* Counts the task as arrived under the queue's lock, which it keeps until
 * it is queued and off its CPU: once all have arrived, all are queued. */
static bool live_go(void *arg)
{
	bool *counted = arg;

	if (!*counted) {
		*counted = true;
		atomic_fetch_add(&L.arrived, 1);
	}
	return atomic_load(&L.go);
}

static int live_task(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct vs_task *me = vs_task_self();
	bool counted = false;
	char here;

	L.st[i] = *me->stk;
	L.local[i] = &here;
	return vs_wq_wait_pred(&L.wq, live_go, &counted);
}

static bool inside(const char *p, const struct rt_stack *s)
{
	return p >= (const char *)s->lo && p < (const char *)s->lo + s->size;
}

static void check_live_stacks(size_t asked, bool guards)
{
	vs_task_t *t[NLIVE];

	vs_wq_init(&L.wq);
	atomic_store(&L.go, false);
	atomic_store(&L.arrived, 0);
	if (!guards)
		assert_int_equal(setenv(RT_STACK_GUARD_ENV, "0", 1), 0);
	start(2, asked, 0);
	assert_int_equal(unsetenv(RT_STACK_GUARD_ENV), 0);
	for (int i = 0; i < NLIVE; i++)
		assert_int_equal(vs_task_spawn(live_task, (void *)(intptr_t)i, NULL, &t[i]), 0);
	while (atomic_load(&L.arrived) < NLIVE)
		assert_int_equal(vs_task_yield(), 0);
	for (int i = 0; i < NLIVE; i++) {
		const struct rt_stack *s = &L.st[i];

		assert_true(s->size >= asked);
		assert_true(inside(L.local[i], s));
		assert_int_equal(s->guarded, guards);
		assert_int_equal(s->canary == NULL, guards);
		for (int j = 0; j < i; j++) {
			const struct rt_stack *o = &L.st[j];

			/* disjoint, and neither's canary inside the other */
			assert_true((char *)s->lo + s->size <= (char *)o->lo ||
				    (char *)o->lo + o->size <= (char *)s->lo);
			if (s->canary)
				assert_false(inside((char *)s->canary, o) ||
					     inside((char *)(s->canary + RT_STACK_CANARY_WORDS) - 1, o));
		}
	}
	atomic_store(&L.go, true);
	assert_int_equal(vs_wq_notify_all(&L.wq), NLIVE);
	for (int i = 0; i < NLIVE; i++) {
		int code = -1;

		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Live stacks are at least the size asked, disjoint, canaries outside. */
static void test_live_stacks(void **state)
{
	(void)state;
	check_live_stacks(16 << 10, true);
	check_live_stacks(16 << 10, false);
	check_live_stacks(40000, false); /* not a page multiple */
}

/* ---- overflows, each in a child process ---- */

/* Runs fn(arg) in a child; its wait status, and its stderr in @buf. */
static int in_child(void (*fn)(int), int arg, char *buf, size_t cap)
{
	int p[2], st = 0;
	size_t n = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		(void)setrlimit(RLIMIT_CORE, &no_core);
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	for (;;) {
		char sink[256];
		ssize_t r = n + 1 < cap ? read(p[0], buf + n, cap - 1 - n)
					: read(p[0], sink, sizeof(sink));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (n + 1 < cap)
			n += (size_t)r;
	}
	buf[n] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void expect_abort(int st, const char *out, const char *msg)
{
	if (!strstr(out, msg) || !WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		print_error("child status %#x, stderr:\n%s\n", st, out);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(out, msg));
}

static int child_start(const char *guards)
{
	struct vs_config cfg;

	if (guards)
		setenv(RT_STACK_GUARD_ENV, guards, 1);
	else
		unsetenv(RT_STACK_GUARD_ENV);
	vs_config_default(&cfg);
	cfg.ncpus = 2;
	return vs_runtime_start(&cfg);
}

__attribute__((noinline)) static int recurse(int n)
{
	volatile char buf[512];

	buf[0] = (char)n;
	buf[sizeof(buf) - 1] = (char)n;
	if (n == INT32_MAX)
		return 0;
	return recurse(n + 1) + buf[7];
}

static int deep_task(void *arg)
{
	(void)arg;
	return recurse(0);
}

static void child_guard(int cpu)
{
	struct vs_task_attr a = { .name = "deep", .place = VS_PLACE_CPU, .cpu = cpu };
	vs_task_t *t;
	int code;

	if (child_start(NULL))
		_exit(10);
	if (vs_task_spawn(deep_task, NULL, &a, &t))
		_exit(11);
	if (!t->stk->guarded)
		_exit(12);
	if (vs_task_join(t, &code) == 0)
		_exit(13);
	_exit(14);
}

/* (2) Recursion into the guard page: the handler names the task. */
static void test_guard_overflow(void **state)
{
	char out[4096];

	(void)state;
	for (int cpu = 0; cpu < 2; cpu++) {
		int st = in_child(child_guard, cpu, out, sizeof(out));

		expect_abort(st, out, "vsched: stack overflow in task 'deep' (guard page hit)");
	}
}

enum { SMASH_YIELD, SMASH_EXIT, SMASH_DIG };

__attribute__((noinline)) static void dig(const char *lo)
{
	volatile char buf[256];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = 0x5a;
	if ((const char *)buf > lo - 512)
		dig(lo);
	buf[0] = buf[1]; /* not a tail call: every frame stays */
}

static int smash_task(void *arg)
{
	struct vs_task *me = vs_task_self();
	int how = (int)(intptr_t)arg;

	if (!me->stk->canary)
		_exit(20);
	if (how == SMASH_DIG)
		dig(me->stk->lo); /* a real overflow, into the page below */
	else
		((volatile uint64_t *)me->stk->lo)[-1] = 0; /* as a push at lo */
	if (how == SMASH_EXIT)
		return 0; /* caught when it is reclaimed */
	if (vs_task_yield() == 0) /* caught when it resumes */
		_exit(21);
	_exit(22);
}

static void child_smash(int how)
{
	/* SMASH_DIG gets a mapping of its own: the overflow stays in its
	 * canary page instead of reaching another task's stack */
	struct vs_task_attr a = { .name = "smash",
				  .stack_size = how == SMASH_DIG ? 32 << 10 : 0 };
	vs_task_t *t;
	int code;

	if (child_start("0"))
		_exit(10);
	if (vs_task_spawn(smash_task, (void *)(intptr_t)how, &a, &t))
		_exit(11);
	if (vs_task_join(t, &code) || vs_runtime_stop())
		_exit(12);
	_exit(13);
}

/* (3) Canary-only stacks: a write below the stack stops the process. */
static void test_canary_overflow(void **state)
{
	char out[4096];

	(void)state;
	for (int how = SMASH_YIELD; how <= SMASH_DIG; how++) {
		int st = in_child(child_smash, how, out, sizeof(out));

		expect_abort(st, out,
			     "vsched: stack overflow in task 'smash' (canary below its stack "
			     "overwritten)");
	}
}

/* ---- (4) a million parked stackful tasks ---- */

static struct {
	struct vs_wq wq;
	_Atomic bool go;
	_Atomic long parked;
	_Atomic uint32_t *ran;
} P;

static bool parked_go(void *arg)
{
	(void)arg;
	return atomic_load_explicit(&P.go, memory_order_relaxed);
}

static int parked_task(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	atomic_fetch_add_explicit(&P.parked, 1, memory_order_relaxed);
	if (vs_wq_wait_pred(&P.wq, parked_go, NULL))
		return -1;
	atomic_fetch_add_explicit(&P.ran[i], 1, memory_order_relaxed);
	return (int)(i & 0xffff);
}

/* MemAvailable, in KiB (0 if unknown). */
static long mem_available_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A million natively; fewer under emulation or ASan, or short of memory
 * (a parked task costs about 4.5 KiB: ask for twice that). */
static unsigned parked_count(void)
{
	unsigned n = UNDER_TSAN ? 4000 : emulated() || UNDER_ASAN ? 20000 : 1000000;
	long avail = mem_available_kib();

	if (avail > 0 && (long)n * 9 > avail) {
		n = (unsigned)(avail / 9);
		print_message("stacks: only %ld MiB available: %u tasks\n", avail >> 10, n);
	}
	return n;
}

static void test_million_parked(void **state)
{
	const unsigned n = parked_count();
	struct vs_task_attr a = { .name = "parked" };
	struct rt_stack_stats st;
	vs_task_t **t = calloc(n, sizeof(*t));
	long rss0 = status_kib("VmRSS"), hwm, maps;
	double t0 = now_s(), t1, t2;
	int woken;

	(void)state;
	assert_non_null(t);
	P.ran = calloc(n, sizeof(*P.ran));
	assert_non_null(P.ran);
	vs_wq_init(&P.wq);
	atomic_store(&P.go, false);
	atomic_store(&P.parked, 0);
	start(2, 16 << 10, n + 16);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(vs_task_spawn(parked_task, (void *)(uintptr_t)i, &a, &t[i]), 0);
	/* all parked: each counted itself, and nothing is left to run */
	while (atomic_load(&P.parked) < (long)n || rt_cpu_has_work(0) || rt_cpu_has_work(1))
		assert_int_equal(vs_task_yield(), 0);
	t1 = now_s();
	hwm = status_kib("VmHWM");
	maps = maps_lines();
	rt_stack_stats(&st);

	atomic_store(&P.go, true);
	woken = vs_wq_notify_all(&P.wq);
	assert_int_equal(woken, (int)n); /* every one was waiting */
	for (unsigned i = 0; i < n; i++) {
		int code = -1;

		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, (int)(i & 0xffff));
	}
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(atomic_load(&P.ran[i]), 1);
	assert_int_equal(vs_runtime_stop(), 0);
	t2 = now_s();

	print_message("stacks: %u parked tasks (16 KiB stacks, 2 CPUs): spawn+park %.2f s, "
		      "wake+join+stop %.2f s; peak RSS %.0f bytes/task; %ld mappings, "
		      "%ld slabs, %ld guard pages\n",
		      n, t1 - t0, t2 - t1, (double)(hwm - rss0) * 1024.0 / n, maps, st.slabs,
		      st.guards);
	/* a parked task's stack costs one page: two would exceed this */
	if (!UNDER_SANITIZER)
		assert_true((hwm - rss0) * 1024 / (long)n < 7 * 1024);
	free(P.ran);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_warm),
		cmocka_unit_test(test_live_stacks),
		cmocka_unit_test(test_guard_overflow),
		cmocka_unit_test(test_canary_overflow),
		cmocka_unit_test(test_million_parked),
	};

	return cmocka_run_group_tests_name("stacks", tests, NULL, NULL);
}

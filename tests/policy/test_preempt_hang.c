/* SPDX-License-Identifier: MIT */
/*
 * Preemption never hangs a CPU: preemptible tasks on one CPU, switched out
 * by the signal every slice, keep meeting the places where a switch would
 * leave a lock held for the next task on the same thread:
 *   - a wait predicate, run under its queue's lock (plain, and wrapped in
 *     vs_preempt_disable/enable);
 *   - a clock read under a queue's lock (the vDSO natively, a system call
 *     under qemu), reached through a PLT stub;
 *   - libc (a long memset is never switched out of) and malloc and free,
 *     whose locks are libc's: built statically too, where libc is part of
 *     the program.
 * Each scenario runs in a child with a time limit; a hang is a failure, and
 * so is a round lost. Plain C (no CMocka), so it also links statically.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vsched/vs.h"

#define MS 1000000ull
#define NTASKS 3

static unsigned rounds;
static atomic_uint done_rounds;
static struct vs_wq wq = VS_WQ_INIT;
static bool wrap;

/* Busy for about @ns in the task's own code. */
static void spin_for(uint64_t ns)
{
	uint64_t end = vs_now() + ns;
	volatile uint64_t x = 0;

	while (vs_now() < end)
		for (int i = 0; i < 1000; i++)
			x += (uint64_t)i;
}

/* Holds the queue's lock for a third of a slice, mostly in its own code. */
static bool slow_pred(void *arg)
{
	(void)arg;
	if (wrap)
		vs_preempt_disable();
	spin_for(MS / 3);
	if (wrap)
		vs_preempt_enable();
	return true;
}

static int pred_task(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < rounds; i++) {
		if (vs_wq_wait_pred(&wq, slow_pred, NULL) != 0)
			return 1;
		(void)vs_wq_notify_all(&wq); /* takes the lock too */
		atomic_fetch_add(&done_rounds, 1);
	}
	return 0;
}

/* Back-to-back timed waits already past: lock, read the clock, unlock. */
static int clock_task(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < rounds; i++) {
		for (int k = 0; k < 1000; k++)
			if (vs_wq_wait_until(&wq, vs_deadline_in(0)) != -ETIMEDOUT)
				return 1;
		atomic_fetch_add(&done_rounds, 1);
	}
	return 0;
}

/* Sizes past the thread cache, so the arena's lock is taken. */
static int malloc_task(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < rounds; i++) {
		void *p[16];

		for (int k = 0; k < 16; k++) {
			p[k] = malloc(4096 + rand_r(&seed) % 65536);
			if (!p[k])
				return 1;
			memset(p[k], k, 64);
		}
		for (int k = 0; k < 16; k++)
			free(p[k]);
		atomic_fetch_add(&done_rounds, 1);
	}
	return 0;
}

static int start_rr(void)
{
	struct vs_config cfg;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.policy = VS_POLICY_RR;
	cfg.slice_ns = MS;
	cfg.preempt = 1;
	return vs_runtime_start(&cfg);
}

/* Runs @fn on NTASKS preemptible tasks on one CPU (RR, 1 ms slices);
 * the exit status says what went wrong. */
static int scenario(vs_task_fn fn)
{
	struct vs_task_attr at = { .preemptible = 1 };
	vs_task_t *t[NTASKS];
	int code, bad = 0;

	if (start_rr() != 0)
		return 2;
	for (int i = 0; i < NTASKS; i++)
		if (vs_task_spawn(fn, (void *)(uintptr_t)(i + 1), &at, &t[i]) != 0)
			return 3;
	for (int i = 0; i < NTASKS; i++)
		if (vs_task_join(t[i], &code) != 0 || code != 0)
			bad++;
	if (vs_runtime_stop() != 0)
		return 4;
	if (bad)
		return 5;
	return atomic_load(&done_rounds) == NTASKS * rounds ? 0 : 6;
}

/*
 * Inside libc, never: a preemptible task fills a large buffer with memset
 * (libc's code, for many slices) again and again; the task queued behind
 * it, whenever it runs, finds the buffer whole (one value throughout), not
 * half-written. (A switch just after memset returns is allowed: qemu-user
 * delivers a signal that came during memset there.)
 */
static char *big;
static atomic_bool filled;
#define BIG (32u << 20)

static int in_libc(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 8; i++)
		memset(big, i, BIG);
	atomic_store(&filled, true);
	return 0;
}

/* Looks each time it gets the CPU, until the filling is over. */
static int other(void *arg)
{
	(void)arg;
	while (!atomic_load(&filled)) {
		for (size_t k = 1; k < 64; k++)
			if (big[BIG / 64 * k] != big[0])
				return 1; /* memset was cut short */
		if (big[BIG - 1] != big[0] || vs_task_yield() != 0)
			return 1;
	}
	return 0;
}

static int libc_scenario(vs_task_fn fn)
{
	struct vs_task_attr at = { .preemptible = 1 };
	vs_task_t *a, *b;
	int code_a = -1, code_b = -1;

	(void)fn;
	big = calloc(1, BIG);
	if (!big || start_rr() != 0)
		return 2;
	if (vs_task_spawn(in_libc, NULL, &at, &a) != 0 ||
	    vs_task_spawn(other, NULL, NULL, &b) != 0)
		return 3;
	if (vs_task_join(a, &code_a) != 0 || vs_task_join(b, &code_b) != 0)
		return 5;
	if (vs_runtime_stop() != 0)
		return 4;
	return code_a == 0 && code_b == 0 ? 0 : 7; /* 7: switched out inside libc */
}

/* Runs a scenario in a child, which must be done within @limit_s. */
static bool run(const char *name, int (*sc)(vs_task_fn), vs_task_fn fn, bool wrapped,
		unsigned limit_s)
{
	pid_t pid;
	int st = 0;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		wrap = wrapped;
		_exit(sc(fn));
	}
	if (pid < 0)
		return false;
	for (unsigned ms = 0; ms < limit_s * 1000u; ms += 10) {
		struct timespec ten = { 0, 10 * 1000000 };

		if (waitpid(pid, &st, WNOHANG) == pid) {
			bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;

			printf("%s %s: %u rounds on %d tasks, %s (status %d)\n", ok ? "ok" : "FAIL",
			       name, rounds, NTASKS, ok ? "done" : "failed", st);
			return ok;
		}
		nanosleep(&ten, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	printf("FAIL %s: hung (not done in %u s)\n", name, limit_s);
	return false;
}

int main(void)
{
	bool emulated = getenv("VSCHED_EMULATED") != NULL;
	unsigned limit = emulated ? 60 : 20;
	int pass = 0, fail = 0;

	rounds = emulated ? 100 : 300;
	*(run("predicate", scenario, pred_task, false, limit) ? &pass : &fail) += 1;
	*(run("predicate-disabled", scenario, pred_task, true, limit) ? &pass : &fail) += 1;
	*(run("clock-under-lock", scenario, clock_task, false, limit) ? &pass : &fail) += 1;
	*(run("libc", libc_scenario, NULL, false, limit) ? &pass : &fail) += 1;
	rounds = emulated ? 2000 : 20000;
	*(run("malloc", scenario, malloc_task, false, limit) ? &pass : &fail) += 1;
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}

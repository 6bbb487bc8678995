/* SPDX-License-Identifier: MIT */
/*
 * Statistics (vsched/stats.h): what known workloads must show in the
 * counters, tasks by state, a task's own figures, the refusals, and under
 * cross-CPU load that no counter runs backwards and the total is the
 * CPUs' sum.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vsched/stats.h"
#include "vsched/vs.h"
#include "start.h"

#define MS 1000000ull
#define ROUNDS 1000

static void start_times(unsigned ncpus)
{
	struct vs_config cfg = { .ncpus = ncpus, .task_times = 1 };

	assert_int_equal(vs_runtime_start(&cfg), 0);
}

static struct vs_stats snap(void)
{
	struct vs_stats s;

	assert_true(vs_stats_get(&s, NULL, 0) > 0);
	return s;
}

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

/* Each failed call leaves what it was given as it was. */
static void test_bad_input(void **state)
{
	struct vs_stats s, same;
	struct vs_task_stats ts, tsame;
	struct vs_cpu_stats cs[2];
	vs_task_t *t;
	int code;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	same = s;
	memset(&ts, 0xa5, sizeof(ts));
	tsame = ts;
	/* no runtime */
	assert_int_equal(vs_stats_get(&s, NULL, 0), -EPERM);
	assert_int_equal(vs_task_stats((vs_task_t *)&s, &ts), -EPERM);
	assert_int_equal(vs_stats_get(NULL, NULL, 0), -EINVAL);
	assert_int_equal(vs_task_id((vs_task_t *)&s), 0);
	start(1);
	assert_int_equal(vs_stats_get(NULL, cs, 2), -EINVAL);
	assert_int_equal(vs_task_stats(NULL, &ts), -EINVAL);
	assert_int_equal(vs_task_stats(vs_task_self(), NULL), -EINVAL);
	/* pointers that are no task of this runtime */
	assert_int_equal(vs_task_stats((vs_task_t *)&s, &ts), -EINVAL);
	assert_int_equal(vs_task_stats((vs_task_t *)((char *)vs_task_self() + 8), &ts), -EINVAL);
	assert_int_equal(vs_task_id((vs_task_t *)((char *)vs_task_self() + 8)), 0);
	assert_memory_equal(&s, &same, sizeof(s));
	assert_memory_equal(&ts, &tsame, sizeof(ts));
	/* a task reclaimed by its join */
	assert_int_equal(vs_task_spawn(nothing, NULL, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(vs_task_stats(t, &ts), -ESRCH);
	assert_memory_equal(&ts, &tsame, sizeof(ts));
	/* fewer CPUs asked for than there are: fine, and the count says how
	 * many there are */
	assert_int_equal(vs_stats_get(&s, cs, 0), 1);
	assert_int_equal(vs_stats_get(&s, NULL, 5), 1);
	assert_true(vs_task_id(vs_task_self()) != 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

struct pair {
	struct vs_wq wq;
	_Atomic int turn;
	struct vs_task_stats mine[2];
	int got[2];
};

static int yielder(void *arg)
{
	struct pair *p = arg;
	int me = atomic_fetch_add(&p->turn, 1);

	for (int i = 0; i < ROUNDS; i++)
		if (vs_task_yield() != 0)
			return 1;
	p->got[me] = vs_task_stats(vs_task_self(), &p->mine[me]);
	return 0;
}

static int sleeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		if (vs_sleep(MS) != 0)
			return 1;
	return 0;
}

static int waiter(void *arg)
{
	struct pair *p = arg;

	for (int i = 0; i < ROUNDS; i++) {
		int t = atomic_load(&p->turn);

		while (atomic_load(&p->turn) == t)
			if (vs_wq_wait(&p->wq) == -ECANCELED)
				return 1;
	}
	return 0;
}

static int notifier(void *arg)
{
	struct pair *p = arg;

	for (int i = 0; i < ROUNDS; i++) {
		atomic_fetch_add(&p->turn, 1);
		(void)vs_wq_notify_all(&p->wq);
		(void)vs_task_yield(); /* the waiter runs, and waits again */
	}
	return 0;
}

static int blocker(void *arg)
{
	return vs_wq_wait(arg);
}

/* On one CPU: counts that known work must make, exactly where it can. */
static void test_counts(void **state)
{
	struct pair p = { .wq = VS_WQ_INIT };
	struct vs_stats a, b;
	struct vs_cpu_stats cs[1];
	vs_task_t *t[8];
	int code;

	(void)state;
	start_times(1);
	a = snap();
	assert_int_equal(a.task_times, 1);
	assert_int_equal(a.ncpus, 1);
	/* two tasks yield ROUNDS times each */
	assert_int_equal(vs_task_spawn(yielder, &p, NULL, &t[0]), 0);
	assert_int_equal(vs_task_spawn(yielder, &p, NULL, &t[1]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	b = snap();
	assert_int_equal(b.total.yields - a.total.yields, 2 * ROUNDS);
	assert_true(b.total.switches - a.total.switches >= 2 * ROUNDS);
	assert_int_equal(b.spawned - a.spawned, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(p.got[i], 0);
		/* switched to once to start, once after each yield */
		assert_true(p.mine[i].switches >= ROUNDS);
		assert_true(p.mine[i].run_ns > 0);
		assert_true(p.mine[i].ready_ns > 0); /* each yield waits for the other */
		assert_int_equal(p.mine[i].state, VS_TASK_RUNNING);
		assert_int_equal(p.mine[i].cpu, 0);
	}
	/* wake-ups on one CPU are local */
	a = b;
	atomic_store(&p.turn, 0);
	assert_int_equal(vs_task_spawn(waiter, &p, NULL, &t[0]), 0);
	(void)vs_task_yield();
	assert_int_equal(vs_task_spawn(notifier, &p, NULL, &t[1]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	b = snap();
	assert_true(b.total.wakes_local - a.total.wakes_local >= ROUNDS / 2);
	assert_int_equal(b.total.wakes_remote, a.total.wakes_remote);
	/* timers */
	assert_int_equal(vs_task_spawn(sleeper, NULL, NULL, &t[0]), 0);
	assert_int_equal(vs_task_join(t[0], &code), 0);
	a = b;
	b = snap();
	assert_true(b.total.timers - a.total.timers >= 10);
	/* tasks by state: 8 blocked, this one running */
	for (int i = 0; i < 8; i++)
		assert_int_equal(vs_task_spawn(blocker, &p.wq, NULL, &t[i]), 0);
	(void)vs_task_yield(); /* each runs and blocks */
	assert_int_equal(vs_stats_get(&b, cs, 1), 1);
	assert_int_equal(b.tasks[VS_TASK_BLOCKED], 8);
	assert_int_equal(b.tasks[VS_TASK_RUNNING], 1);
	assert_int_equal(b.tasks[VS_TASK_READY], 0);
	assert_int_equal(cs[0].state, VS_CPU_RUNNING);
	assert_int_equal(cs[0].current, vs_task_id(vs_task_self()));
	for (int i = 0; i < 8; i++) {
		struct vs_task_stats ts;

		assert_int_equal(vs_task_stats(t[i], &ts), 0);
		assert_int_equal(ts.state, VS_TASK_BLOCKED);
	}
	(void)vs_wq_notify_all(&p.wq);
	assert_int_equal(vs_stats_get(&b, NULL, 0), 1);
	assert_int_equal(b.tasks[VS_TASK_READY], 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(vs_task_join(t[i], &code), 0);
	b = snap();
	assert_int_equal(b.tasks[VS_TASK_BLOCKED] + b.tasks[VS_TASK_READY], 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Without task_times, a task's figures stay 0; the counters still count. */
static void test_no_times(void **state)
{
	struct pair p = { .wq = VS_WQ_INIT };
	vs_task_t *t[2];
	int code;

	(void)state;
	start(1);
	assert_int_equal(snap().task_times, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(vs_task_spawn(yielder, &p, NULL, &t[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(vs_task_join(t[i], &code), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(p.got[i], 0);
		assert_int_equal(p.mine[i].run_ns + p.mine[i].ready_ns + p.mine[i].switches, 0);
	}
	assert_true(snap().total.yields >= 2 * ROUNDS);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Load across two CPUs: tasks that wake each other, and a thread that is
 * no CPU waking one of them. */
static struct vs_wq ring_wq[4] = { VS_WQ_INIT, VS_WQ_INIT, VS_WQ_INIT, VS_WQ_INIT };
static _Atomic int ring_tok[4];
static _Atomic int load_stop;
static _Atomic long outside_woken;

static _Atomic long ring_woken; /* tasks the ring's notifies woke */

static int ring_task(void *arg)
{
	int me = (int)(intptr_t)arg, next = (me + 1) % 4;

	while (!atomic_load(&load_stop)) {
		while (!atomic_load(&ring_tok[me]) && !atomic_load(&load_stop))
			if (vs_wq_wait(&ring_wq[me]) == -ECANCELED)
				return 1;
		atomic_store(&ring_tok[me], 0);
		atomic_store(&ring_tok[next], 1);
		atomic_fetch_add(&ring_woken, vs_wq_notify_all(&ring_wq[next]));
	}
	return 0;
}

static void *outside_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&load_stop)) {
		int n = vs_wq_notify_all(&ring_wq[0]);

		if (n > 0)
			atomic_fetch_add(&outside_woken, n);
		usleep(50);
	}
	return NULL;
}

#define FIELDS 9
static void fields(const struct vs_cpu_stats *c, uint64_t *f)
{
	const uint64_t v[FIELDS] = { c->switches, c->yields, c->parks, c->kicks, c->steals,
				     c->wakes_local, c->wakes_remote, c->timers, c->preempts };

	memcpy(f, v, sizeof(v));
}

/* Under load, sampled from a thread that is no CPU: every counter only
 * grows, and the total is the CPUs' counters plus the outside ones. */
static void test_under_load(void **state)
{
	uint64_t last[2][FIELDS] = { { 0 } };
	long samples = 0;
	vs_task_t *t[4];
	pthread_t th;
	struct vs_stats s;
	uint64_t end;
	int code;

	(void)state;
	start_times(2);
	atomic_store(&load_stop, 0);
	atomic_store(&ring_tok[0], 1);
	atomic_store(&ring_woken, 0);
	atomic_store(&outside_woken, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(vs_task_spawn(ring_task, (void *)(intptr_t)i, NULL, &t[i]), 0);
	assert_int_equal(pthread_create(&th, NULL, outside_thread, NULL), 0);
	end = vs_now() + 300 * MS;
	while (vs_now() < end) {
		struct vs_cpu_stats cs[2], sum;
		uint64_t f[FIELDS], g[FIELDS];

		assert_int_equal(vs_stats_get(&s, cs, 2), 2);
		memset(&sum, 0, sizeof(sum));
		for (int c = 0; c < 2; c++) {
			fields(&cs[c], f);
			for (int k = 0; k < FIELDS; k++) {
				assert_true(f[k] >= last[c][k]);
				last[c][k] = f[k];
			}
		}
		/* the total: each field the CPUs' and outside's sum */
		for (int k = 0; k < FIELDS; k++) {
			uint64_t a[FIELDS], b[FIELDS], o[FIELDS];

			fields(&cs[0], a);
			fields(&cs[1], b);
			fields(&s.outside, o);
			fields(&s.total, g);
			assert_true(g[k] == a[k] + b[k] + o[k]);
		}
		samples++;
		(void)vs_sleep(100000);
	}
	atomic_store(&load_stop, 1);
	pthread_join(th, NULL);
	for (int i = 0; i < 4; i++)
		atomic_fetch_add(&ring_woken, vs_wq_notify_all(&ring_wq[i]));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	s = snap();
	print_message("    %ld samples; switches %llu, wakes local %llu remote %llu outside %llu, "
		      "kicks %llu, parks %llu, steals %llu\n",
		      samples, (unsigned long long)s.total.switches,
		      (unsigned long long)s.total.wakes_local,
		      (unsigned long long)s.total.wakes_remote,
		      (unsigned long long)s.outside.wakes_remote,
		      (unsigned long long)s.total.kicks, (unsigned long long)s.total.parks,
		      (unsigned long long)s.total.steals);
	/* every wake-up is counted once: the ring's and the thread's, plus
	 * at most this task's own (one per sleep, one per join) */
	{
		uint64_t woken = s.total.wakes_local + s.total.wakes_remote;
		uint64_t made = (uint64_t)atomic_load(&ring_woken) +
				(uint64_t)atomic_load(&outside_woken);

		assert_int_equal(s.outside.wakes_remote, atomic_load(&outside_woken));
		assert_true(woken >= made);
		assert_true(woken <= made + (uint64_t)samples + 4);
	}
	assert_int_equal(vs_runtime_stop(), 0);
}

static int spinner(void *arg)
{
	uint64_t end = vs_now() + (uint64_t)(uintptr_t)arg * MS;

	while (vs_now() < end)
		;
	return 0;
}

/* The traced program: a runtime of 2 CPUs for @ms, a task named
 * "spinner" busy all along (under TSan, run as this test's binary with
 * --traced: TSan does not follow a fork that starts threads). */
static int traced_main(unsigned ms)
{
	struct vs_config cfg = { .ncpus = 2 };
	struct vs_task_attr a = { .name = "spinner" };
	vs_task_t *t;
	int code;

	if (vs_runtime_start(&cfg) != 0 ||
	    vs_task_spawn(spinner, (void *)(uintptr_t)ms, &a, &t) != 0 ||
	    vs_task_join(t, &code) != 0)
		return 1;
	return vs_runtime_stop() == 0 ? 0 : 2;
}

/* Runs traced_main with VSCHED_SCHEDTRACE=@env; its stderr, in @out. */
static void traced_child(const char *env, unsigned ms, char *out, size_t len)
{
	int fd[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char arg[16];

		snprintf(arg, sizeof(arg), "%u", ms);
		dup2(fd[1], 2);
		setenv("VSCHED_SCHEDTRACE", env, 1);
#ifdef __SANITIZE_THREAD__
		execl("/proc/self/exe", "test_stats", "--traced", arg, (char *)NULL);
		_exit(127);
#else
		/* elsewhere a fork is enough (and qemu-user cannot exec
		 * /proc/self/exe): its faults are its own, not CMocka's */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		_exit(traced_main(ms));
#endif
	}
	close(fd[1]);
	while (got + 1 < len && (n = read(fd[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		print_message("    the traced program said: %.2000s\n", out);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* VSCHED_SCHEDTRACE: a line per period with the documented fields, and
 * the CPUs' states adding up; a bad value is said, and ignored. */
static void test_schedtrace(void **state)
{
	static char out[1 << 16];
	unsigned lines = 0, named = 0;
	unsigned long long last_ms = 0;

	(void)state;
	traced_child("10", 200, out, sizeof(out));
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long long ms, tasks, ready, blocked, exited, sw, wk, stl, pk;
		unsigned cpus, run, idle, parked, lent, groups = 0;
		int used = 0;
		char *p;

		assert_int_equal(sscanf(l, "SCHED %llums: cpus=%u run=%u idle=%u parked=%u lent=%u "
					   "tasks=%llu ready=%llu blocked=%llu exited=%llu "
					   "switches=+%llu wakes=+%llu steals=+%llu parks=+%llu%n",
					&ms, &cpus, &run, &idle, &parked, &lent, &tasks, &ready,
					&blocked, &exited, &sw, &wk, &stl, &pk, &used),
				 14);
		assert_true(used > 0);
		assert_int_equal(cpus, 2);
		assert_int_equal(run + idle + parked + lent, cpus);
		assert_true(ready + blocked + exited <= tasks);
		assert_true(ms > last_ms);
		last_ms = ms;
		/* then one group per CPU, in order */
		for (p = l + used; (p = strstr(p, " [")); p++) {
			unsigned id, q;
			char st[8];

			assert_int_equal(sscanf(p, " [%u %7s q=%u", &id, st, &q), 3);
			assert_int_equal(id, groups);
			assert_true(!strcmp(st, "run") || !strcmp(st, "idle") ||
				    !strcmp(st, "parked") || !strcmp(st, "lent"));
			groups++;
		}
		assert_int_equal(groups, 2);
		named += strstr(l, " spinner]") != NULL;
		lines++;
	}
	print_message("    %u lines in 200 ms at 10 ms, %u showing the spinner\n", lines, named);
	assert_true(lines >= 5);
	assert_true(named >= 1);
	traced_child("ten", 20, out, sizeof(out));
	assert_non_null(strstr(out, "VSCHED_SCHEDTRACE=ten: not a period"));
	assert_null(strstr(out, "SCHED "));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bad_input, stop_left),
		cmocka_unit_test_teardown(test_counts, stop_left),
		cmocka_unit_test_teardown(test_no_times, stop_left),
		cmocka_unit_test_teardown(test_under_load, stop_left),
		cmocka_unit_test(test_schedtrace),
	};

	if (argc == 3 && !strcmp(argv[1], "--traced"))
		return traced_main((unsigned)atoi(argv[2]));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

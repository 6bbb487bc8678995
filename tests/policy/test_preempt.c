/* SPDX-License-Identifier: MIT */
/*
 * Preemption: with it on, a task spinning without ever yielding does not
 * keep another task on its CPU from running; with it off (or for a task
 * not marked preemptible, or one that disabled it), the same program
 * starves the other task until the spinner gives up by itself. A task
 * switched out by the signal resumes on the thread it left, where the
 * thread-local addresses its registers may hold are still its own. A task
 * that cannot be preempted gets no signal, so its system calls are not cut
 * short (EINTR).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vsched/vs.h"

#define MS 1000000ull

static atomic_int flag;
static uint64_t give_up_ns;
static bool seen;
static int disable;

/* Spins until the flag is set or it gives up; says which came first. */
static int spinner(void *arg)
{
	uint64_t end = vs_now() + give_up_ns;

	(void)arg;
	if (disable)
		vs_preempt_disable();
	while (!atomic_load(&flag) && vs_now() < end)
		;
	seen = atomic_load(&flag);
	if (disable)
		vs_preempt_enable();
	return 0;
}

static int setter(void *arg)
{
	(void)arg;
	atomic_store(&flag, 1);
	return 0;
}

/* One CPU: a spinner, then a task that would end its spinning. */
static bool starves(int preempt, int preemptible, int disabled, uint64_t give_up)
{
	struct vs_config cfg;
	struct vs_task_attr at = { .preemptible = preemptible };
	vs_task_t *s, *t;
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.policy = VS_POLICY_RR;
	cfg.preempt = preempt;
	atomic_store(&flag, 0);
	seen = false;
	disable = disabled;
	give_up_ns = give_up;
	assert_int_equal(vs_runtime_start(&cfg), 0);
	assert_int_equal(vs_task_spawn(spinner, NULL, &at, &s), 0);
	assert_int_equal(vs_task_spawn(setter, NULL, NULL, &t), 0);
	assert_int_equal(vs_task_join(s, &code), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(atomic_load(&flag), 1); /* the setter ran in the end */
	return !seen;
}

static void test_preempt_on(void **state)
{
	(void)state;
	/* switched out after a slice or so: the setter runs long before */
	assert_false(starves(1, 1, 0, 5000 * MS));
}

static void test_preempt_off(void **state)
{
	(void)state;
	/* documented: without preemption the spinner keeps the CPU until it
	 * gives up (here after 300 ms), and the setter waits for that */
	assert_true(starves(0, 1, 0, 300 * MS));
	/* the same with preemption on for the runtime but not the task, and
	 * for a task that disabled it */
	assert_true(starves(1, 0, 0, 300 * MS));
	assert_true(starves(1, 1, 1, 300 * MS));
}

/* -------------------------------------- resumed on another thread */

static __thread pid_t tls_tid;
static atomic_int wrong_tls, moves, done, switched;

/*
 * Holds the address of its thread's tls_tid across the rounds of work in
 * which the signal preempts it, as compiled code may hold any address in
 * its thread's TLS: the address must still be the thread it runs on.
 */
static int roam(void *arg)
{
	int last = vs_cpu_self();
	uint64_t t0 = vs_now(), t1;

	(void)arg;
	while (!atomic_load(&done)) {
		pid_t *volatile mine = &tls_tid; /* kept in memory, not re-derived */
		volatile uint64_t x = 0;
		int now;

		if (!*mine)
			*mine = (pid_t)syscall(SYS_gettid);
		/* mostly its own code, where the signal can switch it out
		 * (not in libc or the runtime, where it cannot) */
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
		if (*mine != (pid_t)syscall(SYS_gettid))
			atomic_fetch_add(&wrong_tls, 1);
		now = vs_cpu_self();
		if (now != last)
			atomic_fetch_add(&moves, 1);
		last = now;
		/* it never blocks or yields: a gap of a slice or more between
		 * two rounds is a preemption */
		t1 = vs_now();
		if (t1 - t0 >= 2 * MS)
			atomic_fetch_add(&switched, 1);
		t0 = t1;
	}
	return 0;
}

/* On CPU 1: blocks often, so that CPU 1 goes idle and would steal tasks
 * preempted on CPU 0 if they were not held there. */
static int napper(void *arg)
{
	(void)arg;
	while (!atomic_load(&done))
		if (vs_sleep(MS) < 0)
			return 1;
	return 0;
}

static void test_resume_same_thread(void **state)
{
	struct vs_config cfg;
	struct vs_task_attr at = { .place = VS_PLACE_CPU, .cpu = 0, .preemptible = 1 };
	struct vs_task_attr on1 = { .place = VS_PLACE_CPU, .cpu = 1, .affinity = 2 };
	vs_task_t *t[4];
	int code;

	(void)state;
	vs_config_default(&cfg);
	cfg.ncpus = 2;
	cfg.policy = VS_POLICY_CFS;
	cfg.preempt = 1;
	atomic_store(&done, 0);
	atomic_store(&wrong_tls, 0);
	atomic_store(&moves, 0);
	atomic_store(&switched, 0);
	assert_int_equal(vs_runtime_start(&cfg), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vs_task_spawn(roam, NULL, &at, &t[i]), 0);
	assert_int_equal(vs_task_spawn(napper, NULL, &on1, &t[3]), 0);
	assert_int_equal(vs_sleep(1000 * MS), 0);
	atomic_store(&done, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	assert_int_equal(vs_runtime_stop(), 0);
	print_message("%d moves between CPUs, %d preemptions, %d wrong thread-local reads\n",
		      atomic_load(&moves), atomic_load(&switched), atomic_load(&wrong_tls));
	assert_int_equal(atomic_load(&wrong_tls), 0);
	assert_true(atomic_load(&switched) > 0);
}

/* ------------------------------------ no signal where none can switch */

static int eintr;

/* Not preemptible: sleeps in the kernel, holding its CPU, for many slices. */
static int kernel_sleeper(void *arg)
{
	struct timespec ts = { 0, 30 * (long)MS };

	(void)arg;
	for (int i = 0; i < 5; i++) {
		if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
			eintr++;
		if (poll(NULL, 0, 30) < 0 && errno == EINTR)
			eintr++;
	}
	return 0;
}

/* Its timer falls due while the CPU is held: overdue, too. */
static int short_sleep(void *arg)
{
	(void)arg;
	return vs_sleep(MS);
}

static void test_no_eintr(void **state)
{
	struct vs_config cfg;
	vs_task_t *s, *t;
	int code;

	(void)state;
	eintr = 0;
	vs_config_default(&cfg);
	cfg.ncpus = 1;
	cfg.policy = VS_POLICY_RR;
	cfg.slice_ns = MS;
	cfg.preempt = 1;
	assert_int_equal(vs_runtime_start(&cfg), 0);
	assert_int_equal(vs_task_spawn(short_sleep, NULL, NULL, &t), 0);
	assert_int_equal(vs_task_yield(), 0); /* t's timer is armed */
	assert_int_equal(vs_task_spawn(kernel_sleeper, NULL, NULL, &s), 0);
	assert_int_equal(vs_task_join(s, &code), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(eintr, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preempt_on),
		cmocka_unit_test(test_preempt_off),
		cmocka_unit_test(test_resume_same_thread),
		cmocka_unit_test(test_no_eintr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

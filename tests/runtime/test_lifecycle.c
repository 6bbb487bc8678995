/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping when things go wrong: two threads starting at once
 * (exactly one wins, the other gets -EBUSY); a CPU thread or the ticking
 * thread that cannot be created (start unwinds, returns the errno and
 * leaves no thread behind); a timer that cannot be armed (-ENOMEM, the
 * task goes on); a task joined twice (-EINVAL, its slot still comes back).
 * pthread_create and realloc are wrapped here to fail on demand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "proc.h"
#include "start.h"
#include "vsched/sync.h"

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

/* ------------------------------------------------ failing on demand */

static atomic_int create_calls, create_fail_at; /* 0: never fail */
static atomic_bool realloc_fails;

typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef void *realloc_fn(void *, size_t);

/* Not instrumented by TSan, whose own thread start calls realloc before
 * the thread is ready for instrumented code. */
#define NOT_TSAN __attribute__((no_sanitize_thread))

NOT_TSAN int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static create_fn *real;

	if (!real)
		real = (create_fn *)dlsym(RTLD_NEXT, "pthread_create");
	if (atomic_fetch_add(&create_calls, 1) + 1 == atomic_load(&create_fail_at))
		return EAGAIN;
	return real(th, attr, fn, arg);
}

NOT_TSAN void *realloc(void *p, size_t n)
{
	static realloc_fn *real;

	if (atomic_load(&realloc_fails))
		return NULL;
	if (!real)
		real = (realloc_fn *)dlsym(RTLD_NEXT, "realloc");
	return real(p, n);
}

static long threads(void)
{
	return proc_kib("/proc/self/status", "Threads");
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

/* A start that works, runs a task on every CPU and stops. */
static void start_works(unsigned ncpus)
{
	vs_task_t *t;
	int code;

	start(ncpus);
	for (unsigned i = 0; i < ncpus; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)i };

		assert_int_equal(vs_task_spawn(ret_arg, (void *)(intptr_t)i, &a, &t), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, (int)i);
	}
	assert_int_equal(vs_runtime_stop(), 0);
}

/* -------------------------------------------------------- the tests */

static pthread_barrier_t both;
static atomic_int winners, busy, others;
static atomic_int loser_done;

static void *starter(void *arg)
{
	struct vs_config cfg;
	int r;

	(void)arg;
	vs_config_default(&cfg);
	cfg.ncpus = 2;
	pthread_barrier_wait(&both);
	r = vs_runtime_start(&cfg);
	if (r == 0) {
		atomic_fetch_add(&winners, 1);
		/* stop only once the other start has answered */
		while (atomic_load(&loser_done) == 0)
			sched_yield();
		if (vs_runtime_stop() != 0)
			atomic_fetch_add(&others, 1);
	} else {
		atomic_fetch_add(r == -EBUSY ? &busy : &others, 1);
		atomic_store(&loser_done, 1);
	}
	return NULL;
}

static void test_start_race(void **state)
{
	unsigned tries = emulated() ? 50 : 200;

	(void)state;
	for (unsigned i = 0; i < tries; i++) {
		pthread_t a, b;

		atomic_store(&loser_done, 0);
		pthread_barrier_init(&both, NULL, 2);
		assert_int_equal(pthread_create(&a, NULL, starter, NULL), 0);
		assert_int_equal(pthread_create(&b, NULL, starter, NULL), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&both);
		assert_int_equal(atomic_load(&winners), i + 1);
		assert_int_equal(atomic_load(&busy), i + 1);
		assert_int_equal(atomic_load(&others), 0);
	}
}

/* CPU thread number @fail (1-based, in creation order) cannot be made. */
static void start_failing(unsigned ncpus, enum vs_policy policy, int fail)
{
	struct vs_config cfg;
	long before = threads();

	vs_config_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.policy = policy;
	atomic_store(&create_calls, 0);
	atomic_store(&create_fail_at, fail);
	assert_int_equal(vs_runtime_start(&cfg), -EAGAIN);
	atomic_store(&create_fail_at, 0);
	assert_int_equal(atomic_load(&create_calls), fail);
	/* nothing left behind: no thread (a joined thread may linger in
	 * /proc for a moment, under qemu-user longer), no runtime */
	for (int i = 0; i < 200 && threads() > before; i++)
		usleep(10000);
	assert_true(threads() <= before);
	assert_null(vs_task_self());
	assert_int_equal(vs_cpu_self(), -1);
	start_works(ncpus);
}

static void test_start_unwinds(void **state)
{
	(void)state;
	start_failing(4, VS_POLICY_FIFO, 1); /* no CPU thread up yet */
	start_failing(4, VS_POLICY_FIFO, 3); /* two up: taken back down */
	start_failing(4, VS_POLICY_RR, 4);   /* all up: the ticking thread */
	start_failing(2, VS_POLICY_CFS, 2);
}

static int sleeper(void *arg)
{
	return vs_sleep((uint64_t)(uintptr_t)arg);
}

static struct vs_mutex held_mx = VS_MUTEX_INIT;

static int lock_timed(void *arg)
{
	(void)arg;
	return vs_mutex_lock_until(&held_mx, vs_deadline_in(10ull * 1000000000u));
}

/* One CPU, so every timer is armed on its heap: the first 64 fit the
 * heap's first allocation, the next needs it to grow. */
static void test_timer_nomem(void **state)
{
	enum { FIT = 64 };
	vs_task_t *t[FIT], *u;
	struct vs_wq wq = VS_WQ_INIT;
	int code;

	(void)state;
	start(1);
	for (int i = 0; i < FIT; i++)
		assert_int_equal(vs_task_spawn(sleeper, (void *)(uintptr_t)(60ull * 1000000000u),
					       NULL, &t[i]), 0);
	assert_int_equal(vs_task_yield(), 0); /* all of them asleep */
	assert_int_equal(vs_mutex_lock(&held_mx), 0);
	atomic_store(&realloc_fails, true);
	/* each timed call says so, and goes on without a timer */
	assert_int_equal(vs_sleep(1000000000u), -ENOMEM);
	assert_int_equal(vs_wq_wait_until(&wq, vs_deadline_in(1000000000u)), -ENOMEM);
	assert_int_equal(vs_task_spawn(lock_timed, NULL, NULL, &u), 0);
	assert_int_equal(vs_task_join(u, &code), 0);
	assert_int_equal(code, -ENOMEM);
	atomic_store(&realloc_fails, false);
	assert_int_equal(vs_mutex_unlock(&held_mx), 0);
	/* with memory back, timers work, and the mutex is free */
	assert_int_equal(vs_sleep(1000), 0);
	assert_int_equal(vs_wq_wait_until(&wq, vs_deadline_in(1000)), -ETIMEDOUT);
	assert_int_equal(vs_task_spawn(lock_timed, NULL, NULL, &u), 0);
	assert_int_equal(vs_task_join(u, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(vs_mutex_unlock(&held_mx), -EPERM); /* u's, not ours */
	/* the sleepers are still asleep, and cancelled at stop */
	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
}

/* A table of 16 slots: a handle joined twice must not keep (or free
 * twice) its slot, or spawning would soon find the table full. */
static void test_join_twice(void **state)
{
	struct vs_config cfg;
	vs_task_t *t;
	int code;

	(void)state;
	vs_config_default(&cfg);
	cfg.ncpus = 2;
	cfg.max_tasks = 16;
	assert_int_equal(vs_runtime_start(&cfg), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(vs_task_spawn(ret_arg, (void *)(intptr_t)i, NULL, &t), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, i);
		code = -1;
		assert_int_equal(vs_task_join(t, &code), -EINVAL);
		assert_int_equal(code, -1); /* nothing written */
		assert_int_equal(vs_task_detach(t), -EINVAL);
	}
	assert_int_equal(vs_runtime_stop(), 0);
}

/* A failed test leaves its failures armed and its runtime up. */
static int reset(void **state)
{
	atomic_store(&realloc_fails, false);
	atomic_store(&create_fail_at, 0);
	return stop_left(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_start_race, reset),
		cmocka_unit_test_teardown(test_start_unwinds, reset),
		cmocka_unit_test_teardown(test_timer_nomem, reset),
		cmocka_unit_test_teardown(test_join_twice, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

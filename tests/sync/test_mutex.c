/* SPDX-License-Identifier: MIT */
/*
 * The mutex: a running task takes a free mutex ahead of waiters; a waiter
 * that has waited 1 ms turns it to hand-off, and under hammering a waiter
 * gets it within a bound; under contention across two CPUs and a plain
 * thread nothing is lost and no two holders overlap.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "sync_common.h"

/*
 * Normal mode, on one CPU so the order is fixed: waiters queue A, B, C;
 * the holder's unlock frees the mutex and wakes A, and a task still
 * running (the unlocker) may take it again at once, ahead of A, with no
 * switch. Every waiter gets it once in the end.
 */
static struct vs_mutex fifo_m;
static int fifo_order[3], fifo_n;

static int fifo_locker(void *arg)
{
	EXPECT(vs_mutex_lock(&fifo_m) == 0);
	fifo_order[fifo_n++] = (int)(intptr_t)arg;
	EXPECT(vs_mutex_unlock(&fifo_m) == 0);
	return 0;
}

static void test_mutex_barging(void **state)
{
	vs_task_t *t[3];
	int seen = 0;

	(void)state;
	start(1);
	vs_mutex_init(&fifo_m);
	fifo_n = 0;
	assert_int_equal(vs_mutex_lock(&fifo_m), 0);
	for (intptr_t i = 0; i < 3; i++)
		t[i] = spawn_on(fifo_locker, (void *)i, 0);
	yield_n(3); /* each runs and queues on the mutex */
	assert_int_equal(fifo_n, 0);
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
	assert_int_equal(vs_mutex_try_lock(&fifo_m), 0); /* free: taken again */
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
	for (int i = 0; i < 3; i++)
		join_expect(t[i], 0);
	assert_int_equal(fifo_n, 3);
	for (int i = 0; i < 3; i++)
		seen |= 1 << fifo_order[i];
	assert_int_equal(seen, 7);
	assert_int_equal(vs_mutex_try_lock(&fifo_m), 0);
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
	stop();
}

/*
 * Starvation mode, on one CPU: A waits while the holder keeps the mutex
 * over 1 ms, is woken by an unlock and loses it to the holder, which took
 * it back at once. Having waited 1 ms, A turns the mutex to hand-off:
 * the next unlock makes A the holder (nobody can take it, not even the
 * unlocker), and once A lets go with nobody queued it is free again.
 */
static int starve_got;

static int starve_waiter(void *arg)
{
	(void)arg;
	EXPECT(vs_mutex_lock(&fifo_m) == 0);
	starve_got = 1;
	EXPECT(vs_mutex_unlock(&fifo_m) == 0);
	return 0;
}

static void test_mutex_starvation(void **state)
{
	vs_task_t *a;
	uint64_t t0;

	(void)state;
	start(1);
	vs_mutex_init(&fifo_m);
	starve_got = 0;
	assert_int_equal(vs_mutex_lock(&fifo_m), 0);
	a = spawn_on(starve_waiter, NULL, 0);
	yield_n(1); /* A queues */
	for (t0 = vs_now(); vs_now() - t0 < 2000000;) /* hold it 2 ms */
		;
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0); /* A is woken */
	assert_int_equal(vs_mutex_try_lock(&fifo_m), 0); /* and loses */
	yield_n(1); /* A runs, finds it held, and asks for hand-off */
	assert_int_equal(starve_got, 0);
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0); /* handed to A */
	assert_int_equal(vs_mutex_try_lock(&fifo_m), -EAGAIN);
	join_expect(a, 0);
	assert_int_equal(starve_got, 1);
	assert_int_equal(vs_mutex_try_lock(&fifo_m), 0); /* normal again */
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
	stop();
}

/*
 * The bound under hammering: tasks pinned to CPU 0 take the mutex over
 * and over (a 2 us hold, then at once again), for 1.5 s; a task pinned to
 * CPU 1 takes it now and then. Woken by an unlock, it needs a moment to
 * run, and by then the hammer has the mutex again: it can only win by
 * hand-off, which it asks for once it has waited 1 ms. So each of its
 * waits ends within about 1 ms plus the time to wake it, not when the
 * hammering stops. Bounded generously: 250 ms (1 s under qemu), where
 * without hand-off its first wait lasts the whole run.
 */
#define HAMMERS 2
static struct vs_mutex fair_m;
static uint64_t fair_until, fair_worst;
static int fair_turns;

static int hammer(void *arg)
{
	(void)arg;
	while (vs_now() < fair_until) {
		uint64_t t0;

		EXPECT(vs_mutex_lock(&fair_m) == 0);
		for (t0 = vs_now(); vs_now() - t0 < 2000;) /* 2 us held */
			;
		EXPECT(vs_mutex_unlock(&fair_m) == 0);
	}
	return 0;
}

static int fair_victim(void *arg)
{
	(void)arg;
	while (vs_now() < fair_until) {
		uint64_t t0 = vs_now(), w;

		EXPECT(vs_mutex_lock(&fair_m) == 0);
		w = vs_now() - t0;
		if (w > fair_worst)
			fair_worst = w;
		fair_turns++;
		EXPECT(vs_mutex_unlock(&fair_m) == 0);
		EXPECT(vs_sleep(200000) == 0); /* 0.2 ms */
	}
	return 0;
}

static vs_task_t *spawn_pinned(vs_task_fn fn, int cpu)
{
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = cpu, .affinity = 1ull << cpu };
	vs_task_t *t = NULL;

	assert_int_equal(vs_task_spawn(fn, NULL, &a, &t), 0);
	return t;
}

static void test_mutex_bound(void **state)
{
	vs_task_t *h[HAMMERS], *v;

	(void)state;
	start(2);
	vs_mutex_init(&fair_m);
	fair_worst = 0;
	fair_turns = 0;
	fair_until = vs_now() + (uint64_t)scaled(1500, 3000) * 1000000u;
	for (int i = 0; i < HAMMERS; i++)
		h[i] = spawn_pinned(hammer, 0);
	v = spawn_pinned(fair_victim, 1);
	join_expect(v, 0);
	for (int i = 0; i < HAMMERS; i++)
		join_expect(h[i], 0);
	print_message("%d turns, the worst wait %.2f ms\n", fair_turns, (double)fair_worst / 1e6);
	assert_true(fair_turns > 1);
	assert_true(fair_worst < (uint64_t)scaled(250, 1000) * 1000000u);
	stop();
}

/*
 * N tasks on two CPUs and a plain thread add to a plain counter under
 * one mutex, the tasks sometimes yielding while they hold it so that
 * others pile up behind: the total is exact and nobody was ever inside
 * together with another holder.
 */
static struct vs_mutex count_m = VS_MUTEX_INIT;
static long counter;
static atomic_int inside;
static int rounds;

static void critical(bool may_yield, int i)
{
	if (atomic_fetch_add(&inside, 1) != 0)
		atomic_fetch_add(&errors, 1);
	counter = counter + 1;
	if (may_yield && i % 8 == 0)
		EXPECT(vs_task_yield() == 0);
	atomic_fetch_sub(&inside, 1);
}

static int locker(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		EXPECT(vs_mutex_lock(&count_m) == 0);
		critical(true, i);
		EXPECT(vs_mutex_unlock(&count_m) == 0);
	}
	return 0;
}

static void *thread_locker(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds / 8; i++) {
		while (vs_mutex_try_lock(&count_m) == -EAGAIN)
			sched_yield();
		critical(false, i);
		EXPECT(vs_mutex_unlock(&count_m) == 0);
	}
	return NULL;
}

static void test_mutex_contention(void **state)
{
	vs_task_t *t[LOCKERS];
	pthread_t th;

	(void)state;
	rounds = scaled(50000, 1000);
	counter = 0;
	atomic_store(&inside, 0);
	start(2);
	assert_int_equal(pthread_create(&th, NULL, thread_locker, NULL), 0);
	for (int i = 0; i < LOCKERS; i++)
		t[i] = spawn_on(locker, NULL, i % 2);
	for (int i = 0; i < LOCKERS; i++)
		join_expect(t[i], 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(counter, (long)LOCKERS * rounds + rounds / 8);
	assert_int_equal(vs_mutex_try_lock(&count_m), 0);
	assert_int_equal(vs_mutex_unlock(&count_m), 0);
	stop();
}

/*
 * A mutex left locked by a task that exited stays held by that task: a
 * new task, even one that reuses its slot and record, is not its holder
 * (unlock says -EPERM, lock waits and times out, not -EDEADLK).
 */
static struct vs_mutex orphan_m;

static int lock_and_exit(void *arg)
{
	(void)arg;
	return vs_mutex_lock(&orphan_m);
}

static int try_orphan(void *arg)
{
	(void)arg;
	EXPECT(vs_mutex_unlock(&orphan_m) == -EPERM);
	EXPECT(vs_mutex_try_lock(&orphan_m) == -EAGAIN);
	EXPECT(vs_mutex_lock_until(&orphan_m, vs_deadline_in(1000000)) == -ETIMEDOUT);
	return vs_task_self() == *(vs_task_t **)arg; /* its record reused */
}

static void test_mutex_orphan(void **state)
{
	vs_task_t *t, *u;
	int reused = 0;

	(void)state;
	start(1);
	vs_mutex_init(&orphan_m);
	t = spawn_on(lock_and_exit, NULL, 0);
	join_expect(t, 0);
	/* the one free slot is the exited task's: the next spawns take it */
	for (int i = 0; i < 8; i++) {
		int code = -1;

		u = spawn_on(try_orphan, &t, 0);
		assert_int_equal(vs_task_join(u, &code), 0);
		reused += code;
	}
	assert_true(reused > 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutex_barging),
		cmocka_unit_test(test_mutex_starvation),
		cmocka_unit_test(test_mutex_bound),
		cmocka_unit_test(test_mutex_contention),
		cmocka_unit_test(test_mutex_orphan),
	};

	if (getenv("VSCHED_TEST_FILTER")) /* one test, by name (a glob) */
		cmocka_set_test_filter(getenv("VSCHED_TEST_FILTER"));
	return cmocka_run_group_tests_name("sync-mutex", tests, NULL, NULL);
}

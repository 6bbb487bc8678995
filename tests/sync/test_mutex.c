/* SPDX-License-Identifier: MIT */
/*
 * The mutex: hand-off in the order asked, and under contention across
 * two CPUs and a plain thread nothing is lost and no two holders overlap.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "sync_common.h"

/*
 * Hand-off, on one CPU so the order is fixed: waiters queue A, B, C; the
 * holder's unlock gives the mutex to A at once, so even the unlocker
 * cannot take it back, and they get it in the order they asked.
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

static void test_mutex_handoff(void **state)
{
	vs_task_t *t[3];

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
	assert_int_equal(vs_mutex_try_lock(&fifo_m), -EAGAIN); /* A holds it */
	for (int i = 0; i < 3; i++)
		join_expect(t[i], 0);
	assert_int_equal(fifo_n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fifo_order[i], i);
	assert_int_equal(vs_mutex_try_lock(&fifo_m), 0);
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
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
		cmocka_unit_test(test_mutex_handoff),
		cmocka_unit_test(test_mutex_contention),
		cmocka_unit_test(test_mutex_orphan),
	};

	return cmocka_run_group_tests_name("sync-mutex", tests, NULL, NULL);
}

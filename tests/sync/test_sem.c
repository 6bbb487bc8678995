/* SPDX-License-Identifier: MIT */
/*
 * The semaphore: never more holders than units, the counting ceiling, and
 * a task asleep on it woken by a plain thread.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "sync_common.h"

/*
 * K units, N tasks on two CPUs holding one each across a yield: never
 * more than K holders at once, and K is reached.
 */
#define UNITS 3

static struct vs_sem units;
static atomic_int holders, max_holders;
static int rounds;

static int sem_user(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		int n, m;

		EXPECT(vs_sem_wait(&units) == 0);
		n = atomic_fetch_add(&holders, 1) + 1;
		EXPECT(n <= UNITS);
		m = atomic_load(&max_holders);
		while (n > m && !atomic_compare_exchange_weak(&max_holders, &m, n))
			;
		EXPECT(vs_task_yield() == 0);
		atomic_fetch_sub(&holders, 1);
		EXPECT(vs_sem_post(&units) == 0);
	}
	return 0;
}

static struct vs_sem gate;

static int gate_waiter(void *arg)
{
	(void)arg;
	return vs_sem_wait(&gate) == 0 ? 9 : -1;
}

static void *gate_poster(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)vs_sem_post(&gate);
}

static void test_sem(void **state)
{
	struct vs_sem big;
	vs_task_t *t[LOCKERS], *g;
	pthread_t th;
	void *res;

	(void)state;
	rounds = scaled(10000, 500);
	atomic_store(&holders, 0);
	atomic_store(&max_holders, 0);
	start(2);
	assert_int_equal(vs_sem_init(&units, UNITS), 0);
	for (int i = 0; i < LOCKERS; i++)
		t[i] = spawn_on(sem_user, NULL, i % 2);
	for (int i = 0; i < LOCKERS; i++)
		join_expect(t[i], 0);
	assert_int_equal(atomic_load(&max_holders), UNITS);
	assert_int_equal(vs_sem_value(&units), UNITS);

	/* counting without blocking; the ceiling */
	for (int i = 0; i < UNITS; i++)
		assert_int_equal(vs_sem_try_wait(&units), 0);
	assert_int_equal(vs_sem_try_wait(&units), -EAGAIN);
	assert_int_equal(vs_sem_value(&units), 0);
	assert_int_equal(vs_sem_init(&big, INT_MAX - 1), 0);
	assert_int_equal(vs_sem_post(&big), 0);
	assert_int_equal(vs_sem_post(&big), -EOVERFLOW);
	assert_int_equal(vs_sem_value(&big), INT_MAX);

	/* a task asleep on an empty semaphore, woken by a plain thread */
	assert_int_equal(vs_sem_init(&gate, 0), 0);
	g = spawn_on(gate_waiter, NULL, 1);
	/* peeks at a private field, to post only once it is going to sleep */
	while (__atomic_load_n(&gate.sleepers, __ATOMIC_RELAXED) == 0)
		yield_n(1);
	assert_int_equal(pthread_create(&th, NULL, gate_poster, NULL), 0);
	join_expect(g, 9);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	assert_int_equal(vs_sem_value(&gate), 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sem),
	};

	return cmocka_run_group_tests_name("sync-sem", tests, NULL, NULL);
}

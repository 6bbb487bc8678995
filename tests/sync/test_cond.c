/* SPDX-License-Identifier: MIT */
/*
 * The condition variable: a bounded buffer across two CPUs takes every
 * item once; signal wakes one waiter, broadcast all of them.
 */
#include <errno.h>

#include "sync_common.h"

/*
 * A bounded buffer made of a mutex and two conditions, two producers and
 * two consumers on two CPUs: every item is taken exactly once.
 */
#define BUF 4

static struct vs_mutex pc_m;
static struct vs_cond pc_not_full, pc_not_empty;
static int pc_buf[BUF], pc_head, pc_count, pc_items;
static bool pc_done;
static atomic_int *pc_seen;
static atomic_long pc_sum;

static int cond_producer(void *arg)
{
	int base = (int)(intptr_t)arg * pc_items;

	for (int i = 0; i < pc_items; i++) {
		EXPECT(vs_mutex_lock(&pc_m) == 0);
		while (pc_count == BUF)
			EXPECT(vs_cond_wait(&pc_not_full, &pc_m) == 0);
		pc_buf[(pc_head + pc_count++) % BUF] = base + i;
		EXPECT(vs_cond_signal(&pc_not_empty) == 0);
		EXPECT(vs_mutex_unlock(&pc_m) == 0);
	}
	return 0;
}

static int cond_consumer(void *arg)
{
	int got = 0;

	(void)arg;
	for (;;) {
		int v;

		EXPECT(vs_mutex_lock(&pc_m) == 0);
		while (pc_count == 0 && !pc_done)
			EXPECT(vs_cond_wait(&pc_not_empty, &pc_m) == 0);
		if (pc_count == 0) {
			EXPECT(vs_mutex_unlock(&pc_m) == 0);
			return got;
		}
		v = pc_buf[pc_head];
		pc_head = (pc_head + 1) % BUF;
		pc_count--;
		EXPECT(vs_cond_signal(&pc_not_full) == 0);
		EXPECT(vs_mutex_unlock(&pc_m) == 0);
		atomic_fetch_add(&pc_seen[v], 1);
		atomic_fetch_add(&pc_sum, v);
		got++;
	}
}

static void test_cond_producer_consumer(void **state)
{
	vs_task_t *p[2], *c[2];
	int total, got = 0, code;

	(void)state;
	pc_items = scaled(50000, 2000);
	total = 2 * pc_items;
	pc_seen = calloc((size_t)total, sizeof(*pc_seen));
	assert_non_null(pc_seen);
	vs_mutex_init(&pc_m);
	vs_cond_init(&pc_not_full);
	vs_cond_init(&pc_not_empty);
	pc_head = pc_count = 0;
	pc_done = false;
	atomic_store(&pc_sum, 0);
	start(2);
	for (int i = 0; i < 2; i++) {
		c[i] = spawn_on(cond_consumer, NULL, i);
		p[i] = spawn_on(cond_producer, (void *)(intptr_t)i, 1 - i);
	}
	for (int i = 0; i < 2; i++)
		join_expect(p[i], 0);
	assert_int_equal(vs_mutex_lock(&pc_m), 0);
	pc_done = true;
	assert_int_equal(vs_cond_broadcast(&pc_not_empty), 0);
	assert_int_equal(vs_mutex_unlock(&pc_m), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vs_task_join(c[i], &code), 0);
		got += code;
	}
	assert_int_equal(got, total);
	assert_int_equal(atomic_load(&pc_sum), (long)total * (total - 1) / 2);
	for (int v = 0; v < total; v++)
		assert_int_equal(atomic_load(&pc_seen[v]), 1);
	free(pc_seen);
	stop();
}

/*
 * Signal wakes one waiter, broadcast all of them; on one CPU, so every
 * waiter is asleep before the first task runs again.
 */
#define SLEEPERS 4

static struct vs_mutex sb_m;
static struct vs_cond sb_cv;
static int sb_waiting, sb_wakeups, sb_tickets, sb_done;

static int ticket_waiter(void *arg)
{
	(void)arg;
	EXPECT(vs_mutex_lock(&sb_m) == 0);
	sb_waiting++;
	do {
		EXPECT(vs_cond_wait(&sb_cv, &sb_m) == 0);
		sb_wakeups++;
	} while (sb_tickets == 0);
	sb_tickets--;
	sb_done++;
	EXPECT(vs_mutex_unlock(&sb_m) == 0);
	return 0;
}

static void test_cond_signal_broadcast(void **state)
{
	vs_task_t *t[SLEEPERS];

	(void)state;
	vs_mutex_init(&sb_m);
	vs_cond_init(&sb_cv);
	sb_waiting = sb_wakeups = sb_tickets = sb_done = 0;
	start(1);
	assert_int_equal(vs_cond_signal(&sb_cv), 0); /* nobody waits: no effect */
	for (int i = 0; i < SLEEPERS; i++)
		t[i] = spawn_on(ticket_waiter, NULL, 0);
	yield_n(3);
	assert_int_equal(sb_waiting, SLEEPERS);
	assert_int_equal(sb_wakeups, 0);

	assert_int_equal(vs_mutex_lock(&sb_m), 0);
	sb_tickets = 1;
	assert_int_equal(vs_cond_signal(&sb_cv), 0);
	assert_int_equal(vs_mutex_unlock(&sb_m), 0);
	yield_n(5);
	assert_int_equal(sb_wakeups, 1);
	assert_int_equal(sb_done, 1);

	assert_int_equal(vs_mutex_lock(&sb_m), 0);
	sb_tickets = SLEEPERS - 1;
	assert_int_equal(vs_cond_broadcast(&sb_cv), 0);
	assert_int_equal(vs_mutex_unlock(&sb_m), 0);
	yield_n(5);
	assert_int_equal(sb_done, SLEEPERS);
	assert_int_equal(sb_wakeups, SLEEPERS);
	for (int i = 0; i < SLEEPERS; i++)
		join_expect(t[i], 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cond_producer_consumer),
		cmocka_unit_test(test_cond_signal_broadcast),
	};

	return cmocka_run_group_tests_name("sync-cond", tests, NULL, NULL);
}

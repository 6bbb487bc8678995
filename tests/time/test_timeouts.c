/* SPDX-License-Identifier: MIT */
/*
 * Timeouts on the synchronisation primitives and on stackless waits: each
 * gives up no earlier than asked, changes nothing when it does, and still
 * succeeds when what it waits for comes in time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "vsched/sync.h"
#include "vsched/vs.h"

#include "start.h"

#define MS 1000000ull
#define LONG_NS (60000 * MS)

static void test_misuse(void **state)
{
	struct vs_mutex m = VS_MUTEX_INIT;
	struct vs_cond cv;
	struct vs_sem s;
	struct vs_wq wq = VS_WQ_INIT;

	(void)state;
	vs_cond_init(&cv);
	assert_int_equal(vs_sem_init(&s, 0), 0);
	assert_int_equal(vs_mutex_lock_until(&m, vs_deadline_in(MS)), -EPERM);
	assert_int_equal(vs_sem_wait_until(&s, vs_deadline_in(MS)), -EPERM);
	start(1);
	assert_int_equal(vs_mutex_lock_until(NULL, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_sem_wait_until(NULL, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_cond_wait_until(NULL, &m, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_cond_wait_until(&cv, NULL, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_cond_wait_until(&cv, &m, vs_deadline_in(MS)), -EPERM); /* not held */
	/* stackless only */
	assert_int_equal(vs_wq_wait_pred_until_poll(&wq, NULL, NULL, 0), -EINVAL);
	assert_int_equal(vs_wq_wait_pred_until_poll(NULL, NULL, NULL, 0), -EINVAL);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ------------------------------------------------------------ mutex */

static struct vs_mutex mx = VS_MUTEX_INIT;
static struct vs_sem sem;
static struct vs_cond cv;
static int res, res2;
static uint64_t waited;

static int lock_briefly(void *arg)
{
	uint64_t t0 = vs_now();

	res = vs_mutex_lock_until(&mx, vs_deadline_in((uint64_t)(uintptr_t)arg));
	waited = vs_now() - t0;
	if (res == 0)
		res2 = vs_mutex_unlock(&mx);
	return 0;
}

static void test_mutex_timeout(void **state)
{
	vs_task_t *t;
	int code;

	(void)state;
	start(2);
	vs_mutex_init(&mx);
	assert_int_equal(vs_mutex_lock(&mx), 0);
	res = 1;
	assert_int_equal(vs_task_spawn(lock_briefly, (void *)(uintptr_t)(20 * MS), NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, -ETIMEDOUT);
	assert_true(waited >= 20 * MS);
	/* still ours, and still works after the waiter gave up */
	assert_int_equal(vs_mutex_try_lock(&mx), -EAGAIN);
	assert_int_equal(vs_mutex_unlock(&mx), 0);
	assert_int_equal(vs_mutex_lock(&mx), 0);

	/* in time: handed over while the timer is still pending */
	res = res2 = 1;
	assert_int_equal(vs_task_spawn(lock_briefly, (void *)(uintptr_t)LONG_NS, NULL, &t), 0);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_mutex_unlock(&mx), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, 0);
	assert_int_equal(res2, 0);
	assert_int_equal(vs_mutex_try_lock(&mx), 0);
	assert_int_equal(vs_mutex_unlock(&mx), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* -------------------------------------------------------- semaphore */

static int take_briefly(void *arg)
{
	uint64_t t0 = vs_now();

	res = vs_sem_wait_until(&sem, vs_deadline_in((uint64_t)(uintptr_t)arg));
	waited = vs_now() - t0;
	return 0;
}

static void test_sem_timeout(void **state)
{
	vs_task_t *t;
	int code;

	(void)state;
	start(2);
	assert_int_equal(vs_sem_init(&sem, 0), 0);
	assert_int_equal(vs_task_spawn(take_briefly, (void *)(uintptr_t)(20 * MS), NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, -ETIMEDOUT);
	assert_true(waited >= 20 * MS);
	assert_int_equal(vs_sem_value(&sem), 0); /* took nothing */

	assert_int_equal(vs_task_spawn(take_briefly, (void *)(uintptr_t)LONG_NS, NULL, &t), 0);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_sem_post(&sem), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, 0);
	assert_int_equal(vs_sem_value(&sem), 0); /* took the one unit */
	assert_int_equal(vs_runtime_stop(), 0);
}

/* -------------------------------------------------------- condition */

static int cond_briefly(void *arg)
{
	uint64_t t0 = vs_now();

	if (vs_mutex_lock(&mx) < 0)
		return 1;
	res = vs_cond_wait_until(&cv, &mx, vs_deadline_in((uint64_t)(uintptr_t)arg));
	waited = vs_now() - t0;
	res2 = vs_mutex_unlock(&mx); /* held again whatever happened */
	return 0;
}

static void test_cond_timeout(void **state)
{
	vs_task_t *t;
	int code;

	(void)state;
	start(2);
	vs_mutex_init(&mx);
	vs_cond_init(&cv);
	res = res2 = 1;
	assert_int_equal(vs_task_spawn(cond_briefly, (void *)(uintptr_t)(20 * MS), NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, -ETIMEDOUT);
	assert_int_equal(res2, 0);
	assert_true(waited >= 20 * MS);

	res = res2 = 1;
	assert_int_equal(vs_task_spawn(cond_briefly, (void *)(uintptr_t)LONG_NS, NULL, &t), 0);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_mutex_lock(&mx), 0);
	assert_int_equal(vs_cond_signal(&cv), 0);
	assert_int_equal(vs_mutex_unlock(&mx), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(res, 0);
	assert_int_equal(res2, 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ---------------------------------------------- stackless deadlines */

static struct vs_wq gate_wq = VS_WQ_INIT;
static atomic_int gate;

static bool gate_open(void *arg)
{
	(void)arg;
	return atomic_load(&gate) != 0;
}

struct dl {
	uint64_t t0, deadline;
	int polls, r;
};

static enum vs_poll wait_gate(void *state, int *code)
{
	struct dl *d = state;
	int r;

	d->polls++;
	r = vs_wq_wait_pred_until_poll(&gate_wq, gate_open, NULL, d->deadline);
	if (r == -EAGAIN)
		return VS_PENDING;
	d->r = r;
	*code = (int)((vs_now() - d->t0) / MS);
	return VS_READY;
}

static void test_stackless_deadline(void **state)
{
	struct dl late, timely;
	vs_task_t *t;
	int ms = -1;

	(void)state;
	start(2);
	atomic_store(&gate, 0);
	late = (struct dl){ .t0 = vs_now(), .deadline = vs_now() + 20 * MS, .r = 1 };
	assert_int_equal(vs_task_spawn_poll(wait_gate, &late, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &ms), 0);
	print_message("gave up after %d ms, %d polls\n", ms, late.polls);
	assert_int_equal(late.r, -ETIMEDOUT);
	assert_true(ms >= 20);
	assert_true(late.polls <= 3); /* woken by its timer, not polled in a loop */

	timely = (struct dl){ .t0 = vs_now(), .deadline = vs_now() + LONG_NS, .r = 1 };
	assert_int_equal(vs_task_spawn_poll(wait_gate, &timely, NULL, &t), 0);
	assert_int_equal(vs_sleep(5 * MS), 0);
	atomic_store(&gate, 1);
	assert_int_equal(vs_wq_notify_all(&gate_wq), 1);
	assert_int_equal(vs_task_join(t, &ms), 0);
	assert_int_equal(timely.r, 0);
	assert_int_equal(timely.polls, 2);
	assert_int_equal(vs_runtime_stop(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_mutex_timeout),
		cmocka_unit_test(test_sem_timeout),
		cmocka_unit_test(test_cond_timeout),
		cmocka_unit_test(test_stackless_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

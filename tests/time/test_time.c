/* SPDX-License-Identifier: MIT */
/*
 * Time: sleeps last at least as long as asked and wake in deadline order;
 * waits time out, or are notified, exactly once each, even when both race;
 * stale timers outlive their waits and tasks safely; an idle CPU sleeps
 * until the next timer instead of spinning, and fires the timers of a CPU
 * that a spinning task keeps from firing them.
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
#include <sys/resource.h>

#include "vsched/sync.h"
#include "vsched/vs.h"

#include "start.h"

#define MS 1000000ull

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static void test_misuse(void **state)
{
	struct vs_wq wq = VS_WQ_INIT;

	(void)state;
	assert_int_equal(vs_sleep(1), -EPERM);
	assert_int_equal(vs_sleep_until_poll(vs_now() + MS), -EPERM);
	assert_int_equal(vs_wq_wait_until(&wq, vs_deadline_in(MS)), -EPERM);
	start(1);
	assert_int_equal(vs_wq_wait_until(NULL, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_wq_wait_pred_until(&wq, NULL, NULL, vs_deadline_in(MS)), -EINVAL);
	assert_int_equal(vs_sleep_until_poll(vs_now() + MS), -EPERM); /* stackful */
	assert_int_equal(vs_sleep(0), 0);
	assert_int_equal(vs_sleep_until(vs_now() - 1), 0); /* past: at once */
	assert_int_equal(vs_runtime_stop(), 0);
}

static void test_sleep_lasts(void **state)
{
	uint64_t t0;

	(void)state;
	start(2);
	t0 = vs_now();
	assert_int_equal(vs_sleep(20 * MS), 0);
	assert_true(vs_now() - t0 >= 20 * MS);
	t0 = vs_now();
	assert_int_equal(vs_sleep_until(t0 + 5 * MS), 0);
	assert_true(vs_now() >= t0 + 5 * MS);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Tasks spawned in a scrambled order wake in the order of their deadlines. */
#define NS 8
static atomic_int woke[NS], nwoke;
static uint64_t base;

static int sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;

	if (vs_sleep_until(base + (uint64_t)(i + 1) * 15 * MS) != 0)
		return -1;
	woke[atomic_fetch_add(&nwoke, 1)] = i;
	return 0;
}

static void deadline_order(unsigned ncpus)
{
	static const int scramble[NS] = { 5, 2, 7, 0, 3, 6, 1, 4 };
	vs_task_t *t[NS];
	int code;

	atomic_store(&nwoke, 0);
	start(ncpus);
	base = vs_now();
	for (int k = 0; k < NS; k++)
		assert_int_equal(vs_task_spawn(sleeper, (void *)(intptr_t)scramble[k], NULL, &t[k]), 0);
	for (int k = 0; k < NS; k++) {
		assert_int_equal(vs_task_join(t[k], &code), 0);
		assert_int_equal(code, 0);
	}
	for (int i = 0; i < NS; i++)
		assert_int_equal(woke[i], i);
	assert_int_equal(vs_runtime_stop(), 0);
}

static void test_deadline_order_1cpu(void **state)
{
	(void)state;
	deadline_order(1);
}

static void test_deadline_order_2cpu(void **state)
{
	(void)state;
	deadline_order(2);
}

static struct vs_wq twq = VS_WQ_INIT;

static void test_wait_timeout(void **state)
{
	uint64_t t0;

	(void)state;
	start(2);
	t0 = vs_now();
	assert_int_equal(vs_wq_wait_until(&twq, vs_deadline_in(10 * MS)), -ETIMEDOUT);
	assert_true(vs_now() - t0 >= 10 * MS);
	assert_int_equal(vs_wq_notify_one(&twq), 0); /* it left the queue */
	assert_int_equal(vs_runtime_stop(), 0);
}

static atomic_int flag;

static bool flag_set(void *arg)
{
	(void)arg;
	return atomic_load(&flag) != 0;
}

static int set_flag_later(void *arg)
{
	(void)arg;
	if (vs_sleep(5 * MS) != 0)
		return -1;
	atomic_store(&flag, 1);
	vs_wq_notify_all(&twq);
	return 0;
}

static void test_wait_until_timeout(void **state)
{
	vs_task_t *t;
	int code;

	(void)state;
	atomic_store(&flag, 0);
	start(2);
	assert_int_equal(vs_wq_wait_pred_until(&twq, flag_set, NULL, vs_deadline_in(2 * MS)), -ETIMEDOUT);
	assert_int_equal(vs_task_spawn(set_flag_later, NULL, NULL, &t), 0);
	assert_int_equal(vs_wq_wait_pred_until(&twq, flag_set, NULL, vs_deadline_in(10000 * MS)), 0);
	assert_true(flag_set(NULL));
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/*
 * Notify racing timeouts: waiters on both CPUs wait with short timeouts
 * while notifiers poke them. Every wait ends exactly once: the waits that
 * returned 0 equal the notifies that woke someone.
 */
static struct vs_wq rwq = VS_WQ_INIT;
static atomic_long woken, timed_out, notified, other;
static atomic_int done;

static int racer_wait(void *arg)
{
	int n = (int)(intptr_t)arg;

	for (int i = 0; i < n; i++) {
		int r = vs_wq_wait_until(&rwq, vs_deadline_in((uint64_t)(i % 5) * 100000 + 1));

		if (r == 0)
			atomic_fetch_add(&woken, 1);
		else if (r == -ETIMEDOUT)
			atomic_fetch_add(&timed_out, 1);
		else
			atomic_fetch_add(&other, 1);
	}
	return 0;
}

static int racer_notify(void *arg)
{
	(void)arg;
	/* paced like the timeouts (0-400 us), so both win often */
	for (uint64_t k = 0; !atomic_load(&done); k++) {
		int r = vs_wq_notify_one(&rwq);

		if (r > 0)
			atomic_fetch_add(&notified, r);
		if (vs_sleep((k % 4) * 60000) != 0)
			atomic_fetch_add(&other, 1);
	}
	return 0;
}

static void test_notify_races_timeout(void **state)
{
	int n = emulated() ? 200 : 1000, code;
	vs_task_t *w[4], *p[2];

	(void)state;
	atomic_store(&woken, 0);
	atomic_store(&timed_out, 0);
	atomic_store(&notified, 0);
	atomic_store(&other, 0);
	atomic_store(&done, 0);
	start(2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(vs_task_spawn(racer_notify, NULL, NULL, &p[i]), 0);
	for (int i = 0; i < 4; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = i & 1 };

		assert_int_equal(vs_task_spawn(racer_wait, (void *)(intptr_t)n, &a, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(vs_task_join(w[i], &code), 0);
	atomic_store(&done, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(vs_task_join(p[i], &code), 0);
	print_message("%ld woken by notify, %ld timed out\n", atomic_load(&woken),
		      atomic_load(&timed_out));
	assert_int_equal(atomic_load(&other), 0);
	assert_int_equal(atomic_load(&woken) + atomic_load(&timed_out), 4 * n);
	/* both outcomes happened: the race was exercised */
	assert_true(atomic_load(&woken) > 0 && atomic_load(&timed_out) > 0);
	assert_int_equal(atomic_load(&woken), atomic_load(&notified));
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Stackless sleeps, in deadline order, alongside stackful ones. */
struct co_sleep {
	int i;
	uint64_t deadline;
};

static enum vs_poll co_sleeper(void *state, int *code)
{
	struct co_sleep *s = state;
	int r = vs_sleep_until_poll(s->deadline);

	if (r == -EAGAIN)
		return VS_PENDING;
	*code = r;
	woke[atomic_fetch_add(&nwoke, 1)] = s->i;
	return VS_READY;
}

static void test_stackless_sleep(void **state)
{
	struct co_sleep s[4];
	vs_task_t *t[4];
	int code;

	(void)state;
	atomic_store(&nwoke, 0);
	start(2);
	base = vs_now();
	for (int i = 3; i >= 0; i--) {
		s[i] = (struct co_sleep){ .i = i, .deadline = base + (uint64_t)(i + 1) * 10 * MS };
		assert_int_equal(vs_task_spawn_poll(co_sleeper, &s[i], NULL, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	assert_true(vs_now() >= base + 40 * MS);
	for (int i = 0; i < 4; i++)
		assert_int_equal(woke[i], i);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Timers left behind by waits that were notified (and by tasks that have
 * exited since) fire later, harmlessly; stop frees the rest. */
static int short_waits(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		if (vs_wq_wait_until(&rwq, vs_deadline_in(1000 * MS)) != 0)
			return -1; /* each one is notified long before */
	return 0;
}

static void test_stale_timers(void **state)
{
	vs_task_t *t;
	int code;

	(void)state;
	start(1);
	assert_int_equal(vs_task_spawn(short_waits, NULL, NULL, &t), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(vs_task_yield(), 0);
		assert_int_equal(vs_wq_notify_one(&rwq), 1);
	}
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
	/* 50 one-second timers still pending, their task gone */
	assert_int_equal(vs_runtime_stop(), 0);
}

/* An idle CPU sleeps until its next timer: a long sleep with nothing else
 * to do costs little CPU time. */
static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void test_idle_sleeps(void **state)
{
	double c0;

	(void)state;
	if (emulated())
		skip(); /* emulation's own threads make the CPU time meaningless */
	start(2);
	c0 = cpu_seconds();
	assert_int_equal(vs_sleep(300 * MS), 0);
	/* two spinning CPUs would use about 0.6 s */
	assert_true(cpu_seconds() - c0 < 0.15);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Channel operations with timeouts: they give up in time, and succeed
 * when the other side comes first. */
static vs_chan_t *tch;

static int late_sender(void *arg)
{
	int v = 42;

	(void)arg;
	if (vs_sleep(5 * MS) != 0)
		return -1;
	return vs_chan_send(tch, &v);
}

static void test_chan_timeouts(void **state)
{
	uint64_t t0;
	vs_task_t *t;
	int v = 7, code;

	(void)state;
	start(2);
	assert_int_equal(vs_chan_create(sizeof(int), 1, &tch), 0);
	assert_int_equal(vs_chan_recv_until(tch, &v, vs_deadline_in(0)), -ETIMEDOUT); /* empty */
	t0 = vs_now();
	assert_int_equal(vs_chan_recv_until(tch, &v, vs_deadline_in(5 * MS)), -ETIMEDOUT);
	assert_true(vs_now() - t0 >= 5 * MS);
	assert_int_equal(vs_chan_send_until(tch, &v, vs_deadline_in(0)), 0); /* room for one */
	t0 = vs_now();
	assert_int_equal(vs_chan_send_until(tch, &v, vs_deadline_in(5 * MS)), -ETIMEDOUT); /* full */
	assert_true(vs_now() - t0 >= 5 * MS);
	assert_int_equal(vs_chan_recv_until(tch, &v, vs_deadline_in(0)), 0);
	assert_int_equal(v, 7);
	/* nothing was left behind by the timed-out send */
	assert_int_equal(vs_chan_try_recv(tch, &v), -EAGAIN);
	/* a sender that comes within the timeout */
	assert_int_equal(vs_task_spawn(late_sender, NULL, NULL, &t), 0);
	assert_int_equal(vs_chan_recv_until(tch, &v, vs_deadline_in(10000 * MS)), 0);
	assert_int_equal(v, 42);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
	vs_chan_destroy(tch);
	assert_int_equal(vs_runtime_stop(), 0);
}

/*
 * A timer another CPU is late with: under FIFO, a sleeper's CPU is then
 * held by a task that spins (never switching, so never firing its timers)
 * while the other CPU is idle. The idle CPU fires the sleeper's timer and
 * runs it: the sleeper wakes while the spinner still spins.
 */
static atomic_int spinning;

static int spin_long(void *arg)
{
	uint64_t end = vs_now() + (uint64_t)(uintptr_t)arg;

	atomic_store(&spinning, 1);
	while (vs_now() < end)
		;
	atomic_store(&spinning, 0);
	return 0;
}

static atomic_int asleep;

/* First run on CPU 0 (asked for), so its timer is armed there. */
static int sleep_short(void *arg)
{
	(void)arg;
	if (vs_cpu_self() != 0)
		return -1;
	atomic_store(&asleep, 1); /* no switch between this and the sleep */
	if (vs_sleep(20 * MS) != 0)
		return -1;
	return atomic_load(&spinning); /* 1: woken while CPU 0 was still held */
}

static void test_late_timer(void **state)
{
	struct vs_task_attr on0 = { .place = VS_PLACE_CPU, .cpu = 0 }, pinned0 = { .place = VS_PLACE_CPU, .cpu = 0, .affinity = 1 };
	vs_task_t *s, *t;
	int code = -1;

	(void)state;
	atomic_store(&spinning, 0);
	atomic_store(&asleep, 0);
	start(2);
	assert_int_equal(vs_task_spawn(sleep_short, NULL, &on0, &s), 0);
	/* the first task shares CPU 0: once it sees the flag, the sleeper
	 * sleeps, its timer on CPU 0's heap */
	while (!atomic_load(&asleep))
		assert_int_equal(vs_task_yield(), 0);
	assert_int_equal(vs_task_spawn(spin_long, (void *)(uintptr_t)(2000 * MS), &pinned0, &t),
			 0);
	assert_int_equal(vs_task_join(s, &code), 0);
	assert_int_equal(code, 1);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/*
 * Sleeps so short that their timers are due before the sleeper has left
 * its CPU, which an idle CPU may see and fire: a timer fired before its
 * task is blocked must be kept, not lost (a lost one sleeps for good).
 */
static int short_sleeps;

static int sleep_often(void *arg)
{
	(void)arg;
	for (int i = 0; i < short_sleeps; i++)
		if (vs_sleep(1000) != 0)
			return -1;
	return 0;
}

static void test_short_sleeps(void **state)
{
	struct vs_task_attr pinned0 = { .place = VS_PLACE_CPU, .cpu = 0, .affinity = 1 };
	vs_task_t *t[3];
	int code;

	(void)state;
	short_sleeps = emulated() ? 4000 : 40000;
	start(2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vs_task_spawn(sleep_often, NULL, &pinned0, &t[i]), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_int_equal(code, 0);
	}
	assert_int_equal(vs_runtime_stop(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_sleep_lasts),
		cmocka_unit_test(test_deadline_order_1cpu),
		cmocka_unit_test(test_deadline_order_2cpu),
		cmocka_unit_test(test_wait_timeout),
		cmocka_unit_test(test_wait_until_timeout),
		cmocka_unit_test(test_notify_races_timeout),
		cmocka_unit_test(test_stackless_sleep),
		cmocka_unit_test(test_stale_timers),
		cmocka_unit_test(test_late_timer),
		cmocka_unit_test(test_short_sleeps),
		cmocka_unit_test(test_idle_sleeps),
		cmocka_unit_test(test_chan_timeouts),
	};

	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The API's conventions, one family after another: zeroed structs are the
 * defaults, X_until takes a deadline (VS_NEVER: none), X_poll returns 0
 * when done and -EAGAIN once registered, X_try returns -EAGAIN where X
 * would block, and a join may drop the exit code.
 */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "vsched/vs.h"
#include "vsched/sync.h"
#include "start.h"

#define MS 1000000ull

static int ret_cpu(void *arg)
{
	(void)arg;
	return vs_cpu_self();
}

static int sleep_ms(void *arg)
{
	return vs_sleep((uint64_t)(uintptr_t)arg * MS) ? -1 : 5;
}

/* A zeroed configuration starts, and so does one setting only ncpus. */
static void test_zeroed_config(void **state)
{
	struct vs_config zero = { 0 }, two = { .ncpus = 2 }, bad = { .ncpus = 2, .queue_cap = 3 };
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	struct vs_task_attr last = { .place = VS_PLACE_CPU, .cpu = (int)online - 1 };
	struct vs_task_attr past = { .place = VS_PLACE_CPU, .cpu = (int)online };
	vs_task_t *t;
	int code = -1;

	(void)state;
	/* the defaults: as many CPUs as are online */
	assert_int_equal(vs_runtime_start(&zero), 0);
	assert_int_equal(vs_task_spawn(ret_cpu, NULL, &last, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, online - 1);
	assert_int_equal(vs_task_spawn(ret_cpu, NULL, &past, &t), -EINVAL);
	assert_int_equal(vs_runtime_stop(), 0);

	assert_int_equal(vs_runtime_start(&two), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	/* a field set to a bad value is still refused */
	assert_int_equal(vs_runtime_start(&bad), -EINVAL);
}

static atomic_int where = -1;

static int note_cpu(void *arg)
{
	(void)arg;
	atomic_store(&where, vs_cpu_self());
	return 0;
}

/* Spawns with @a from CPU 1, and joins. */
static int spawn_from_1(void *arg)
{
	vs_task_t *t;
	int r;

	r = vs_task_spawn(note_cpu, NULL, arg, &t);
	if (r < 0)
		return r;
	return vs_task_join(t, NULL);
}

/*
 * A zeroed attribute queues the task on the spawning CPU, not on CPU 0
 * (where it once pinned it). The first task keeps CPU 0 busy meanwhile,
 * without yielding, so CPU 0 steals nothing, and the task must run on
 * CPU 1 or not at all.
 */
static void test_zeroed_attr(void **state)
{
	struct vs_task_attr zero = { 0 }, on0 = { .place = VS_PLACE_CPU, .cpu = 0 };
	struct vs_task_attr on1 = { .place = VS_PLACE_CPU, .cpu = 1, .affinity = 2 };
	struct vs_task_attr cpu_alone = { .cpu = 1 }, bad_place = { .place = (enum vs_place)7 };
	struct vs_task_attr neg = { .place = VS_PLACE_CPU, .cpu = -1 };
	vs_task_t *t = NULL;
	int code = -1;

	(void)state;
	start(2);
	for (int i = 0; i < 20; i++) {
		uint64_t give_up = vs_now() + 2000 * MS;

		atomic_store(&where, -1);
		assert_int_equal(vs_task_spawn(spawn_from_1, &zero, &on1, &t), 0);
		while (atomic_load(&where) < 0 && vs_now() < give_up)
			;
		assert_int_equal(atomic_load(&where), 1);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, 0);
		/* asked for CPU 0, it runs there */
		assert_int_equal(vs_task_spawn(spawn_from_1, &on0, &on1, &t), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, 0);
		assert_int_equal(atomic_load(&where), 0);
	}
	/* a CPU without VS_PLACE_CPU would be ignored: refused, as is an
	 * unknown placement; nothing is spawned */
	t = NULL;
	assert_int_equal(vs_task_spawn(ret_cpu, NULL, &cpu_alone, &t), -EINVAL);
	assert_int_equal(vs_task_spawn(ret_cpu, NULL, &bad_place, &t), -EINVAL);
	assert_int_equal(vs_task_spawn(ret_cpu, NULL, &neg, &t), -EINVAL);
	assert_null(t);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* join(t, NULL), and the deadline forms of join. */
static void test_join_forms(void **state)
{
	vs_task_t *t;
	int code = -1;
	uint64_t t0;

	(void)state;
	start(2);
	assert_int_equal(vs_task_spawn(sleep_ms, (void *)(uintptr_t)0, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, NULL), 0);

	/* gives up at the deadline, and the task stays joinable */
	assert_int_equal(vs_task_spawn(sleep_ms, (void *)(uintptr_t)60, NULL, &t), 0);
	t0 = vs_now();
	assert_int_equal(vs_task_join_until(t, &code, t0 + 10 * MS), -ETIMEDOUT);
	assert_true(vs_now() - t0 >= 10 * MS);
	assert_int_equal(code, -1);
	/* a deadline already past: no wait at all */
	assert_int_equal(vs_task_join_until(t, &code, 0), -ETIMEDOUT);
	assert_int_equal(vs_task_join_until(t, &code, VS_NEVER), 0);
	assert_int_equal(code, 5);
	/* the task exits before the deadline: joined, its timer harmless */
	code = -1;
	assert_int_equal(vs_task_spawn(sleep_ms, (void *)(uintptr_t)2, NULL, &t), 0);
	assert_int_equal(vs_task_join_until(t, &code, vs_deadline_in(2000 * MS)), 0);
	assert_int_equal(code, 5);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* The library's version is the headers' (the same build), in both forms. */
static void test_version(void **state)
{
	char s[32];

	(void)state;
	assert_int_equal(vs_version(), VS_VERSION);
	assert_string_equal(vs_version_string(), VS_VERSION_STRING);
	snprintf(s, sizeof(s), "%u.%u.%u", vs_version() >> 16, (vs_version() >> 8) & 0xff,
		 vs_version() & 0xff);
	assert_string_equal(s, VS_VERSION_STRING);
	assert_true(VS_VERSION_AT_LEAST(VS_VERSION_MAJOR, VS_VERSION_MINOR));
	assert_false(VS_VERSION_AT_LEAST(VS_VERSION_MAJOR, VS_VERSION_MINOR + 1));
}

/* vs_deadline_in saturates at VS_NEVER. */
static void test_deadline_in(void **state)
{
	uint64_t now;

	(void)state;
	now = vs_now();
	assert_true(vs_deadline_in(MS) >= now + MS);
	assert_int_equal(vs_deadline_in(UINT64_MAX), VS_NEVER);
	assert_int_equal(vs_deadline_in(UINT64_MAX - 1), VS_NEVER);
}

/* ------------------------------------------------ the stackless forms */

static struct vs_wq wq = VS_WQ_INIT;

enum step { REGISTER, WOKEN };

struct poller {
	int kind;
	enum step step;
	int first;	/* what the registering call returned */
	int second;	/* what the call in the poll after the wake-up returned */
	int polls;
	uint64_t deadline;
	vs_task_t *target;
	vs_chan_t *ch;
};

enum { K_WAIT, K_WAIT_UNTIL, K_JOIN_UNTIL, K_RECV_UNTIL, K_SEND_UNTIL };

static int call(struct poller *p)
{
	int v = 0, code = 0;

	switch (p->kind) {
	case K_WAIT:
		return vs_wq_wait_poll(&wq);
	case K_WAIT_UNTIL:
		return vs_wq_wait_until_poll(&wq, p->deadline);
	case K_JOIN_UNTIL:
		return vs_task_join_until_poll(p->target, &code, p->deadline);
	case K_RECV_UNTIL:
		return vs_chan_recv_until_poll(p->ch, &v, p->deadline);
	default:
		return vs_chan_send_until_poll(p->ch, &v, p->deadline);
	}
}

static enum vs_poll poller(void *state, int *code)
{
	struct poller *p = state;

	p->polls++;
	if (p->step == REGISTER) {
		p->first = call(p);
		if (p->first != -EAGAIN) {
			*code = 1;
			return VS_READY;
		}
		p->step = WOKEN;
		return VS_PENDING;
	}
	p->second = call(p);
	*code = 0;
	return VS_READY;
}

static void join_poller(vs_task_t *t)
{
	int code = -1;

	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
}

/* A plain wait's poll form: -EAGAIN registered, then 0 when notified. */
static void test_wait_poll(void **state)
{
	struct poller p = { .kind = K_WAIT };
	vs_task_t *t;

	(void)state;
	start(1);
	assert_int_equal(vs_task_spawn_poll(poller, &p, NULL, &t), 0);
	while (p.polls < 1)
		assert_int_equal(vs_task_yield(), 0);
	assert_int_equal(p.first, -EAGAIN);
	assert_int_equal(vs_wq_notify_one(&wq), 1);
	join_poller(t);
	assert_int_equal(p.second, 0);
	assert_int_equal(p.polls, 2);
	assert_int_equal(vs_runtime_stop(), 0);
}

static bool flag_set;

static bool flag_pred(void *arg)
{
	(void)arg;
	return __atomic_load_n(&flag_set, __ATOMIC_RELAXED);
}

struct pred_then_plain {
	int step, results[4];
};

/* A predicate wait, then a plain wait on the same queue: the plain one
 * registers (-EAGAIN) rather than report the predicate wait's end. */
static enum vs_poll pred_then_plain(void *state, int *code)
{
	struct pred_then_plain *p = state;

	switch (p->step) {
	case 0:
		p->results[0] = vs_wq_wait_pred_poll(&wq, flag_pred, NULL);
		p->step = 1;
		return VS_PENDING;
	case 1:
		p->results[1] = vs_wq_wait_pred_poll(&wq, flag_pred, NULL);
		p->results[2] = vs_wq_wait_poll(&wq);
		p->step = 2;
		return VS_PENDING;
	default:
		p->results[3] = vs_wq_wait_poll(&wq);
		*code = 0;
		return VS_READY;
	}
}

static void test_pred_then_plain(void **state)
{
	static struct pred_then_plain p; /* outlives a failed test's task */
	vs_task_t *t;
	int code = -1;

	(void)state;
	p = (struct pred_then_plain){ 0 };
	__atomic_store_n(&flag_set, false, __ATOMIC_RELAXED);
	start(1);
	assert_int_equal(vs_task_spawn_poll(pred_then_plain, &p, NULL, &t), 0);
	while (p.step < 1)
		assert_int_equal(vs_task_yield(), 0);
	__atomic_store_n(&flag_set, true, __ATOMIC_RELAXED);
	assert_int_equal(vs_wq_notify_one(&wq), 1);
	while (p.step < 2)
		assert_int_equal(vs_task_yield(), 0);
	assert_int_equal(vs_wq_notify_one(&wq), 1); /* it waits again */
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(p.results[0], -EAGAIN);
	assert_int_equal(p.results[1], 0);
	assert_int_equal(p.results[2], -EAGAIN);
	assert_int_equal(p.results[3], 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Each deadline form of a poll call: registered, then timed out. */
static void test_until_poll(void **state)
{
	static const int kinds[] = { K_WAIT_UNTIL, K_JOIN_UNTIL, K_RECV_UNTIL, K_SEND_UNTIL };
	vs_task_t *sleeper, *t;
	vs_chan_t *empty, *full;
	int one = 1;

	(void)state;
	start(1);
	assert_int_equal(vs_chan_create(sizeof(int), 1, &empty), 0);
	assert_int_equal(vs_chan_create(sizeof(int), 1, &full), 0);
	assert_int_equal(vs_chan_try_send(full, &one), 0);
	assert_int_equal(vs_task_spawn(sleep_ms, (void *)(uintptr_t)200, NULL, &sleeper), 0);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct poller p = { .kind = kinds[i], .target = sleeper,
				    .ch = kinds[i] == K_SEND_UNTIL ? full : empty };
		uint64_t t0 = vs_now();

		/* far enough that its first poll comes before it even on a
		 * loaded machine under emulation; the four end before the
		 * sleeper does */
		p.deadline = t0 + 30 * MS;
		assert_int_equal(vs_task_spawn_poll(poller, &p, NULL, &t), 0);
		join_poller(t);
		assert_int_equal(p.first, -EAGAIN);
		assert_int_equal(p.second, -ETIMEDOUT);
		assert_true(vs_now() - t0 >= 30 * MS);
	}
	/* the join that timed out left the sleeper joinable */
	assert_int_equal(vs_task_join(sleeper, NULL), 0);
	vs_chan_destroy(empty);
	vs_chan_destroy(full);
	assert_int_equal(vs_runtime_stop(), 0);
}

static bool release_mutex;

static int hold_mutex(void *arg)
{
	struct vs_mutex *m = arg;

	if (vs_mutex_lock(m))
		return -1;
	while (!__atomic_load_n(&release_mutex, __ATOMIC_RELAXED) && !vs_runtime_cancelled())
		if (vs_task_yield())
			return -1;
	return vs_mutex_unlock(m);
}

/* The try forms give -EAGAIN where the blocking form would block. */
static void test_try_forms(void **state)
{
	struct vs_mutex m = VS_MUTEX_INIT;
	struct vs_sem s = VS_SEM_INIT(0);
	vs_task_t *holder;
	vs_chan_t *ch;
	int v = 0;

	(void)state;
	start(1);
	assert_int_equal(vs_chan_create(sizeof(int), 1, &ch), 0);
	assert_int_equal(vs_mutex_try_lock(&m), 0);
	assert_int_equal(vs_mutex_try_lock(&m), -EAGAIN);
	assert_int_equal(vs_mutex_unlock(&m), 0);
	assert_int_equal(vs_sem_try_wait(&s), -EAGAIN);
	assert_int_equal(vs_chan_try_recv(ch, &v), -EAGAIN);
	assert_int_equal(vs_chan_try_send(ch, &v), 0);
	assert_int_equal(vs_chan_try_send(ch, &v), -EAGAIN);
	/* and the deadline forms, given one already past, do it at once or
	 * time out */
	assert_int_equal(vs_chan_send_until(ch, &v, 0), -ETIMEDOUT);
	assert_int_equal(vs_chan_recv_until(ch, &v, 0), 0);
	assert_int_equal(vs_sem_wait_until(&s, 0), -ETIMEDOUT);
	assert_int_equal(vs_mutex_lock_until(&m, 0), 0);
	assert_int_equal(vs_mutex_unlock(&m), 0);
	/* held elsewhere, a deadline already past gives up at once, and
	 * leaves the mutex uncontended (its waiters bit, low, clear) */
	assert_int_equal(vs_task_spawn(hold_mutex, &m, NULL, &holder), 0);
	while (!__atomic_load_n(&m.state, __ATOMIC_RELAXED))
		assert_int_equal(vs_task_yield(), 0);
	assert_int_equal(vs_mutex_lock_until(&m, 0), -ETIMEDOUT);
	assert_int_equal(__atomic_load_n(&m.state, __ATOMIC_RELAXED) & 1, 0);
	__atomic_store_n(&release_mutex, true, __ATOMIC_RELAXED);
	assert_int_equal(vs_task_join(holder, NULL), 0);
	assert_int_equal(vs_wq_wait_until(&wq, vs_now()), -ETIMEDOUT);
	vs_chan_destroy(ch);
	assert_int_equal(vs_runtime_stop(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_zeroed_config, stop_left),
		cmocka_unit_test_teardown(test_zeroed_attr, stop_left),
		cmocka_unit_test_teardown(test_join_forms, stop_left),
		cmocka_unit_test(test_deadline_in),
		cmocka_unit_test(test_version),
		cmocka_unit_test_teardown(test_wait_poll, stop_left),
		cmocka_unit_test_teardown(test_until_poll, stop_left),
		cmocka_unit_test_teardown(test_pred_then_plain, stop_left),
		cmocka_unit_test_teardown(test_try_forms, stop_left),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

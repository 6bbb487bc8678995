/* SPDX-License-Identifier: MIT */
/*
 * Stopping with cancel: every kind of blocked wait, stackful and stackless,
 * ends with -ECANCELED; tasks that never started never run; later blocking
 * calls and spawns fail at once; bad input changes nothing.
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

/* Busy for @ns without letting this CPU run anything else. */
static void spin_for(uint64_t ns)
{
	uint64_t end = vs_now() + ns;

	while (vs_now() < end)
		;
}

static int nop(void *arg)
{
	(void)arg;
	return 0;
}

/* ------------------------------------------------- every kind of wait */

enum { K_WQ, K_UNTIL, K_WQ_TIMEOUT, K_SLEEP, K_JOIN, K_MUTEX, K_SEM, K_COND, K_RECV, K_SEND,
       NKINDS };
enum { S_WQ, S_UNTIL, S_DEADLINE, S_SLEEP, S_JOIN, S_RECV, S_SEND, NSKINDS };

static struct vs_wq wq = VS_WQ_INIT;	 /* never notified */
static struct vs_wq hold_wq = VS_WQ_INIT; /* the join targets wait here */
static struct vs_mutex mx, cvm;
static struct vs_cond cv;
static struct vs_sem sem;
static vs_chan_t *empty, *full;
static vs_task_t *target, *target_sl;
static atomic_int started, joiners_done;
static int results[NKINDS], after[NKINDS], spawn_after[NKINDS], relock[NKINDS];
static int sl_results[NSKINDS];

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* A join target: stays alive until both joiners have given up. */
static int held(void *arg)
{
	(void)arg;
	while (vs_wq_wait(&hold_wq) != -ECANCELED)
		;
	while (atomic_load(&joiners_done) < 2)
		if (vs_task_yield() < 0)
			return 1;
	return 0;
}

static int blocker(void *arg)
{
	int k = (int)(intptr_t)arg, r = 0, code = 0;
	vs_task_t *t;
	char c = 0;

	atomic_fetch_add(&started, 1);
	switch (k) {
	case K_WQ:
		r = vs_wq_wait(&wq);
		break;
	case K_UNTIL:
		r = vs_wq_wait_pred(&wq, never, NULL);
		break;
	case K_WQ_TIMEOUT:
		r = vs_wq_wait_until(&wq, vs_deadline_in(LONG_NS));
		break;
	case K_SLEEP:
		r = vs_sleep(LONG_NS);
		break;
	case K_JOIN:
		r = vs_task_join(target, &code);
		atomic_fetch_add(&joiners_done, 1);
		break;
	case K_MUTEX:
		r = vs_mutex_lock(&mx); /* the first task holds it */
		break;
	case K_SEM:
		r = vs_sem_wait(&sem);
		break;
	case K_COND:
		relock[k] = vs_mutex_lock(&cvm);
		r = vs_cond_wait(&cv, &cvm);
		/* back holding the mutex, as always */
		relock[k] = relock[k] ? relock[k] : vs_mutex_unlock(&cvm);
		break;
	case K_RECV:
		r = vs_chan_recv(empty, &c);
		break;
	case K_SEND:
		r = vs_chan_send(full, &c);
		break;
	}
	results[k] = r;
	after[k] = vs_sleep(LONG_NS); /* at once */
	spawn_after[k] = vs_task_spawn(nop, NULL, NULL, &t);
	return 0;
}

struct sl {
	int kind;
	uint64_t deadline;
};

static enum vs_poll sl_poll(void *state, int *code)
{
	struct sl *s = state;
	int r = 0, jc = 0;
	char c = 0;

	if (!s->deadline) {
		s->deadline = vs_now() + LONG_NS;
		atomic_fetch_add(&started, 1);
	}
	switch (s->kind) {
	case S_WQ:
		/* registers (-EAGAIN) the first time; the call after the
		 * wake-up says why it came */
		r = vs_wq_wait_poll(&wq);
		if (r == -EAGAIN && s->deadline != 1) {
			s->deadline = 1;
			return VS_PENDING;
		}
		if (r == -EAGAIN)
			r = -EPROTO; /* registered again: the cancel went unseen */
		break;
	case S_UNTIL:
		r = vs_wq_wait_pred_poll(&wq, never, NULL);
		break;
	case S_DEADLINE:
		r = vs_wq_wait_pred_until_poll(&wq, never, NULL, s->deadline);
		break;
	case S_SLEEP:
		r = vs_sleep_until_poll(s->deadline);
		break;
	case S_JOIN:
		r = vs_task_join_poll(target_sl, &jc);
		if (r != -EAGAIN)
			atomic_fetch_add(&joiners_done, 1);
		break;
	case S_RECV:
		r = vs_chan_recv_poll(empty, &c);
		break;
	case S_SEND:
		r = vs_chan_send_poll(full, &c);
		break;
	}
	if (r == -EAGAIN)
		return VS_PENDING;
	sl_results[s->kind] = r;
	*code = 0;
	return VS_READY;
}

static void test_cancel_every_wait(void **state)
{
	static struct sl sls[NSKINDS];
	struct vs_task_attr a = { .place = VS_PLACE_CPU };
	int expect = NKINDS + NSKINDS;
	vs_task_t *t;
	char c = 0;

	(void)state;
	atomic_store(&started, 0);
	atomic_store(&joiners_done, 0);
	start(2);
	vs_mutex_init(&mx);
	vs_mutex_init(&cvm);
	vs_cond_init(&cv);
	assert_int_equal(vs_sem_init(&sem, 0), 0);
	assert_int_equal(vs_chan_create(1, 1, &empty), 0);
	assert_int_equal(vs_chan_create(1, 1, &full), 0);
	assert_int_equal(vs_chan_try_send(full, &c), 0);
	assert_int_equal(vs_mutex_lock(&mx), 0);
	assert_int_equal(vs_task_spawn(held, NULL, NULL, &target), 0);
	assert_int_equal(vs_task_spawn(held, NULL, NULL, &target_sl), 0);
	for (int k = 0; k < NKINDS; k++) {
		results[k] = after[k] = spawn_after[k] = relock[k] = 1;
		a.cpu = k % 2;
		assert_int_equal(vs_task_spawn(blocker, (void *)(intptr_t)k, &a, &t), 0);
		assert_int_equal(vs_task_detach(t), 0);
	}
	for (int k = 0; k < NSKINDS; k++) {
		sls[k] = (struct sl){ .kind = k };
		sl_results[k] = 1;
		a.cpu = k % 2;
		assert_int_equal(vs_task_spawn_poll(sl_poll, &sls[k], &a, &t), 0);
		assert_int_equal(vs_task_detach(t), 0);
	}
	/* every one of them asleep in its wait */
	while (atomic_load(&started) < expect)
		assert_int_equal(vs_sleep(MS), 0);
	assert_int_equal(vs_sleep(50 * MS), 0);

	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
	for (int k = 0; k < NKINDS; k++) {
		print_message("kind %d: %d, then %d, spawn %d\n", k, results[k], after[k],
			      spawn_after[k]);
		assert_int_equal(results[k], -ECANCELED);
		assert_int_equal(after[k], -ECANCELED);
		assert_int_equal(spawn_after[k], -ECANCELED);
	}
	assert_int_equal(relock[K_COND], 0);
	for (int k = 0; k < NSKINDS; k++) {
		print_message("stackless kind %d: %d\n", k, sl_results[k]);
		assert_int_equal(sl_results[k], -ECANCELED);
	}
	vs_chan_destroy(empty);
	vs_chan_destroy(full);
}

/* ------------------------------------------ tasks that never started */

static atomic_int ran;
static vs_task_t *never_ran, *never_ran_sl;
static int join_r[2], join_code[2], spin_seen;

static int would_run(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return 5;
}

static enum vs_poll would_poll(void *state, int *code)
{
	(void)state;
	atomic_fetch_add(&ran, 1);
	*code = 5;
	return VS_READY;
}

/* On CPU 1: blocked until the cancel, then joins the tasks stuck behind
 * the first task on CPU 0, which only run once the stop blocks. */
static int joiner(void *arg)
{
	struct vs_wq mine = VS_WQ_INIT;
	vs_task_t *ts[2] = { never_ran, never_ran_sl };

	(void)arg;
	atomic_fetch_add(&started, 1);
	if (vs_wq_wait(&mine) != -ECANCELED)
		return 1;
	for (int i = 0; i < 2; i++)
		while ((join_r[i] = vs_task_join(ts[i], &join_code[i])) == -ECANCELED)
			if (vs_task_yield() < 0)
				return 2;
	return 0;
}

static int spinner(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	while (!vs_runtime_cancelled())
		;
	spin_seen = 1;
	return 0;
}

static void test_cancel_never_started(void **state)
{
	struct vs_task_attr on0 = { .place = VS_PLACE_CPU, .cpu = 0, .affinity = 1 }, on1 = { .place = VS_PLACE_CPU, .cpu = 1, .affinity = 2 };
	vs_task_t *t;

	(void)state;
	atomic_store(&ran, 0);
	atomic_store(&started, 0);
	spin_seen = 0;
	start(2);
	assert_false(vs_runtime_cancelled());
	/* CPU 0 is busy with us until the stop: these wait, unstarted */
	assert_int_equal(vs_task_spawn(would_run, NULL, &on0, &never_ran), 0);
	assert_int_equal(vs_task_spawn_poll(would_poll, NULL, &on0, &never_ran_sl), 0);
	assert_int_equal(vs_task_spawn(joiner, NULL, &on1, &t), 0);
	assert_int_equal(vs_task_detach(t), 0);
	assert_int_equal(vs_task_spawn(spinner, NULL, &on1, &t), 0);
	assert_int_equal(vs_task_detach(t), 0);
	while (atomic_load(&started) < 2) /* the joiner ran first, then the spinner */
		;
	spin_for(20 * MS); /* the joiner asleep, the spinner spinning */

	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
	assert_int_equal(atomic_load(&ran), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(join_r[i], 0);
		assert_int_equal(join_code[i], -ECANCELED);
	}
	assert_int_equal(spin_seen, 1);
	assert_false(vs_runtime_cancelled());
}

/* ------------------------------------------------------- bad input */

static int try_shutdown(void *arg)
{
	(void)arg;
	return vs_runtime_shutdown(VS_STOP_CANCEL);
}

static void test_shutdown_misuse(void **state)
{
	vs_task_t *t;
	int code = 0;

	(void)state;
	assert_int_equal(vs_runtime_shutdown(VS_STOP_WAIT), -EPERM);
	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), -EPERM);
	assert_false(vs_runtime_cancelled());
	start(2);
	assert_int_equal(vs_runtime_shutdown((enum vs_stop)7), -EINVAL);
	assert_int_equal(vs_runtime_shutdown((enum vs_stop)-1), -EINVAL);
	/* only the first task stops the runtime */
	assert_int_equal(vs_task_spawn(try_shutdown, NULL, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, -EPERM);
	/* nothing changed: not cancelling, tasks still run and block */
	assert_false(vs_runtime_cancelled());
	assert_int_equal(vs_sleep(MS), 0);
	assert_int_equal(vs_task_spawn(would_run, NULL, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 5);
	assert_int_equal(vs_runtime_shutdown(VS_STOP_WAIT), 0);
}

/* ------------------------------------------------ cancel under load */

#define BUSY_TASKS 200

static struct vs_sem ping;
static vs_chan_t *busy_ch;
static atomic_int busy_started, busy_exited, busy_bad;

/* Passes units and elements around until the cancel (seen by a blocking
 * call, or by the flag for a task that happens not to block), then checks
 * that nothing blocks any more. */
static int busy(void *arg)
{
	int i = (int)(intptr_t)arg, r = 0;
	char c = (char)i;

	atomic_fetch_add(&busy_started, 1);
	while (r == 0 && !vs_runtime_cancelled()) {
		switch (i % 3) {
		case 0:
			r = vs_sem_wait(&ping);
			if (r == 0)
				r = vs_sem_post(&ping);
			break;
		case 1:
			r = vs_chan_send(busy_ch, &c);
			break;
		default:
			r = vs_chan_recv_until(busy_ch, &c, vs_deadline_in(10 * MS));
			r = r == -ETIMEDOUT ? 0 : r;
			break;
		}
		if (r == 0 && vs_task_yield() < 0)
			r = -EPROTO;
	}
	if ((r != 0 && r != -ECANCELED) || vs_sleep(LONG_NS) != -ECANCELED)
		atomic_fetch_add(&busy_bad, 1);
	atomic_fetch_add(&busy_exited, 1);
	return 0;
}

static void test_cancel_under_load(void **state)
{
	struct vs_task_attr bal = { .place = VS_PLACE_BALANCE };
	vs_task_t *t;

	(void)state;
	atomic_store(&busy_started, 0);
	atomic_store(&busy_exited, 0);
	atomic_store(&busy_bad, 0);
	start(2);
	assert_int_equal(vs_sem_init(&ping, 3), 0);
	assert_int_equal(vs_chan_create(1, 4, &busy_ch), 0);
	for (int i = 0; i < BUSY_TASKS; i++) {
		assert_int_equal(vs_task_spawn(busy, (void *)(intptr_t)i, &bal, &t), 0);
		assert_int_equal(vs_task_detach(t), 0);
	}
	assert_int_equal(vs_sleep(30 * MS), 0);
	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
	print_message("%d started, %d exited, %d saw something else than -ECANCELED\n",
		      atomic_load(&busy_started), atomic_load(&busy_exited),
		      atomic_load(&busy_bad));
	/* each one that ran left through the cancel, exactly once */
	assert_int_equal(atomic_load(&busy_exited), atomic_load(&busy_started));
	assert_int_equal(atomic_load(&busy_bad), 0);
	vs_chan_destroy(busy_ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shutdown_misuse),
		cmocka_unit_test(test_cancel_every_wait),
		cmocka_unit_test(test_cancel_never_started),
		cmocka_unit_test(test_cancel_under_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

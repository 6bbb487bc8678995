/* SPDX-License-Identifier: MIT */
/*
 * The channel: order, exactly-once delivery across two CPUs, the try forms,
 * close, stackless ends and a plain-thread end.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "sync_common.h"

/* Element of an odd size, so copies of whole elements are what is tested. */
struct item {
	int sender, seq;
	char pad[5];
};

static vs_chan_t *chan;
static int items;

static int fifo_sender(void *arg)
{
	(void)arg;
	for (int i = 0; i < items; i++) {
		struct item it = { .sender = 0, .seq = i, .pad = "abcd" };

		EXPECT(vs_chan_send(chan, &it) == 0);
	}
	EXPECT(vs_chan_close(chan) == 0);
	return 0;
}

static void test_chan_fifo(void **state)
{
	struct item it;
	vs_task_t *t;
	int r, n = 0;

	(void)state;
	items = scaled(100000, 5000);
	start(2);
	assert_int_equal(vs_chan_create(sizeof(struct item), 4, &chan), 0);
	t = spawn_on(fifo_sender, NULL, 1);
	while ((r = vs_chan_recv(chan, &it)) == 0) {
		assert_int_equal(it.seq, n);
		assert_string_equal(it.pad, "abcd");
		n++;
	}
	assert_int_equal(r, -EPIPE);
	assert_int_equal(n, items);
	assert_int_equal(vs_chan_recv(chan, &it), -EPIPE);
	join_expect(t, 0);
	vs_chan_destroy(chan);
	stop();
}

/*
 * 3 senders x 2 receivers on two CPUs: every value arrives exactly once,
 * and each receiver sees each sender's values in the order sent.
 */
#define SENDERS 3
#define RECEIVERS 2

static atomic_int *delivered; /* [SENDERS * items] */

static int mpmc_sender(void *arg)
{
	struct item it = { .sender = (int)(intptr_t)arg };

	for (int i = 0; i < items; i++) {
		it.seq = i;
		EXPECT(vs_chan_send(chan, &it) == 0);
	}
	return 0;
}

static int mpmc_receiver(void *arg)
{
	int last[SENDERS] = { -1, -1, -1 }, got = 0, r;
	struct item it;

	(void)arg;
	while ((r = vs_chan_recv(chan, &it)) == 0) {
		if (it.sender < 0 || it.sender >= SENDERS || it.seq < 0 || it.seq >= items) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		EXPECT(it.seq > last[it.sender]);
		last[it.sender] = it.seq;
		atomic_fetch_add(&delivered[it.sender * items + it.seq], 1);
		got++;
	}
	EXPECT(r == -EPIPE);
	return got;
}

static void test_chan_mpmc(void **state)
{
	vs_task_t *s[SENDERS], *rv[RECEIVERS];
	int total = 0, code;

	(void)state;
	items = scaled(50000, 2000);
	delivered = calloc((size_t)SENDERS * (size_t)items, sizeof(*delivered));
	assert_non_null(delivered);
	start(2);
	assert_int_equal(vs_chan_create(sizeof(struct item), 8, &chan), 0);
	for (int i = 0; i < RECEIVERS; i++)
		rv[i] = spawn_on(mpmc_receiver, NULL, i % 2);
	for (int i = 0; i < SENDERS; i++)
		s[i] = spawn_on(mpmc_sender, (void *)(intptr_t)i, i % 2);
	for (int i = 0; i < SENDERS; i++)
		join_expect(s[i], 0);
	assert_int_equal(vs_chan_close(chan), 0);
	for (int i = 0; i < RECEIVERS; i++) {
		assert_int_equal(vs_task_join(rv[i], &code), 0);
		total += code;
	}
	assert_int_equal(total, SENDERS * items);
	for (int i = 0; i < SENDERS * items; i++)
		assert_int_equal(atomic_load(&delivered[i]), 1);
	free(delivered);
	vs_chan_destroy(chan);
	stop();
}

/* The try forms, wrap-around, and close on a channel nobody waits on. */
static void test_chan_try(void **state)
{
	struct item it = { 0 };
	vs_chan_t *ch;

	(void)state;
	start(1);
	assert_int_equal(vs_chan_create(sizeof(struct item), 3, &ch), 0);
	assert_int_equal(vs_chan_try_recv(ch, &it), -EAGAIN);
	for (int lap = 0; lap < 3; lap++) { /* the ring wraps */
		for (int i = 0; i < 3; i++) {
			it.seq = lap * 10 + i;
			assert_int_equal(vs_chan_try_send(ch, &it), 0);
		}
		it.seq = -1;
		assert_int_equal(vs_chan_try_send(ch, &it), -EAGAIN);
		assert_int_equal(vs_chan_try_recv(ch, &it), 0);
		assert_int_equal(it.seq, lap * 10);
		it.seq = lap * 10 + 3;
		assert_int_equal(vs_chan_try_send(ch, &it), 0);
		for (int i = 1; i < 4; i++) {
			assert_int_equal(vs_chan_try_recv(ch, &it), 0);
			assert_int_equal(it.seq, lap * 10 + i);
		}
		assert_int_equal(vs_chan_try_recv(ch, &it), -EAGAIN);
	}
	it.seq = 7;
	assert_int_equal(vs_chan_send(ch, &it), 0); /* not full: no blocking */
	assert_int_equal(vs_chan_close(ch), 0);
	assert_int_equal(vs_chan_close(ch), -EPIPE);
	assert_int_equal(vs_chan_try_send(ch, &it), -EPIPE);
	assert_int_equal(vs_chan_send(ch, &it), -EPIPE);
	it.seq = 0;
	assert_int_equal(vs_chan_try_recv(ch, &it), 0); /* drained after close */
	assert_int_equal(it.seq, 7);
	assert_int_equal(vs_chan_try_recv(ch, &it), -EPIPE);
	assert_int_equal(vs_chan_recv(ch, &it), -EPIPE);
	vs_chan_destroy(ch);
	stop();
}

/*
 * Close wakes everyone asleep on the channel, on one CPU so that they are
 * all asleep before it: receivers drain what was sent, then get -EPIPE;
 * senders blocked on a full channel get -EPIPE and send nothing.
 */
static int drain_count(void *arg)
{
	int got = 0, v, r;

	(void)arg;
	while ((r = vs_chan_recv(chan, &v)) == 0)
		got++;
	return r == -EPIPE ? got : -1;
}

static int send_one(void *arg)
{
	int v = (int)(intptr_t)arg;

	return vs_chan_send(chan, &v);
}

static void test_chan_close(void **state)
{
	vs_task_t *t[2];
	int v = 1, code, got = 0;

	(void)state;
	start(1);
	assert_int_equal(vs_chan_create(sizeof(int), 2, &chan), 0);
	for (int i = 0; i < 2; i++)
		t[i] = spawn_on(drain_count, NULL, 0);
	yield_n(2); /* both asleep on the empty channel */
	assert_int_equal(vs_chan_try_send(chan, &v), 0);
	assert_int_equal(vs_chan_close(chan), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vs_task_join(t[i], &code), 0);
		assert_true(code == 0 || code == 1);
		got += code;
	}
	assert_int_equal(got, 1);
	vs_chan_destroy(chan);

	assert_int_equal(vs_chan_create(sizeof(int), 1, &chan), 0);
	v = 10;
	assert_int_equal(vs_chan_try_send(chan, &v), 0);
	for (intptr_t i = 0; i < 2; i++)
		t[i] = spawn_on(send_one, (void *)(11 + i), 0);
	yield_n(2); /* both asleep on the full channel */
	assert_int_equal(vs_chan_close(chan), 0);
	for (int i = 0; i < 2; i++)
		join_expect(t[i], -EPIPE);
	v = 0;
	assert_int_equal(vs_chan_recv(chan, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(vs_chan_recv(chan, &v), -EPIPE);
	vs_chan_destroy(chan);
	stop();
}

/*
 * Close while three tasks on two CPUs and a plain thread keep sending and
 * two tasks receive, over three slots (many laps): a send that returned 0
 * is received exactly once, one that got -EPIPE never, and every sender
 * and receiver ends with -EPIPE. Many rounds, so close lands at all points
 * of sends and receives in flight.
 */
#define RACE_SENDERS 4 /* the last one a plain thread */
#define RACE_MAX 200000

/* a page-sized element: copies long enough to be caught in flight */
struct big {
	int sender, seq;
	char fill[4088];
};

static atomic_int race_sent[RACE_SENDERS], race_total;
static atomic_uchar *race_got; /* [RACE_SENDERS * RACE_MAX] */

static int race_send(void *arg)
{
	struct big it = { .sender = (int)(intptr_t)arg };
	int r;

	for (it.seq = 0; it.seq < RACE_MAX; it.seq++) {
		r = vs_chan_send(chan, &it);
		if (r != 0) {
			EXPECT(r == -EPIPE);
			break;
		}
	}
	atomic_store(&race_sent[it.sender], it.seq);
	return 0;
}

static void *race_thread(void *arg)
{
	struct big it = { .sender = (int)(intptr_t)arg };
	int r = 0;

	for (it.seq = 0; it.seq < RACE_MAX; it.seq++) {
		while ((r = vs_chan_try_send(chan, &it)) == -EAGAIN)
			sched_yield();
		if (r != 0)
			break;
	}
	EXPECT(r == -EPIPE);
	atomic_store(&race_sent[it.sender], it.seq);
	return NULL;
}

static int race_recv(void *arg)
{
	struct big it;
	int r;

	(void)arg;
	while ((r = vs_chan_recv(chan, &it)) == 0) {
		if (it.sender < 0 || it.sender >= RACE_SENDERS || it.seq < 0 ||
		    it.seq >= RACE_MAX) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		atomic_fetch_add(&race_got[it.sender * RACE_MAX + it.seq], 1);
		atomic_fetch_add(&race_total, 1);
	}
	EXPECT(r == -EPIPE);
	return 0;
}

static void test_chan_close_race(void **state)
{
	int rounds = scaled(40, 4);

	(void)state;
	race_got = calloc((size_t)RACE_SENDERS * RACE_MAX, sizeof(*race_got));
	assert_non_null(race_got);
	start(2);
	for (int round = 0; round < rounds; round++) {
		vs_task_t *s[RACE_SENDERS - 1], *rv[2];
		pthread_t th;

		memset(race_got, 0, (size_t)RACE_SENDERS * RACE_MAX);
		atomic_store(&race_total, 0);
		assert_int_equal(vs_chan_create(sizeof(struct big), 3, &chan), 0);
		for (int i = 0; i < 2; i++)
			rv[i] = spawn_on(race_recv, NULL, i);
		for (int i = 0; i < RACE_SENDERS - 1; i++)
			s[i] = spawn_on(race_send, (void *)(intptr_t)i, i % 2);
		assert_int_equal(pthread_create(&th, NULL, race_thread,
						(void *)(intptr_t)(RACE_SENDERS - 1)), 0);
		/* close with every sender busy, at a different point each round */
		while (atomic_load(&race_total) < 1000 + round * 977 % 4000)
			assert_int_equal(vs_task_yield(), 0);
		assert_int_equal(vs_chan_close(chan), 0);
		assert_int_equal(vs_chan_close(chan), -EPIPE);
		for (int i = 0; i < RACE_SENDERS - 1; i++)
			join_expect(s[i], 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		for (int i = 0; i < 2; i++)
			join_expect(rv[i], 0);
		for (int k = 0; k < RACE_SENDERS; k++) {
			int sent = atomic_load(&race_sent[k]);

			assert_true(sent < RACE_MAX); /* the close, not the end, stopped it */
			for (int i = 0; i < RACE_MAX; i++)
				if (atomic_load(&race_got[k * RACE_MAX + i]) != (i < sent)) {
					print_error("round %d sender %d item %d (of %d sent) "
						    "received %d times\n",
						    round, k, i, sent,
						    atomic_load(&race_got[k * RACE_MAX + i]));
					fail();
				}
		}
		vs_chan_destroy(chan);
	}
	free(race_got);
	stop();
}

/*
 * Stackless ends: a stackless sender to a stackful receiver, a stackful
 * sender to a stackless receiver, and stackless to stackless, each over a
 * two-slot channel so both sides keep blocking; order and count exact.
 */
struct co_end {
	vs_chan_t *ch;
	int next, n, polls;
};

static enum vs_poll co_sender(void *state, int *code)
{
	struct co_end *e = state;

	e->polls++;
	while (e->next < e->n) {
		int r = vs_chan_send_poll(e->ch, &e->next);

		if (r == -EAGAIN)
			return VS_PENDING;
		if (r != 0) {
			*code = r;
			return VS_READY;
		}
		e->next++;
	}
	*code = vs_chan_close(e->ch);
	return VS_READY;
}

static enum vs_poll co_receiver(void *state, int *code)
{
	struct co_end *e = state;
	int v, r;

	e->polls++;
	while ((r = vs_chan_recv_poll(e->ch, &v)) == 0) {
		EXPECT(v == e->next);
		e->next++;
	}
	if (r == -EAGAIN)
		return VS_PENDING;
	*code = r == -EPIPE ? e->next : r;
	return VS_READY;
}

static int plain_sender(void *arg)
{
	struct co_end *e = arg;
	int v = 0;

	EXPECT(vs_chan_send_poll(e->ch, &v) == -EPERM);
	for (int i = 0; i < e->n; i++)
		EXPECT(vs_chan_send(e->ch, &i) == 0);
	return vs_chan_close(e->ch);
}

static void test_chan_stackless(void **state)
{
	struct co_end a = { 0 }, b = { 0 }, cs = { 0 }, cr = { 0 };
	vs_task_t *ta, *tb1, *tb2, *tc1, *tc2;
	int v, r, n = 0;

	(void)state;
	start(2);
	a.n = b.n = cs.n = cr.n = scaled(50000, 2000);
	assert_int_equal(vs_chan_create(sizeof(int), 2, &a.ch), 0);
	assert_int_equal(vs_chan_create(sizeof(int), 2, &b.ch), 0);
	assert_int_equal(vs_chan_create(sizeof(int), 2, &cs.ch), 0);
	cr.ch = cs.ch;

	ta = spawn_poll_on(co_sender, &a, 1);
	tb1 = spawn_on(plain_sender, &b, 1);
	tb2 = spawn_poll_on(co_receiver, &b, 0);
	tc1 = spawn_poll_on(co_sender, &cs, 0);
	tc2 = spawn_poll_on(co_receiver, &cr, 1);
	while ((r = vs_chan_recv(a.ch, &v)) == 0) {
		assert_int_equal(v, n);
		n++;
	}
	assert_int_equal(r, -EPIPE);
	assert_int_equal(n, a.n);
	join_expect(ta, 0);
	join_expect(tb1, 0);
	join_expect(tb2, b.n);
	join_expect(tc1, 0);
	join_expect(tc2, cr.n);
	/* they did block: polled again after a VS_PENDING */
	assert_true(a.polls > 1 && b.polls > 1 && cs.polls + cr.polls > 2);
	vs_chan_destroy(a.ch);
	vs_chan_destroy(b.ch);
	vs_chan_destroy(cs.ch);
	stop();
}

/*
 * A plain thread feeds a task through try_send and closes the channel;
 * its blocking calls are refused.
 */
static void *thread_feeder(void *arg)
{
	struct vs_mutex m = VS_MUTEX_INIT;
	struct vs_cond cv = VS_COND_INIT;
	struct vs_sem sem = VS_SEM_INIT(0);
	int v = 0, bad = 0;

	(void)arg;
	bad += vs_chan_send(chan, &v) != -EPERM;
	bad += vs_chan_recv(chan, &v) != -EPERM;
	bad += vs_mutex_lock(&m) != -EPERM;
	bad += vs_sem_wait(&sem) != -EPERM;
	bad += vs_mutex_try_lock(&m) != 0;
	bad += vs_cond_wait(&cv, &m) != -EPERM;
	bad += vs_mutex_unlock(&m) != 0;
	for (int i = 0; i < items; i++) {
		int r;

		while ((r = vs_chan_try_send(chan, &i)) == -EAGAIN)
			sched_yield();
		bad += r != 0;
	}
	bad += vs_chan_close(chan) != 0;
	return (void *)(intptr_t)bad;
}

static void test_chan_pthread(void **state)
{
	pthread_t th;
	void *res;
	int v, r, n = 0;

	(void)state;
	items = scaled(50000, 2000);
	start(2);
	assert_int_equal(vs_chan_create(sizeof(int), 4, &chan), 0);
	assert_int_equal(pthread_create(&th, NULL, thread_feeder, NULL), 0);
	while ((r = vs_chan_recv(chan, &v)) == 0) {
		assert_int_equal(v, n);
		n++;
	}
	assert_int_equal(r, -EPIPE);
	assert_int_equal(n, items);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_int_equal((intptr_t)res, 0);
	vs_chan_destroy(chan);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_fifo),
		cmocka_unit_test(test_chan_mpmc),
		cmocka_unit_test(test_chan_try),
		cmocka_unit_test(test_chan_close),
		cmocka_unit_test(test_chan_close_race),
		cmocka_unit_test(test_chan_stackless),
		cmocka_unit_test(test_chan_pthread),
	};

	return cmocka_run_group_tests_name("sync-chan", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Mutex, condition variable, semaphore and channel: misuse gets its errno,
 * and under contention across two CPUs nothing is lost, duplicated or
 * reordered, and no two holders ever overlap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vsched/sync.h"

/* Tasks cannot use cmocka's asserts (they longjmp across stacks): they
 * count what went wrong here, and the test checks it is still 0. */
static atomic_int errors;

#define EXPECT(cond)                                 \
	do {                                         \
		if (!(cond))                         \
			atomic_fetch_add(&errors, 1); \
	} while (0)

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static int scaled(int native, int under_qemu)
{
	return emulated() ? under_qemu : native;
}

static void start(unsigned ncpus)
{
	struct vs_config cfg;

	atomic_store(&errors, 0);
	vs_config_default(&cfg);
	cfg.ncpus = ncpus;
	assert_int_equal(vs_runtime_start(&cfg), 0);
}

static void stop(void)
{
	assert_int_equal(atomic_load(&errors), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

static vs_task_t *spawn_on(vs_task_fn fn, void *arg, int cpu)
{
	struct vs_task_attr a = { .cpu = cpu };
	vs_task_t *t = NULL;

	assert_int_equal(vs_task_spawn(fn, arg, &a, &t), 0);
	return t;
}

static vs_task_t *spawn_poll_on(vs_poll_fn fn, void *state, int cpu)
{
	struct vs_task_attr a = { .cpu = cpu };
	vs_task_t *t = NULL;

	assert_int_equal(vs_task_spawn_poll(fn, state, &a, &t), 0);
	return t;
}

static void join_expect(vs_task_t *t, int expect)
{
	int code = -1;

	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, expect);
}

static void yield_n(int n)
{
	while (n--)
		assert_int_equal(vs_task_yield(), 0);
}

/* ---------------------------------------------------- outside, misuse */

/* No runtime at all: blocking forms say -EPERM, the rest works. */
static void test_plain_thread(void **state)
{
	struct vs_mutex m = VS_MUTEX_INIT;
	struct vs_cond cv = VS_COND_INIT;
	struct vs_sem sem = VS_SEM_INIT(0);
	vs_chan_t *ch;
	int v = 5;

	(void)state;
	assert_int_equal(vs_mutex_lock(&m), -EPERM);
	assert_int_equal(vs_mutex_trylock(&m), 0);
	assert_int_equal(vs_mutex_trylock(&m), -EBUSY);
	assert_int_equal(vs_cond_wait(&cv, &m), -EPERM);
	assert_int_equal(vs_mutex_unlock(&m), 0);
	assert_int_equal(vs_mutex_unlock(&m), -EPERM);
	assert_int_equal(vs_cond_signal(&cv), 0);
	assert_int_equal(vs_cond_broadcast(&cv), 0);

	assert_int_equal(vs_sem_wait(&sem), -EPERM);
	assert_int_equal(vs_sem_trywait(&sem), -EAGAIN);
	assert_int_equal(vs_sem_post(&sem), 0);
	assert_int_equal(vs_sem_value(&sem), 1);
	assert_int_equal(vs_sem_trywait(&sem), 0);

	assert_int_equal(vs_chan_create(sizeof(int), 1, &ch), 0);
	assert_int_equal(vs_chan_send(ch, &v), -EPERM);
	assert_int_equal(vs_chan_recv(ch, &v), -EPERM);
	assert_int_equal(vs_chan_send_poll(ch, &v), -EPERM);
	assert_int_equal(vs_chan_recv_poll(ch, &v), -EPERM);
	assert_int_equal(vs_chan_try_send(ch, &v), 0);
	v = 0;
	assert_int_equal(vs_chan_try_recv(ch, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(vs_chan_close(ch), 0);
	vs_chan_destroy(ch);
}

static struct vs_mutex shared_m;

static int unlock_foreign(void *arg)
{
	(void)arg;
	/* held by the first task: not ours to release or take */
	EXPECT(vs_mutex_unlock(&shared_m) == -EPERM);
	EXPECT(vs_mutex_trylock(&shared_m) == -EBUSY);
	return 3;
}

struct co_misuse {
	struct vs_cond *cv;
	int stage;
};

static enum vs_poll misuse_poll(void *state, int *code)
{
	struct co_misuse *co = state;
	struct vs_sem sem = VS_SEM_INIT(0);
	int v = 0;

	if (co->stage++ == 0) {
		/* blocking forms refuse a stackless task; trylock works and the
		 * hold survives a VS_PENDING (taken back in the next poll) */
		EXPECT(vs_mutex_lock(&shared_m) == -EPERM);
		EXPECT(vs_sem_wait(&sem) == -EPERM);
		EXPECT(vs_mutex_trylock(&shared_m) == 0);
		EXPECT(vs_cond_wait(co->cv, &shared_m) == -EPERM);
		EXPECT(vs_chan_send(NULL, &v) == -EINVAL);
		return VS_PENDING;
	}
	EXPECT(vs_mutex_unlock(&shared_m) == 0);
	*code = 4;
	return VS_READY;
}

static void test_misuse(void **state)
{
	struct vs_cond cv = VS_COND_INIT;
	struct co_misuse co = { .cv = &cv };
	struct vs_sem sem;
	vs_chan_t *ch = NULL;

	(void)state;
	start(1);
	vs_mutex_init(&shared_m);
	assert_int_equal(vs_mutex_unlock(&shared_m), -EPERM);
	assert_int_equal(vs_cond_wait(&cv, &shared_m), -EPERM); /* not held */
	assert_int_equal(vs_mutex_lock(&shared_m), 0);
	assert_int_equal(vs_mutex_lock(&shared_m), -EDEADLK);
	assert_int_equal(vs_mutex_trylock(&shared_m), -EBUSY);
	join_expect(spawn_on(unlock_foreign, NULL, 0), 3);
	assert_int_equal(vs_mutex_unlock(&shared_m), 0);
	assert_int_equal(vs_mutex_unlock(&shared_m), -EPERM);
	join_expect(spawn_poll_on(misuse_poll, &co, 0), 4);
	assert_int_equal(vs_mutex_trylock(&shared_m), 0); /* released */
	assert_int_equal(vs_mutex_unlock(&shared_m), 0);

	assert_int_equal(vs_mutex_lock(NULL), -EINVAL);
	assert_int_equal(vs_mutex_trylock(NULL), -EINVAL);
	assert_int_equal(vs_mutex_unlock(NULL), -EINVAL);
	assert_int_equal(vs_cond_wait(NULL, &shared_m), -EINVAL);
	assert_int_equal(vs_cond_wait(&cv, NULL), -EINVAL);
	assert_int_equal(vs_cond_signal(NULL), -EINVAL);
	assert_int_equal(vs_cond_broadcast(NULL), -EINVAL);
	assert_int_equal(vs_sem_init(NULL, 0), -EINVAL);
	assert_int_equal(vs_sem_init(&sem, -1), -EINVAL);
	assert_int_equal(vs_sem_wait(NULL), -EINVAL);
	assert_int_equal(vs_sem_trywait(NULL), -EINVAL);
	assert_int_equal(vs_sem_post(NULL), -EINVAL);
	assert_int_equal(vs_sem_value(NULL), -EINVAL);

	assert_int_equal(vs_chan_create(0, 1, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(1, 0, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(SIZE_MAX / 2, 3, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(1, 1, NULL), -EINVAL);
	assert_null(ch);
	assert_int_equal(vs_chan_create(1, 1, &ch), 0);
	assert_int_equal(vs_chan_send(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_recv(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_try_send(NULL, &co), -EINVAL);
	assert_int_equal(vs_chan_try_recv(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_send_poll(ch, &co), -EPERM); /* not stackless */
	assert_int_equal(vs_chan_close(NULL), -EINVAL);
	vs_chan_destroy(ch);
	vs_chan_destroy(NULL);
	stop();
}

/* -------------------------------------------------------------- mutex */

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
	assert_int_equal(vs_mutex_trylock(&fifo_m), -EBUSY); /* A holds it */
	for (int i = 0; i < 3; i++)
		join_expect(t[i], 0);
	assert_int_equal(fifo_n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fifo_order[i], i);
	assert_int_equal(vs_mutex_trylock(&fifo_m), 0);
	assert_int_equal(vs_mutex_unlock(&fifo_m), 0);
	stop();
}

/*
 * N tasks on two CPUs and a plain thread add to a plain counter under
 * one mutex, the tasks sometimes yielding while they hold it so that
 * others pile up behind: the total is exact and nobody was ever inside
 * together with another holder.
 */
#define LOCKERS 8

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
		while (vs_mutex_trylock(&count_m) == -EBUSY)
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
	assert_int_equal(vs_mutex_trylock(&count_m), 0);
	assert_int_equal(vs_mutex_unlock(&count_m), 0);
	stop();
}

/* --------------------------------------------------------- condition */

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

/* ---------------------------------------------------------- semaphore */

/*
 * K units, N tasks on two CPUs holding one each across a yield: never
 * more than K holders at once, and K is reached.
 */
#define UNITS 3

static struct vs_sem units;
static atomic_int holders, max_holders;

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
		assert_int_equal(vs_sem_trywait(&units), 0);
	assert_int_equal(vs_sem_trywait(&units), -EAGAIN);
	assert_int_equal(vs_sem_value(&units), 0);
	assert_int_equal(vs_sem_init(&big, INT_MAX - 1), 0);
	assert_int_equal(vs_sem_post(&big), 0);
	assert_int_equal(vs_sem_post(&big), -EOVERFLOW);
	assert_int_equal(vs_sem_value(&big), INT_MAX);

	/* a task asleep on an empty semaphore, woken by a plain thread */
	assert_int_equal(vs_sem_init(&gate, 0), 0);
	g = spawn_on(gate_waiter, NULL, 1);
	/* peeks at a private field, to post only once it is going to sleep */
	while (atomic_load(&gate.sleepers) == 0)
		yield_n(1);
	assert_int_equal(pthread_create(&th, NULL, gate_poster, NULL), 0);
	join_expect(g, 9);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	assert_int_equal(vs_sem_value(&gate), 0);
	stop();
}

/* ------------------------------------------------------------ channel */

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
	bad += vs_mutex_trylock(&m) != 0;
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
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_mutex_handoff),
		cmocka_unit_test(test_mutex_contention),
		cmocka_unit_test(test_cond_producer_consumer),
		cmocka_unit_test(test_cond_signal_broadcast),
		cmocka_unit_test(test_sem),
		cmocka_unit_test(test_chan_fifo),
		cmocka_unit_test(test_chan_mpmc),
		cmocka_unit_test(test_chan_try),
		cmocka_unit_test(test_chan_close),
		cmocka_unit_test(test_chan_stackless),
		cmocka_unit_test(test_chan_pthread),
	};

	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}

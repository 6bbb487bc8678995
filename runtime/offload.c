/* SPDX-License-Identifier: MIT */
/*
 * The offload pool: threads for blocking work that has no asynchronous
 * form (a user's function, getaddrinfo, file I/O under epoll), as Go
 * hands a syscall's thread off and Tokio has spawn_blocking. A task queues
 * its operation and parks; its CPU runs on. Threads are made on demand up
 * to a bound (POOL_PER_CPU per CPU, at least POOL_MIN), wait a while for
 * more work, then leave; past the bound, work waits its turn.
 *
 * Under the pool's mutex: the queue and each queued record's state. A task
 * queues with the mutex held and parks releasing it once off its CPU, so
 * a thread that takes the record finds the task blocked; only that thread
 * wakes it, once done, unless a timer or the canceller took it off the
 * queue first (then they wake it).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vsched/io.h"
#include "rt.h"
#include "cpu.h"
#include "io.h"
#include "park.h"
#include "timer.h"
#include "wait.h"

#define POOL_MIN 4
#define POOL_PER_CPU 4
#define POOL_MAX 256
#define IDLE_EXIT_NS 5000000000ull /* an idle thread leaves after this long */

static struct {
	struct rt_io_op *head, *tail;
	unsigned queued;	     /* on the queue */
	unsigned threads, idle, cap; /* idle: waiting for work */
	bool stopping;
	unsigned char lock;	   /* rt_lock_flag: all of the above */
	_Atomic uint32_t seq;	   /* bumped for sleeping threads (a futex) */
	_Atomic unsigned alive;	   /* threads not yet gone */
} pool;

/* The record a pool thread runs, for vs_offload_cancelled. */
static __thread struct rt_io_op *running;

bool vs_offload_cancelled(void)
{
	return running && atomic_load_explicit(&running->cancel, memory_order_relaxed);
}

static void pool_sleep(uint32_t seq, uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	syscall(SYS_futex, (uint32_t *)&pool.seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
}

static void pool_wake(int n)
{
	atomic_fetch_add_explicit(&pool.seq, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)&pool.seq, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static void *pool_thread(void *arg)
{
	uint64_t idle_since = 0;

	(void)arg;
	rt_lock_flag(&pool.lock);
	for (;;) {
		struct rt_io_op *op = pool.head;
		struct vs_task *t;
		ssize_t r;

		if (!op) {
			uint32_t seq = atomic_load_explicit(&pool.seq, memory_order_acquire);
			uint64_t now = rt_now();

			if (pool.stopping)
				break;
			if (!idle_since)
				idle_since = now;
			else if (now - idle_since >= IDLE_EXIT_NS)
				break;
			pool.idle++;
			rt_unlock_flag(&pool.lock);
			pool_sleep(seq, IDLE_EXIT_NS - (now - idle_since));
			rt_lock_flag(&pool.lock);
			pool.idle--;
			continue;
		}
		idle_since = 0;
		t = op->task;
		pool.head = op->next;
		if (!pool.head)
			pool.tail = NULL;
		pool.queued--;
		op->state = RT_OP_RUNNING;
		rt_unlock_flag(&pool.lock);

		running = op;
		r = op->q.kind == RT_IO_CALL ? op->q.fn(op->q.arg) : rt_io_sys(&op->q, false, false);
		running = NULL;

		rt_lock_flag(&pool.lock);
		op->got = (size_t)r; /* the whole result (res has 32 bits) */
		op->state = RT_OP_RAN;
		rt_unlock_flag(&pool.lock);
		/* it parked before we could take it: blocked, and only we wake
		 * it now (a fire on a running record only tells it) */
		rt_wake(t, false);
		rt_lock_flag(&pool.lock);
	}
	pool.threads--;
	rt_unlock_flag(&pool.lock);
	atomic_fetch_sub_explicit(&pool.alive, 1, memory_order_release);
	return NULL;
}

/* Queues @op (the lock held): a thread for it unless an idle one is left
 * over for it (one woken for earlier work may not have taken it yet) and
 * while the bound allows; 0 or -errno. */
static int enqueue_locked(struct rt_io_op *op)
{
	if (!pool.cap) {
		unsigned cap = POOL_PER_CPU * rt_g->ncpus;

		pool.cap = cap < POOL_MIN ? POOL_MIN : cap > POOL_MAX ? POOL_MAX : cap;
	}
	if (pool.queued >= pool.idle && pool.threads < pool.cap) {
		pthread_t th;
		pthread_attr_t a;
		int r;

		/* rare (threads stay a while), so made under the lock */
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add_explicit(&pool.alive, 1, memory_order_relaxed);
		r = pthread_create(&th, &a, pool_thread, NULL);
		pthread_attr_destroy(&a);
		if (r) {
			atomic_fetch_sub_explicit(&pool.alive, 1, memory_order_relaxed);
			if (!pool.threads)
				return -r; /* no thread at all to run it */
		} else {
			pool.threads++;
		}
	}
	op->next = NULL;
	if (pool.tail)
		pool.tail->next = op;
	else
		pool.head = op;
	pool.tail = op;
	pool.queued++;
	op->state = RT_OP_QUEUED;
	if (pool.idle)
		pool_wake(1);
	return 0;
}

ssize_t rt_offload_step(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
			uint64_t deadline)
{
	ssize_t r;

	switch (op->state) {
	case RT_OP_QUEUED:
	case RT_OP_RUNNING:
		return -EAGAIN; /* a stackless task polled before it ended */
	case RT_OP_RAN:
		/* ran (a cancel meanwhile was only a request), or taken off
		 * the queue by a timer or the canceller (its error) */
		return (ssize_t)op->got;
	default:
		break;
	}
	rt_lock_flag(&pool.lock);
	r = rt_wait_begin(c, me, deadline, true);
	if (r == 0) {
		atomic_store_explicit(&op->cancel, 0, memory_order_relaxed);
		op->pooled = true;
		rt_wait_io(me, op);
		r = enqueue_locked(op);
	}
	if (r < 0) {
		rt_unlock_flag(&pool.lock);
		if (r != -ECANCELED && r != -ETIMEDOUT)
			(void)rt_wait_end(me); /* its timer, if any, is stale */
		return r;
	}
	/* the lock goes once we cannot be missed: the thread that takes the
	 * record finds us blocked */
	if (rt_io_block(&c, me, &pool.lock) < 0)
		return -EAGAIN; /* stackless: polled again once it ran */
	/* ran (a cancel while it ran was only a request), or taken off the
	 * queue by a timer or the canceller: the result either way */
	return (ssize_t)op->got;
}

bool rt_offload_fire(struct vs_task *t, uint8_t why)
{
	struct rt_io_op *op = t->wio, **pp;
	bool wake = false;

	rt_lock_flag(&pool.lock);
	if (op->state == RT_OP_QUEUED) {
		struct rt_io_op *prev = NULL;

		/* not begun: off the queue, and ours to wake */
		for (pp = &pool.head; *pp && *pp != op; pp = &(*pp)->next)
			prev = *pp;
		if (*pp) {
			*pp = op->next;
			if (pool.tail == op)
				pool.tail = prev;
			pool.queued--;
			op->got = (size_t)(ssize_t)rt_why_err(why);
			op->state = RT_OP_RAN;
			wake = true;
		}
	}
	/* running: it is told, and the task waits for it to return */
	if (!atomic_load_explicit(&op->cancel, memory_order_relaxed))
		atomic_store_explicit(&op->cancel, why, memory_order_relaxed);
	rt_unlock_flag(&pool.lock);
	return wake;
}

void rt_offload_stop(void)
{
	rt_lock_flag(&pool.lock);
	pool.stopping = true;
	pool_wake(POOL_MAX);
	rt_unlock_flag(&pool.lock);
	/* idle now (no task is left to give them work): they leave at once */
	while (atomic_load_explicit(&pool.alive, memory_order_acquire))
		usleep(100);
	rt_lock_flag(&pool.lock);
	pool.stopping = false;
	pool.cap = 0;
	rt_unlock_flag(&pool.lock);
}

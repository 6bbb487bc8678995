/* SPDX-License-Identifier: MIT */
/*
 * The workloads on libvsched's runtime. Each starts its own runtime with
 * the CPUs it needs and stops it again, so no run inherits another's state.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bench.h"
#include "vsched/domain.h"
#include "vsched/sync.h"
#include "vsched/vs.h"

/* With VSBENCH_DOMAIN set, each run is a domain's only member: what a
 * member's own tasks cost against a private runtime. */
static vs_domain_t *dom;

static int start(unsigned ncpus, unsigned max_tasks, size_t stack)
{
	struct vs_config cfg;
	int r;

	vs_config_default(&cfg);
	cfg.ncpus = ncpus;
	if (max_tasks)
		cfg.max_tasks = max_tasks;
	if (stack)
		cfg.stack_size = stack;
	if (getenv("VSBENCH_DOMAIN")) {
		struct vs_domain_attr a = { .ncpus = cfg.ncpus, .max_tasks = cfg.max_tasks,
					    .queue_cap = cfg.queue_cap, .max_members = 1 };

		if ((r = vs_domain_create(&a, &dom)) < 0)
			return r;
		cfg.domain = dom;
	}
	r = vs_runtime_start(&cfg);
	if (r < 0 && dom) {
		(void)vs_domain_close(dom);
		dom = NULL;
	}
	return r;
}

static int stop(void)
{
	int r = vs_runtime_stop();

	if (r == 0 && dom) {
		r = vs_domain_close(dom);
		dom = NULL;
	}
	return r;
}

/* Runs @fn in two tasks (on CPUs @c0 and @c1, -1: the first task's) and
 * returns the time from spawning them to joining both. */
static double pair(unsigned ncpus, int c0, int c1, vs_task_fn fn, void *a0, void *a1)
{
	struct vs_task_attr at[2] = {
		{ .place = c0 >= 0 ? VS_PLACE_CPU : VS_PLACE_LOCAL, .cpu = c0 >= 0 ? c0 : 0,
		  .affinity = c0 >= 0 ? 1ull << c0 : 0 },
		{ .place = c1 >= 0 ? VS_PLACE_CPU : VS_PLACE_LOCAL, .cpu = c1 >= 0 ? c1 : 0,
		  .affinity = c1 >= 0 ? 1ull << c1 : 0 },
	};
	vs_task_t *t[2];
	uint64_t t0;
	int code, r;

	if ((r = start(ncpus, 0, 64 * 1024)) < 0)
		return r;
	t0 = bench_now();
	if (vs_task_spawn(fn, a0, &at[0], &t[0]) < 0 || vs_task_spawn(fn, a1, &at[1], &t[1]) < 0)
		abort();
	if (vs_task_join(t[0], &code) < 0 || vs_task_join(t[1], &code) < 0)
		abort();
	t0 = bench_now() - t0;
	if (stop() < 0)
		abort();
	return (double)t0;
}

/* ------------------------------------------------------------ yield */

static long yields;

static int yielder(void *arg)
{
	(void)arg;
	for (long i = 0; i < yields; i++)
		if (vs_task_yield() < 0)
			abort();
	return 0;
}

double vs_yield(long n)
{
	double ns;

	yields = n;
	ns = pair(1, -1, -1, yielder, NULL, NULL);
	return ns < 0 ? ns : ns / (2.0 * (double)n);
}

/* ---------------------------------------------------- wake (ping-pong) */

struct pingpong {
	struct vs_wq wq[2];
	_Atomic int turn;
	long rounds;
};

struct side {
	struct pingpong *p;
	int me;
};

static bool my_turn(void *arg)
{
	struct side *s = arg;

	return atomic_load_explicit(&s->p->turn, memory_order_acquire) == s->me;
}

/* Waits for its turn, hands it over and wakes the other side. */
static int ponger(void *arg)
{
	struct side *s = arg;

	for (long i = 0; i < s->p->rounds; i++) {
		if (vs_wq_wait_pred(&s->p->wq[s->me], my_turn, s) < 0)
			abort();
		atomic_store_explicit(&s->p->turn, !s->me, memory_order_release);
		vs_wq_notify_one(&s->p->wq[!s->me]);
	}
	return 0;
}

static double pingpong(unsigned ncpus, int c0, int c1, long n)
{
	static struct pingpong p;
	struct side s0 = { &p, 0 }, s1 = { &p, 1 };
	double ns;

	vs_wq_init(&p.wq[0]);
	vs_wq_init(&p.wq[1]);
	atomic_store(&p.turn, 0);
	p.rounds = n;
	ns = pair(ncpus, c0, c1, ponger, &s0, &s1);
	return ns < 0 ? ns : ns / (double)n; /* per round trip */
}

double vs_wake(long n)
{
	return pingpong(1, -1, -1, n);
}

/* Two CPUs, the tasks placed as the runtime likes (as Go's are). */
double vs_wake_xcpu(long n)
{
	return pingpong(2, -1, -1, n);
}

/* One task pinned to each of two CPUs: every wake crosses. */
double vs_wake_pinned(long n)
{
	return pingpong(2, 0, 1, n);
}

/* ------------------------------------------------------- spawn, join */

static int nop(void *arg)
{
	(void)arg;
	return 0;
}

double vs_spawn_join(long n)
{
	uint64_t t0;
	int code, r;

	if ((r = start(1, 0, 16 * 1024)) < 0)
		return r;
	t0 = bench_now();
	for (long i = 0; i < n; i++) {
		vs_task_t *t;

		if (vs_task_spawn(nop, NULL, NULL, &t) < 0 || vs_task_join(t, &code) < 0)
			abort();
	}
	t0 = bench_now() - t0;
	if (stop() < 0)
		abort();
	return (double)t0 / (double)n;
}

static double fanout(unsigned ncpus, long n)
{
	struct vs_task_attr bal = { .place = VS_PLACE_BALANCE };
	vs_task_t **t = malloc(sizeof(*t) * (size_t)n);
	uint64_t t0;
	int code, r;

	if (!t)
		return -ENOMEM;
	if ((r = start(ncpus, (unsigned)n + 64, 16 * 1024)) < 0) {
		free(t);
		return r;
	}
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		if (vs_task_spawn(nop, NULL, &bal, &t[i]) < 0)
			abort();
	for (long i = 0; i < n; i++)
		if (vs_task_join(t[i], &code) < 0)
			abort();
	t0 = bench_now() - t0;
	if (stop() < 0)
		abort();
	free(t);
	return (double)t0 / (double)n;
}

double vs_fanout(long n)
{
	return fanout(0, n); /* every CPU online */
}

double vs_fanout_1cpu(long n)
{
	return fanout(1, n);
}

/* ---------------------------------------------------------- channel */

static vs_chan_t *ch;
static long elems;

static int producer(void *arg)
{
	(void)arg;
	for (long i = 0; i < elems; i++)
		if (vs_chan_send(ch, &i) < 0)
			abort();
	return 0;
}

static int consumer(void *arg)
{
	long v;

	(void)arg;
	for (long i = 0; i < elems; i++)
		if (vs_chan_recv(ch, &v) < 0 || v != i)
			abort();
	return 0;
}

static int chan_side(void *arg)
{
	return arg ? producer(NULL) : consumer(NULL);
}

static double channel(int c0, int c1, long n)
{
	double ns;
	int r;

	/* created before the runtime: a channel needs none */
	if ((r = vs_chan_create(sizeof(long), 64, &ch)) < 0)
		return r;
	elems = n;
	ns = pair(2, c0, c1, chan_side, (void *)1, NULL);
	vs_chan_destroy(ch);
	return ns < 0 ? ns : ns / (double)n;
}

double vs_channel(long n)
{
	return channel(-1, -1, n);
}

double vs_channel_pinned(long n)
{
	return channel(0, 1, n);
}

/* ------------------------------------------------------------ mutex */

static struct vs_mutex mx;
static long locks;
static volatile long shared;

static int locker(void *arg)
{
	(void)arg;
	for (long i = 0; i < locks; i++) {
		if (vs_mutex_lock(&mx) < 0)
			abort();
		shared++;
		if (vs_mutex_unlock(&mx) < 0)
			abort();
	}
	return 0;
}

static double mutex(int c0, int c1, long n)
{
	double ns;

	vs_mutex_init(&mx);
	locks = n;
	ns = pair(2, c0, c1, locker, NULL, NULL);
	return ns < 0 ? ns : ns / (2.0 * (double)n); /* per lock+unlock */
}

double vs_mutex(long n)
{
	return mutex(-1, -1, n);
}

double vs_mutex_pinned(long n)
{
	return mutex(0, 1, n);
}

/* ----------------------------------------------------------- memory */

static struct vs_wq park_wq = VS_WQ_INIT;
static atomic_long parked;

static int park_stackful(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	return vs_wq_wait(&park_wq);
}

static atomic_int released;

/* Polled once to park, once more when released. */
static enum vs_poll park_stackless(void *state, int *code)
{
	(void)state;
	if (atomic_load(&released)) {
		*code = 0;
		return VS_READY;
	}
	atomic_fetch_add(&parked, 1);
	if (vs_wq_wait_poll(&park_wq) != -EAGAIN) /* registered */
		abort();
	return VS_PENDING;
}

/*
 * Parks @n tasks on one wait queue and returns the peak resident memory
 * they added, per task. Run in a process of its own (the driver forks), so
 * the peak is theirs alone.
 */
static double park(long n, bool stackless)
{
	struct vs_task_attr spread = { .place = VS_PLACE_BALANCE };
	long before;
	int r;

	atomic_store(&parked, 0);
	atomic_store(&released, 0);
	if ((r = start(0, (unsigned)n + 64, 16 * 1024)) < 0)
		return r;
	before = bench_rss_kib("VmRSS:");
	for (long i = 0; i < n; i++) {
		vs_task_t *t;

		r = stackless ? vs_task_spawn_poll(park_stackless, NULL, &spread, &t)
			      : vs_task_spawn(park_stackful, NULL, &spread, &t);
		if (r < 0 || vs_task_detach(t) < 0)
			abort();
	}
	while (atomic_load(&parked) < n)
		if (vs_sleep(1000000) < 0)
			abort();
	if (vs_sleep(10000000) < 0) /* the last ones asleep, not just counted */
		abort();
	r = (int)(bench_rss_kib("VmHWM:") - before);
	atomic_store(&released, 1);
	vs_wq_notify_all(&park_wq);
	if (stop() < 0)
		abort();
	return (double)r * 1024.0 / (double)n;
}

double vs_park_rss(long n)
{
	return park(n, false);
}

double vs_stackless_rss(long n)
{
	return park(n, true);
}

/* SPDX-License-Identifier: MIT */
/*
 * Statistics (vsched/stats.h): reading the CPUs' counters, counting tasks
 * by state, and keeping each task's times.
 *
 * Who writes what: a CPU's struct rt_stats, its thread only, a relaxed
 * load and store per count (rt_stat_inc); the runtime's "outside" ones,
 * any thread that is no CPU, an atomic add. The core's per-CPU switch and
 * steal counts are its own, kept the same way. A reader loads each word
 * once, relaxed: a count it sees is one the counter had, so no counter
 * seems to run backwards, and a sum is of values each CPU had.
 *
 * A task's times (struct rt_tstat, with task_times): its run time and
 * switches are written by the task itself as it arrives on and leaves a
 * CPU; ready_at by whoever makes it ready (itself as it yields, its waker
 * or spawner before the core queues it, which orders the write before
 * the pick that reads it). A CPU's tt_now passes the clock read by a
 * leaving task to the one that arrives next, so a switch between two
 * tasks reads the clock once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rt.h"
#include "domain.h"
#include "preempt.h"
#include "timer.h"
#include "vvar.h"

void rt_stat_any(size_t off)
{
	struct rt_cpu *c = rt_self();

	if (c)
		rt_stat_inc((_Atomic uint64_t *)((char *)&c->st + off));
	else
		atomic_fetch_add_explicit((_Atomic uint64_t *)((char *)&rt_g->outside + off), 1,
					  memory_order_relaxed);
}

static struct rt_tstat *tstat(const struct vs_task *t)
{
	return &rt_g->tstats[t - rt_g->recs];
}

static void add(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

void rt_tt_leave(struct rt_cpu *c, struct vs_task *me, bool ready)
{
	struct rt_tstat *ts = tstat(me);
	uint64_t now = vsched_clock_read();
	uint64_t in = atomic_load_explicit(&ts->run_in, memory_order_relaxed);

	if (in && now > in)
		add(&ts->run, now - in);
	if (ready)
		atomic_store_explicit(&ts->ready_at, now, memory_order_relaxed);
	c->tt_now = now;
}

void rt_tt_arrive(struct rt_cpu *c, struct vs_task *me)
{
	uint64_t now = c->tt_now, at;
	struct rt_tstat *ts;

	c->tt_now = 0;
	if (me->idle)
		return;
	if (!now)
		now = vsched_clock_read();
	ts = tstat(me);
	add(&ts->switches, 1);
	atomic_store_explicit(&ts->run_in, now, memory_order_relaxed);
	at = atomic_load_explicit(&ts->ready_at, memory_order_relaxed);
	if (at) {
		if (now > at)
			add(&ts->ready, now - at);
		atomic_store_explicit(&ts->ready_at, 0, memory_order_relaxed);
	}
}

void rt_tt_ready(struct vs_task *t)
{
	atomic_store_explicit(&tstat(t)->ready_at, vsched_clock_read(), memory_order_relaxed);
}

int rt_stats_start(struct rt *rt, bool task_times)
{
	size_t len;

	if (!task_times)
		return 0;
	len = (size_t)rt->cfg.max_tasks * sizeof(struct rt_tstat);
	/* reserved, not committed: pages come as slots are first used */
	rt->tstats = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (rt->tstats == MAP_FAILED) {
		rt->tstats = NULL;
		return -ENOMEM;
	}
	if (!rt->clk_per_ms)
		rt->clk_per_ms = rt_clock_calibrate();
	rt->ttimes = true;
	return 0;
}

void rt_stats_end(struct rt *rt)
{
	if (rt->tstats)
		munmap(rt->tstats, (size_t)rt->cfg.max_tasks * sizeof(struct rt_tstat));
	rt->tstats = NULL;
	rt->ttimes = false;
}

/* A slot's fresh task: its times start from nothing. */
void rt_tt_clear(struct vs_task *t)
{
	memset(tstat(t), 0, sizeof(struct rt_tstat));
}

static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Adds the counters of @s to @o. */
static void sum_into(struct vs_cpu_stats *o, const struct rt_stats *s)
{
	o->yields += ld(&s->yields);
	o->parks += ld(&s->parks);
	o->kicks += ld(&s->kicks);
	o->wakes_local += ld(&s->wakes_local);
	o->wakes_remote += ld(&s->wakes_remote);
	o->timers += ld(&s->timers);
	o->preempts += ld(&s->preempts);
	for (int k = 0; k < VS_IO_KINDS; k++)
		o->io[k] += ld(&s->io[k]);
}

static void add_cpu(struct vs_cpu_stats *o, const struct vs_cpu_stats *c)
{
	o->switches += c->switches;
	o->yields += c->yields;
	o->parks += c->parks;
	o->kicks += c->kicks;
	o->steals += c->steals;
	o->wakes_local += c->wakes_local;
	o->wakes_remote += c->wakes_remote;
	o->timers += c->timers;
	o->preempts += c->preempts;
	for (int k = 0; k < VS_IO_KINDS; k++)
		o->io[k] += c->io[k];
}

/* The public state of a core state. */
static uint32_t state_of(uint32_t st)
{
	switch (st) {
	case VSCHED_TASK_NEW:
		return VS_TASK_NEW;
	case VSCHED_TASK_READY:
		return VS_TASK_READY;
	case VSCHED_TASK_RUNNING:
		return VS_TASK_RUNNING;
	case VSCHED_TASK_BLOCKED:
		return VS_TASK_BLOCKED;
	default:
		return VS_TASK_EXITED;
	}
}

static void cpu_snapshot(struct rt_cpu *c, struct vs_cpu_stats *o)
{
	/* the core's published copy of its current task, not the runtime's
	 * record of it: a record may be being made anew meanwhile */
	vsched_ref_t cur = atomic_load_explicit(&c->core->current, memory_order_relaxed);
	vsched_ref_t idle = vsched_vvar_pcpus(rt_g->vvar)[c->id].idle;
	bool running = cur != VSCHED_REF_NONE && cur != idle;
	uint64_t q = 0;

	memset(o, 0, sizeof(*o));
	o->switches = ld(&c->core->nr_switches);
	o->steals = ld(&c->core->nr_steals);
	sum_into(o, &c->st);
	if (vsched_queue_len(c->id, &q) == 0)
		o->queued = (uint32_t)q;
	if (c->dcpu && atomic_load_explicit(&c->dcpu->holder, memory_order_relaxed) !=
			       rt_g->cfg.domain->id + 1)
		o->state = VS_CPU_LENT; /* the domain's word: dheld is its thread's */
	else if (atomic_load_explicit(&c->parked, memory_order_relaxed))
		o->state = VS_CPU_PARKED;
	else if (!running)
		o->state = VS_CPU_IDLE;
	else
		o->state = VS_CPU_RUNNING;
	o->current = running ? cur : 0;
}

int vs_stats_get(struct vs_stats *out, struct vs_cpu_stats *cpus, unsigned n)
{
	struct rt *rt = rt_g;
	uint32_t bump;

	if (!out)
		return -EINVAL;
	if (!rt)
		return -EPERM;
	memset(out, 0, sizeof(*out));
	out->ncpus = rt->ncpus;
	out->task_times = rt->ttimes;
	sum_into(&out->outside, &rt->outside);
	out->spawned = ld(&rt->outside.spawns);
	for (unsigned i = 0; i < rt->ncpus; i++) {
		struct vs_cpu_stats one;

		cpu_snapshot(&rt->cpus[i], &one);
		out->spawned += ld(&rt->cpus[i].st.spawns);
		add_cpu(&out->total, &one);
		if (cpus && i < n)
			cpus[i] = one;
	}
	add_cpu(&out->total, &out->outside);
	/* tasks by state: the slots handed out so far that this process's
	 * records say are in use (the count of slots is bounded by the
	 * table, whatever the shared allocator says) */
	bump = atomic_load_explicit(&vsched_vvar_glob(rt->vvar)->bump, memory_order_relaxed);
	if (bump > rt->cfg.max_tasks)
		bump = rt->cfg.max_tasks;
	for (uint32_t i = 0; i < bump; i++) {
		struct vs_task *t = &rt->recs[i];

		if (!atomic_load_explicit(&t->core.used, memory_order_relaxed) || t->core.idle)
			continue;
		out->tasks[state_of(atomic_load_explicit(&vsched_vvar_tasks(rt->vvar)[i].state,
							 memory_order_relaxed))]++;
	}
	return (int)rt->ncpus;
}

/* Is @t one of this runtime's task records? */
static bool is_rec(const vs_task_t *t)
{
	uintptr_t off = (uintptr_t)t - (uintptr_t)rt_g->recs;

	return (uintptr_t)t >= (uintptr_t)rt_g->recs &&
	       off < (uintptr_t)rt_g->cfg.max_tasks * sizeof(struct vs_task) &&
	       off % sizeof(struct vs_task) == 0;
}

/* @ticks of the core's clock in ns, without overflow */
static uint64_t to_ns(uint64_t ticks, uint64_t per_ms)
{
	return ticks / per_ms * 1000000u + ticks % per_ms * 1000000u / per_ms;
}

int vs_task_stats(vs_task_t *t, struct vs_task_stats *out)
{
	struct vsched_task *s;
	uint32_t cpu;

	if (!rt_g)
		return -EPERM;
	if (!t || !out || !is_rec(t))
		return -EINVAL;
	s = &vsched_vvar_tasks(rt_g->vvar)[t - rt_g->recs];
	if (!atomic_load_explicit(&t->core.used, memory_order_acquire) || t->core.idle ||
	    atomic_load_explicit(&s->gen, memory_order_relaxed) != t->gen)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	out->state = state_of(atomic_load_explicit(&s->state, memory_order_relaxed));
	cpu = atomic_load_explicit(&s->cpu, memory_order_relaxed);
	out->cpu = cpu < rt_g->ncpus ? (int32_t)cpu : -1;
	if (rt_g->ttimes) {
		struct rt_tstat *ts = tstat(t);
		uint64_t per_ms = rt_g->clk_per_ms ? rt_g->clk_per_ms : 1;

		out->run_ns = to_ns(ld(&ts->run), per_ms);
		out->ready_ns = to_ns(ld(&ts->ready), per_ms);
		out->switches = ld(&ts->switches);
	}
	return 0;
}

uint64_t vs_task_id(const vs_task_t *t)
{
	if (!t || !rt_g || !is_rec(t))
		return 0;
	return rt_ref(t);
}

/*
 * VSCHED_SCHEDTRACE=ms: every period, one line on stderr, as Go's
 * schedtrace prints:
 *
 *   SCHED 1000ms: cpus=2 run=1 idle=0 parked=1 lent=0 tasks=7 ready=1
 *     blocked=5 exited=0 switches=+5321 wakes=+410 steals=+12 parks=+3
 *     [0 run q=1 t=4294967301 worker] [1 parked q=0]
 *
 * (one line): the time since the start; how many CPUs run a task, look
 * for one, sleep, or are lent to another domain member; live tasks (not
 * yet reclaimed), and those ready, blocked and exited; the counters' growth since the line before;
 * then per CPU its state, its queue's length and the task it runs (id and
 * name). It is a thread of its own, reading what any thread may read.
 */
static pthread_t trace_thread;
static bool trace_on;
static bool trace_stop; /* under trace_lock */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trace_cond;

/* The name of the task @id names, copied a byte at a time (its slot may
 * be reused meanwhile: a wrong name, never a crash). */
static void task_name(uint64_t id, char *out, size_t len)
{
	uint32_t idx = VSCHED_REF_IDX(id);
	const char *n;
	size_t i;

	out[0] = 0;
	if (idx >= rt_g->cfg.max_tasks)
		return;
	n = rt_g->recs[idx].name;
	for (i = 0; i + 1 < len && i < sizeof(rt_g->recs[idx].name); i++) {
		char ch = __atomic_load_n(&n[i], __ATOMIC_RELAXED);

		if (!ch)
			break;
		out[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	out[i] = 0;
}

static const char *const cpu_state[] = { "run", "idle", "parked", "lent" };

static void schedtrace_line(uint64_t ms, const struct vs_stats *was, struct vs_stats *now,
			struct vs_cpu_stats *cpus, unsigned n)
{
	unsigned by[4] = { 0 };
	uint64_t live = 0;
	char buf[4096], name[20];
	int len;

	for (unsigned i = 0; i < n; i++)
		by[cpus[i].state & 3]++;
	for (int k = 0; k < VS_TASK_STATES; k++)
		live += now->tasks[k];
	len = snprintf(buf, sizeof(buf),
		       "SCHED %llums: cpus=%u run=%u idle=%u parked=%u lent=%u tasks=%llu "
		       "ready=%llu blocked=%llu exited=%llu switches=+%llu wakes=+%llu steals=+%llu "
		       "parks=+%llu",
		       (unsigned long long)ms, now->ncpus, by[0], by[1], by[2], by[3],
		       (unsigned long long)live, (unsigned long long)now->tasks[VS_TASK_READY],
		       (unsigned long long)now->tasks[VS_TASK_BLOCKED],
		       (unsigned long long)now->tasks[VS_TASK_EXITED],
		       (unsigned long long)(now->total.switches - was->total.switches),
		       (unsigned long long)(now->total.wakes_local + now->total.wakes_remote -
					    was->total.wakes_local - was->total.wakes_remote),
		       (unsigned long long)(now->total.steals - was->total.steals),
		       (unsigned long long)(now->total.parks - was->total.parks));
	for (unsigned i = 0; i < n && len > 0 && (size_t)len < sizeof(buf) - 64; i++) {
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, " [%u %s q=%u", i,
				cpu_state[cpus[i].state & 3], cpus[i].queued);
		if (cpus[i].current) {
			task_name(cpus[i].current, name, sizeof(name));
			len += snprintf(buf + len, sizeof(buf) - (size_t)len, " t=%llu%s%s",
					(unsigned long long)cpus[i].current, name[0] ? " " : "",
					name);
		}
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "]");
	}
	fprintf(stderr, "%s\n", buf);
}

static void *schedtrace(void *arg)
{
	uint64_t period = (uint64_t)(uintptr_t)arg, t0 = rt_now(), next = t0;
	unsigned n = rt_g->ncpus;
	struct vs_cpu_stats *cpus = calloc(n, sizeof(*cpus));
	struct vs_stats was, now;

	if (!cpus || vs_stats_get(&was, NULL, 0) < 0) {
		free(cpus);
		return NULL;
	}
	for (;;) {
		struct timespec ts;
		bool stop;

		next += period;
		ts.tv_sec = (time_t)(next / 1000000000u);
		ts.tv_nsec = (long)(next % 1000000000u);
		pthread_mutex_lock(&trace_lock);
		while (!trace_stop &&
		       pthread_cond_timedwait(&trace_cond, &trace_lock, &ts) != ETIMEDOUT)
			;
		stop = trace_stop;
		pthread_mutex_unlock(&trace_lock);
		if (stop)
			break;
		if (vs_stats_get(&now, cpus, n) < 0)
			break;
		schedtrace_line((rt_now() - t0) / 1000000u, &was, &now, cpus, n);
		was = now;
	}
	free(cpus);
	return NULL;
}

void rt_schedtrace_start(void)
{
	const char *e = getenv("VSCHED_SCHEDTRACE");
	char *end;
	unsigned long ms;

	if (!e || !*e)
		return;
	ms = strtoul(e, &end, 10);
	if (*end || ms == 0 || ms > 3600000) {
		fprintf(stderr, "vsched: VSCHED_SCHEDTRACE=%s: not a period in ms (1..3600000)\n", e);
		return;
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&trace_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	trace_stop = false;
	trace_on = pthread_create(&trace_thread, NULL, schedtrace,
				  (void *)(uintptr_t)(ms * 1000000u)) == 0;
}

void rt_schedtrace_stop(void)
{
	if (!trace_on)
		return;
	pthread_mutex_lock(&trace_lock);
	trace_stop = true;
	pthread_cond_signal(&trace_cond);
	pthread_mutex_unlock(&trace_lock);
	pthread_join(trace_thread, NULL);
	pthread_cond_destroy(&trace_cond);
	trace_on = false;
}

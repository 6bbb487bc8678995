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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rt.h"
#include "preempt.h"
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
	struct vs_task *cur = __atomic_load_n(&c->cur, __ATOMIC_RELAXED);
	uint64_t q = 0;

	memset(o, 0, sizeof(*o));
	o->switches = ld(&c->core->nr_switches);
	o->steals = ld(&c->core->nr_steals);
	sum_into(o, &c->st);
	if (vsched_queue_len(c->id, &q) == 0)
		o->queued = (uint32_t)q;
	if (c->dcpu && !c->dheld)
		o->state = VS_CPU_LENT;
	else if (atomic_load_explicit(&c->parked, memory_order_relaxed))
		o->state = VS_CPU_PARKED;
	else if (!cur || cur->idle)
		o->state = VS_CPU_IDLE;
	else
		o->state = VS_CPU_RUNNING;
	o->current = cur && !cur->idle ? vs_task_id(cur) : 0;
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

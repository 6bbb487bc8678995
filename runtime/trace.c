/* SPDX-License-Identifier: MIT */
/*
 * VSCHED_TRACE=file: scheduling events, written at stop as Chrome
 * trace-event JSON (ui.perfetto.dev and chrome://tracing open it).
 *
 * Each CPU's thread writes its events into a ring of its own, without
 * locks or atomics: the ring keeps the newest VSCHED_TRACE_EVENTS (65536
 * by default, rounded up to a power of two) and counts what it dropped.
 * Threads that are no CPU (a waker from outside, the ticking thread) share
 * one more ring, taking places with an atomic add. Nothing reads a ring
 * before every thread that writes it has stopped: the file is written at
 * stop, after the CPU threads are joined.
 *
 * In the file: a lane per CPU (and one for the outside). What ran is a
 * span ("X") per switch, named after the task (or "idle"), up to the
 * CPU's next switch or park; parks are spans too; wake-ups, blocks,
 * spawns, exits, steals, preemptions, I/O submissions and completions and
 * domain hand-offs are instants ("i") with their arguments. "otherData"
 * has the statistics at stop, so that a reader can check the one
 * against the other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "preempt.h"
#include "rt.h"
#include "vvar.h"

struct rt_tev {
	uint64_t ts;
	uint16_t kind;
	uint16_t pad;
	uint32_t x;
	uint64_t a, b;
	char name[16];
};

static const char *const kind_names[] = {
	[RT_TE_SWITCH] = "switch",   [RT_TE_WAKE] = "wake",	 [RT_TE_BLOCK] = "block",
	[RT_TE_SPAWN] = "spawn",     [RT_TE_EXIT] = "exit",	 [RT_TE_STEAL] = "steal",
	[RT_TE_PARK] = "park",	     [RT_TE_UNPARK] = "unpark", [RT_TE_PREEMPT] = "preempt",
	[RT_TE_IO_SUBMIT] = "io",    [RT_TE_IO_DONE] = "io done", [RT_TE_HANDOFF] = "handoff",
};

static struct rt_tev *ring_of(unsigned i)
{
	return (struct rt_tev *)rt_g->trace_mem + (size_t)i * rt_g->trace_cap;
}

void rt_trace_emit(unsigned kind, uint64_t a, uint64_t b, uint32_t x, const char *name)
{
	struct rt *rt = rt_g;
	struct rt_cpu *c = rt_self();
	uint64_t n;
	struct rt_tev *e;

	if (c) {
		n = c->trace_n++;
		e = ring_of(c->id) + (n & (rt->trace_cap - 1));
	} else {
		n = atomic_fetch_add_explicit(&rt->trace_out_n, 1, memory_order_relaxed);
		e = ring_of(rt->ncpus) + (n & (rt->trace_cap - 1));
	}
	e->ts = vsched_clock_read();
	e->kind = (uint16_t)kind;
	e->x = x;
	e->a = a;
	e->b = b;
	if (name)
		memcpy(e->name, name, sizeof(e->name));
	else
		e->name[0] = 0;
}

void rt_trace_switch(struct rt_cpu *c, struct vs_task *t)
{
	uint64_t sw = atomic_load_explicit(&c->core->nr_switches, memory_order_relaxed);

	if (sw == c->trace_sw)
		return;
	/* x: how many switches the core made since the last event (more
	 * than one when one went unseen, as idle to a task and back) */
	rt_trace_emit(RT_TE_SWITCH, t->idle ? 0 : rt_ref(t), t->idle, (uint32_t)(sw - c->trace_sw),
		      t->name);
	c->trace_sw = sw;
}

int rt_trace_start(struct rt *rt)
{
	const char *path = getenv("VSCHED_TRACE"), *ev = getenv("VSCHED_TRACE_EVENTS");
	unsigned long want = ev && *ev ? strtoul(ev, NULL, 10) : 65536;
	size_t cap = 16;

	if (!path || !*path)
		return 0;
	if (want < 16)
		want = 16;
	if (want > (1ul << 24))
		want = 1ul << 24;
	while (cap < want)
		cap <<= 1;
	rt->trace_cap = cap;
	rt->trace_len = (rt->ncpus + 1) * cap * sizeof(struct rt_tev);
	/* reserved, not committed: a ring costs what it holds */
	rt->trace_mem = mmap(NULL, rt->trace_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (rt->trace_mem == MAP_FAILED) {
		rt->trace_mem = NULL;
		return -ENOMEM;
	}
	rt->trace_path = strdup(path);
	if (!rt->trace_path) {
		munmap(rt->trace_mem, rt->trace_len);
		rt->trace_mem = NULL;
		return -ENOMEM;
	}
	if (!rt->clk_per_ms)
		rt->clk_per_ms = rt_clock_calibrate();
	rt->trace_t0 = vsched_clock_read();
	rt->trace = true;
	return 0;
}

/* @ts in microseconds since the start, as the format wants them, in
 * whole nanoseconds (so that a span's end is the next one's start as
 * printed) */
static double us(uint64_t ts)
{
	uint64_t t0 = rt_g->trace_t0, d = ts > t0 ? ts - t0 : 0, per_ms = rt_g->clk_per_ms;
	uint64_t ns = d / per_ms * 1000000u + d % per_ms * 1000000u / per_ms;

	return (double)ns / 1000.0;
}

/* A task's name, fit for a JSON string. */
static void json_name(FILE *f, const char *n, uint64_t id)
{
	char s[17];
	size_t i;

	for (i = 0; i < 16 && n[i]; i++)
		s[i] = n[i] >= 0x20 && n[i] < 0x7f && n[i] != '"' && n[i] != '\\' ? n[i] : '?';
	s[i] = 0;
	if (i)
		fprintf(f, "\"%s\"", s);
	else
		fprintf(f, "\"task %llu\"", (unsigned long long)id);
}

static const char *const wait_names[] = { "direct", "queue", "io" };

/* One lane's events, oldest first: @n written into @ring. */
static void lane(FILE *f, unsigned tid, const struct rt_tev *ring, uint64_t n, bool *first,
		 uint64_t *counts)
{
	uint64_t cap = rt_g->trace_cap, from = n > cap ? n - cap : 0;
	const struct rt_tev *open = NULL; /* the span running, if any */

	for (uint64_t k = from; k <= n; k++) {
		const struct rt_tev *e = k < n ? &ring[k & (cap - 1)] : NULL;
		bool ends = !e || e->kind == RT_TE_SWITCH || e->kind == RT_TE_PARK;

		if (open && ends) {
			/* the span that ran up to this event */
			fprintf(f, "%s\n{\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"ts\":%.3f,\"dur\":%.3f,"
				   "\"name\":",
				*first ? "" : ",", tid, us(open->ts),
				us(e ? e->ts : open->ts) - us(open->ts));
			if (open->kind == RT_TE_PARK)
				fprintf(f, "\"parked\"");
			else if (open->b)
				fprintf(f, "\"idle\"");
			else
				json_name(f, open->name, open->a);
			if (open->kind == RT_TE_SWITCH)
				fprintf(f, ",\"args\":{\"task\":%llu,\"switches\":%u}}",
					(unsigned long long)open->a, open->x);
			else
				fprintf(f, ",\"args\":{}}");
			*first = false;
			open = NULL;
		}
		if (!e)
			break;
		if (e->kind < RT_TE_KINDS)
			counts[e->kind]++;
		if (e->kind == RT_TE_SWITCH || e->kind == RT_TE_PARK) {
			open = e;
			continue;
		}
		if (e->kind == RT_TE_UNPARK)
			continue;
		fprintf(f, "%s\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%u,\"ts\":%.3f,\"name\":\"%s\","
			   "\"args\":{",
			*first ? "" : ",", tid, us(e->ts),
			e->kind < RT_TE_KINDS ? kind_names[e->kind] : "?");
		*first = false;
		switch (e->kind) {
		case RT_TE_WAKE:
			fprintf(f, "\"task\":%llu,\"by\":%llu", (unsigned long long)e->a,
				(unsigned long long)e->b);
			break;
		case RT_TE_BLOCK:
			fprintf(f, "\"task\":%llu,\"on\":\"%s\"", (unsigned long long)e->a,
				e->x < 3 ? wait_names[e->x] : "?");
			break;
		case RT_TE_SPAWN:
			fprintf(f, "\"task\":%llu,\"name\":", (unsigned long long)e->a);
			json_name(f, e->name, e->a);
			break;
		case RT_TE_STEAL:
			fprintf(f, "\"tasks\":%u", e->x);
			break;
		case RT_TE_IO_SUBMIT:
		case RT_TE_IO_DONE:
			fprintf(f, "\"task\":%llu,\"kind\":%u,\"result\":%lld",
				(unsigned long long)e->a, e->x, (long long)e->b);
			break;
		case RT_TE_HANDOFF:
			fprintf(f, "\"cpu\":%u,\"to_member\":%lld", e->x, (long long)e->a - 1);
			break;
		default:
			fprintf(f, "\"task\":%llu", (unsigned long long)e->a);
		}
		fprintf(f, "}}");
	}
}

void rt_trace_end(struct rt *rt)
{
	uint64_t counts[RT_TE_KINDS] = { 0 }, dropped = 0;
	struct vs_cpu_stats *cpus;
	struct vs_stats s;
	bool first = true;
	FILE *f;

	if (!rt->trace_mem)
		return;
	cpus = calloc(rt->ncpus, sizeof(*cpus));
	f = fopen(rt->trace_path, "w");
	if (!f || !cpus || vs_stats_get(&s, cpus, rt->ncpus) < 0) {
		fprintf(stderr, "vsched: VSCHED_TRACE=%s: cannot write the trace\n", rt->trace_path);
		goto out;
	}
	fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
	fprintf(f, "\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":"
		   "\"vsched\"}}");
	first = false;
	for (unsigned i = 0; i <= rt->ncpus; i++) {
		uint64_t n = i < rt->ncpus ? rt->cpus[i].trace_n :
					     atomic_load_explicit(&rt->trace_out_n, memory_order_relaxed);

		if (i < rt->ncpus)
			fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\","
				   "\"args\":{\"name\":\"CPU %u\"}}", i, i);
		else
			fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\","
				   "\"args\":{\"name\":\"outside\"}}", i);
		dropped += n > rt->trace_cap ? n - rt->trace_cap : 0;
		lane(f, i, ring_of(i), n, &first, counts);
	}
	fprintf(f, "\n],\"otherData\":{\"dropped\":%llu,\"spawned\":%llu,\"wakes\":%llu,"
		   "\"preempts\":%llu,\"switches\":[",
		(unsigned long long)dropped, (unsigned long long)s.spawned,
		(unsigned long long)(s.total.wakes_local + s.total.wakes_remote),
		(unsigned long long)s.total.preempts);
	for (unsigned i = 0; i < rt->ncpus; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)cpus[i].switches);
	fprintf(f, "]}}\n");
out:
	if (f)
		fclose(f);
	free(cpus);
	munmap(rt->trace_mem, rt->trace_len);
	rt->trace_mem = NULL;
	free(rt->trace_path);
	rt->trace_path = NULL;
	rt->trace = false;
}

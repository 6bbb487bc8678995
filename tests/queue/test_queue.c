/* SPDX-License-Identifier: MIT */
/*
 * The run-queue ring (vsched/queue.h): single-thread semantics against a
 * model, with counters across 2^31, 2^32 and above; then exactly-once and
 * per-producer order under producer/consumer, steal-like and mixed stress.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "queue.h"

#define CHECK(cond, ...)                  \
	do {                              \
		if (!(cond))              \
			fail_msg(__VA_ARGS__); \
	} while (0)

static const uint32_t caps[] = { 4, 8, 1024 };
/* Position counters to start from: zero, across 2^31, across 2^32 off and
 * on a lap boundary, and across 2^34 (counters above 32 bits). */
static const uint64_t starts[] = { 0, 0x7ffffff9, 0xfffffff3, 0xffffff00, 0x3fffffff9 };

#define NCAPS (sizeof(caps) / sizeof(caps[0]))
#define NSTARTS (sizeof(starts) / sizeof(starts[0]))

struct tring {
	struct vs_ring r;
	uint32_t cap;
	_Atomic uint64_t *pos; /* enq at [0], deq a cache line later at [8] */
};

/* The word empty cell @i holds when both counters are at @pos: the cell is
 * next pushed at the first position >= pos that maps to it. */
static uint64_t empty_word(uint64_t pos, uint32_t i, uint32_t mask)
{
	uint64_t next = pos + ((i - (uint32_t)pos) & mask);

	return (uint64_t)(uint32_t)((uint32_t)next - i) << 32;
}

/* Zeroed, 64-byte aligned storage; cells rewritten only when @start is not
 * 0, so start 0 checks that all-zero memory is an empty ring. */
static void tring_init(struct tring *t, uint32_t cap, uint64_t start)
{
	size_t bytes = ((size_t)cap * sizeof(uint64_t) + 63) & ~(size_t)63;

	t->cap = cap;
	t->r.mask = cap - 1;
	t->r.cells = aligned_alloc(64, bytes);
	t->pos = aligned_alloc(64, 128);
	assert_non_null(t->r.cells);
	assert_non_null(t->pos);
	memset((void *)t->r.cells, 0, bytes);
	memset((void *)t->pos, 0, 128);
	t->r.enq = &t->pos[0];
	t->r.deq = &t->pos[8];
	if (start == 0)
		return;
	for (uint32_t i = 0; i < cap; i++)
		atomic_store(&t->r.cells[i], empty_word(start, i, cap - 1));
	atomic_store(t->r.enq, start);
	atomic_store(t->r.deq, start);
}

static void tring_free(struct tring *t)
{
	free((void *)t->r.cells);
	free((void *)t->pos);
}

static uint64_t load(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Counters, then cells. */
static uint64_t *snap_take(const struct tring *t)
{
	uint64_t *s = malloc((t->cap + 2) * sizeof(*s));

	assert_non_null(s);
	s[0] = load(t->r.enq);
	s[1] = load(t->r.deq);
	for (uint32_t i = 0; i < t->cap; i++)
		s[i + 2] = load(&t->r.cells[i]);
	return s;
}

/* Index of the first differing word plus one, or 0 if all match. */
static uint32_t snap_diff(const struct tring *t, const uint64_t *s)
{
	uint64_t *now = snap_take(t);
	uint32_t at = 0;

	for (uint32_t i = 0; i < t->cap + 2 && !at; i++)
		if (now[i] != s[i])
			at = i + 1;
	free(now);
	return at;
}

/* Drained ring: counters equal at @pos, every cell released for its next
 * lap. Returns the first bad cell plus one, or 0. */
static uint32_t check_empty_at(const struct tring *t, uint64_t pos)
{
	if (load(t->r.enq) != pos || load(t->r.deq) != pos)
		return UINT32_MAX;
	for (uint32_t i = 0; i < t->cap; i++)
		if (load(&t->r.cells[i]) != empty_word(pos, i, t->r.mask))
			return i + 1;
	return 0;
}

/* A bijection on 32 bits with 0 -> 0: distinct non-zero values spread over
 * the whole range for counters 1, 2, ... */
static uint32_t val_of(uint32_t n)
{
	n ^= n >> 16;
	n *= 0x7feb352du;
	n ^= n >> 15;
	n *= 0x846ca68bu;
	n ^= n >> 16;
	return n;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void ring_empty(void **state)
{
	(void)state;
	for (uint32_t c = 0; c < NCAPS; c++) {
		struct tring t;
		uint64_t *s;

		for (uint32_t i = 0; i < caps[c]; i++)
			CHECK(empty_word(0, i, caps[c] - 1) == 0,
			      "cap %u: start-0 cell %u should be zero", caps[c], i);
		tring_init(&t, caps[c], 0);
		s = snap_take(&t);
		for (int k = 0; k < 3; k++) {
			uint32_t v = vs_ring_pop(&t.r);

			CHECK(v == 0, "cap %u: pop on zeroed ring returned %#x", caps[c], v);
		}
		CHECK(vs_ring_len(&t.r) == 0, "cap %u: len %llu on zeroed ring", caps[c],
		      (unsigned long long)vs_ring_len(&t.r));
		CHECK(snap_diff(&t, s) == 0, "cap %u: pop on empty changed word %u", caps[c],
		      snap_diff(&t, s) - 1);
		free(s);
		tring_free(&t);
	}
}

static void run_fill(uint32_t cap, uint64_t start)
{
	struct tring t;
	uint64_t *s;
	uint32_t v;

	tring_init(&t, cap, start);
	for (uint32_t i = 0; i < cap; i++) {
		CHECK(vs_ring_push(&t.r, val_of(i + 1)) == 0, "cap %u start %#llx: push %u of %u failed",
		      cap, (unsigned long long)start, i + 1, cap);
		CHECK(vs_ring_len(&t.r) == i + 1, "cap %u start %#llx: len %llu after %u pushes",
		      cap, (unsigned long long)start, (unsigned long long)vs_ring_len(&t.r), i + 1);
	}
	s = snap_take(&t);
	for (int k = 0; k < 2; k++)
		CHECK(vs_ring_push(&t.r, 0xffffffffu) == VS_RING_FULL, "cap %u start %#llx: push on full ring succeeded",
		      cap, (unsigned long long)start);
	CHECK(snap_diff(&t, s) == 0, "cap %u start %#llx: failed push changed word %u", cap,
	      (unsigned long long)start, snap_diff(&t, s) - 1);
	CHECK(vs_ring_len(&t.r) == cap, "cap %u start %#llx: len %llu when full", cap,
	      (unsigned long long)start, (unsigned long long)vs_ring_len(&t.r));
	free(s);

	v = vs_ring_pop(&t.r);
	CHECK(v == val_of(1), "cap %u start %#llx: first pop from full ring %#x, want %#x", cap,
	      (unsigned long long)start, v, val_of(1));
	CHECK(vs_ring_push(&t.r, val_of(cap + 1)) == 0, "cap %u start %#llx: push after one pop failed",
	      cap, (unsigned long long)start);
	CHECK(vs_ring_push(&t.r, 1) == VS_RING_FULL, "cap %u start %#llx: push on refilled ring succeeded", cap,
	      (unsigned long long)start);
	for (uint32_t i = 2; i <= cap + 1; i++) {
		v = vs_ring_pop(&t.r);
		CHECK(v == val_of(i), "cap %u start %#llx: pop %u gave %#x, want %#x", cap,
		      (unsigned long long)start, i, v, val_of(i));
		CHECK(vs_ring_len(&t.r) == cap + 1 - i, "cap %u start %#llx: len %llu after pop %u",
		      cap, (unsigned long long)start, (unsigned long long)vs_ring_len(&t.r), i);
	}
	v = vs_ring_pop(&t.r);
	CHECK(v == 0, "cap %u start %#llx: pop on drained ring gave %#x", cap,
	      (unsigned long long)start, v);
	v = check_empty_at(&t, start + cap + 1);
	CHECK(v == 0, "cap %u start %#llx: drained ring not in empty state (word %d)", cap,
	      (unsigned long long)start, (int)v - 1);
	tring_free(&t);
}

/* Fill to exactly capacity; a push on full fails and changes nothing. */
static void ring_fill(void **state)
{
	(void)state;
	for (uint32_t c = 0; c < NCAPS; c++)
		for (uint32_t s = 0; s < NSTARTS; s++)
			run_fill(caps[c], starts[s]);
	run_fill(2, 0);
	run_fill(2, 0xffffffff);
}

struct model {
	uint32_t *v;
	uint32_t cap;
	uint64_t head, tail;
};

struct laps {
	struct tring t;
	struct model m;
	uint64_t start, op, pushes, pops, rejects, empties;
	uint32_t next;
};

static void laps_push(struct laps *l)
{
	struct model *m = &l->m;
	bool room = m->tail - m->head < m->cap;
	uint64_t *s = room ? NULL : snap_take(&l->t);
	uint32_t v = val_of(l->next);
	bool ok = vs_ring_push(&l->t.r, v) == 0;

	CHECK(ok == room, "cap %u start %#llx op %llu: push with %llu queued returned %d", m->cap,
	      (unsigned long long)l->start, (unsigned long long)l->op,
	      (unsigned long long)(m->tail - m->head), ok);
	if (ok) {
		m->v[m->tail++ % m->cap] = v;
		l->next++;
		l->pushes++;
	} else {
		CHECK(snap_diff(&l->t, s) == 0, "cap %u start %#llx op %llu: failed push changed word %u",
		      m->cap, (unsigned long long)l->start, (unsigned long long)l->op,
		      snap_diff(&l->t, s) - 1);
		l->rejects++;
	}
	free(s);
}

static void laps_pop(struct laps *l)
{
	struct model *m = &l->m;
	uint32_t want = m->tail > m->head ? m->v[m->head % m->cap] : 0;
	uint32_t got = vs_ring_pop(&l->t.r);

	CHECK(got == want, "cap %u start %#llx op %llu: pop gave %#x, want %#x", m->cap,
	      (unsigned long long)l->start, (unsigned long long)l->op, got, want);
	if (want) {
		m->head++;
		l->pops++;
	} else {
		l->empties++;
	}
}

/* Walk to fill levels full, random, empty, random, ... with one op in
 * eight going the other way, for at least ten laps; on reaching full or
 * empty, one more push or pop must fail. */
static void run_laps(uint32_t cap, uint64_t start)
{
	struct laps l = { .start = start, .next = 1 };
	uint64_t goal = 10ull * cap < 4096 ? 4096 : 10ull * cap;
	uint32_t rng = 0x9e3779b9u ^ cap ^ (uint32_t)start, target = 0, phase = 0, v;

	tring_init(&l.t, cap, start);
	l.m.cap = cap;
	l.m.v = calloc(cap, sizeof(*l.m.v));
	assert_non_null(l.m.v);
	for (; l.pushes < goal; l.op++) {
		uint64_t len = l.m.tail - l.m.head;
		bool up;

		if (len == target) {
			if (target == cap)
				laps_push(&l);
			else if (target == 0)
				laps_pop(&l);
			phase++;
			target = phase % 4 == 0 ? cap : phase % 4 == 2 ? 0 : xorshift(&rng) % (cap + 1);
		}
		up = len == target ? xorshift(&rng) & 1 : len < target;
		if ((xorshift(&rng) & 7) == 0)
			up = !up;
		if (up)
			laps_push(&l);
		else
			laps_pop(&l);
		CHECK(vs_ring_len(&l.t.r) == l.m.tail - l.m.head,
		      "cap %u start %#llx op %llu: len %llu, want %llu", cap,
		      (unsigned long long)start, (unsigned long long)l.op,
		      (unsigned long long)vs_ring_len(&l.t.r),
		      (unsigned long long)(l.m.tail - l.m.head));
		CHECK(load(l.t.r.enq) == start + l.pushes && load(l.t.r.deq) == start + l.pops,
		      "cap %u start %#llx op %llu: counters %#llx/%#llx, want %#llx/%#llx", cap,
		      (unsigned long long)start, (unsigned long long)l.op,
		      (unsigned long long)load(l.t.r.enq), (unsigned long long)load(l.t.r.deq),
		      (unsigned long long)(start + l.pushes), (unsigned long long)(start + l.pops));
	}
	while (l.m.tail > l.m.head)
		laps_pop(&l);
	laps_pop(&l);
	v = check_empty_at(&l.t, start + l.pushes);
	CHECK(v == 0, "cap %u start %#llx: drained ring not in empty state (word %d)", cap,
	      (unsigned long long)start, (int)v - 1);
	CHECK(l.rejects > 0 && l.empties > 0,
	      "cap %u start %#llx: walk never met full (%llu) or empty (%llu)", cap,
	      (unsigned long long)start, (unsigned long long)l.rejects,
	      (unsigned long long)l.empties);
	free(l.m.v);
	tring_free(&l.t);
}

static void ring_laps(void **state)
{
	(void)state;
	for (uint32_t c = 0; c < NCAPS; c++)
		for (uint32_t s = 0; s < NSTARTS; s++)
			run_laps(caps[c], starts[s]);
}

/* Values are the low half of the cell: all 32 bits must survive and none
 * may leak into the sequence half (a full ring of 0xffffffff still reads
 * as full). */
static void ring_values(void **state)
{
	static const uint32_t vals[] = { 1, 0x7fffffff, 0x80000000, 0xfffffffe,
					 0xffffffff, 0x00010000, 0xffff0000, 2 };
	struct tring t;
	uint32_t v;

	(void)state;
	tring_init(&t, 8, 0xfffffffc);
	for (int lap = 0; lap < 3; lap++) {
		for (int i = 0; i < 8; i++)
			CHECK(vs_ring_push(&t.r, 0xffffffffu) == 0, "lap %d: push %d of 0xffffffff failed",
			      lap, i);
		CHECK(vs_ring_push(&t.r, 0xffffffffu) == VS_RING_FULL, "lap %d: ring of 0xffffffff not full", lap);
		CHECK(vs_ring_len(&t.r) == 8, "lap %d: len %llu", lap,
		      (unsigned long long)vs_ring_len(&t.r));
		for (int i = 0; i < 8; i++) {
			v = vs_ring_pop(&t.r);
			CHECK(v == 0xffffffffu, "lap %d: pop %d gave %#x", lap, i, v);
		}
		CHECK(vs_ring_pop(&t.r) == 0, "lap %d: ring not empty after 8 pops", lap);
		for (int i = 0; i < 8; i++)
			CHECK(vs_ring_push(&t.r, vals[i]) == 0, "lap %d: push %#x failed", lap, vals[i]);
		for (int i = 0; i < 8; i++) {
			v = vs_ring_pop(&t.r);
			CHECK(v == vals[i], "lap %d: pop gave %#x, want %#x", lap, v, vals[i]);
		}
	}
	tring_free(&t);
}

/* ---- concurrent stress ----
 * Besides the value, each producer writes a plain payload word before the
 * push that the consumer checks after the pop, so a push that does not
 * publish is a wrong word here and a data race under ThreadSanitizer. */

/*
 * Cells another process scribbled on (a shared ring): every cell claims a
 * sequence far ahead of the positions, which no run of this process's
 * own could make. A push or pop would re-read the position for ever; each
 * gives up instead, after a bounded number of turns, and changes nothing.
 */
static void ring_corrupt(void **state)
{
	struct tring t;
	uint64_t *s;

	(void)state;
	for (uint64_t ahead = 1; ahead < (1ull << 27); ahead = ahead * 7 + 3) {
		tring_init(&t, 8, 0);
		for (uint32_t i = 0; i < 8; i++)
			atomic_store(&t.r.cells[i], vs_cell((uint32_t)(i + 8 * ahead + 1), i, 5));
		s = snap_take(&t);
		CHECK(vs_ring_push(&t.r, 1) == VS_RING_STUCK, "ahead %llu: push did not give up",
		      (unsigned long long)ahead);
		CHECK(vs_ring_pop(&t.r) == 0, "ahead %llu: pop of a corrupt ring gave a value",
		      (unsigned long long)ahead);
		CHECK(snap_diff(&t, s) == 0, "ahead %llu: giving up changed word %u",
		      (unsigned long long)ahead, snap_diff(&t, s) - 1);
		free(s);
		tring_free(&t);
	}
}

#define MAX_THREADS 8
#define STRESS_CAP 64
/* Neither counter moving for this long means a livelocked ring. */
#define STALL_SECONDS 30

struct stress {
	struct tring t;
	uint64_t start;
	uint32_t nvals, per, vbase, nprod;
	_Atomic uint32_t prod_done;
	_Atomic uint32_t *seen; /* pops per value, by index */
	uint32_t *payload; /* plain data a producer writes before its push */
};

/* A thread pushes the indices [lo, hi) (as vbase + index) and/or pops.
 * burst 0: a pure producer, retrying on full. Otherwise it pushes bursts
 * of up to @burst, popping itself when full and between bursts. Threads
 * that pop keep on until every producer is done and the ring is empty. */
struct worker {
	struct stress *s;
	pthread_t tid;
	uint32_t lo, hi, burst, rng, id;
	uint64_t pushes, pops, full, empty;
	uint32_t last[MAX_THREADS]; /* per producer: 1 + last index popped */
	char err[256];
};

static void backoff(unsigned *spins)
{
	if (++*spins < 8)
		return;
	*spins = 0;
	sched_yield();
}

static void record(struct worker *w, uint32_t v)
{
	struct stress *s = w->s;
	uint32_t i = v - s->vbase, p;

	w->pops++;
	if (i >= s->nvals) {
		if (!w->err[0])
			snprintf(w->err, sizeof(w->err), "thread %u popped %#x, which nobody pushed",
				 w->id, v);
		return;
	}
	atomic_fetch_add_explicit(&s->seen[i], 1, memory_order_relaxed);
	if (s->payload[i] != ~v && !w->err[0])
		snprintf(w->err, sizeof(w->err),
			 "thread %u popped %#x but read its payload as %#x: the push did not publish it",
			 w->id, v, s->payload[i]);
	p = i / s->per;
	if (w->last[p] > i && !w->err[0])
		snprintf(w->err, sizeof(w->err),
			 "thread %u popped %#x after %#x, both pushed in that order by producer %u",
			 w->id, v, s->vbase + w->last[p] - 1, p);
	w->last[p] = i + 1;
}

static bool pop_one(struct worker *w)
{
	uint32_t v = vs_ring_pop(&w->s->t.r);

	if (v)
		record(w, v);
	else
		w->empty++;
	return v != 0;
}

static void produce(struct worker *w)
{
	const struct vs_ring *r = &w->s->t.r;
	unsigned spins = 0;
	uint32_t i = w->lo;

	while (i < w->hi) {
		uint32_t n = w->burst ? 1 + xorshift(&w->rng) % w->burst : w->hi - i;
		uint32_t npop = w->burst ? xorshift(&w->rng) % (n + 1) : 0;

		while (n && i < w->hi) {
			w->s->payload[i] = ~(w->s->vbase + i);
			if (vs_ring_push(r, w->s->vbase + i) == 0) {
				i++;
				n--;
				w->pushes++;
				spins = 0;
				continue;
			}
			w->full++;
			if (!w->burst || !pop_one(w))
				backoff(&spins);
		}
		while (npop-- && pop_one(w))
			;
	}
	atomic_fetch_add_explicit(&w->s->prod_done, 1, memory_order_release);
}

static void drain(struct worker *w)
{
	unsigned spins = 0;

	for (;;) {
		/* read before the pop: a pop that then finds nothing, after all
		 * pushes happened before, means the ring is really empty */
		bool done = atomic_load_explicit(&w->s->prod_done, memory_order_acquire) ==
			    w->s->nprod;

		if (pop_one(w)) {
			spins = 0;
			continue;
		}
		if (done)
			return;
		backoff(&spins);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (w->hi > w->lo)
		produce(w);
	if (w->burst || w->hi == w->lo)
		drain(w);
	return NULL;
}

static bool emulated(void)
{
	const char *e = getenv("VSCHED_EMULATED");

	return e && *e && strcmp(e, "0") != 0;
}

static uint32_t stress_values(void)
{
	return emulated() ? 4000000u / 4 : 4000000u;
}

/* A broken ring can livelock inside push or pop, where no flag reaches:
 * joins with a watchdog on the counters, and on a stall describes the ring
 * and ends the process (the workers cannot be stopped or unwound). */
static void stress_join(const char *name, struct stress *s, struct worker *w, uint32_t nw)
{
	uint64_t e0 = UINT64_MAX, d0 = UINT64_MAX;
	unsigned idle = 0;

	for (uint32_t k = 0; k < nw;) {
		struct timespec dl;
		uint64_t e, d;
		int rc;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		rc = pthread_timedjoin_np(w[k].tid, NULL, &dl);
		if (rc == 0) {
			k++;
			continue;
		}
		assert_int_equal(rc, ETIMEDOUT);
		e = load(s->t.r.enq);
		d = load(s->t.r.deq);
		idle = e == e0 && d == d0 ? idle + 1 : 0;
		e0 = e;
		d0 = d;
		if (idle < STALL_SECONDS)
			continue;
		for (uint32_t i = 0; i < s->nvals; i++) {
			uint32_t n = atomic_load(&s->seen[i]);

			if (n > 1) {
				print_message("%s: value %#x (producer %u, its #%u) popped %u times\n",
					      name, s->vbase + i, i / s->per, i % s->per, n);
				break;
			}
		}
		print_message("%s: no progress for %d s: enq %#llx deq %#llx (start %#llx), "
			      "cell at enq %#llx, cell at deq %#llx; the ring livelocked\n",
			      name, STALL_SECONDS, (unsigned long long)e, (unsigned long long)d,
			      (unsigned long long)s->start,
			      (unsigned long long)load(&s->t.r.cells[e & s->t.r.mask]),
			      (unsigned long long)load(&s->t.r.cells[d & s->t.r.mask]));
		fflush(stdout);
		fflush(stderr);
		_exit(1);
	}
}

/* Checks run on the main thread once all workers are joined. */
static void stress_verify(const char *name, struct stress *s, struct worker *w, uint32_t nw)
{
	uint64_t pushes = 0, pops = 0, end = s->start + s->nvals;
	uint32_t bad;

	for (uint32_t k = 0; k < nw; k++) {
		CHECK(!w[k].err[0], "%s: %s", name, w[k].err);
		pushes += w[k].pushes;
		pops += w[k].pops;
	}
	for (uint32_t i = 0; i < s->nvals; i++) {
		uint32_t n = atomic_load(&s->seen[i]);

		CHECK(n == 1, "%s: value %#x (producer %u, its #%u) popped %u times, want once",
		      name, s->vbase + i, i / s->per, i % s->per, n);
	}
	CHECK(pushes == s->nvals && pops == s->nvals, "%s: %llu pushes, %llu pops, want %u each",
	      name, (unsigned long long)pushes, (unsigned long long)pops, s->nvals);
	CHECK(vs_ring_pop(&s->t.r) == 0, "%s: ring not empty at the end", name);
	bad = check_empty_at(&s->t, end);
	CHECK(bad == 0, "%s: end state wrong (word %d; enq %#llx deq %#llx, want %#llx)", name,
	      (int)bad - 1, (unsigned long long)load(s->t.r.enq),
	      (unsigned long long)load(s->t.r.deq), (unsigned long long)end);
}

/* @npush threads own equal ranges of the values (pure producers if
 * @burst is 0, push-and-pop threads otherwise); @npop pure consumers. */
static void run_stress(const char *name, uint32_t npush, uint32_t burst, uint32_t npop,
		       uint64_t start, bool high_values)
{
	struct stress s = { .start = start, .nprod = npush };
	struct worker w[MAX_THREADS];
	uint32_t nw = npush + npop;
	struct timespec t0, t1;
	uint64_t full = 0, empty = 0;

	assert_true(npush >= 1 && nw <= MAX_THREADS);
	s.nvals = stress_values() / npush * npush;
	s.per = s.nvals / npush;
	s.vbase = high_values ? 0xffffffffu - s.nvals + 1 : 1;
	s.seen = calloc(s.nvals, sizeof(*s.seen));
	s.payload = calloc(s.nvals, sizeof(*s.payload));
	assert_non_null(s.seen);
	assert_non_null(s.payload);
	tring_init(&s.t, STRESS_CAP, start);
	memset(w, 0, sizeof(w));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t k = 0; k < nw; k++) {
		w[k].s = &s;
		w[k].id = k;
		w[k].rng = 0x2545f491u * (k + 1);
		if (k < npush) {
			w[k].lo = k * s.per;
			w[k].hi = w[k].lo + s.per;
			w[k].burst = burst;
		}
		assert_int_equal(pthread_create(&w[k].tid, NULL, worker_main, &w[k]), 0);
	}
	stress_join(name, &s, w, nw);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (uint32_t k = 0; k < nw; k++) {
		full += w[k].full;
		empty += w[k].empty;
	}
	print_message("%-18s %8u values %9llu ops %8llu full %8llu empty %6.2f s\n", name,
		      s.nvals, 2ull * s.nvals, (unsigned long long)full, (unsigned long long)empty,
		      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	stress_verify(name, &s, w, nw);
	free((void *)s.seen);
	free(s.payload);
	tring_free(&s.t);
}

/* Starts just below 2^32 so the sequences wrap mid-run; values end at
 * 0xffffffff. */
static void stress_2p2c(void **state)
{
	(void)state;
	run_stress("2 prod + 2 cons", 2, 0, 2, (1ull << 32) - stress_values() / 2, true);
}

static void stress_1p3c(void **state)
{
	(void)state;
	run_stress("1 prod + 3 cons", 1, 0, 3, 0, false);
}

static void stress_3p1c(void **state)
{
	(void)state;
	run_stress("3 prod + 1 cons", 3, 0, 1, 0, false);
}

/* An owner pushing bursts (some larger than the ring) and popping its own
 * ring, while two thieves pop from it. */
static void stress_steal(void **state)
{
	(void)state;
	run_stress("owner + 2 thieves", 1, 2 * STRESS_CAP, 2, 0, false);
}

/* Every thread pushes its own values and pops anyone's (the global ring). */
static void stress_mixed(void **state)
{
	(void)state;
	run_stress("4 push+pop", 4, STRESS_CAP / 4, 0, 0x7fffff00, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_empty),
		cmocka_unit_test(ring_fill),
		cmocka_unit_test(ring_laps),
		cmocka_unit_test(ring_values),
		cmocka_unit_test(ring_corrupt),
		cmocka_unit_test(stress_2p2c),
		cmocka_unit_test(stress_1p3c),
		cmocka_unit_test(stress_3p1c),
		cmocka_unit_test(stress_steal),
		cmocka_unit_test(stress_mixed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

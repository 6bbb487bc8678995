/* SPDX-License-Identifier: MIT */
/*
 * What every stress task does, whatever its kind: its random choices,
 * running exactly once, the waits, the mutex, the channel and children;
 * and the state of the run they share (stress.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

/* How often each operation is picked, out of their sum. */
static const unsigned weight[NOPS] = { 10, 8, 10, 8, 14, 8, 6, 2, 6, 10, 6, 6, 2 };

struct stress_params P;

/* Per task id. */
_Atomic uint8_t kind[MAX_IDS], started[MAX_IDS], done[MAX_IDS], running[MAX_IDS];
_Atomic uint8_t at[MAX_IDS];
_Atomic uint32_t at_arg[MAX_IDS];

atomic_uint next_id;
atomic_long nspawned, nfinished, wlive; /* wlive: workers not finished */
_Atomic uint64_t last_finish;
struct vs_wq done_wq;
atomic_ulong nops[NOPS], n_stackless, n_slept, n_woken, n_timed_out, n_busy;

atomic_int nerr;
char msg[NMSG][200];

void report(const char *fmt, ...)
{
	int k = atomic_fetch_add(&nerr, 1);
	va_list ap;

	if (k >= NMSG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg[k], sizeof(msg[k]), fmt, ap);
	va_end(ap);
}

uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* What task @id must exit with: any int, negative ones included. */
int code_of(uint32_t id)
{
	return (int)(mix(P.seed ^ ((uint64_t)id << 32)) % 2000001u) - 1000000;
}

uint32_t rnd(struct worker *w, uint32_t n)
{
	return (uint32_t)(mix(w->rng++) % n);
}

void worker_init(struct worker *w, uint32_t id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->kind = atomic_load(&kind[id]);
	w->rng = mix(P.seed ^ ((uint64_t)id * 0x2545f4914f6cdd1dull));
	w->max_ops = w->kind & (K_ROOT | K_DEALER) ? UINT_MAX : rnd(w, P.kid_ops) + 1;
}

enum op pick(struct worker *w)
{
	unsigned total = 0, r;
	int op;

	for (op = 0; op < NOPS; op++)
		total += weight[op];
	r = rnd(w, total);
	for (op = 0; r >= weight[op]; op++)
		r -= weight[op];
	return (enum op)op;
}

bool stopping(const struct worker *w)
{
	return w->ops >= w->max_ops || vs_now() >= P.deadline;
}

/* Of @total (ids, items) for the whole run, what may be used by now: an
 * even spread, so that the last second spawns as much as the first. */
static uint32_t budget(uint32_t total)
{
	uint64_t now = vs_now(), span = P.deadline - P.t0;

	if (now >= P.deadline || !span)
		return total;
	return (uint32_t)((double)total * (double)(now - P.t0) / (double)span) + 64;
}

/* ----------------------------------------------- running exactly once */

/* On every resume: nobody else may be running this task. */
void enter(struct worker *w)
{
	int cpu = vs_cpu_self();

	if (atomic_exchange(&running[w->id], 1))
		report("task %u resumed while running elsewhere", w->id);
	atomic_store_explicit(&at[w->id], AT_RUN, memory_order_relaxed);
	if (cpu < 0 || cpu >= NCPUS)
		report("task %u: vs_cpu_self() is %d", w->id, cpu);
	else if ((w->kind & (K_PIN0 | K_PIN1)) && !(w->kind & (K_PIN0 << cpu)))
		report("task %u pinned to CPU %d ran on CPU %d", w->id,
		       w->kind & K_PIN0 ? 0 : 1, cpu);
}

/* Before anything that may switch away: from here another CPU may run it. */
void leave(struct worker *w, int where, uint32_t arg)
{
	atomic_store_explicit(&at_arg[w->id], arg, memory_order_relaxed);
	atomic_store_explicit(&at[w->id], (uint8_t)where, memory_order_relaxed);
	if (atomic_exchange(&running[w->id], 0) != 1)
		report("task %u left while not marked running", w->id);
}

void begin(struct worker *w)
{
	if (atomic_fetch_add(&started[w->id], 1))
		report("task %u started twice", w->id);
	enter(w);
}

void finish(struct worker *w)
{
	if (atomic_fetch_add(&done[w->id], 1))
		report("task %u completed twice", w->id);
	atomic_fetch_add(&nops[OP_EXIT], 1);
	if (!(w->kind & K_DEALER))
		atomic_fetch_sub(&wlive, 1);
	leave(w, AT_DONE, 0);
	atomic_store(&last_finish, vs_now()); /* before: whoever sees all done sees it */
	if (atomic_fetch_add(&nfinished, 1) + 1 == atomic_load(&nspawned))
		vs_wq_notify_all(&done_wq);
}

/* ------------------------------------- waits that must each be woken */

/*
 * A debt wait on dq[q] owes one token: owed[q] counts tokens not yet paid,
 * bank[q] tokens paid and not yet taken. A payer moves tokens from owed to
 * bank, then notifies; a waiter sleeps until it takes one (under the
 * queue's lock). Each debt is paid once, with one notify, never again
 * (by any task; the dealers make sure it happens), so a wake-up lost by
 * the runtime leaves its waiter asleep for good.
 */
struct vs_wq dq[NQ], pq[NQ];
atomic_long owed[NQ], bank[NQ], posted[NQ], taken[NQ];
atomic_uint gen[NQ]; /* pq[q]'s generation, for timed waits */

bool take_token(void *arg)
{
	struct token_wait *tw = arg;
	long n = atomic_load(&bank[tw->q]);

	tw->calls++;
	while (n > 0)
		if (atomic_compare_exchange_weak(&bank[tw->q], &n, n - 1)) {
			atomic_fetch_add(&taken[tw->q], 1);
			return true;
		}
	return false;
}

void pay(int q, bool all)
{
	long n = atomic_load(&owed[q]), k;

	do {
		if (n <= 0)
			return;
		k = all ? n : 1;
	} while (!atomic_compare_exchange_weak(&owed[q], &n, n - k));
	atomic_fetch_add(&posted[q], k);
	atomic_fetch_add(&bank[q], k);
	if (all)
		vs_wq_notify_all(&dq[q]);
	else
		vs_wq_notify_one(&dq[q]);
}

void pulse(int q, bool all)
{
	atomic_fetch_add(&gen[q], 1);
	if (all)
		vs_wq_notify_all(&pq[q]);
	else
		vs_wq_notify_one(&pq[q]);
}

void notify_some(struct worker *w)
{
	if (rnd(w, 2))
		pay((int)rnd(w, NQ), rnd(w, 4) == 0);
	else
		pulse((int)rnd(w, NQ), rnd(w, 2));
	atomic_fetch_add(&nops[OP_NOTIFY], 1);
}

bool gen_moved(void *arg)
{
	struct moved *m = arg;

	return atomic_load(&gen[m->q]) != m->gen;
}

/* ------------------------------------------------ mutex and channel */

struct vs_mutex mx;
long mx_count; /* only under mx */
atomic_long mx_incs;
static atomic_uint mx_holder; /* id + 1 of the holder, 0 when free */

/* With mx held: a read-modify-write of mx_count, maybe switching away in
 * the middle, which any overlap with another holder would show. */
void critical(struct worker *w, bool may_yield)
{
	unsigned other = atomic_exchange(&mx_holder, w->id + 1);
	long v;

	if (other)
		report("task %u took the mutex held by task %u", w->id, other - 1);
	v = mx_count;
	if (may_yield && rnd(w, 4) == 0) {
		leave(w, OP_MUTEX, 1);
		if (vs_task_yield() != 0)
			report("task %u: yield holding the mutex failed", w->id);
		enter(w);
	}
	mx_count = v + 1;
	atomic_fetch_add(&mx_incs, 1);
	if (atomic_exchange(&mx_holder, 0) != w->id + 1)
		report("task %u: the mutex changed holder under it", w->id);
}

/*
 * Items are numbered and promised (credits) before they are sent; a
 * receiver first claims a credit, so it blocks only until the promised
 * item arrives. The dealers claim what nobody else does and drain it.
 */
vs_chan_t *ch;
atomic_uint chan_next;
atomic_long credits, chan_sent, chan_recvd;
_Atomic uint8_t tally[CHAN_MAX];

bool promise(uint32_t *v)
{
	if (atomic_load(&chan_next) >= budget(CHAN_MAX))
		return false;
	*v = atomic_fetch_add(&chan_next, 1);
	if (*v >= CHAN_MAX)
		return false;
	atomic_fetch_add(&credits, 1);
	return true;
}

long claim(long want)
{
	long c = atomic_load(&credits), k;

	do {
		if (c <= 0)
			return 0;
		k = c < want ? c : want;
	} while (!atomic_compare_exchange_weak(&credits, &c, c - k));
	return k;
}

void received(uint32_t v, uint32_t by)
{
	atomic_fetch_add(&chan_recvd, 1);
	if (v >= CHAN_MAX || v >= atomic_load(&chan_next))
		report("task %u received item %u, never sent", by, v);
	else if (atomic_exchange(&tally[v], 1))
		report("task %u received item %u twice", by, v);
}

/* ------------------------------------------------------ children */

/* Spawns task @id of kind @k; false (after a report) if it failed. */
bool spawn_task(uint32_t id, uint8_t k, const struct vs_task_attr *a, vs_task_t **t)
{
	struct worker *sw = NULL;
	int r;

	atomic_store(&kind[id], k);
	if (!(k & K_DEALER))
		atomic_fetch_add(&wlive, 1);
	atomic_fetch_add(&nspawned, 1);
	if (k & K_STACKLESS) {
		sw = malloc(sizeof(*sw));
		if (sw)
			worker_init(sw, id);
		r = sw ? vs_task_spawn_poll(sl_poll, sw, a, t) : -ENOMEM;
		atomic_fetch_add(&n_stackless, 1);
	} else {
		r = vs_task_spawn(k & K_DEALER ? dealer : sf_main, (void *)(uintptr_t)id, a, t);
	}
	if (r == 0)
		return true;
	report("spawning task %u failed: %d", id, r);
	free(sw);
	atomic_store(&done[id], 1);
	atomic_store(&started[id], 1);
	if (!(k & K_DEALER))
		atomic_fetch_sub(&wlive, 1);
	atomic_fetch_sub(&nspawned, 1);
	return false;
}

void spawn_kid(struct worker *w)
{
	struct vs_task_attr a = { 0 };
	char name[16];
	uint8_t k = 0;
	uint32_t id;
	int cpu;

	if (w->nkids == MAX_KIDS || atomic_load(&wlive) >= (long)P.live_cap ||
	    atomic_load(&next_id) >= budget(MAX_IDS))
		return;
	id = atomic_fetch_add(&next_id, 1);
	if (id >= MAX_IDS)
		return;
	switch (rnd(w, 4)) {
	case 0: /* the spawning CPU */
		break;
	case 1:
		a.place = VS_PLACE_CPU;
		a.cpu = (int)rnd(w, NCPUS);
		break;
	case 2:
		a.place = VS_PLACE_BALANCE;
		break;
	default:
		cpu = (int)rnd(w, NCPUS);
		a.affinity = 1ull << cpu;
		k |= (uint8_t)(K_PIN0 << cpu);
		break;
	}
	if (rnd(w, 3) == 0)
		k |= K_STACKLESS;
	else if (rnd(w, 8) == 0)
		a.stack_size = 128 * 1024; /* not the default: a stack of its own */
	snprintf(name, sizeof(name), "t%u", id);
	a.name = name;
	if (spawn_task(id, k, &a, &w->kids[w->nkids].t)) {
		w->kids[w->nkids++].id = id;
		atomic_fetch_add(&nops[OP_SPAWN], 1);
	}
}

struct kid take_kid(struct worker *w, unsigned i)
{
	struct kid k = w->kids[i];

	w->kids[i] = w->kids[--w->nkids];
	return k;
}

void joined(struct worker *w, struct kid k, int r, int code)
{
	atomic_fetch_add(&nops[OP_JOIN], 1);
	if (r != 0)
		report("task %u: joining task %u gave %d", w->id, k.id, r);
	else if (code != code_of(k.id))
		report("task %u: task %u exited with %d, not %d", w->id, k.id, code,
		       code_of(k.id));
	else if (atomic_load(&done[k.id]) != 1)
		report("task %u: joined task %u before it completed", w->id, k.id);
}

void detach_kid(struct worker *w, unsigned i)
{
	struct kid k = take_kid(w, i);
	int r = vs_task_detach(k.t);

	if (r != 0)
		report("task %u: detaching task %u gave %d", w->id, k.id, r);
	atomic_fetch_add(&nops[OP_DETACH], 1);
}

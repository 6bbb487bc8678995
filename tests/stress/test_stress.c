/* SPDX-License-Identifier: MIT */
/*
 * Stress: stackful and stackless tasks on two CPUs spawn, yield, sleep,
 * wait, notify, join, detach, migrate, lock and pass items through a
 * channel at random for a bounded time. Checked: each task runs to the end
 * once and never on two CPUs at once, joins give the right codes, nothing
 * goes through the mutex or the channel twice or not at all, and no
 * wake-up is lost (a watchdog names the tasks still waiting).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsched/sync.h"

#define US 1000ull
#define NCPUS 2
#define NQ 4		  /* wait queues of each kind */
#define MAX_KIDS 4	  /* children a task holds at once */
#define MAX_IDS (1u << 18) /* tasks over a whole run */
#define CHAN_CAP 4
#define CHAN_MAX (1u << 21) /* items over a whole run */

/* An operation; past NOPS, where a task is when it is not in one. */
enum op {
	OP_YIELD, OP_SLEEP, OP_WAIT, OP_TIMED, OP_NOTIFY, OP_SPAWN, OP_JOIN,
	OP_DETACH, OP_MIGRATE, OP_MUTEX, OP_SEND, OP_RECV, OP_EXIT, NOPS,
	AT_RUN = NOPS, AT_DONE
};

static const char *const op_name[] = {
	"yield", "sleep", "wait", "timed", "notify", "spawn", "join", "detach",
	"migrate", "mutex", "send", "recv", "exit", "run", "done",
};

/* How often each operation is picked, out of their sum. */
static const unsigned weight[NOPS] = { 10, 8, 10, 8, 14, 8, 6, 2, 6, 10, 6, 6, 2 };

enum { K_STACKLESS = 1, K_ROOT = 2, K_DEALER = 4, K_PIN0 = 8, K_PIN1 = 16 };

static struct {
	uint64_t seed, t0, deadline, grace;
	double seconds;
	unsigned roots, live_cap, kid_ops;
} P;

/* Per task id. */
static _Atomic uint8_t kind[MAX_IDS], started[MAX_IDS], done[MAX_IDS], running[MAX_IDS];
static _Atomic uint8_t at[MAX_IDS];
static _Atomic uint32_t at_arg[MAX_IDS];

static atomic_uint next_id;
static atomic_long nspawned, nfinished, wlive; /* wlive: workers not finished */
static _Atomic uint64_t last_finish;
static struct vs_wq done_wq;
static atomic_ulong nops[NOPS], n_stackless, n_slept, n_woken, n_timed_out, n_busy;

/* Tasks cannot use cmocka's asserts (they longjmp across stacks): they
 * note what went wrong here, and the test fails on it afterwards. */
#define NMSG 4
static atomic_int nerr;
static char msg[NMSG][200];

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	int k = atomic_fetch_add(&nerr, 1);
	va_list ap;

	if (k >= NMSG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg[k], sizeof(msg[k]), fmt, ap);
	va_end(ap);
}

#define EXPECT(cond, fmt, ...)                                                      \
	do {                                                                        \
		if (!(cond))                                                        \
			fail_msg("seed %#" PRIx64 ": " fmt, P.seed, __VA_ARGS__); \
	} while (0)

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* What task @id must exit with: any int, negative ones included. */
static int code_of(uint32_t id)
{
	return (int)(mix(P.seed ^ ((uint64_t)id << 32)) % 2000001u) - 1000000;
}

struct kid {
	vs_task_t *t;
	uint32_t id;
};

struct worker {
	uint32_t id;
	uint8_t kind;
	bool begun, winding;
	uint64_t rng; /* from the seed and the id: a task's choices repeat */
	unsigned ops, max_ops;
	unsigned nkids;
	struct kid kids[MAX_KIDS];
	/* a stackless task's operation in progress */
	int st, q;
	unsigned polls;
	uint32_t item;
	uint64_t until;
	struct kid cur;
};

static uint32_t rnd(struct worker *w, uint32_t n)
{
	return (uint32_t)(mix(w->rng++) % n);
}

static void worker_init(struct worker *w, uint32_t id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->kind = atomic_load(&kind[id]);
	w->rng = mix(P.seed ^ ((uint64_t)id * 0x2545f4914f6cdd1dull));
	w->max_ops = w->kind & (K_ROOT | K_DEALER) ? UINT_MAX : rnd(w, P.kid_ops) + 1;
}

static enum op pick(struct worker *w)
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

static bool stopping(const struct worker *w)
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
static void enter(struct worker *w)
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
static void leave(struct worker *w, int where, uint32_t arg)
{
	atomic_store_explicit(&at_arg[w->id], arg, memory_order_relaxed);
	atomic_store_explicit(&at[w->id], (uint8_t)where, memory_order_relaxed);
	if (atomic_exchange(&running[w->id], 0) != 1)
		report("task %u left while not marked running", w->id);
}

static void begin(struct worker *w)
{
	if (atomic_fetch_add(&started[w->id], 1))
		report("task %u started twice", w->id);
	enter(w);
}

static void finish(struct worker *w)
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
static struct vs_wq dq[NQ], pq[NQ];
static atomic_long owed[NQ], bank[NQ], posted[NQ], taken[NQ];
static atomic_uint gen[NQ]; /* pq[q]'s generation, for timed waits */

struct token_wait {
	int q;
	unsigned calls; /* more than one: it slept */
};

static bool take_token(void *arg)
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

static void pay(int q, bool all)
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

static void pulse(int q, bool all)
{
	atomic_fetch_add(&gen[q], 1);
	if (all)
		vs_wq_notify_all(&pq[q]);
	else
		vs_wq_notify_one(&pq[q]);
}

static void notify_some(struct worker *w)
{
	if (rnd(w, 2))
		pay((int)rnd(w, NQ), rnd(w, 4) == 0);
	else
		pulse((int)rnd(w, NQ), rnd(w, 2));
	atomic_fetch_add(&nops[OP_NOTIFY], 1);
}

struct moved {
	int q;
	unsigned gen;
};

static bool gen_moved(void *arg)
{
	struct moved *m = arg;

	return atomic_load(&gen[m->q]) != m->gen;
}

/* ------------------------------------------------ mutex and channel */

static struct vs_mutex mx;
static long mx_count; /* only under mx */
static atomic_long mx_incs;
static atomic_uint mx_holder; /* id + 1 of the holder, 0 when free */

/* With mx held: a read-modify-write of mx_count, maybe switching away in
 * the middle, which any overlap with another holder would show. */
static void critical(struct worker *w, bool may_yield)
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
static vs_chan_t *ch;
static atomic_uint chan_next;
static atomic_long credits, chan_sent, chan_recvd;
static _Atomic uint8_t tally[CHAN_MAX];

static bool promise(uint32_t *v)
{
	if (atomic_load(&chan_next) >= budget(CHAN_MAX))
		return false;
	*v = atomic_fetch_add(&chan_next, 1);
	if (*v >= CHAN_MAX)
		return false;
	atomic_fetch_add(&credits, 1);
	return true;
}

static long claim(long want)
{
	long c = atomic_load(&credits), k;

	do {
		if (c <= 0)
			return 0;
		k = c < want ? c : want;
	} while (!atomic_compare_exchange_weak(&credits, &c, c - k));
	return k;
}

static void received(uint32_t v, uint32_t by)
{
	atomic_fetch_add(&chan_recvd, 1);
	if (v >= CHAN_MAX || v >= atomic_load(&chan_next))
		report("task %u received item %u, never sent", by, v);
	else if (atomic_exchange(&tally[v], 1))
		report("task %u received item %u twice", by, v);
}

/* ------------------------------------------------------ children */

static int sf_main(void *arg);
static int dealer(void *arg);
static enum vs_poll sl_poll(void *state, int *code);

/* Spawns task @id of kind @k; false (after a report) if it failed. */
static bool spawn_task(uint32_t id, uint8_t k, const struct vs_task_attr *a, vs_task_t **t)
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

static void spawn_kid(struct worker *w)
{
	struct vs_task_attr a = { .cpu = -1 };
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
		a.cpu = (int)rnd(w, NCPUS);
		break;
	case 2:
		a.balance = 1;
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

static struct kid take_kid(struct worker *w, unsigned i)
{
	struct kid k = w->kids[i];

	w->kids[i] = w->kids[--w->nkids];
	return k;
}

static void joined(struct worker *w, struct kid k, int r, int code)
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

static void detach_kid(struct worker *w, unsigned i)
{
	struct kid k = take_kid(w, i);
	int r = vs_task_detach(k.t);

	if (r != 0)
		report("task %u: detaching task %u gave %d", w->id, k.id, r);
	atomic_fetch_add(&nops[OP_DETACH], 1);
}

/* ------------------------------------------------- stackful tasks */

static void sf_join(struct worker *w, unsigned i)
{
	struct kid k = take_kid(w, i);
	int code = 0, r;

	leave(w, OP_JOIN, k.id);
	r = vs_task_join(k.t, &code);
	enter(w);
	joined(w, k, r, code);
}

static void sf_wait(struct worker *w)
{
	struct token_wait tw = { .q = (int)rnd(w, NQ) };
	int r;

	atomic_fetch_add(&owed[tw.q], 1);
	leave(w, OP_WAIT, (uint32_t)tw.q);
	r = vs_wq_wait_until(&dq[tw.q], take_token, &tw);
	enter(w);
	if (r != 0)
		report("task %u: wait on queue %d gave %d", w->id, tw.q, r);
	if (tw.calls > 1)
		atomic_fetch_add(&n_slept, 1);
	atomic_fetch_add(&nops[OP_WAIT], 1);
}

static void sf_timed(struct worker *w)
{
	struct moved m = { .q = (int)rnd(w, NQ) };
	uint64_t t = rnd(w, 100) * US + 1, t0;
	bool with_pred = rnd(w, 2);
	int r;

	m.gen = atomic_load(&gen[m.q]);
	leave(w, OP_TIMED, (uint32_t)m.q);
	t0 = vs_now();
	r = with_pred ? vs_wq_wait_until_timeout(&pq[m.q], gen_moved, &m, t)
		      : vs_wq_wait_timeout(&pq[m.q], t);
	enter(w);
	if (r == 0 && with_pred && !gen_moved(&m))
		report("task %u: timed wait returned 0, predicate false", w->id);
	else if (r == -ETIMEDOUT && vs_now() - t0 < t)
		report("task %u: timed out early", w->id);
	else if (r != 0 && r != -ETIMEDOUT)
		report("task %u: timed wait gave %d", w->id, r);
	atomic_fetch_add(r == 0 ? &n_woken : &n_timed_out, 1);
	atomic_fetch_add(&nops[OP_TIMED], 1);
}

static void sf_mutex(struct worker *w)
{
	int r;

	leave(w, OP_MUTEX, 0);
	r = vs_mutex_lock(&mx);
	enter(w);
	if (r != 0) {
		report("task %u: mutex lock gave %d", w->id, r);
		return;
	}
	critical(w, true);
	if ((r = vs_mutex_unlock(&mx)) != 0)
		report("task %u: mutex unlock gave %d", w->id, r);
	atomic_fetch_add(&nops[OP_MUTEX], 1);
}

static void sf_send(struct worker *w)
{
	uint32_t v;
	int r;

	if (!promise(&v))
		return;
	leave(w, OP_SEND, v);
	r = vs_chan_send(ch, &v);
	enter(w);
	if (r != 0)
		report("task %u: send gave %d", w->id, r);
	atomic_fetch_add(&chan_sent, 1);
	atomic_fetch_add(&nops[OP_SEND], 1);
}

static void sf_recv(struct worker *w)
{
	uint32_t v;
	int r;

	if (!claim(1))
		return;
	leave(w, OP_RECV, 0);
	r = vs_chan_recv(ch, &v);
	enter(w);
	if (r != 0)
		report("task %u: recv gave %d", w->id, r);
	else
		received(v, w->id);
	atomic_fetch_add(&nops[OP_RECV], 1);
}

/* One random operation; false when the task chose to exit. */
static bool sf_op(struct worker *w)
{
	uint64_t t, t0;
	enum op op = pick(w);
	int r = 0;

	switch (op) {
	case OP_MIGRATE:
		if (!(w->kind & (K_PIN0 | K_PIN1))) {
			leave(w, OP_MIGRATE, 0);
			r = vs_task_migrate((int)rnd(w, NCPUS));
			enter(w);
			if (r != 0 && r != -EAGAIN)
				report("task %u: migrate gave %d", w->id, r);
			break;
		}
		op = OP_YIELD;
		/* fall through */
	case OP_YIELD:
		leave(w, OP_YIELD, 0);
		r = vs_task_yield();
		enter(w);
		if (r != 0)
			report("task %u: yield gave %d", w->id, r);
		break;
	case OP_SLEEP:
		t = rnd(w, 20) * US + 1;
		leave(w, OP_SLEEP, 0);
		t0 = vs_now();
		r = vs_sleep(t);
		enter(w);
		if (r != 0 || vs_now() - t0 < t)
			report("task %u: sleep gave %d, or was short", w->id, r);
		break;
	case OP_WAIT:
		sf_wait(w);
		return true;
	case OP_TIMED:
		sf_timed(w);
		return true;
	case OP_NOTIFY:
		notify_some(w);
		return true;
	case OP_SPAWN:
		spawn_kid(w);
		return true;
	case OP_JOIN:
		if (w->nkids)
			sf_join(w, rnd(w, w->nkids));
		return true;
	case OP_DETACH:
		if (w->nkids)
			detach_kid(w, rnd(w, w->nkids));
		return true;
	case OP_MUTEX:
		sf_mutex(w);
		return true;
	case OP_SEND:
		sf_send(w);
		return true;
	case OP_RECV:
		sf_recv(w);
		return true;
	default:
		return w->kind & K_ROOT;
	}
	atomic_fetch_add(&nops[op], 1);
	return true;
}

static int sf_main(void *arg)
{
	struct worker w;
	int code;

	worker_init(&w, (uint32_t)(uintptr_t)arg);
	begin(&w);
	while (!stopping(&w) && sf_op(&w))
		w.ops++;
	while (w.nkids) {
		if (rnd(&w, 4) == 0)
			detach_kid(&w, w.nkids - 1);
		else
			sf_join(&w, w.nkids - 1);
	}
	code = code_of(w.id);
	finish(&w);
	if (rnd(&w, 2)) {
		(void)vs_task_exit(code);
		report("task %u: vs_task_exit returned", w.id);
	}
	return code;
}

/* ------------------------------------------------ stackless tasks */

enum { ST_PICK, ST_SLEEP, ST_WAIT, ST_JOIN, ST_SEND, ST_RECV, ST_WIND };

static enum vs_poll pending(struct worker *w, int where, uint32_t arg)
{
	leave(w, where, arg);
	return VS_PENDING;
}

/* Starts one operation: done at once, or left in w->st for sl_poll to
 * carry on. Returns false to yield. */
static bool sl_op(struct worker *w)
{
	enum op op = pick(w);

	switch (op) {
	case OP_YIELD:
	case OP_MIGRATE:
		atomic_fetch_add(&nops[OP_YIELD], 1);
		return false;
	case OP_SLEEP:
	case OP_TIMED:
		w->until = vs_now() + rnd(w, 20) * US + 1;
		w->st = ST_SLEEP;
		break;
	case OP_WAIT:
		w->q = (int)rnd(w, NQ);
		w->polls = 0;
		atomic_fetch_add(&owed[w->q], 1);
		w->st = ST_WAIT;
		break;
	case OP_NOTIFY:
		notify_some(w);
		break;
	case OP_SPAWN:
		spawn_kid(w);
		break;
	case OP_JOIN:
		if (w->nkids) {
			w->cur = take_kid(w, rnd(w, w->nkids));
			w->st = ST_JOIN;
		}
		break;
	case OP_DETACH:
		if (w->nkids)
			detach_kid(w, rnd(w, w->nkids));
		break;
	case OP_MUTEX:
		if (vs_mutex_trylock(&mx) != 0) {
			atomic_fetch_add(&n_busy, 1);
			break;
		}
		critical(w, false);
		if (vs_mutex_unlock(&mx) != 0)
			report("task %u: mutex unlock gave an error", w->id);
		atomic_fetch_add(&nops[OP_MUTEX], 1);
		break;
	case OP_SEND:
		if (promise(&w->item))
			w->st = ST_SEND;
		break;
	case OP_RECV:
		if (claim(1))
			w->st = ST_RECV;
		break;
	default:
		if (!(w->kind & K_ROOT))
			w->ops = w->max_ops;
		break;
	}
	return true;
}

/* Carries on w->st; returns -EAGAIN to stay pending. */
static int sl_step(struct worker *w)
{
	int r, code = 0;

	switch (w->st) {
	case ST_SLEEP:
		if ((r = vs_sleep_until_poll(w->until)) == -EAGAIN)
			return r;
		if (r != 0 || vs_now() < w->until)
			report("task %u: stackless sleep gave %d, or was short", w->id, r);
		atomic_fetch_add(&nops[OP_SLEEP], 1);
		break;
	case ST_WAIT: {
		struct token_wait tw = { .q = w->q };

		w->polls++;
		if ((r = vs_wq_wait_until_poll(&dq[w->q], take_token, &tw)) == -EAGAIN)
			return r;
		if (r != 0)
			report("task %u: stackless wait gave %d", w->id, r);
		if (w->polls > 1)
			atomic_fetch_add(&n_slept, 1);
		atomic_fetch_add(&nops[OP_WAIT], 1);
		break;
	}
	case ST_JOIN:
		if ((r = vs_task_join_poll(w->cur.t, &code)) == -EAGAIN)
			return r;
		joined(w, w->cur, r, code);
		break;
	case ST_SEND:
		if ((r = vs_chan_send_poll(ch, &w->item)) == -EAGAIN)
			return r;
		if (r != 0)
			report("task %u: send_poll gave %d", w->id, r);
		atomic_fetch_add(&chan_sent, 1);
		atomic_fetch_add(&nops[OP_SEND], 1);
		break;
	case ST_RECV:
		if ((r = vs_chan_recv_poll(ch, &w->item)) == -EAGAIN)
			return r;
		if (r != 0)
			report("task %u: recv_poll gave %d", w->id, r);
		else
			received(w->item, w->id);
		atomic_fetch_add(&nops[OP_RECV], 1);
		break;
	}
	w->st = w->winding ? ST_WIND : ST_PICK;
	return 0;
}

static const int st_where[] = {
	[ST_SLEEP] = OP_SLEEP, [ST_WAIT] = OP_WAIT, [ST_JOIN] = OP_JOIN,
	[ST_SEND] = OP_SEND, [ST_RECV] = OP_RECV,
};

static uint32_t st_arg(const struct worker *w)
{
	switch (w->st) {
	case ST_WAIT:
		return (uint32_t)w->q;
	case ST_JOIN:
		return w->cur.id;
	case ST_SEND:
		return w->item;
	default:
		return 0;
	}
}

static enum vs_poll sl_poll(void *state, int *code)
{
	struct worker *w = state;

	if (!w->begun) {
		w->begun = true;
		begin(w);
	} else {
		enter(w);
	}
	for (unsigned n = 0;; n++) {
		switch (w->st) {
		case ST_PICK:
			if (stopping(w)) {
				w->st = ST_WIND;
				w->winding = true;
			} else if (n >= 8 || !sl_op(w)) {
				return pending(w, OP_YIELD, 0); /* yields */
			} else {
				w->ops++;
			}
			break;
		case ST_WIND:
			if (w->nkids) {
				if (rnd(w, 4) == 0) {
					detach_kid(w, w->nkids - 1);
				} else {
					w->cur = take_kid(w, w->nkids - 1);
					w->st = ST_JOIN;
				}
				break;
			}
			*code = code_of(w->id);
			finish(w);
			free(w);
			return VS_READY;
		default:
			if (sl_step(w) == -EAGAIN)
				return pending(w, st_where[w->st], st_arg(w));
			break;
		}
	}
}

/* ------------------------------------------------------- dealers */

/* One per CPU, pinned: pays the debts, pulses the timed waiters and
 * drains unclaimed items, never blocking for long, until every worker is
 * done. */
static int dealer(void *arg)
{
	struct worker w;
	long held = 0;
	uint32_t v;
	int r = 0;

	worker_init(&w, (uint32_t)(uintptr_t)arg);
	begin(&w);
	for (;;) {
		bool over = vs_now() >= P.deadline && atomic_load(&wlive) == 0;

		for (int q = 0; q < NQ; q++)
			if (rnd(&w, 4) == 0)
				pay(q, rnd(&w, 2));
		if (rnd(&w, 4) == 0)
			pulse((int)rnd(&w, NQ), rnd(&w, 2));
		if (over || rnd(&w, 8) == 0)
			held += claim(LONG_MAX);
		r = 0;
		while (held > 0 && (r = vs_chan_try_recv(ch, &v)) == 0) {
			received(v, w.id);
			held--;
		}
		if (r != 0 && r != -EAGAIN)
			report("dealer %u: try_recv gave %d", w.id, r);
		if (over && !held && !atomic_load(&credits))
			break;
		leave(&w, OP_SLEEP, 0);
		r = rnd(&w, 3) ? vs_sleep(rnd(&w, 40) * US + 1) : vs_task_yield();
		enter(&w);
		if (r != 0)
			report("dealer %u: sleep or yield gave %d", w.id, r);
	}
	finish(&w);
	return code_of(w.id);
}

/* ---------------------------------------------------------- the test */

/* VSCHED_STRESS_SECONDS: how long (default 10 s, 3 s under emulation);
 * VSCHED_STRESS_SEED: the seed of a run to repeat. */
static void params(void)
{
	const char *s = getenv("VSCHED_STRESS_SECONDS"), *seed = getenv("VSCHED_STRESS_SEED");
	bool emu = getenv("VSCHED_EMULATED") != NULL;
	char *end;

	P.seconds = emu ? 3.0 : 10.0;
	if (s) {
		double d = strtod(s, &end);

		if (end != s && d >= 0 && d <= 3600)
			P.seconds = d;
	}
	P.seed = seed ? strtoull(seed, NULL, 0) : mix(vs_now() ^ ((uint64_t)getpid() << 40));
	P.roots = emu ? 6 : 16;
	P.live_cap = emu ? 20 : 56;
	P.kid_ops = 64;
	P.grace = (emu ? 90 : 30) * 1000000000ull;
}

static void reset(void)
{
	memset(kind, 0, sizeof(kind));
	memset(started, 0, sizeof(started));
	memset(done, 0, sizeof(done));
	memset(running, 0, sizeof(running));
	memset(at, 0, sizeof(at));
	memset(at_arg, 0, sizeof(at_arg));
	memset(tally, 0, sizeof(tally));
	atomic_store(&next_id, 0);
	atomic_store(&nspawned, 0);
	atomic_store(&nfinished, 0);
	atomic_store(&wlive, 0);
	atomic_store(&nerr, 0);
	atomic_store(&last_finish, 0);
	for (int op = 0; op < NOPS; op++)
		atomic_store(&nops[op], 0);
	atomic_store(&n_stackless, 0);
	atomic_store(&n_slept, 0);
	atomic_store(&n_woken, 0);
	atomic_store(&n_timed_out, 0);
	atomic_store(&n_busy, 0);
	vs_wq_init(&done_wq);
	for (int q = 0; q < NQ; q++) {
		vs_wq_init(&dq[q]);
		vs_wq_init(&pq[q]);
		atomic_store(&owed[q], 0);
		atomic_store(&bank[q], 0);
		atomic_store(&posted[q], 0);
		atomic_store(&taken[q], 0);
		atomic_store(&gen[q], 0);
	}
	vs_mutex_init(&mx);
	mx_count = 0;
	atomic_store(&mx_incs, 0);
	atomic_store(&chan_next, 0);
	atomic_store(&credits, 0);
	atomic_store(&chan_sent, 0);
	atomic_store(&chan_recvd, 0);
}

static uint32_t ids_used(void)
{
	uint32_t n = atomic_load(&next_id);

	return n < MAX_IDS ? n : MAX_IDS;
}

static bool all_done(void *arg)
{
	(void)arg;
	return atomic_load(&nfinished) == atomic_load(&nspawned);
}

static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

/* Who has not finished, and where: first those waiting on something other
 * than a task (the likeliest victims), then joiners, then the dealers. */
static void describe_stuck(char *buf, size_t len)
{
	uint32_t n = ids_used(), stuck = 0, listed = 0;
	size_t off = 0;

	buf[0] = 0;
	for (int pass = 0; pass < 3; pass++) {
		for (uint32_t id = 0; id < n; id++) {
			uint8_t k = atomic_load(&kind[id]), a = atomic_load(&at[id]);
			bool st = atomic_load(&started[id]);

			if (atomic_load(&done[id]))
				continue;
			stuck += pass == 0;
			if (pass != (k & K_DEALER ? 2 : st && a == OP_JOIN ? 1 : 0) ||
			    listed++ >= 12)
				continue;
			append(buf, len, &off, "\n  task %u (%s %s) in %s(%u)", id,
			       k & K_STACKLESS ? "stackless" : "stackful",
			       k & K_DEALER ? "dealer" : k & K_ROOT ? "root" : "child",
			       !st ? "not started" : a <= AT_DONE ? op_name[a] : "?",
			       atomic_load(&at_arg[id]));
		}
	}
	append(buf, len, &off, "\n  %u of %u tasks not done; owed/banked tokens per queue:", stuck,
	       n);
	for (int q = 0; q < NQ; q++)
		append(buf, len, &off, " %ld/%ld", atomic_load(&owed[q]), atomic_load(&bank[q]));
	append(buf, len, &off, "; unclaimed items %ld; %d errors%s%s", atomic_load(&credits),
	       atomic_load(&nerr), atomic_load(&nerr) ? ", first: " : "",
	       atomic_load(&nerr) ? msg[0] : "");
}

static void summary(double secs)
{
	char buf[768];
	size_t off = 0;

	append(buf, sizeof(buf), &off, "stress: %.1f s, %u tasks (%lu stackless):", secs,
	       ids_used(), atomic_load(&n_stackless));
	for (int op = 0; op < NOPS; op++)
		append(buf, sizeof(buf), &off, " %s %lu", op_name[op], atomic_load(&nops[op]));
	append(buf, sizeof(buf), &off,
	       "; %lu waits slept, timed waits %lu woken/%lu timed out, %lu trylocks busy\n",
	       atomic_load(&n_slept), atomic_load(&n_woken), atomic_load(&n_timed_out),
	       atomic_load(&n_busy));
	print_message("%s", buf);
}

static void check_invariants(void)
{
	uint32_t n = ids_used(), items;

	EXPECT(atomic_load(&nerr) == 0, "%d errors, first: %s%s%s", atomic_load(&nerr), msg[0],
	       atomic_load(&nerr) > 1 ? "; then: " : "", atomic_load(&nerr) > 1 ? msg[1] : "");
	EXPECT(atomic_load(&nspawned) == (long)n, "%ld tasks spawned of %u",
	       atomic_load(&nspawned), n);
	for (uint32_t id = 0; id < n; id++)
		EXPECT(started[id] == 1 && done[id] == 1 && !running[id],
		       "task %u: started %d, completed %d times, running %d", id, started[id],
		       done[id], running[id]);
	EXPECT(mx_count == atomic_load(&mx_incs), "mutex counter %ld after %ld increments",
	       mx_count, atomic_load(&mx_incs));
	items = atomic_load(&chan_next);
	if (items > CHAN_MAX)
		items = CHAN_MAX;
	EXPECT(atomic_load(&chan_sent) == items && atomic_load(&chan_recvd) == items &&
		       !atomic_load(&credits),
	       "items: %u promised, %ld sent, %ld received, %ld unclaimed", items,
	       atomic_load(&chan_sent), atomic_load(&chan_recvd), atomic_load(&credits));
	for (uint32_t v = 0; v < items; v++)
		EXPECT(tally[v] == 1, "item %u received %d times", v, tally[v]);
	for (int q = 0; q < NQ; q++)
		EXPECT(!atomic_load(&owed[q]) && !atomic_load(&bank[q]) &&
			       atomic_load(&posted[q]) == atomic_load(&taken[q]),
		       "queue %d: %ld owed, %ld banked, %ld paid, %ld taken", q,
		       atomic_load(&owed[q]), atomic_load(&bank[q]), atomic_load(&posted[q]),
		       atomic_load(&taken[q]));
	/* a run that skipped an operation proved nothing about it */
	for (int op = 0; op < NOPS && P.seconds >= 1; op++)
		EXPECT(atomic_load(&nops[op]) > 0, "no %s operation ran", op_name[op]);
}

static void test_stress(void **state)
{
	struct vs_config cfg;
	vs_task_t *top[64];
	uint32_t top_id[64], ntop = 0;
	uint64_t now;
	uint32_t v;
	int r, code = 0;

	(void)state;
	params();
	reset();
	print_message("stress: seed %#" PRIx64 " (VSCHED_STRESS_SEED repeats its choices), "
		      "%.1f s, %u roots on %d CPUs\n",
		      P.seed, P.seconds, P.roots, NCPUS);
	vs_config_default(&cfg);
	cfg.ncpus = NCPUS;
	cfg.stack_size = 64 * 1024;
	cfg.max_tasks = 1024;
	assert_int_equal(vs_runtime_start(&cfg), 0);
	assert_int_equal(vs_chan_create(sizeof(uint32_t), CHAN_CAP, &ch), 0);
	P.t0 = vs_now();
	P.deadline = P.t0 + (uint64_t)(P.seconds * 1e9);
	for (uint32_t i = 0; i < NCPUS + P.roots; i++) {
		struct vs_task_attr a = { .cpu = (int)(i % NCPUS) };
		uint8_t k = i < NCPUS ? K_DEALER : K_ROOT;

		if (i >= NCPUS && i % 2)
			k |= K_STACKLESS;
		if (i < NCPUS || i % 5 == 4) {
			a.affinity = 1ull << a.cpu;
			k |= (uint8_t)(K_PIN0 << a.cpu);
		}
		top_id[ntop] = atomic_fetch_add(&next_id, 1);
		assert_true(spawn_task(top_id[ntop], k, &a, &top[ntop]));
		ntop++;
	}

	/* the watchdog: a lost wake-up shows as tasks that never finish */
	r = vs_wq_wait_until_timeout(&done_wq, all_done, NULL,
				     P.deadline - vs_now() + P.grace);
	now = vs_now();
	if (r != 0) {
		static char buf[4096];

		describe_stuck(buf, sizeof(buf));
		fail_msg("seed %#" PRIx64 ": watchdog: not done %.1f s after the end:%s", P.seed,
			 (double)(now - P.deadline) / 1e9, buf);
	}
	EXPECT(now - atomic_load(&last_finish) < P.grace / 2,
	       "the watchdog was woken %.1f s after the last task finished",
	       (double)(now - atomic_load(&last_finish)) / 1e9);
	for (uint32_t i = 0; i < ntop; i++) {
		r = vs_task_join(top[i], &code);
		EXPECT(r == 0 && code == code_of(top_id[i]), "task %u: join gave %d, code %d, not %d",
		       top_id[i], r, code, code_of(top_id[i]));
	}
	EXPECT(vs_chan_try_recv(ch, &v) == -EAGAIN, "item %u left in the channel", v);
	vs_chan_destroy(ch);
	assert_int_equal(vs_runtime_stop(), 0);
	summary((double)(now - P.t0) / 1e9);
	check_invariants();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Stackful stress tasks: the workers, one random blocking operation after
 * another, and the dealers that pay what the workers wait for.
 */
#include <errno.h>
#include <limits.h>

#include "stress.h"

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
	r = vs_wq_wait_pred(&dq[tw.q], take_token, &tw);
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
	r = with_pred ? vs_wq_wait_pred_until(&pq[m.q], gen_moved, &m, vs_deadline_in(t))
		      : vs_wq_wait_until(&pq[m.q], vs_deadline_in(t));
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

int sf_main(void *arg)
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

/* ------------------------------------------------------- dealers */

/* One per CPU, pinned: pays the debts, pulses the timed waiters and
 * drains unclaimed items, never blocking for long, until every worker is
 * done. */
int dealer(void *arg)
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

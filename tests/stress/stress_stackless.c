/* SPDX-License-Identifier: MIT */
/*
 * Stackless stress tasks: the same operations as the stackful ones, each
 * carried on across polls until it is done.
 */
#include <errno.h>
#include <stdlib.h>

#include "stress.h"

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
		if (vs_mutex_try_lock(&mx) != 0) {
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
		if ((r = vs_wq_wait_pred_poll(&dq[w->q], take_token, &tw)) == -EAGAIN)
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

enum vs_poll sl_poll(void *state, int *code)
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

/* SPDX-License-Identifier: MIT */
/*
 * Domain objects: bounded channels of fixed-size messages and wait queues
 * that live in a domain's state, so that tasks of different members wake
 * each other. Tasks never move: a waiter's own process wakes it, told by
 * a bell (domain.h).
 *
 * A channel is a ring of cells, each one word and a message. A cell's
 * word is pos << 16 | who << 8 | state, where pos is the position of the
 * lap it is in and who the member + 1 that last claimed it:
 *
 *   FREE(p) --sender CAS--> WRITING(p, m) --CAS--> FULL(p, m)
 *   FULL(p) --receiver CAS--> READING(p, m) --CAS--> FREE(p + cap)
 *   WRITING(p, m) --survivor CAS--> SKIP(p) --receiver CAS--> FREE(p + cap)
 *   READING(p, m) --survivor CAS--> FREE(p + cap)
 *
 * Every step is one CAS naming who made it, so the cell itself records
 * the intent (as a robust futex's list_op_pending does): a member killed
 * between two steps leaves a cell that says it was its, and whoever
 * reclaims the member finishes the step for it (a half-written message
 * is skipped, a half-read one freed). A member stopped in a cell past the
 * lease loses it the same way; its own later CAS fails, and it tries
 * again (a send) or reads another (a receive). The head and tail counters
 * only say where to look: whoever finds the cell under one already
 * claimed moves it on (helping), so a death between a claim and the move
 * leaves nothing stuck.
 *
 * Waiting: a task that cannot go on notes what stood in its way (the
 * cell, the object's word and value), sets its member's bit in the
 * object's waiters (seq_cst), looks again, and sleeps on its process's
 * private queue for the object. Whoever changes the object (a seq_cst
 * CAS, exchange or add) then reads the waiters and rings every member
 * whose bit it finds: Dekker, so either the waiter sees the change or the
 * changer sees the bit; with no waiter, nothing more is written. A rung
 * member clears its bit and wakes all its waiters there, which look again.
 *
 * Nothing read from the state is trusted: indices are masked or checked
 * against the private geometry, loops are bounded (a peer rewriting the
 * area costs its victims at most -EIO or a spurious wake-up), and a
 * message is only ever copied between the cell and the caller's buffer,
 * by the size the caller gave.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "domain.h"
#include "rt.h"
#include "timer.h"
#include "vsched/vs.h"

enum { C_FREE = 0, C_WRITING = 1, C_FULL = 2, C_READING = 3, C_SKIP = 4 };

#define POS_MASK ((1ull << 48) - 1)
#define CELL(pos, who, st) ((((uint64_t)(pos) & POS_MASK) << 16) | ((uint64_t)(who) << 8) | (st))
#define CELL_POS(w) ((w) >> 16)
#define CELL_WHO(w) ((unsigned)((w) >> 8) & 0xffu)
#define CELL_ST(w) ((unsigned)(w) & 0xffu)

#define OW(gen, who, kind) (((uint32_t)(gen) << 12) | ((uint32_t)(who) << 4) | (kind))
#define OW_GEN(w) ((w) >> 12)
#define OW_WHO(w) (((w) >> 4) & 0xffu)
#define OW_KIND(w) ((w) & 0xfu)
#define GEN_MASK 0xfffffu
#define H_IDX(h) ((h) & 0xfffu)
#define H_GEN(h) ((h) >> 12)

/* tries at one operation before the state is called corrupt: each failed
 * try means another member moved the object on meanwhile */
#define TRIES 1024
/* a blocked task looks after the object's owner this often, and after a
 * member stuck in a cell in front of it more often */
#define LOOK_NS 200000000ull
#define LOOK_STUCK_NS 20000000ull
/* how long a task about to block watches the object first */
#define SPIN_NS 20000ull
/* a member that keeps a cell claimed this long while others wait loses it */
#define CELL_LEASE_SLICES 50u

static struct vsd_obj *obj(const struct vs_domain *d, unsigned i)
{
	return (struct vsd_obj *)(d->map + d->g.objs_off + (size_t)i * VSD_OBJ_SIZE);
}

static struct vsd_cell *cells(struct vsd_obj *o)
{
	return (struct vsd_cell *)(o + 1);
}

/* Wakes this process's tasks waiting on object @i. */
static void serve_one(struct vs_domain *d, unsigned i)
{
	/* cleared first: a waiter that announces itself after this keeps
	 * its bit, one that did before is in the queue woken next */
	atomic_fetch_and(&obj(d, i)->waiters, ~(1ull << d->id));
	(void)vs_wq_notify_all(&d->owq[i]);
}

void vsd_serve(struct vs_domain *d)
{
	_Atomic uint64_t *b = vsd_bells(d, d->id);

	if (!atomic_load_explicit(b, memory_order_relaxed))
		return;
	/* seq_cst: word 0 cleared before the bits are taken (a ringer sets
	 * its bit before word 0, so its bit is seen now or rings again) */
	atomic_exchange(b, 0);
	for (unsigned k = 1; k < d->g.bell_words; k++) {
		uint64_t x = atomic_load_explicit(b + k, memory_order_relaxed);

		if (x)
			x = atomic_exchange(b + k, 0);
		while (x) {
			unsigned i = (k - 1) * 64 + (unsigned)__builtin_ctzll(x);

			x &= x - 1;
			if (i < d->g.max_objects)
				serve_one(d, i);
		}
	}
}

static void ring(struct vs_domain *d, unsigned m, unsigned i)
{
	_Atomic uint64_t *b = vsd_bells(d, m);

	if (m == d->id) {
		serve_one(d, i); /* our own tasks: no bell needed */
		return;
	}
	atomic_fetch_or(b + 1 + i / 64, 1ull << (i % 64));
	if (atomic_exchange(b, 1) != 0)
		return; /* rung already: kicked, or its worker will look */
	if (!d->spin && rt_self_entry() && rt_g && rt_g->cfg.domain == d) {
		/* one machine CPU, and we are its worker: kick on our way to
		 * sleep (vsd_flush_kicks) */
		if (!atomic_fetch_or_explicit(&d->pend, 1ull << m, memory_order_relaxed))
			atomic_store_explicit(&d->pend_since, rt_now(), memory_order_relaxed);
		return;
	}
	vsd_kick_member(d, m);
}

void vsd_flush_kicks(struct vs_domain *d)
{
	uint64_t m = atomic_exchange_explicit(&d->pend, 0, memory_order_relaxed);

	while (m) {
		unsigned k = (unsigned)__builtin_ctzll(m);

		m &= m - 1;
		vsd_kick_member(d, k);
	}
}

/* After a change to object @i: whoever waits on it looks again. */
static void notify(struct vs_domain *d, unsigned i)
{
	struct vsd_obj *o = obj(d, i);
	uint64_t w;

	/* seq_cst: the change (a seq_cst CAS, exchange or add) before the
	 * waiters are read; a waiter sets its bit, then looks at what it
	 * waits to see change (Dekker: one of the two sees the other) */
	vsd_step(VSD_STEP_NOTIFY);
	w = atomic_load(&o->waiters) & vsd_members_mask(d);
	while (w) {
		unsigned m = (unsigned)__builtin_ctzll(w);

		w &= w - 1;
		ring(d, m, i);
	}
}

/* What a word that is not (or no longer) @want's says about the object. */
static int gone(uint32_t w, uint32_t h, unsigned kind)
{
	if (OW_GEN(w) != H_GEN(h))
		return -EIDRM;
	if (OW_KIND(w) == VSD_OBJ_DEAD)
		return -EOWNERDEAD;
	if (OW_KIND(w) == kind)
		return 0;
	return OW_KIND(w) == VSD_OBJ_CHAN || OW_KIND(w) == VSD_OBJ_WQ ? -EINVAL : -EIDRM;
}

/* The error for an object whose word changed under an operation. */
static int moved(uint32_t w, uint32_t h, unsigned kind)
{
	int r = gone(w, h, kind);

	return r ? r : -EIDRM;
}

/* Finds the object @h names, of @kind: its index and word, or an error. */
static int lookup(struct vs_domain *d, uint32_t h, unsigned kind, unsigned *idx, uint32_t *word)
{
	uint32_t w;
	int r;

	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	if (H_IDX(h) >= d->g.max_objects || H_GEN(h) == 0)
		return -EINVAL;
	/* acquire: what its creator filled in before publishing it */
	w = atomic_load_explicit(&obj(d, H_IDX(h))->word, memory_order_acquire);
	r = gone(w, h, kind);
	if (r < 0)
		return r;
	*idx = H_IDX(h);
	*word = w;
	return 0;
}

/* Takes a free object slot and publishes it as @kind, after @fill. */
static int create(struct vs_domain *d, unsigned kind, uint32_t msg_size, uint32_t cap,
		  uint32_t *out)
{
	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	for (unsigned i = 0; i < d->g.max_objects; i++) {
		struct vsd_obj *o = obj(d, i);
		uint32_t w = atomic_load_explicit(&o->word, memory_order_relaxed), gen;

		if (OW_KIND(w) != VSD_OBJ_FREE && OW_KIND(w) != VSD_OBJ_DEAD)
			continue;
		gen = (OW_GEN(w) + 1) & GEN_MASK;
		if (!gen)
			gen = 1;
		if (!atomic_compare_exchange_strong(&o->word, &w, OW(gen, d->id + 1, VSD_OBJ_BUSY)))
			continue;
		vsd_step(VSD_STEP_CREATE);
		o->msg_size = msg_size;
		o->cap = cap;
		atomic_store_explicit(&o->value, 0, memory_order_relaxed);
		atomic_store_explicit(&o->waiters, 0, memory_order_relaxed);
		atomic_store_explicit(&o->head, 0, memory_order_relaxed);
		atomic_store_explicit(&o->tail, 0, memory_order_relaxed);
		for (uint32_t k = 0; k < cap; k++)
			atomic_store_explicit(&cells(o)[k].w, CELL(k, 0, C_FREE), memory_order_relaxed);
		/* release: filled in before anyone can use the handle */
		atomic_store_explicit(&o->word, OW(gen, d->id + 1, kind), memory_order_release);
		*out = gen << 12 | i;
		return 0;
	}
	return -ENOSPC;
}

int vs_dchan_create(vs_domain_t *d, unsigned msg_size, unsigned cap, uint32_t *out)
{
	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	if (!out || msg_size == 0 || msg_size > VS_DCHAN_MSG_MAX || cap == 0 ||
	    cap > VS_DCHAN_CAP_MAX)
		return -EINVAL;
	return create(d, VSD_OBJ_CHAN, msg_size, cap, out);
}

int vs_dwq_create(vs_domain_t *d, uint32_t *out)
{
	if (!out)
		return -EINVAL;
	return create(d, VSD_OBJ_WQ, 0, 0, out);
}

int vs_dobj_destroy(vs_domain_t *d, uint32_t h)
{
	unsigned i;
	uint32_t w;
	int r = lookup(d, h, VSD_OBJ_CHAN, &i, &w);

	if (r == -EINVAL)
		r = lookup(d, h, VSD_OBJ_WQ, &i, &w);
	if (r < 0)
		return r;
	if (OW_WHO(w) != d->id + 1)
		return -EPERM; /* its creator's to destroy */
	if (!atomic_compare_exchange_strong(&obj(d, i)->word, &w,
					    OW(OW_GEN(w), 0, VSD_OBJ_FREE)))
		return -EIDRM;
	notify(d, i); /* its waiters find it gone */
	return 0;
}

/* Is cell position @cp past @pos (positions wrap at 2^48)? */
static bool ahead(uint64_t cp, uint64_t pos)
{
	uint64_t d = (cp - pos) & POS_MASK;

	return d != 0 && d < (1ull << 47);
}

/* Moves a channel's head or tail from @pos to the next, unless someone
 * did (a copy: a failed CAS writes what it found into its expected value,
 * and @pos must stay the caller's). */
static void move_on(_Atomic uint64_t *ctr, uint64_t pos)
{
	atomic_compare_exchange_strong(ctr, &pos, (pos + 1) & POS_MASK);
}

/* A channel's shape, checked at each use (a peer may have rewritten it). */
static int chan_shape(struct vsd_obj *o, size_t len, uint32_t *cap)
{
	uint32_t c = o->cap, m = o->msg_size;

	if (c == 0 || c > VSD_CHAN_CAP_MAX || m == 0 || m > VSD_CELL_DATA)
		return -EIO;
	if (len != m)
		return -EINVAL;
	*cap = c;
	return 0;
}

/* Where a try gave up: the cell word it found in its way. */
struct seen {
	uint32_t word, value; /* the object's, before the try */
	_Atomic uint64_t *cell;
	uint64_t cw;
};

/* The member that holds @sn's cell midway (writing, reading), as its
 * cell word; 0 if none. */
static uint64_t stuck_of(const struct seen *sn)
{
	unsigned st = CELL_ST(sn->cw);

	return sn->cell && (st == C_READING || st == C_WRITING) ? sn->cw : 0;
}

/* Did the object change since @sn (so that a try may now go through)? */
static bool changed(struct vsd_obj *o, const struct seen *sn)
{
	return atomic_load(&o->word) != sn->word || atomic_load(&o->value) != sn->value ||
	       (sn->cell && atomic_load(sn->cell) != sn->cw);
}

/*
 * One try at sending: 0, -EAGAIN (full: *@sn says at which cell), -EPIPE
 * (closed), or an error.
 */
static int try_send(struct vs_domain *d, unsigned i, uint32_t h, uint32_t w, const void *msg,
		    size_t len, struct seen *sn)
{
	struct vsd_obj *o = obj(d, i);
	unsigned me = d->id + 1;
	uint32_t cap;
	int r = chan_shape(o, len, &cap);

	if (r < 0)
		return r;
	for (int t = 0; t < TRIES; t++) {
		uint32_t ow = atomic_load_explicit(&o->word, memory_order_relaxed);
		uint64_t pos, cw, cp, mine;
		struct vsd_cell *cell;

		if (ow != w)
			return moved(ow, h, VSD_OBJ_CHAN);
		if (atomic_load_explicit(&o->value, memory_order_relaxed))
			return -EPIPE;
		pos = atomic_load_explicit(&o->tail, memory_order_acquire) & POS_MASK;
		cell = &cells(o)[pos % cap];
		/* acquire: the receiver's copy out of the cell is done */
		cw = atomic_load_explicit(&cell->w, memory_order_acquire);
		cp = CELL_POS(cw);
		if (cp == pos && CELL_ST(cw) == C_FREE) {
			mine = CELL(pos, me, C_WRITING);
			if (!atomic_compare_exchange_strong(&cell->w, &cw, mine))
				continue;
			vsd_step(VSD_STEP_SEND_CLAIMED);
			move_on(&o->tail, pos);
			memcpy(cell->data, msg, len);
			vsd_step(VSD_STEP_SEND_WRITTEN);
			/* release: the message before the cell says it is full;
			 * fails if we were taken for stopped and skipped */
			if (!atomic_compare_exchange_strong(&cell->w, &mine, CELL(pos, me, C_FULL)))
				continue;
			notify(d, i);
			return 0;
		}
		if (cp == pos || ahead(cp, pos)) {
			/* claimed at the tail, which its claimer has not moved
			 * on, or even taken already (a skipped cell): move on */
			move_on(&o->tail, pos);
			continue;
		}
		if (((cp + cap) & POS_MASK) == pos) {
			/* the lap before is still in it: full */
			sn->cell = &cell->w;
			sn->cw = cw;
			return -EAGAIN;
		}
		/* the tail moved since we read it, or a peer wrote nonsense */
	}
	return -EIO;
}

static int try_recv(struct vs_domain *d, unsigned i, uint32_t h, uint32_t w, void *msg,
		    size_t len, struct seen *sn)
{
	struct vsd_obj *o = obj(d, i);
	unsigned me = d->id + 1;
	uint32_t cap;
	int r = chan_shape(o, len, &cap);

	if (r < 0)
		return r;
	for (int t = 0; t < TRIES; t++) {
		uint32_t ow = atomic_load_explicit(&o->word, memory_order_relaxed);
		uint64_t pos, cw, cp, mine;
		struct vsd_cell *cell;

		if (ow != w)
			return moved(ow, h, VSD_OBJ_CHAN);
		pos = atomic_load_explicit(&o->head, memory_order_acquire) & POS_MASK;
		cell = &cells(o)[pos % cap];
		cw = atomic_load_explicit(&cell->w, memory_order_acquire);
		cp = CELL_POS(cw);
		if (cp == pos) {
			switch (CELL_ST(cw)) {
			case C_FULL:
				mine = CELL(pos, me, C_READING);
				/* acquire (seq_cst): the message its sender wrote */
				if (!atomic_compare_exchange_strong(&cell->w, &cw, mine))
					continue;
				vsd_step(VSD_STEP_RECV_CLAIMED);
				move_on(&o->head, pos);
				memcpy(msg, cell->data, len);
				vsd_step(VSD_STEP_RECV_READ);
				/* fails if we were taken for stopped: the cell may
				 * hold another message now, and ours is void */
				if (!atomic_compare_exchange_strong(&cell->w, &mine,
								    CELL(pos + cap, 0, C_FREE)))
					continue;
				notify(d, i);
				return 0;
			case C_SKIP:
				/* a message its dead sender never finished */
				if (atomic_compare_exchange_strong(&cell->w, &cw,
								   CELL(pos + cap, 0, C_FREE))) {
					move_on(&o->head, pos);
					notify(d, i);
				}
				continue;
			case C_READING:
				move_on(&o->head, pos);
				continue;
			case C_WRITING: /* empty until its sender is done */
			case C_FREE:
				if (atomic_load_explicit(&o->value, memory_order_relaxed) &&
				    CELL_ST(cw) == C_FREE)
					return -EPIPE;
				sn->cell = &cell->w;
				sn->cw = cw;
				return -EAGAIN;
			default:
				continue;
			}
		}
		if (ahead(cp, pos)) {
			/* read and freed, the head not yet moved on */
			move_on(&o->head, pos);
			continue;
		}
		if (((cp + cap) & POS_MASK) == pos) {
			/* the lap before still in it: nothing sent here yet */
			if (atomic_load_explicit(&o->value, memory_order_relaxed))
				return -EPIPE;
			sn->cell = &cell->w;
			sn->cw = cw;
			return -EAGAIN;
		}
	}
	return -EIO;
}

/*
 * The member in the way of a blocked task: one that died is reclaimed
 * (which repairs its cells), one that kept cell @cw claimed past the lease
 * loses it. *@since: when @cw was first seen (0: not yet).
 */
static void look_after(struct vs_domain *d, unsigned i, uint32_t w, uint64_t cw,
		       uint64_t *seen, uint64_t *since)
{
	struct vsd_obj *o = obj(d, i);
	unsigned who = CELL_WHO(cw);
	uint32_t cap = o->cap;

	if (OW_WHO(w) && OW_WHO(w) - 1 != d->id)
		(void)vsd_member_reap(d, OW_WHO(w) - 1);
	if (!cw || !who || cap == 0 || cap > VSD_CHAN_CAP_MAX) {
		*seen = *since = 0;
		return;
	}
	if (who - 1 != d->id && vsd_member_reap(d, who - 1))
		return;
	if (cw != *seen) {
		*seen = cw;
		*since = rt_now();
		return;
	}
	if (rt_now() - *since < CELL_LEASE_SLICES * d->g.member_slice_ns)
		return;
	/* stopped, or stuck for good: its step is finished for it */
	{
		struct vsd_cell *cell = &cells(o)[CELL_POS(cw) % cap];
		uint64_t to = CELL_ST(cw) == C_WRITING ? CELL(CELL_POS(cw), 0, C_SKIP) :
							  CELL(CELL_POS(cw) + cap, 0, C_FREE);

		if (atomic_compare_exchange_strong(&cell->w, &cw, to))
			notify(d, i);
	}
	*seen = *since = 0;
}

struct wait_ctx {
	struct vs_domain *d;
	struct vsd_obj *o;
	const struct seen *sn;
};

/* Under the private queue's lock: announced, is there news? */
static bool news(void *arg)
{
	struct wait_ctx *x = arg;

	/* seq_cst: the bit before the look (Dekker with notify) */
	atomic_fetch_or(&x->o->waiters, 1ull << x->d->id);
	vsd_step(VSD_STEP_WAIT);
	return changed(x->o, x->sn);
}

/* Blocks the calling task until object @i changes from @sn (0), or a
 * while has passed (1: time to look after the members in the way), or
 * @deadline has (-ETIMEDOUT), or the runtime cancels (-ECANCELED). */
static int block(struct vs_domain *d, unsigned i, const struct seen *sn, uint64_t deadline)
{
	struct wait_ctx x = { d, obj(d, i), sn };
	uint64_t look = vs_deadline_in(stuck_of(sn) ? LOOK_STUCK_NS : LOOK_NS);
	int r = vs_wq_wait_pred_until(&d->owq[i], news, &x, look < deadline ? look : deadline);

	if (r != -ETIMEDOUT)
		return r;
	/* the time ran out, yet the object had changed: its wake-up was
	 * lost (or came just now); counted, for the tests */
	if (changed(x.o, sn)) {
		atomic_fetch_add_explicit(&d->late, 1, memory_order_relaxed);
		return 1;
	}
	return look < deadline ? 1 : -ETIMEDOUT;
}

/*
 * Before blocking, on a domain of more than one CPU: watches what the
 * try found in its way for a little while, as the change a task waits
 * for often comes from another CPU within microseconds (and then neither
 * side sleeps, nor rings). True if it changed.
 */
static bool spin(struct vs_domain *d, unsigned i, const struct seen *sn, uint64_t deadline)
{
	struct vsd_obj *o = obj(d, i);
	uint64_t end = 0;

	if (d->g.ncpus < 2 || !d->spin)
		return false; /* the change needs this CPU */
	for (unsigned k = 1;; k++) {
		if (changed(o, sn))
			return true;
		vsched_cpu_relax();
		if (k % 64 == 0) {
			uint64_t now = rt_now();

			if (!end)
				end = now + SPIN_NS < deadline ? now + SPIN_NS : deadline;
			else if (now >= end)
				return false;
		}
	}
}

/* May the caller block on @d's objects: a stackful task of a runtime
 * running on @d. */
static int may_block(struct vs_domain *d)
{
	struct vs_task *me = rt_task_self_entry();

	if (!me || me->stackless || !rt_g || rt_g->cfg.domain != d)
		return -EPERM;
	return 0;
}

/* Channel @ch for a send or receive into or from @msg: its index and word. */
static int chan_open(struct vs_domain *d, uint32_t ch, const void *msg, unsigned *i, uint32_t *w)
{
	if (!msg)
		return -EINVAL;
	return lookup(d, ch, VSD_OBJ_CHAN, i, w);
}

/* One try at a send or a receive. */
static int try_op(struct vs_domain *d, unsigned i, uint32_t h, uint32_t w, void *msg, size_t len,
		  bool send, struct seen *sn)
{
	return send ? try_send(d, i, h, w, msg, len, sn) : try_recv(d, i, h, w, msg, len, sn);
}

/* A send or receive; @wait: may block, until @deadline. */
static int chan_op(vs_domain_t *d, uint32_t ch, void *msg, size_t len, bool send, bool wait,
		   uint64_t deadline)
{
	uint64_t seen = 0, since = 0;
	unsigned i;
	uint32_t w;
	int r;

	r = chan_open(d, ch, msg, &i, &w);
	if (r < 0)
		return r;
	if (wait && (r = may_block(d)) < 0)
		return r;
	for (bool spun = false;; spun = true) {
		struct seen sn = { w, atomic_load(&obj(d, i)->value), NULL, 0 };
		uint64_t stuck;

		if (wait && rt_cancelled())
			return -ECANCELED;
		if (wait && deadline != VS_NEVER && rt_now() >= deadline)
			wait = false; /* one last try, then -ETIMEDOUT */
		r = try_op(d, i, ch, w, msg, len, send, &sn);
		if (r != -EAGAIN)
			return r;
		stuck = stuck_of(&sn);
		if (!wait) {
			/* a member in the way that died: reclaimed, and once more */
			if (stuck && CELL_WHO(stuck) - 1 != d->id &&
			    vsd_member_reap(d, CELL_WHO(stuck) - 1))
				r = try_op(d, i, ch, w, msg, len, send, &sn);
			return r == -EAGAIN && deadline != VS_NEVER ? -ETIMEDOUT : r;
		}
		/* once per call: a peer that keeps changing the object must
		 * not keep us from blocking (or from seeing a cancel) */
		if (!stuck && !spun && spin(d, i, &sn, deadline))
			continue;
		r = block(d, i, &sn, deadline);
		if (r == -ETIMEDOUT)
			continue; /* the last try */
		if (r < 0)
			return r;
		if (r)
			look_after(d, i, w, stuck, &seen, &since);
	}
}

int vs_dchan_send(vs_domain_t *d, uint32_t ch, const void *msg, size_t len)
{
	return chan_op(d, ch, (void *)msg, len, true, true, VS_NEVER);
}

int vs_dchan_send_until(vs_domain_t *d, uint32_t ch, const void *msg, size_t len,
			uint64_t deadline_ns)
{
	return chan_op(d, ch, (void *)msg, len, true, true, deadline_ns);
}

int vs_dchan_try_send(vs_domain_t *d, uint32_t ch, const void *msg, size_t len)
{
	return chan_op(d, ch, (void *)msg, len, true, false, VS_NEVER);
}

int vs_dchan_recv(vs_domain_t *d, uint32_t ch, void *msg, size_t len)
{
	return chan_op(d, ch, msg, len, false, true, VS_NEVER);
}

int vs_dchan_recv_until(vs_domain_t *d, uint32_t ch, void *msg, size_t len,
			uint64_t deadline_ns)
{
	return chan_op(d, ch, msg, len, false, true, deadline_ns);
}

int vs_dchan_try_recv(vs_domain_t *d, uint32_t ch, void *msg, size_t len)
{
	return chan_op(d, ch, msg, len, false, false, VS_NEVER);
}

int vs_dchan_close(vs_domain_t *d, uint32_t ch)
{
	unsigned i;
	uint32_t w;
	int r = lookup(d, ch, VSD_OBJ_CHAN, &i, &w);

	if (r < 0)
		return r;
	if (atomic_exchange(&obj(d, i)->value, 1))
		return -EPIPE; /* closed already */
	notify(d, i);
	return 0;
}

int vs_dwq_load(vs_domain_t *d, uint32_t wq, uint32_t *value)
{
	unsigned i;
	uint32_t w;
	int r;

	if (!value)
		return -EINVAL;
	r = lookup(d, wq, VSD_OBJ_WQ, &i, &w);
	if (r < 0)
		return r;
	*value = atomic_load(&obj(d, i)->value);
	return 0;
}

int vs_dwq_add(vs_domain_t *d, uint32_t wq, uint32_t delta, uint32_t *value)
{
	unsigned i;
	uint32_t w, v;
	int r = lookup(d, wq, VSD_OBJ_WQ, &i, &w);

	if (r < 0)
		return r;
	v = atomic_fetch_add(&obj(d, i)->value, delta) + delta;
	if (value)
		*value = v;
	notify(d, i);
	return 0;
}

/* A waiter's look at wait queue @i (handle @wq, word @w): 1 and *@sn to
 * wait on, or how the wait ends (0: the value is not @expected). */
static int wq_look(struct vs_domain *d, unsigned i, uint32_t wq, uint32_t w, uint32_t expected,
		   uint64_t deadline, struct seen *sn)
{
	struct vsd_obj *o = obj(d, i);

	*sn = (struct seen){ atomic_load(&o->word), expected, NULL, 0 };
	if (sn->word != w)
		return moved(sn->word, wq, VSD_OBJ_WQ);
	if (atomic_load(&o->value) != expected)
		return 0;
	if (rt_cancelled())
		return -ECANCELED;
	if (deadline != VS_NEVER && rt_now() >= deadline)
		return -ETIMEDOUT;
	return 1;
}

int vs_dwq_wait(vs_domain_t *d, uint32_t wq, uint32_t expected)
{
	return vs_dwq_wait_until(d, wq, expected, VS_NEVER);
}

int vs_dwq_wait_until(vs_domain_t *d, uint32_t wq, uint32_t expected, uint64_t deadline_ns)
{
	uint64_t seen = 0, since = 0;
	unsigned i;
	uint32_t w;
	int r = lookup(d, wq, VSD_OBJ_WQ, &i, &w);

	if (r < 0)
		return r;
	if ((r = may_block(d)) < 0)
		return r;
	for (bool spun = false;; spun = true) {
		struct seen sn;

		if ((r = wq_look(d, i, wq, w, expected, deadline_ns, &sn)) <= 0)
			return r;
		if (!spun && spin(d, i, &sn, deadline_ns))
			continue;
		r = block(d, i, &sn, deadline_ns);
		if (r == -ETIMEDOUT)
			continue; /* one last look */
		if (r < 0)
			return r;
		if (r)
			look_after(d, i, w, 0, &seen, &since);
	}
}

/*
 * The stackless forms. A poll form tries once; if it must wait, it
 * registers the calling stackless task on its process's queue for the
 * object (news() is the check under that queue's lock, as for a blocking
 * wait) and says -EAGAIN; the change's bell, the deadline or the next
 * look wakes the task, and its next poll calls again. What the looks
 * need to remember between polls (which cell stood in the way, since
 * when) is kept per object and side, for all the process's waiters
 * there: they all wait behind the same cell at their end of the ring.
 */
enum { SIDE_SEND, SIDE_RECV, SIDE_WAIT };

/* A peer that keeps changing the object for this many tries in one poll
 * sends the task to sleep a little instead (a try per change would
 * otherwise keep its CPU) */
#define POLL_TRIES 64
#define POLL_BACKOFF_NS 100000ull

static int may_poll(struct vs_domain *d)
{
	struct vs_task *me = rt_task_self_entry();

	if (!me || !me->stackless || !rt_g || rt_g->cfg.domain != d)
		return -EPERM;
	return 0;
}

/* Registers the caller to wait for object @i to change from @sn: -EAGAIN,
 * or 0 if it changed already, -ETIMEDOUT, -ECANCELED, -EBUSY. */
static int poll_wait(struct vs_domain *d, unsigned i, uint32_t w, const struct seen *sn,
		     unsigned side, uint64_t deadline)
{
	struct vsd_look *lk = &d->olook[i * 3 + side];
	struct wait_ctx x = { d, obj(d, i), sn };
	uint64_t now = rt_now(), next = atomic_load_explicit(&lk->next, memory_order_relaxed);
	uint64_t stuck = stuck_of(sn);

	if (now >= next) {
		uint64_t seen = atomic_load_explicit(&lk->seen, memory_order_relaxed);
		uint64_t since = atomic_load_explicit(&lk->since, memory_order_relaxed);

		look_after(d, i, w, stuck, &seen, &since);
		atomic_store_explicit(&lk->seen, seen, memory_order_relaxed);
		atomic_store_explicit(&lk->since, since, memory_order_relaxed);
		next = now + (stuck ? LOOK_STUCK_NS : LOOK_NS);
		atomic_store_explicit(&lk->next, next, memory_order_relaxed);
	}
	return vs_wq_wait_pred_until_poll(&d->owq[i], news, &x, next < deadline ? next : deadline);
}

/* Past POLL_TRIES: back in a moment (-EAGAIN), or why not. */
static int poll_backoff(void)
{
	int r = vs_sleep_until_poll(vs_deadline_in(POLL_BACKOFF_NS));

	return r == 0 ? -EAGAIN : r;
}

static int chan_poll(vs_domain_t *d, uint32_t ch, void *msg, size_t len, bool send,
		     uint64_t deadline)
{
	unsigned i;
	uint32_t w;
	int r;

	r = chan_open(d, ch, msg, &i, &w);
	if (r < 0)
		return r;
	if ((r = may_poll(d)) < 0)
		return r;
	for (int k = 0; k < POLL_TRIES; k++) {
		struct seen sn = { w, atomic_load(&obj(d, i)->value), NULL, 0 };

		if (rt_cancelled())
			return -ECANCELED;
		r = try_op(d, i, ch, w, msg, len, send, &sn);
		if (r != -EAGAIN)
			return r;
		if (deadline != VS_NEVER && rt_now() >= deadline)
			return -ETIMEDOUT;
		/* as a blocking call does, once per call */
		if (k == 0 && !stuck_of(&sn) && spin(d, i, &sn, deadline))
			continue;
		r = poll_wait(d, i, w, &sn, send ? SIDE_SEND : SIDE_RECV, deadline);
		if (r != 0)
			return r;
	}
	return poll_backoff();
}

int vs_dchan_send_poll(vs_domain_t *d, uint32_t ch, const void *msg, size_t len)
{
	return chan_poll(d, ch, (void *)msg, len, true, VS_NEVER);
}

int vs_dchan_send_until_poll(vs_domain_t *d, uint32_t ch, const void *msg, size_t len,
			     uint64_t deadline_ns)
{
	return chan_poll(d, ch, (void *)msg, len, true, deadline_ns);
}

int vs_dchan_recv_poll(vs_domain_t *d, uint32_t ch, void *msg, size_t len)
{
	return chan_poll(d, ch, msg, len, false, VS_NEVER);
}

int vs_dchan_recv_until_poll(vs_domain_t *d, uint32_t ch, void *msg, size_t len,
			     uint64_t deadline_ns)
{
	return chan_poll(d, ch, msg, len, false, deadline_ns);
}

int vs_dwq_wait_until_poll(vs_domain_t *d, uint32_t wq, uint32_t expected, uint64_t deadline_ns)
{
	unsigned i;
	uint32_t w;
	int r = lookup(d, wq, VSD_OBJ_WQ, &i, &w);

	if (r < 0)
		return r;
	if ((r = may_poll(d)) < 0)
		return r;
	for (int k = 0; k < POLL_TRIES; k++) {
		struct seen sn;

		if ((r = wq_look(d, i, wq, w, expected, deadline_ns, &sn)) <= 0)
			return r;
		if (k == 0 && spin(d, i, &sn, deadline_ns))
			continue;
		r = poll_wait(d, i, w, &sn, SIDE_WAIT, deadline_ns);
		if (r != 0)
			return r;
	}
	return poll_backoff();
}

int vs_dwq_wait_poll(vs_domain_t *d, uint32_t wq, uint32_t expected)
{
	return vs_dwq_wait_until_poll(d, wq, expected, VS_NEVER);
}

void vsd_objs_reap(struct vs_domain *d, unsigned m)
{
	uint64_t bit = 1ull << m;

	for (unsigned i = 0; i < d->g.max_objects; i++) {
		struct vsd_obj *o = obj(d, i);
		uint32_t w = atomic_load(&o->word), cap;
		bool changed = false;

		if (OW_WHO(w) == m + 1 && OW_KIND(w) != VSD_OBJ_FREE && OW_KIND(w) != VSD_OBJ_DEAD) {
			/* its objects die with it; one it was making is freed */
			uint32_t to = OW_KIND(w) == VSD_OBJ_BUSY ? OW(OW_GEN(w), 0, VSD_OBJ_FREE) :
								   OW(OW_GEN(w), m + 1, VSD_OBJ_DEAD);

			changed |= atomic_compare_exchange_strong(&o->word, &w, to);
		}
		atomic_fetch_and(&o->waiters, ~bit);
		cap = o->cap;
		if (OW_KIND(w) == VSD_OBJ_CHAN && cap && cap <= VSD_CHAN_CAP_MAX) {
			for (uint32_t k = 0; k < cap; k++) {
				struct vsd_cell *c = &cells(o)[k];
				uint64_t cw = atomic_load(&c->w), to;

				if (CELL_WHO(cw) != m + 1)
					continue;
				if (CELL_ST(cw) == C_WRITING)
					to = CELL(CELL_POS(cw), 0, C_SKIP);
				else if (CELL_ST(cw) == C_READING)
					to = CELL(CELL_POS(cw) + cap, 0, C_FREE);
				else
					continue;
				changed |= atomic_compare_exchange_strong(&c->w, &cw, to);
			}
		}
		if (changed)
			notify(d, i);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Channels: a bounded lock-free ring of fixed-size elements (Vyukov's,
 * with a turn per cell), senders sleeping on one wait queue while it is
 * full and receivers on another while it is empty. A send or receive that
 * need not wait takes no lock and wakes nobody unless somebody sleeps.
 */
#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "vsched/sync.h"
#include "cpu.h"
#include "timer.h"
#include "wq.h"

/*
 * Positions: lap << 32 | index, the index below the capacity, the lap
 * counted modulo 2^31; the send position's bit 63 is CLOSED. A cell's turn
 * says what it waits for: 2 * lap for the send of that lap (so all-zero
 * memory is an empty ring), 2 * lap + 1 for its receive. The turn is
 * 32 bits and compared as a signed difference: laps wrap safely.
 *
 * A sender claims its position with a CAS on @send (which fails once
 * CLOSED is set), copies the element in and releases the cell's turn; a
 * receiver does the same on @recv. Between claim and release the cell is
 * in flight: another CPU may see it, but the stretch is never preempted
 * (counted as a lock: the memcpy may be the program's own, where the
 * preemption signal may land), so no task that runs after it on its CPU
 * ever waits for it.
 *
 * Sleeping, Dekker-style with the counts: a sleeper, under its queue's
 * lock, adds itself to its count (seq_cst), then looks at both positions
 * (seq_cst); the other side claims its position (a seq_cst CAS), then
 * reads the count (seq_cst). So either the sleeper sees the claim (and
 * does not sleep, waiting out an in-flight cell if need be) or the other
 * side sees the count, takes one and notifies after its release, and the
 * notify finds the sleeper queued. A sleeper that ends up not sleeping
 * (or times out) leaves its count: that only costs a spare notify later,
 * where a count one too low would lose one.
 */
#define CLOSED (1ull << 63)
#define LAP_MASK 0x7fffffffull
#define MAX_CAP (1ull << 31)

struct vs_chan {
	alignas(64) _Atomic uint64_t send; /* the senders' line */
	alignas(64) _Atomic uint64_t recv; /* the receivers' line */
	/* sleepers owed a notify: 64 bits, as timeouts leave theirs */
	alignas(64) _Atomic uint64_t send_waiting, recv_waiting;
	uint32_t cap;
	size_t elem_size, cell_size;
	void *mem; /* the allocation, which @ch is aligned within */
	struct vs_wq not_full, not_empty;
	alignas(64) unsigned char cells[]; /* cap x [ turn | elem ] */
};

struct cell {
	_Atomic uint32_t turn;
	uint32_t pad;
	unsigned char elem[];
};

static struct cell *cell_at(vs_chan_t *ch, uint64_t pos)
{
	return (struct cell *)(void *)(ch->cells + (size_t)(uint32_t)pos * ch->cell_size);
}

static uint32_t lap_of(uint64_t pos)
{
	return (uint32_t)(pos >> 32) & (uint32_t)LAP_MASK;
}

static uint64_t next_pos(const vs_chan_t *ch, uint64_t pos)
{
	if ((uint32_t)pos + 1 < ch->cap)
		return pos + 1;
	return (uint64_t)((lap_of(pos) + 1) & LAP_MASK) << 32;
}

int vs_chan_create(size_t elem_size, size_t capacity, vs_chan_t **out)
{
	size_t cell, bytes;
	vs_chan_t *ch;
	void *mem;

	if (!out || !elem_size || !capacity || capacity > MAX_CAP ||
	    __builtin_add_overflow(elem_size, sizeof(struct cell) + 7, &cell))
		return -EINVAL;
	cell &= ~(size_t)7;
	if (__builtin_mul_overflow(cell, capacity, &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*ch) + 63, &bytes))
		return -EINVAL;
	/* zeroed (every turn 0: all empty) the lazy way: a big channel's
	 * pages are touched only as its cells are used */
	mem = calloc(1, bytes);
	if (!mem)
		return -ENOMEM;
	ch = (vs_chan_t *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
	ch->mem = mem;
	ch->cap = (uint32_t)capacity;
	ch->elem_size = elem_size;
	ch->cell_size = cell;
	vs_wq_init(&ch->not_full);
	vs_wq_init(&ch->not_empty);
	*out = ch;
	return 0;
}

void vs_chan_destroy(vs_chan_t *ch)
{
	if (ch)
		free(ch->mem);
}

/* Takes one of the other side's sleepers to notify, if any sleeps. */
static bool owe_notify(_Atomic uint64_t *waiting)
{
	/* seq_cst: after our claim's CAS in the total order (see above) */
	uint64_t n = atomic_load_explicit(waiting, memory_order_seq_cst);

	while (n)
		if (atomic_compare_exchange_weak_explicit(waiting, &n, n - 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

/* The claim-to-release stretch of a push or pop: never preempted. */
static struct rt_cpu *flight_begin(void)
{
	struct rt_cpu *c = rt_self_entry(); /* noinline callers: fresh */

	if (c)
		rt_nopreempt_begin(c);
	return c;
}

static void flight_end(struct rt_cpu *c)
{
	if (c)
		rt_nopreempt_end(c);
}

/*
 * Claims the next position of @at (a send's, @full 0; a receive's, 1) whose
 * cell is ready for it: 0 and *@pos, -EAGAIN if that cell is not ready yet
 * (full or empty, or in flight), -EPIPE once @at is closed. The loaded
 * position is *@pos then.
 */
static int claim(vs_chan_t *ch, _Atomic uint64_t *at, uint32_t full, uint64_t *pos)
{
	uint64_t p = atomic_load_explicit(at, memory_order_relaxed);

	for (;;) {
		int32_t dif;

		*pos = p;
		if (p & CLOSED)
			return -EPIPE;
		/* acquire: the sender's element, or the receive that freed the
		 * cell, is done before we use the cell */
		dif = (int32_t)(atomic_load_explicit(&cell_at(ch, p)->turn, memory_order_acquire) -
				(lap_of(p) * 2 + full));
		if (dif < 0)
			return -EAGAIN;
		/* seq_cst: the claim the sleepers' Dekker check sees */
		if (dif == 0 && atomic_compare_exchange_weak_explicit(at, &p, next_pos(ch, p),
								      memory_order_seq_cst,
								      memory_order_relaxed))
			return 0;
		if (dif > 0) /* taken meanwhile: look again */
			p = atomic_load_explicit(at, memory_order_relaxed);
	}
}

/* 0, -EAGAIN (full, or the cell due still being read) or -EPIPE.
 * noinline: it reads the thread's CPU inline (flight_begin) */
__attribute__((noinline)) static int push(vs_chan_t *ch, const void *elem, bool *wake)
{
	struct rt_cpu *me = flight_begin();
	struct cell *c;
	uint64_t pos;
	int r = claim(ch, &ch->send, 0, &pos);

	if (r < 0) {
		flight_end(me);
		/* full: a close since says more */
		if (r == -EAGAIN && (atomic_load_explicit(&ch->send, memory_order_relaxed) & CLOSED))
			r = -EPIPE;
		return r;
	}
	c = cell_at(ch, pos);
	memcpy(c->elem, elem, ch->elem_size);
	/* release: the element is in before a receiver sees the turn */
	atomic_store_explicit(&c->turn, lap_of(pos) * 2 + 1, memory_order_release);
	flight_end(me);
	*wake = owe_notify(&ch->recv_waiting);
	return 0;
}

/* 0, -EAGAIN (empty, or the cell due still being written) or -EPIPE
 * (closed and nothing left, nothing in flight). noinline, as push. */
__attribute__((noinline)) static int pop(vs_chan_t *ch, void *elem, bool *wake)
{
	struct rt_cpu *me = flight_begin();
	struct cell *c;
	uint64_t pos, s;

	if (claim(ch, &ch->recv, 1, &pos) < 0) {
		flight_end(me);
		/* seq_cst: a close (and the claims before it) that happened
		 * before our look at the cell is seen */
		s = atomic_load_explicit(&ch->send, memory_order_seq_cst);
		return (s & CLOSED) && (s & ~CLOSED) == pos ? -EPIPE : -EAGAIN;
	}
	c = cell_at(ch, pos);
	memcpy(elem, c->elem, ch->elem_size);
	/* release: our read is done before a sender of the next lap writes */
	atomic_store_explicit(&c->turn, lap_of(pos) * 2 + 2, memory_order_release);
	flight_end(me);
	*wake = owe_notify(&ch->send_waiting);
	return 0;
}

/* One attempt, in the form both blocking paths retry under their queue's
 * lock: on -EAGAIN with @sleeping the caller is counted as a sleeper. */
struct attempt {
	vs_chan_t *ch;
	const void *src; /* a send's element, or NULL for a receive */
	void *dst;
	bool wake, sleeping;
	int r;
};

static int op(struct attempt *a)
{
	return a->src ? push(a->ch, a->src, &a->wake) : pop(a->ch, a->dst, &a->wake);
}

/* With the positions read after the caller counted itself: would the op
 * still wait, with no cell in flight that it waits on? */
static bool must_wait(const struct attempt *a)
{
	uint64_t s = atomic_load_explicit(&a->ch->send, memory_order_seq_cst);
	uint64_t r = atomic_load_explicit(&a->ch->recv, memory_order_seq_cst);

	/* closed: nothing will notify any more, and the positions are frozen
	 * (the next op ends, with -EPIPE or the element in flight). Needed:
	 * the Dekker pairing covers a sender's claim, not its release, and a
	 * sender's look at the count may pass its release (x86's store
	 * buffer): it may have missed this sleeper while this sleeper missed
	 * the element, which another receiver then took */
	if (s & CLOSED)
		return false;

	/* equal indices: empty (same lap) or full (a lap apart) */
	if ((uint32_t)s != (uint32_t)r)
		return false;
	return a->src ? lap_of(s) != lap_of(r) : lap_of(s) == lap_of(r);
}

static bool attempt(void *arg)
{
	struct attempt *a = arg;
	_Atomic uint64_t *count;
	unsigned spins = 0;

	a->r = op(a);
	if (a->r != -EAGAIN || !a->sleeping)
		return a->r != -EAGAIN;
	count = a->src ? &a->ch->send_waiting : &a->ch->recv_waiting;
	atomic_fetch_add_explicit(count, 1, memory_order_seq_cst);
	/* seq_cst: the count is in the total order before the looks below
	 * (an acquire load could otherwise be done before it on some CPUs) */
	atomic_thread_fence(memory_order_seq_cst);
	for (;;) {
		a->r = op(a);
		if (a->r != -EAGAIN || must_wait(a))
			return a->r != -EAGAIN;
		/* a cell in flight on another thread: it is released within a
		 * few instructions, unless the OS preempted that thread */
		if (++spins < 128)
			rt_relax();
		else
			sched_yield();
	}
}

static int finish(struct attempt *a)
{
	if (a->wake)
		(void)vs_wq_notify_one(a->src ? &a->ch->not_empty : &a->ch->not_full);
	return a->r;
}

static int try_op(vs_chan_t *ch, const void *src, void *dst)
{
	struct attempt a = { .ch = ch, .src = src, .dst = dst };

	if (!ch || (!src && !dst))
		return -EINVAL;
	attempt(&a);
	return finish(&a);
}

/*
 * A try first, which takes no queue lock; then sleep on the queue until
 * @deadline (VS_NEVER: none). A waiter that times out leaves the sleeper
 * count one too high: that only costs a spare notify later (too low would
 * lose one).
 */
static int blocking_op(vs_chan_t *ch, const void *src, void *dst, bool poll, uint64_t deadline)
{
	struct vs_task *me = vs_task_self();
	struct attempt a = { .ch = ch, .src = src, .dst = dst };
	struct vs_wq *wq;
	int r;

	if (!ch || (!src && !dst))
		return -EINVAL;
	if (!me || me->stackless != poll)
		return -EPERM;
	if (attempt(&a))
		return finish(&a);
	if (deadline != VS_NEVER && rt_now() >= deadline)
		return -ETIMEDOUT;
	a.sleeping = true;
	wq = src ? &ch->not_full : &ch->not_empty;
	if (poll)
		r = vs_wq_wait_pred_until_poll(wq, attempt, &a, deadline);
	else
		r = vs_wq_wait_pred_until(wq, attempt, &a, deadline);
	if (r < 0)
		return r; /* -EAGAIN: registered, and counted (or -EBUSY), or -ETIMEDOUT */
	return finish(&a);
}

int vs_chan_try_send(vs_chan_t *ch, const void *elem)
{
	return try_op(ch, elem, NULL);
}

int vs_chan_try_recv(vs_chan_t *ch, void *elem)
{
	return try_op(ch, NULL, elem);
}

int vs_chan_send_until(vs_chan_t *ch, const void *elem, uint64_t deadline_ns)
{
	return blocking_op(ch, elem, NULL, false, deadline_ns);
}

int vs_chan_recv_until(vs_chan_t *ch, void *elem, uint64_t deadline_ns)
{
	return blocking_op(ch, NULL, elem, false, deadline_ns);
}

int vs_chan_send(vs_chan_t *ch, const void *elem)
{
	return vs_chan_send_until(ch, elem, VS_NEVER);
}

int vs_chan_recv(vs_chan_t *ch, void *elem)
{
	return vs_chan_recv_until(ch, elem, VS_NEVER);
}

int vs_chan_send_until_poll(vs_chan_t *ch, const void *elem, uint64_t deadline_ns)
{
	return blocking_op(ch, elem, NULL, true, deadline_ns);
}

int vs_chan_recv_until_poll(vs_chan_t *ch, void *elem, uint64_t deadline_ns)
{
	return blocking_op(ch, NULL, elem, true, deadline_ns);
}

int vs_chan_send_poll(vs_chan_t *ch, const void *elem)
{
	return vs_chan_send_until_poll(ch, elem, VS_NEVER);
}

int vs_chan_recv_poll(vs_chan_t *ch, void *elem)
{
	return vs_chan_recv_until_poll(ch, elem, VS_NEVER);
}

int vs_chan_close(vs_chan_t *ch)
{
	uint64_t s;

	if (!ch)
		return -EINVAL;
	/* seq_cst: a receiver that then finds the ring empty sees it; no
	 * send claims a position after it (their CAS fails on the bit) */
	s = atomic_fetch_or_explicit(&ch->send, CLOSED, memory_order_seq_cst);
	if (s & CLOSED)
		return -EPIPE;
	/* every sleeper was queued before it dropped its queue's lock, and
	 * any later attempt sees CLOSED */
	(void)vs_wq_notify_all(&ch->not_full);
	(void)vs_wq_notify_all(&ch->not_empty);
	return 0;
}

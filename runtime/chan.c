/* SPDX-License-Identifier: MIT */
/*
 * Channels: a bounded ring of fixed-size elements under a short spinlock,
 * with senders sleeping on one wait queue while it is full and receivers
 * on another while it is empty.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "vsched/sync.h"
#include "cpu.h"
#include "timer.h"
#include "wq.h"

/*
 * Everything but the queues is under @lock. A sender or receiver that
 * finds the ring full or empty counts itself in send_waiting/recv_waiting
 * under @lock while it holds its queue's lock, and is queued before that
 * queue lock drops. The other side, under @lock, turns one count into one
 * notify (after dropping @lock), which then finds the sleeper queued: so
 * no wake-up is lost, and a channel nobody waits on costs no notify.
 */
struct vs_chan {
	unsigned char lock; /* rt_lock_flag */
	bool closed;
	size_t elem_size, cap;
	size_t head, count; /* the oldest element's slot, and how many */
	unsigned send_waiting, recv_waiting; /* sleepers not yet notified */
	struct vs_wq not_full, not_empty;
	unsigned char buf[];
};

/* Held for a copy of one element. */
static void chan_lock(vs_chan_t *ch)
{
	rt_lock_flag(&ch->lock);
}

static void chan_unlock(vs_chan_t *ch)
{
	rt_unlock_flag(&ch->lock);
}

int vs_chan_create(size_t elem_size, size_t capacity, vs_chan_t **out)
{
	vs_chan_t *ch;
	size_t bytes;

	if (!out || !elem_size || !capacity ||
	    __builtin_mul_overflow(elem_size, capacity, &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*ch), &bytes))
		return -EINVAL;
	ch = calloc(1, bytes);
	if (!ch)
		return -ENOMEM;
	ch->lock = 0;
	ch->elem_size = elem_size;
	ch->cap = capacity;
	vs_wq_init(&ch->not_full);
	vs_wq_init(&ch->not_empty);
	*out = ch;
	return 0;
}

void vs_chan_destroy(vs_chan_t *ch)
{
	free(ch);
}

/* With @lock held: 0, -EPIPE or -EAGAIN; *wake if a receiver is owed a
 * notify. */
static int put_locked(vs_chan_t *ch, const void *elem, bool *wake)
{
	size_t tail;

	if (ch->closed)
		return -EPIPE;
	if (ch->count == ch->cap)
		return -EAGAIN;
	tail = ch->head + ch->count;
	if (tail >= ch->cap)
		tail -= ch->cap;
	memcpy(ch->buf + tail * ch->elem_size, elem, ch->elem_size);
	ch->count++;
	if (ch->recv_waiting) {
		ch->recv_waiting--;
		*wake = true;
	}
	return 0;
}

static int get_locked(vs_chan_t *ch, void *elem, bool *wake)
{
	if (!ch->count)
		return ch->closed ? -EPIPE : -EAGAIN;
	memcpy(elem, ch->buf + ch->head * ch->elem_size, ch->elem_size);
	if (++ch->head == ch->cap)
		ch->head = 0;
	ch->count--;
	if (ch->send_waiting) {
		ch->send_waiting--;
		*wake = true;
	}
	return 0;
}

/* One attempt, in the form both blocking paths retry under their queue's
 * lock: on -EAGAIN the caller is counted as a sleeper (@sleeping). */
struct attempt {
	vs_chan_t *ch;
	const void *src; /* a send's element, or NULL for a receive */
	void *dst;
	bool wake, sleeping;
	int r;
};

static bool attempt(void *arg)
{
	struct attempt *a = arg;
	vs_chan_t *ch = a->ch;

	chan_lock(ch);
	a->r = a->src ? put_locked(ch, a->src, &a->wake) : get_locked(ch, a->dst, &a->wake);
	if (a->r == -EAGAIN && a->sleeping) {
		if (a->src)
			ch->send_waiting++;
		else
			ch->recv_waiting++;
	}
	chan_unlock(ch);
	return a->r != -EAGAIN;
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
	if (!ch)
		return -EINVAL;
	chan_lock(ch);
	if (ch->closed) {
		chan_unlock(ch);
		return -EPIPE;
	}
	ch->closed = true;
	ch->send_waiting = ch->recv_waiting = 0;
	chan_unlock(ch);
	/* every sleeper was queued before its count (now dropped) was
	 * released, and any later attempt sees closed */
	(void)vs_wq_notify_all(&ch->not_full);
	(void)vs_wq_notify_all(&ch->not_empty);
	return 0;
}

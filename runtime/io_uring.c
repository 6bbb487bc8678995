/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend: one ring per CPU thread, touched only by that
 * thread (the kernel's single issuer). A task prepares its operation's
 * entry and parks; the entries of a CPU go to the kernel together, when
 * the CPU runs out of tasks or every TICK_SUBMIT switches, so a busy CPU
 * submits in batches as a hand-written loop does. Completions are reaped
 * at switches and when idle; an idle CPU waits in its ring until a
 * completion, its next timer or a kick (an eventfd read kept armed in the
 * ring). How a wait ends: io.h.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "rt.h"
#include "cpu.h"
#include "io.h"
#include "park.h"
#include "timer.h"
#include "wait.h"

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096
/* io-wq workers per ring: bounded (files), unbounded (sockets) */
#define IOWQ_BOUNDED 4
#define IOWQ_UNBOUNDED 16
/* switches between two submissions or reaps of a busy CPU */
#define TICK_MASK 63
/* prepared entries a switch submits at once */
#define SUBMIT_BATCH 32

/* user_data: an operation's record, with its low bits saying which of its
 * completions this is; or the kick's read */
#define TAG_KICK ((uint64_t)1)
#define TAG_CANCEL ((uint64_t)2)
#define TAG_MASK ((uint64_t)7)

struct ur_cpu {
	struct io_uring ring;
	int efd;	 /* kicks: written by wakers, read by the ring */
	uint64_t ebuf;	 /* the kick read's buffer */
	bool kick_armed; /* the kick read is in the ring */
	bool defer;	 /* DEFER_TASKRUN: completions need an enter */
	unsigned inflight; /* completions to come, but the kick's */
	struct rt_io_op *_Atomic inbox; /* cancels asked for by others */
};

static inline struct ur_cpu *ur(struct rt_cpu *c)
{
	return c->io;
}

/* Whether the switch hook has work: this thread only. */
static void ur_update_flags(struct rt_cpu *c, struct ur_cpu *u)
{
	/* relaxed atomic: the ticking thread reads it (ur_pending) */
	__atomic_store_n(&c->io_flags, u->inflight || io_uring_sq_ready(&u->ring),
			 __ATOMIC_RELAXED);
}

/*
 * Submits what is prepared; with @get, also has the kernel post what
 * completed (DEFER_TASKRUN posts only then). Retried on EINTR (the
 * preemption signal); a full completion queue is reaped first.
 */
static int reap(struct rt_cpu *c, struct ur_cpu *u);

static void flush(struct rt_cpu *c, struct ur_cpu *u, bool get)
{
	for (unsigned n = 0;; n++) {
		int r = get ? io_uring_submit_and_get_events(&u->ring) :
			      io_uring_submit(&u->ring);

		if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY))
			return;
		/* EBUSY: completions to take first; EAGAIN: the kernel is
		 * short of memory for a moment */
		if (r != -EINTR)
			(void)reap(c, u);
		if (r == -EAGAIN && n > 16)
			sched_yield();
	}
}

/* A free submission entry: a full queue is submitted first, never
 * dropped. */
static struct io_uring_sqe *sqe_get(struct rt_cpu *c, struct ur_cpu *u)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&u->ring)))
		flush(c, u, false);
	return sqe;
}

/* One of @op's completions has come (or a cancel it no longer needs):
 * the last one takes it off its fd and wakes its task. */
static int op_put(struct rt_io_op *op)
{
	struct rt_fd *f = op->fd;
	struct vs_task *t = op->task;

	/* acq_rel: whatever the other side wrote before its count (a cancel's
	 * request) is seen, and ours is before the wake */
	if (atomic_fetch_sub_explicit(&op->pending, 1, memory_order_acq_rel) != 1)
		return 0;
	if (f)
		rt_fd_unlist(f, op);
	/* the task is blocked (it parked on this thread before any reap):
	 * from here on the record may be gone */
	rt_wake(t, false);
	return 1;
}

static int cqe_handle(struct ur_cpu *u, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct rt_io_op *op = (struct rt_io_op *)(uintptr_t)(ud & ~TAG_MASK);

	if (ud == TAG_KICK) {
		u->kick_armed = false;
		return 0;
	}
	/* liburing's own timeout entry, on kernels without EXT_ARG */
	if (!op || ud == LIBURING_UDATA_TIMEOUT)
		return 0;
	u->inflight--;
	if (!(ud & TAG_CANCEL)) {
		op->res = cqe->res;
		op->done = true;
	}
	return op_put(op);
}

static int reap(struct rt_cpu *c, struct ur_cpu *u)
{
	struct io_uring_cqe *cqes[32];
	unsigned n;
	int woke = 0;

	/* the peek flushes an overflowed completion queue into the ring */
	while ((n = io_uring_peek_batch_cqe(&u->ring, cqes, 32)) > 0) {
		for (unsigned i = 0; i < n; i++)
			woke += cqe_handle(u, cqes[i]);
		io_uring_cq_advance(&u->ring, n);
		if (n < 32)
			break;
	}
	ur_update_flags(c, u);
	return woke;
}

/* The cancels others asked for: each becomes an async cancel in this
 * ring, or, if its operation completed meanwhile, just drops its count. */
static int take_inbox(struct rt_cpu *c, struct ur_cpu *u)
{
	struct rt_io_op *op, *next;
	int woke = 0;

	if (!atomic_load_explicit(&u->inbox, memory_order_relaxed))
		return 0;
	/* acquire: the pushers' records, as they wrote them */
	op = atomic_exchange_explicit(&u->inbox, NULL, memory_order_acquire);
	for (; op; op = next) {
		next = op->inext; /* before op_put: the record may then go */
		if (op->done) {
			/* complete before the cancel came: its result stands */
			atomic_store_explicit(&op->cancel, 0, memory_order_relaxed);
			woke += op_put(op);
			continue;
		}
		struct io_uring_sqe *sqe = sqe_get(c, u);

		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_CANCEL);
		u->inflight++;
	}
	ur_update_flags(c, u);
	return woke;
}

/*
 * Asks the CPU whose ring has @op to cancel it, once (the first why
 * wins), if it is not complete: from any thread, while @op is alive (its
 * task pinned in the wait, or @op listed under its fd's lock).
 */
static void request_cancel(struct rt_io_op *op, uint8_t why)
{
	uint8_t none = 0;
	uint32_t p = atomic_load_explicit(&op->pending, memory_order_relaxed);
	struct ur_cpu *u;

	if (!atomic_compare_exchange_strong_explicit(&op->cancel, &none, why,
						     memory_order_relaxed, memory_order_relaxed))
		return;
	/* a count of its own, so the record outlives the request: only while
	 * some completion is still to come (at 0 its task is being woken) */
	do {
		if (!p) {
			/* complete: its result stands (the record is alive:
			 * pinned, or listed under our lock, so its task reads
			 * this only later) */
			atomic_store_explicit(&op->cancel, 0, memory_order_relaxed);
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(&op->pending, &p, p + 1,
							memory_order_relaxed, memory_order_relaxed));
	u = ur(&rt_g->cpus[op->cpu]);
	op->inext = atomic_load_explicit(&u->inbox, memory_order_relaxed);
	/* release: the record's fields, for the CPU that takes it */
	while (!atomic_compare_exchange_weak_explicit(&u->inbox, &op->inext, op,
						      memory_order_release, memory_order_relaxed))
		;
	rt_kick(op->cpu);
}

static bool ur_fire(struct vs_task *t, uint8_t why)
{
	request_cancel(t->wio, why);
	return false; /* the task wakes at its operation's last completion */
}

static void ur_close_locked(struct rt_fd *f, int fd)
{
	(void)fd;
	for (struct rt_io_op *op = f->ops; op; op = op->next)
		request_cancel(op, RT_WHY_CLOSED);
}

/* Prepares @q's entry; @m: room for a socket readv/writev's header. */
static void prep(struct io_uring_sqe *sqe, const struct rt_io_req *q, bool sock, struct msghdr *m)
{
	switch (q->kind) {
	case RT_IO_READ:
		if (sock)
			io_uring_prep_recv(sqe, q->fd, q->buf, q->len, 0);
		else
			io_uring_prep_read(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)-1);
		break;
	case RT_IO_WRITE:
		if (sock)
			io_uring_prep_send(sqe, q->fd, q->buf, q->len, MSG_NOSIGNAL);
		else
			io_uring_prep_write(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)-1);
		break;
	case RT_IO_READV:
	case RT_IO_WRITEV:
		if (sock) {
			*m = (struct msghdr){ .msg_iov = (struct iovec *)q->iov,
					      .msg_iovlen = (size_t)q->iovcnt };
			if (q->kind == RT_IO_READV)
				io_uring_prep_recvmsg(sqe, q->fd, m, 0);
			else
				io_uring_prep_sendmsg(sqe, q->fd, m, MSG_NOSIGNAL);
		} else if (q->kind == RT_IO_READV) {
			io_uring_prep_readv(sqe, q->fd, q->iov, (unsigned)q->iovcnt, (uint64_t)-1);
		} else {
			io_uring_prep_writev(sqe, q->fd, q->iov, (unsigned)q->iovcnt, (uint64_t)-1);
		}
		break;
	case RT_IO_PREAD:
		io_uring_prep_read(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RT_IO_PWRITE:
		io_uring_prep_write(sqe, q->fd, q->buf, (unsigned)q->len, (uint64_t)q->off);
		break;
	case RT_IO_RECV:
		io_uring_prep_recv(sqe, q->fd, q->buf, q->len, q->flags);
		break;
	case RT_IO_SEND:
		io_uring_prep_send(sqe, q->fd, q->buf, q->len, q->flags);
		break;
	case RT_IO_RECVMSG:
		io_uring_prep_recvmsg(sqe, q->fd, q->msg, (unsigned)q->flags);
		break;
	case RT_IO_SENDMSG:
		io_uring_prep_sendmsg(sqe, q->fd, q->msg, (unsigned)q->flags);
		break;
	case RT_IO_ACCEPT:
		io_uring_prep_accept(sqe, q->fd, q->addr, q->addrlen, q->flags);
		break;
	case RT_IO_CONNECT:
		io_uring_prep_connect(sqe, q->fd, q->addr, q->alen);
		break;
	case RT_IO_OPENAT:
		io_uring_prep_openat(sqe, q->fd, q->path, q->flags, q->mode);
		break;
	case RT_IO_FSYNC:
		io_uring_prep_fsync(sqe, q->fd, 0);
		break;
	case RT_IO_FDATASYNC:
		io_uring_prep_fsync(sqe, q->fd, IORING_FSYNC_DATASYNC);
		break;
	case RT_IO_POLL:
		io_uring_prep_poll_add(sqe, q->fd, (unsigned)q->flags);
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
}

/* Socket calls a non-blocking syscall may finish at once; @is_read: a
 * read, tried only where the last one suggests data is queued. */
static bool try_kind(const struct rt_io_req *q, bool *is_read)
{
	*is_read = q->kind == RT_IO_READ || q->kind == RT_IO_READV || q->kind == RT_IO_RECVMSG ||
		   q->kind == RT_IO_RECV;
	switch (q->kind) {
	case RT_IO_RECV:
		return !(q->flags & MSG_WAITALL);
	case RT_IO_READ:
	case RT_IO_READV:
	case RT_IO_RECVMSG:
	case RT_IO_WRITE:
	case RT_IO_WRITEV:
	case RT_IO_SEND:
	case RT_IO_SENDMSG:
		return true;
	default:
		return false;
	}
}

/* Reads and writes that go as socket calls on a socket. */
static bool sock_kind(const struct rt_io_req *q)
{
	return q->kind <= RT_IO_WRITEV;
}

/*
 * Puts @op's operation (or, with @poll, a poll for its fd's readiness)
 * in the ring of @c, for @me: the wait begun (its timer armed), the
 * record listed on its fd, the entry queued. Runtime code is never
 * preempted: the entry is filled and queued before anything else runs on
 * this thread, and only this thread reaps this ring, once @me is off it.
 */
static int ring_submit(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op, bool poll,
		       uint64_t deadline)
{
	struct ur_cpu *u = ur(c);
	struct io_uring_sqe *sqe;
	int r = rt_wait_begin(c, me, deadline, true);

	if (r < 0)
		return r;
	op->cpu = (uint16_t)c->id;
	op->done = false;
	op->res = 0;
	atomic_store_explicit(&op->cancel, 0, memory_order_relaxed);
	atomic_store_explicit(&op->pending, 1, memory_order_relaxed);
	rt_wait_io(me, op);
	if (op->fd) {
		struct rt_fd *f = op->fd;

		rt_lock_flag(&f->lock);
		if (f->closing || atomic_load_explicit(&f->gen, memory_order_relaxed) != op->gen) {
			/* vs_close came first: the number is not ours now */
			rt_unlock_flag(&f->lock);
			(void)rt_wait_end(me); /* its timer, if any, is stale */
			return -EBADF;
		}
		rt_fd_list_locked(f, op);
		rt_unlock_flag(&f->lock);
	}
	rt_nopreempt_begin(c);
	sqe = sqe_get(c, u);
	if (poll)
		io_uring_prep_poll_add(sqe, op->q.fd, rt_io_dir(&op->q) == RT_IO_OUT ? POLLOUT : POLLIN);
	else
		prep(sqe, &op->q, op->sock && sock_kind(&op->q), &op->m);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
	u->inflight++;
	__atomic_store_n(&c->io_flags, 1, __ATOMIC_RELAXED);
	rt_nopreempt_end(c);
	op->state = poll ? RT_OP_POLL : RT_OP_RING;
	return 0;
}

/* @op's result once its last completion came: the wait's error if it
 * was cancelled before it moved anything (an fd it made then is closed). */
static ssize_t ring_result(struct rt_io_op *op)
{
	ssize_t r = op->res;
	uint8_t why = atomic_load_explicit(&op->cancel, memory_order_relaxed);

	if (!why)
		return r;
	if (r == -ECANCELED || r == -EINTR)
		return rt_why_err(why);
	if (r >= 0 && (op->q.kind == RT_IO_ACCEPT || op->q.kind == RT_IO_OPENAT)) {
		close((int)r); /* made after the call gave up: not handed out */
		return rt_why_err(why);
	}
	return r;
}

/* The first step: the non-blocking syscall where it may finish at once,
 * else the operation into the ring. */
static ssize_t ur_begin(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
			uint64_t deadline)
{
	const struct rt_io_req *q = &op->q;
	struct rt_fd *f = q->kind == RT_IO_OPENAT ? NULL : rt_fd_get(q->fd);
	unsigned kind = f ? rt_fd_kind(f, q->fd) : RT_FD_UNKNOWN;
	bool is_read, tryk = try_kind(q, &is_read);
	ssize_t r;

	/* a ring read at an offset of a pipe or socket reads the stream, where
	 * pread(2) says ESPIPE */
	if ((q->kind == RT_IO_PREAD || q->kind == RT_IO_PWRITE) &&
	    (kind == RT_FD_SOCKET || kind == RT_FD_STREAM))
		return -ESPIPE;
	op->fd = f;
	op->gen = f ? atomic_load_explicit(&f->gen, memory_order_relaxed) : 0;
	op->sock = kind == RT_FD_SOCKET;
	/*
	 * A socket that is probably ready: the non-blocking syscall first,
	 * as Go and Seastar do. Writes usually are; a read is after the last
	 * one filled its buffer (more may be queued).
	 */
	if (op->sock && tryk &&
	    (!is_read || atomic_load_explicit(&f->rhint, memory_order_relaxed))) {
		r = rt_io_sys(q, true, true);
		if (r != -EAGAIN && r != -ENOTSOCK)
			return r;
		if (is_read)
			atomic_store_explicit(&f->rhint, 0, memory_order_relaxed);
	}
	return ring_submit(c, me, op, false, deadline);
}

static ssize_t ur_step(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
		       uint64_t deadline)
{
	ssize_t r;
	bool is_read;

	for (;;) {
		switch (op->state) {
		case RT_OP_NEW:
			r = ur_begin(c, me, op, deadline);
			if (op->state == RT_OP_NEW)
				return r; /* done at once, or refused */
			break;
		case RT_OP_RING:
		case RT_OP_POLL:
			/* acquire: the completion's result (a stackless task
			 * polled before it came is told to wait on) */
			if (atomic_load_explicit(&op->pending, memory_order_acquire))
				return -EAGAIN;
			r = ring_result(op);
			if (op->state == RT_OP_POLL) {
				/* ready (or not to be waited for): again */
				if (r < 0)
					return r;
				r = ring_submit(c, me, op, false, deadline);
			} else if (r == -ENOTSOCK && op->sock && sock_kind(&op->q)) {
				/* the number was reused for something else */
				atomic_store_explicit(&op->fd->kind, RT_FD_UNKNOWN,
						      memory_order_relaxed);
				op->sock = false;
				r = ring_submit(c, me, op, false, deadline);
			} else if (r == -EAGAIN && op->q.kind != RT_IO_POLL) {
				/* a non-blocking fd the kernel would not wait on:
				 * wait for readiness, then try again */
				r = ring_submit(c, me, op, true, deadline);
			} else {
				if (op->fd && try_kind(&op->q, &is_read) && is_read && r > 0)
					atomic_store_explicit(
						&op->fd->rhint,
						(op->q.kind == RT_IO_READ || op->q.kind == RT_IO_RECV) &&
							(size_t)r == op->q.len,
						memory_order_relaxed);
				return r;
			}
			if (r < 0)
				return r;
			break;
		default:
			return -EINVAL;
		}
		/* in the ring: wait for its last completion */
		r = rt_io_block(&c, me, NULL);
		if (r < 0)
			return r;
	}
}

/*
 * What the ring has: cancels asked for, entries to submit, completions to
 * take. Counted as a lock: liburing's code, working on this thread's
 * ring, must not be switched out of by the preemption signal (the task
 * switched in would re-enter it at its next switch).
 */
static int ur_poll(struct rt_cpu *c)
{
	struct ur_cpu *u = ur(c);
	int woke;

	rt_nopreempt_begin(c);
	woke = take_inbox(c, u);
	if (u->inflight || io_uring_sq_ready(&u->ring))
		flush(c, u, u->defer && u->inflight);
	woke += reap(c, u);
	rt_nopreempt_end(c);
	return woke;
}

static void ur_tick(struct rt_cpu *c)
{
	struct ur_cpu *u = ur(c);

	if ((++c->io_tick & TICK_MASK) == 0 || io_uring_sq_ready(&u->ring) >= SUBMIT_BATCH ||
	    atomic_load_explicit(&u->inbox, memory_order_relaxed)) {
		(void)ur_poll(c);
		return;
	}
	/* without DEFER_TASKRUN, completions are in the ring already */
	if (!u->defer && io_uring_cq_ready(&u->ring)) {
		rt_nopreempt_begin(c);
		(void)reap(c, u);
		rt_nopreempt_end(c);
	}
}

static void ur_park(struct rt_cpu *c, uint32_t seq, uint64_t deadline)
{
	struct ur_cpu *u = ur(c);
	struct __kernel_timespec ts, *tp = NULL;
	struct io_uring_cqe *cqe;

	(void)take_inbox(c, u);
	if (!u->kick_armed) {
		struct io_uring_sqe *sqe = sqe_get(c, u);

		io_uring_prep_read(sqe, u->efd, &u->ebuf, sizeof(u->ebuf), 0);
		io_uring_sqe_set_data64(sqe, TAG_KICK);
		u->kick_armed = true;
	}
	/* a kick after this check writes the eventfd, which completes the
	 * armed read and ends the wait below: none is lost */
	if (atomic_load_explicit(&c->wake_seq, memory_order_acquire) != seq) {
		flush(c, u, u->defer);
		(void)reap(c, u);
		return;
	}
	if (deadline) {
		uint64_t now = rt_now();
		uint64_t left = deadline > now ? deadline - now : 0;

		ts.tv_sec = (long long)(left / 1000000000u);
		ts.tv_nsec = (long long)(left % 1000000000u);
		tp = &ts;
	}
	/* EINTR, ETIME: back to the idle loop, which looks again */
	(void)io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tp, NULL);
	(void)reap(c, u);
}

static bool ur_quiet(struct rt_cpu *c)
{
	struct ur_cpu *u = ur(c);

	return !u->inflight && !io_uring_sq_ready(&u->ring) &&
	       !atomic_load_explicit(&u->inbox, memory_order_relaxed);
}

static void ur_kick(struct rt_cpu *c)
{
	/* acquire: the state its thread published (ur_cpu_init), which a
	 * kicker that saw it parked may otherwise see only in part */
	struct ur_cpu *u = __atomic_load_n((struct ur_cpu **)&c->io, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	if (u)
		while (write(u->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
}

/* From the ticking thread: @c's ring has cancels asked for, entries not
 * submitted, completions posted, or (TASKRUN_FLAG) completions the kernel
 * holds until its thread enters (DEFER_TASKRUN). Reads of the ring's
 * shared words only: a hint. */
static bool ur_pending(struct rt_cpu *c)
{
	struct ur_cpu *u = __atomic_load_n((struct ur_cpu **)&c->io, __ATOMIC_ACQUIRE);
	struct io_uring *r;

	if (!u || !__atomic_load_n(&c->io_flags, __ATOMIC_RELAXED))
		return false;
	r = &u->ring;
	return atomic_load_explicit(&u->inbox, memory_order_relaxed) ||
	       __atomic_load_n(r->sq.kflags, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN ||
	       __atomic_load_n(r->cq.ktail, __ATOMIC_RELAXED) !=
		       __atomic_load_n(r->cq.khead, __ATOMIC_RELAXED);
}

static void ur_monitor(void)
{
}

static int ur_init(void)
{
	return 0;
}

static void ur_fini(void)
{
}

/* The strongest setup the kernel takes, one step down at a time. */
static const unsigned ring_flags[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
		IORING_SETUP_SUBMIT_ALL,
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
	0,
};

static int ur_cpu_init(struct rt_cpu *c)
{
	struct ur_cpu *u = calloc(1, sizeof(*u));
	unsigned workers[2] = { IOWQ_BOUNDED, IOWQ_UNBOUNDED };
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	u->efd = eventfd(0, EFD_CLOEXEC); /* blocking: the ring waits on it */
	if (u->efd < 0) {
		r = -errno;
		free(u);
		return r;
	}
	for (unsigned i = 0; i < sizeof(ring_flags) / sizeof(ring_flags[0]); i++) {
		struct io_uring_params p = { .flags = ring_flags[i] | IORING_SETUP_CQSIZE,
					     .cq_entries = CQ_ENTRIES };

		r = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
		if (r != -EINVAL) {
			u->defer = ring_flags[i] & IORING_SETUP_DEFER_TASKRUN;
			break;
		}
	}
	if (r < 0) {
		close(u->efd);
		free(u);
		return r;
	}
	(void)io_uring_register_iowq_max_workers(&u->ring, workers);
	__atomic_store_n(&c->io, (void *)u, __ATOMIC_RELEASE); /* for kickers */
	c->io_flags = 0;
	return 0;
}

static void ur_cpu_fini(struct rt_cpu *c)
{
	struct ur_cpu *u = ur(c);

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	c->io = NULL;
	c->io_flags = 0;
	free(u);
}

const struct rt_io_backend rt_io_uring = {
	.parker = {
		.name = "io_uring",
		.park = ur_park,
		.kick = ur_kick,
		.poll = ur_poll,
		.tick = ur_tick,
		.quiet = ur_quiet,
	},
	.init = ur_init,
	.fini = ur_fini,
	.cpu_init = ur_cpu_init,
	.cpu_fini = ur_cpu_fini,
	.step = ur_step,
	.fire = ur_fire,
	.monitor = ur_monitor,
	.pending = ur_pending,
	.close_locked = ur_close_locked,
};

/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend: one epoll for the runtime, as Go's netpoller. Each fd
 * a task waits on is registered once, edge-triggered, and put into
 * non-blocking mode; a call tries its syscall, and on EAGAIN waits for the
 * fd's readiness in that direction (io.h), then tries again. One idle CPU
 * at a time sleeps in epoll_wait (the poller, woken by an eventfd); the
 * others sleep on their futex. Busy CPUs poll without waiting every
 * TICK_MASK + 1 switches, so readiness is seen even when none is idle.
 * File operations (no readiness to wait for) run on the calling CPU.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "cpu.h"
#include "io.h"
#include "park.h"
#include "timer.h"
#include "wait.h"

#define TICK_MASK 63
#define EVENTS 64

static struct {
	int epfd;
	int efd;		/* breaks the poller's sleep */
	_Atomic int poller;	/* the CPU asleep in epoll_wait, or -1 */
	_Atomic long waiters;	/* tasks waiting for readiness */
	_Atomic bool no_pwait2;	/* epoll_pwait2 is missing: milliseconds */
} ep = { .epfd = -1, .efd = -1 };

/* The readiness an event brings, in RT_IO_* bits. */
static unsigned ev_bits(uint32_t e)
{
	return (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR) ? RT_IO_IN : 0) |
	       (e & (EPOLLOUT | EPOLLHUP | EPOLLERR) ? RT_IO_OUT : 0);
}

/* Wakes the waits of @f that @bits is for, and keeps what nobody took as
 * ready for the next wait. */
static int fd_ready(struct rt_fd *f, unsigned bits)
{
	struct rt_io_op *op, *next, *wake = NULL;
	unsigned taken = 0;
	int n = 0;

	rt_lock_flag(&f->lock);
	for (op = f->ops; op; op = next) {
		next = op->next;
		if (!(op->dir & bits))
			continue;
		rt_fd_unlist_locked(f, op);
		op->task->why = RT_WHY_NOTIFIED;
		taken |= op->dir & bits;
		op->inext = wake;
		wake = op;
	}
	f->ready |= bits & ~taken;
	rt_unlock_flag(&f->lock);
	/* off the list, the waits are ours alone to end: their tasks stay
	 * blocked, and their records alive, until woken here */
	for (op = wake; op; op = next) {
		struct vs_task *t = op->task;

		next = op->inext;
		rt_wake(t, false);
		n++;
	}
	return n;
}

/* Empties the poller's break eventfd: only the poller does, and only
 * while it is the poller (ep_park); a poll that does not sleep leaves the
 * event (level-triggered) to it, which would otherwise miss its kick, as
 * Go's netpoll does. */
static void drain_break(void)
{
	uint64_t v;

	while (read(ep.efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static int handle(const struct epoll_event *ev, int n)
{
	int woke = 0;

	for (int i = 0; i < n; i++) {
		struct rt_fd *f = ev[i].data.ptr;

		if (!f)
			continue; /* the break: the poller's (drain_break) */
		woke += fd_ready(f, ev_bits(ev[i].events));
	}
	return woke;
}

/*
 * Registers @fd (entry @f) once: RT_FD_REG, RT_FD_NOPOLL (a regular file,
 * always ready), or -errno. With @again, registers it anew even if it
 * was: vs_wait_fd is for fds the caller brings, and closes, itself, and a
 * plain close(2) takes the fd out of the epoll without the entry knowing.
 */
static int reg(struct rt_fd *f, int fd, bool again)
{
	int r;

	r = __atomic_load_n(&f->reg, __ATOMIC_ACQUIRE);
	if (r != RT_FD_UNREG && !again)
		return r;
	rt_lock_flag(&f->lock);
	r = f->reg;
	if (r == RT_FD_UNREG || again) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI |
						    EPOLLET,
					  .data.ptr = f };
		int fl;

		if ((again && epoll_ctl(ep.epfd, EPOLL_CTL_MOD, fd, &ev) == 0) ||
		    epoll_ctl(ep.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
		    (errno == EEXIST && epoll_ctl(ep.epfd, EPOLL_CTL_MOD, fd, &ev) == 0)) {
			fl = fcntl(fd, F_GETFL);
			if (fl >= 0 && !(fl & O_NONBLOCK))
				(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
			r = RT_FD_REG;
		} else if (errno == EPERM) {
			r = RT_FD_NOPOLL;
		} else {
			r = -errno;
		}
		if (r > 0) {
			f->ready = 0;
			__atomic_store_n(&f->reg, (uint8_t)r, __ATOMIC_RELEASE);
		}
	}
	rt_unlock_flag(&f->lock);
	return r;
}

/*
 * Waits for @op's fd to be ready in its direction (or to have been since
 * the syscall failed), its deadline, the canceller, or vs_close of the fd
 * (numbered op->gen): 1 to try again at once, 0 once the wait is begun and
 * @me blocked in it (a stackful @me then has run again: the wait is over,
 * its end in op->state RT_OP_WAIT), or -errno (-EAGAIN: a stackless @me is
 * blocked).
 */
static int ep_wait(struct rt_cpu **cp, struct vs_task *me, struct rt_io_op *op,
		   uint64_t deadline, uint8_t next)
{
	struct rt_fd *f = op->fd;
	int r;

	rt_lock_flag(&f->lock);
	if (atomic_load_explicit(&f->gen, memory_order_relaxed) != op->gen) {
		rt_unlock_flag(&f->lock);
		return -EBADF; /* closed since the call began */
	}
	if (f->ready & op->dir) {
		f->ready &= (uint8_t)~op->dir; /* an edge since the syscall failed */
		rt_unlock_flag(&f->lock);
		return 1;
	}
	r = rt_wait_begin(*cp, me, deadline, true);
	if (r < 0) {
		rt_unlock_flag(&f->lock);
		return r;
	}
	rt_wait_io(me, op);
	rt_fd_list_locked(f, op);
	atomic_fetch_add_explicit(&ep.waiters, 1, memory_order_relaxed);
	op->state = next;
	/* the lock goes once we cannot be missed: whoever takes us off the
	 * list finds us blocked */
	return rt_io_block(cp, me, &f->lock);
}

/* A stream socket, where MSG_WAITALL gathers bytes (a datagram is one
 * message whatever the flag). */
static bool is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* The first step: the fd registered; 1 for a file operation, or one on a
 * regular file (which epoll does not take): the offload pool's, as they
 * can block, on a slow disk, for as long as they like. */
static ssize_t ep_begin(struct rt_io_op *op)
{
	const struct rt_io_req *q = &op->q;
	unsigned dir = rt_io_dir(q);
	struct rt_fd *f = dir ? rt_fd_get(q->fd) : NULL;
	int r;

	if (!f) /* a file operation: nothing to wait for */
		return 1;
	op->gen = atomic_load_explicit(&f->gen, memory_order_relaxed);
	r = reg(f, q->fd, q->kind == RT_IO_POLL);
	if (r < 0)
		return r;
	if (r == RT_FD_NOPOLL)
		return 1;
	op->fd = f;
	op->dir = (uint8_t)dir;
	op->sock = q->kind <= RT_IO_WRITEV && rt_fd_kind(f, q->fd) == RT_FD_SOCKET;
	op->got = 0;
	op->gather = q->kind == RT_IO_RECV && (q->flags & MSG_WAITALL) &&
		     !(q->flags & MSG_PEEK) && is_stream(q->fd);
	op->state = RT_OP_TRY;
	return 0;
}

/*
 * One try of @op's syscall, without blocking; -EAGAIN to wait. A recv with
 * MSG_WAITALL on a stream, which a non-blocking recv does not honour,
 * gathers until its buffer is full or EOF (what came before an error is
 * returned).
 */
static ssize_t ep_try(struct rt_io_op *op)
{
	const struct rt_io_req *q = &op->q;
	ssize_t r;

	if (op->gather) {
		struct rt_io_req part = *q;

		while (op->got < q->len) {
			part.buf = (char *)q->buf + op->got;
			part.len = q->len - op->got;
			r = rt_io_sys(&part, false, true);
			if (r <= 0)
				return r == -EAGAIN || !op->got ? r : (ssize_t)op->got;
			op->got += (size_t)r;
		}
		return (ssize_t)op->got;
	}
	for (;;) {
		r = rt_io_sys(q, op->sock, true);
		if (r == -ENOTSOCK && op->sock) {
			/* the number was reused for something else */
			atomic_store_explicit(&op->fd->kind, RT_FD_UNKNOWN, memory_order_relaxed);
			op->sock = false;
			continue;
		}
		if (q->kind == RT_IO_POLL && r == 0)
			return -EAGAIN; /* poll(2) found nothing ready */
		if (q->kind == RT_IO_CONNECT && r == -EINPROGRESS) {
			op->state = RT_OP_CONN;
			return -EAGAIN;
		}
		return r;
	}
}

/* A connect in progress whose socket became writable: its outcome, or
 * -EAGAIN if it is still in progress (the readiness was older). */
static ssize_t ep_connected(struct rt_io_op *op)
{
	struct pollfd p = { .fd = op->q.fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&p, 1, 0) <= 0)
		return -EAGAIN;
	if (getsockopt(op->q.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

static ssize_t ep_step(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
		       uint64_t deadline)
{
	ssize_t r;

	for (;;) {
		uint8_t after = RT_OP_TRY;

		switch (op->state) {
		case RT_OP_NEW:
			r = ep_begin(op);
			if (r == 1)
				return rt_offload_step(c, me, op, deadline);
			if (op->state == RT_OP_NEW)
				return r;
			continue;
		case RT_OP_TRY:
			r = ep_try(op);
			if (r != -EAGAIN)
				return r;
			if (op->state == RT_OP_CONN)
				after = RT_OP_CONN;
			break;
		case RT_OP_CONN:
			r = ep_connected(op);
			if (r != -EAGAIN)
				return r;
			after = RT_OP_CONN;
			break;
		case RT_OP_WAIT:
		case RT_OP_CWAIT:
			/* woken: how the wait ended (rt_wait_end ran) */
			atomic_fetch_sub_explicit(&ep.waiters, 1, memory_order_relaxed);
			r = rt_wait_result(me);
			op->state = op->state == RT_OP_CWAIT ? RT_OP_CONN : RT_OP_TRY;
			if (r < 0)
				return op->got ? (ssize_t)op->got : r;
			continue;
		default:
			return -EINVAL;
		}
		/* not ready: wait, then go on in state @after */
		r = ep_wait(&c, me, op, deadline, after == RT_OP_CONN ? RT_OP_CWAIT : RT_OP_WAIT);
		if (r == 1)
			op->state = after; /* ready meanwhile: again */
		else if (r < 0)
			return r == -EAGAIN ? r : op->got ? (ssize_t)op->got : r;
	}
}

static bool ep_fire(struct vs_task *t, uint8_t why)
{
	struct rt_io_op *op = t->wio;
	struct rt_fd *f = op->fd;
	bool wake = false;

	rt_lock_flag(&f->lock);
	if (op->listed) {
		rt_fd_unlist_locked(f, op);
		t->why = why;
		wake = true;
	}
	rt_unlock_flag(&f->lock);
	return wake;
}

static void ep_close_locked(struct rt_fd *f, int fd)
{
	struct rt_io_op *op;

	/* every listed task is off its CPU (it parked with this lock) */
	while ((op = f->ops)) {
		struct vs_task *t = op->task;

		rt_fd_unlist_locked(f, op);
		t->why = RT_WHY_CLOSED;
		rt_wake(t, false);
	}
	if (f->reg == RT_FD_REG)
		(void)epoll_ctl(ep.epfd, EPOLL_CTL_DEL, fd, NULL);
	f->ready = 0;
	__atomic_store_n(&f->reg, RT_FD_UNREG, __ATOMIC_RELEASE);
}

static int ep_poll(struct rt_cpu *c)
{
	struct epoll_event ev[EVENTS];
	int n;

	(void)c;
	if (!atomic_load_explicit(&ep.waiters, memory_order_relaxed))
		return 0;
	n = epoll_wait(ep.epfd, ev, EVENTS, 0);
	return n > 0 ? handle(ev, n) : 0;
}

static void ep_tick(struct rt_cpu *c)
{
	if ((++c->io_tick & TICK_MASK) == 0)
		(void)ep_poll(c);
}

/* Sleeps in epoll_wait until @deadline (0: none). */
static int sleep_in_epoll(struct epoll_event *ev, uint64_t deadline)
{
	uint64_t left = 0;

	if (deadline) {
		uint64_t now = rt_now();

		left = deadline > now ? deadline - now : 0;
	}
	if (!atomic_load_explicit(&ep.no_pwait2, memory_order_relaxed)) {
		struct timespec ts = { .tv_sec = (time_t)(left / 1000000000u),
				       .tv_nsec = (long)(left % 1000000000u) };
		long n = syscall(SYS_epoll_pwait2, ep.epfd, ev, EVENTS, deadline ? &ts : NULL,
				 NULL, 0);

		if (n >= 0 || errno != ENOSYS)
			return (int)n;
		atomic_store_explicit(&ep.no_pwait2, true, memory_order_relaxed); /* qemu-user */
	}
	/* milliseconds, rounded up: never early */
	return epoll_wait(ep.epfd, ev, EVENTS,
			  !deadline ? -1 :
			  left / 1000000u >= 0x7fffffff ? 0x7fffffff :
							  (int)((left + 999999u) / 1000000u));
}

static void futex_sleep(struct rt_cpu *c, uint32_t seq, uint64_t deadline)
{
	rt_parker_futex.park(c, seq, deadline);
}

static void ep_park(struct rt_cpu *c, uint32_t seq, uint64_t deadline)
{
	struct epoll_event ev[EVENTS];
	int none = -1, n;

	if (!atomic_load_explicit(&ep.waiters, memory_order_relaxed) ||
	    !atomic_compare_exchange_strong(&ep.poller, &none, (int)c->id)) {
		futex_sleep(c, seq, deadline);
		return;
	}
	/* Dekker with the kicker, which bumps wake_seq then looks at the
	 * poller: either it sees us and writes the eventfd, or we see its
	 * bump here */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->wake_seq, memory_order_relaxed) == seq) {
		n = sleep_in_epoll(ev, deadline);
		/* the break is drained while still the poller: a kick for the
		 * next poller, written once we let go, is its own to find */
		for (int i = 0; i < n; i++)
			if (!ev[i].data.ptr)
				drain_break();
		atomic_store(&ep.poller, -1);
		if (n > 0)
			(void)handle(ev, n);
		return;
	}
	atomic_store(&ep.poller, -1);
}

static bool ep_quiet(struct rt_cpu *c)
{
	(void)c;
	return !atomic_load_explicit(&ep.waiters, memory_order_relaxed);
}

static void ep_kick(struct rt_cpu *c)
{
	rt_parker_futex.kick(c);
	atomic_thread_fence(memory_order_seq_cst); /* the bump before the look */
	if (atomic_load_explicit(&ep.poller, memory_order_relaxed) == (int)c->id) {
		uint64_t one = 1;

		while (write(ep.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

/* The ticking thread looks at the epoll when no CPU sleeps in it (all
 * busy, or asleep on their futex), as Go's sysmon does: the tasks it wakes
 * are queued, and a CPU busy past its slice is then preempted for them. */
static void ep_monitor(void)
{
	if (atomic_load_explicit(&ep.poller, memory_order_relaxed) < 0)
		(void)ep_poll(NULL);
}

static bool ep_pending(struct rt_cpu *c)
{
	(void)c;
	return false; /* the ticking thread takes the events itself */
}

static int ep_init(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int r;

	ep.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep.epfd < 0)
		return -errno;
	ep.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep.efd < 0 || epoll_ctl(ep.epfd, EPOLL_CTL_ADD, ep.efd, &ev) < 0) {
		r = -errno;
		if (ep.efd >= 0)
			close(ep.efd);
		close(ep.epfd);
		ep.epfd = ep.efd = -1;
		return r;
	}
	atomic_store(&ep.poller, -1);
	atomic_store(&ep.waiters, 0);
	return 0;
}

static void ep_fini(void)
{
	close(ep.efd);
	close(ep.epfd);
	ep.epfd = ep.efd = -1;
}

static int ep_cpu_init(struct rt_cpu *c)
{
	c->io_flags = 1; /* the tick polls now and then */
	return 0;
}

static void ep_cpu_fini(struct rt_cpu *c)
{
	c->io_flags = 0;
}

const struct rt_io_backend rt_io_epoll = {
	.parker = {
		.name = "epoll",
		.park = ep_park,
		.kick = ep_kick,
		.poll = ep_poll,
		.tick = ep_tick,
		.quiet = ep_quiet,
	},
	.init = ep_init,
	.fini = ep_fini,
	.cpu_init = ep_cpu_init,
	.cpu_fini = ep_cpu_fini,
	.step = ep_step,
	.fire = ep_fire,
	.monitor = ep_monitor,
	.pending = ep_pending,
	.close_locked = ep_close_locked,
};

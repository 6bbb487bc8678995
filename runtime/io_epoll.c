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
	bool no_pwait2;		/* epoll_pwait2 is missing: milliseconds */
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

/* @sleeper: the caller is the poller, whose break event it is; a poll
 * that does not sleep leaves it (level-triggered) to the poller, which
 * would otherwise miss its kick, as Go's netpoll does. */
static int handle(const struct epoll_event *ev, int n, bool sleeper)
{
	int woke = 0;

	for (int i = 0; i < n; i++) {
		struct rt_fd *f = ev[i].data.ptr;

		if (!f) {
			uint64_t v;

			while (sleeper && read(ep.efd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
			continue;
		}
		woke += fd_ready(f, ev_bits(ev[i].events));
	}
	return woke;
}

/* Registers @fd (entry @f) once: RT_FD_REG, RT_FD_NOPOLL (a regular file,
 * always ready), or -errno. */
static int reg(struct rt_fd *f, int fd)
{
	int r;

	r = __atomic_load_n(&f->reg, __ATOMIC_ACQUIRE);
	if (r != RT_FD_UNREG)
		return r;
	rt_lock_flag(&f->lock);
	r = f->reg;
	if (r == RT_FD_UNREG) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI |
						    EPOLLET,
					  .data.ptr = f };
		int fl;

		if (epoll_ctl(ep.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
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

/* Parks @me until @f is ready in @dir (or was since it last looked), its
 * deadline, the canceller, or vs_close of @f (numbered @gen). */
static int ep_wait(struct rt_cpu *c, struct vs_task *me, struct rt_fd *f, uint32_t gen,
		   unsigned dir, uint64_t deadline)
{
	struct rt_io_op op = { .dir = (uint8_t)dir };
	int r;

	rt_lock_flag(&f->lock);
	if (atomic_load_explicit(&f->gen, memory_order_relaxed) != gen) {
		rt_unlock_flag(&f->lock);
		return -EBADF; /* closed since the call began */
	}
	if (f->ready & dir) {
		f->ready &= ~dir; /* an edge since the syscall failed: again */
		rt_unlock_flag(&f->lock);
		return 0;
	}
	r = rt_wait_begin(c, me, deadline, true);
	if (r < 0) {
		rt_unlock_flag(&f->lock);
		return r;
	}
	rt_wait_io(me, &op);
	rt_fd_list_locked(f, &op);
	atomic_fetch_add_explicit(&ep.waiters, 1, memory_order_relaxed);
	/* the lock goes once we are off the CPU: whoever takes us off the
	 * list finds us blocked */
	rt_park(c, me, rt_unlock_flag_cb, &f->lock);
	atomic_fetch_sub_explicit(&ep.waiters, 1, memory_order_relaxed);
	return rt_wait_end(me);
}

/* connect(2) on a non-blocking socket: in progress, then its outcome. */
static int ep_connect(struct rt_cpu *c, struct vs_task *me, struct rt_fd *f, uint32_t gen,
		      const struct rt_io_req *q, uint64_t deadline)
{
	ssize_t r = rt_io_sys(q, false, true);
	int err;
	socklen_t len = sizeof(err);

	while (r == -EAGAIN) { /* a Unix socket's full backlog: try again */
		r = ep_wait(c, me, f, gen, RT_IO_OUT, deadline);
		c = rt_self();
		if (r < 0)
			return (int)r;
		r = rt_io_sys(q, false, true);
	}
	if (r != -EINPROGRESS)
		return (int)r;
	for (;;) {
		struct pollfd p = { .fd = q->fd, .events = POLLOUT };

		r = ep_wait(c, me, f, gen, RT_IO_OUT, deadline);
		c = rt_self();
		if (r < 0)
			return (int)r;
		if (poll(&p, 1, 0) <= 0)
			continue; /* not yet: the readiness was older */
		if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		return -err;
	}
}

/* recv(2) with MSG_WAITALL, which a non-blocking recv does not honour:
 * until the buffer is full, EOF or an error; what came before an error
 * (the deadline's among them) is returned. */
static ssize_t ep_recv_all(struct rt_cpu *c, struct vs_task *me, struct rt_fd *f, uint32_t gen,
			   const struct rt_io_req *q, uint64_t deadline)
{
	struct rt_io_req part = *q;
	size_t got = 0;
	ssize_t r;

	while (got < q->len) {
		part.buf = (char *)q->buf + got;
		part.len = q->len - got;
		r = rt_io_sys(&part, false, true);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == -EAGAIN) {
			r = ep_wait(c, me, f, gen, RT_IO_IN, deadline);
			c = rt_self();
			if (r == 0)
				continue;
		}
		return got ? (ssize_t)got : r;
	}
	return (ssize_t)got;
}

static ssize_t ep_call(struct rt_cpu *c, struct vs_task *me, const struct rt_io_req *q,
		       uint64_t deadline)
{
	unsigned dir = rt_io_dir(q);
	struct rt_fd *f = dir ? rt_fd_get(q->fd) : NULL;
	uint32_t gen;
	bool sock;
	ssize_t r;

	if (!f) /* a file operation: nothing to wait for */
		return rt_io_sys(q, false, false);
	gen = atomic_load_explicit(&f->gen, memory_order_relaxed);
	r = reg(f, q->fd);
	if (r < 0)
		return r;
	if (r == RT_FD_NOPOLL)
		return rt_io_sys(q, false, false);
	sock = q->kind <= RT_IO_WRITEV && rt_fd_kind(f, q->fd) == RT_FD_SOCKET;
	if (q->kind == RT_IO_CONNECT)
		return ep_connect(c, me, f, gen, q, deadline);
	if (q->kind == RT_IO_RECV && (q->flags & MSG_WAITALL))
		return ep_recv_all(c, me, f, gen, q, deadline);
	for (;;) {
		r = rt_io_sys(q, sock, true);
		if (r == -ENOTSOCK && sock) {
			atomic_store_explicit(&f->kind, RT_FD_UNKNOWN, memory_order_relaxed);
			sock = false;
			continue;
		}
		if (q->kind == RT_IO_POLL && r == 0)
			r = -EAGAIN; /* poll(2) found nothing ready */
		if (r != -EAGAIN)
			return r;
		r = ep_wait(c, me, f, gen, dir, deadline);
		c = rt_self();
		if (r < 0)
			return r;
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
	return n > 0 ? handle(ev, n, false) : 0;
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
	if (!ep.no_pwait2) {
		struct timespec ts = { .tv_sec = (time_t)(left / 1000000000u),
				       .tv_nsec = (long)(left % 1000000000u) };
		long n = syscall(SYS_epoll_pwait2, ep.epfd, ev, EVENTS, deadline ? &ts : NULL,
				 NULL, 0);

		if (n >= 0 || errno != ENOSYS)
			return (int)n;
		ep.no_pwait2 = true; /* an old kernel, or qemu-user */
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
		atomic_store(&ep.poller, -1);
		if (n > 0)
			(void)handle(ev, n, true);
		return;
	}
	atomic_store(&ep.poller, -1);
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

static bool ep_pending(struct rt_cpu *c)
{
	(void)c;
	return atomic_load_explicit(&ep.waiters, memory_order_relaxed) != 0;
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
	},
	.init = ep_init,
	.fini = ep_fini,
	.cpu_init = ep_cpu_init,
	.cpu_fini = ep_cpu_fini,
	.call = ep_call,
	.fire = ep_fire,
	.pending = ep_pending,
	.close_locked = ep_close_locked,
};

/* SPDX-License-Identifier: MIT */
/*
 * I/O: the public calls, the table of fds, the plain syscalls every
 * backend falls back on, and picking the backend at start (io.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef VS_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#include "vsched/io.h"
#include "rt.h"
#include "cpu.h"
#include "io.h"
#include "park.h"
#include "timer.h"
#include "wait.h"

/* The kernel's own cap on one read or write (MAX_RW_COUNT): a longer
 * length moves at most this much, as with the syscall. */
#define IO_MAX_LEN ((size_t)INT_MAX & ~(size_t)4095)

/*
 * The table of fds: a directory of chunks, each made on first use and
 * published with a CAS, all freed at stop. Sized from RLIMIT_NOFILE's hard
 * limit at start (an fd cannot be above it).
 */
#define FD_CHUNK_SHIFT 12
#define FD_CHUNK (1u << FD_CHUNK_SHIFT)
#define FD_MAX_DIR (1u << 18) /* 2^30 fds */

static struct rt_fd *_Atomic *fd_dir;
static unsigned fd_ndir;

static int fd_table_init(void)
{
	struct rlimit rl;
	uint64_t n = 1u << 20;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
		n = rl.rlim_max;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = (uint64_t)FD_MAX_DIR << FD_CHUNK_SHIFT;
	fd_ndir = (unsigned)((n + FD_CHUNK - 1) >> FD_CHUNK_SHIFT);
	if (fd_ndir > FD_MAX_DIR)
		fd_ndir = FD_MAX_DIR;
	if (!fd_ndir)
		fd_ndir = 1;
	fd_dir = calloc(fd_ndir, sizeof(*fd_dir));
	return fd_dir ? 0 : -ENOMEM;
}

static void fd_table_fini(void)
{
	for (unsigned i = 0; i < fd_ndir; i++)
		free(atomic_load_explicit(&fd_dir[i], memory_order_relaxed));
	free(fd_dir);
	fd_dir = NULL;
	fd_ndir = 0;
}

struct rt_fd *rt_fd_get(int fd)
{
	unsigned d = (unsigned)fd >> FD_CHUNK_SHIFT;
	struct rt_fd *ch, *mine;

	if (fd < 0 || d >= fd_ndir)
		return NULL;
	/* acquire: the chunk's zeroed entries, as its maker published them */
	ch = atomic_load_explicit(&fd_dir[d], memory_order_acquire);
	if (!ch) {
		struct rt_fd *none = NULL;

		mine = calloc(FD_CHUNK, sizeof(*mine));
		if (!mine)
			return NULL;
		for (unsigned i = 0; i < FD_CHUNK; i++)
			mine[i].num = (int)((d << FD_CHUNK_SHIFT) | i);
		if (atomic_compare_exchange_strong_explicit(&fd_dir[d], &none, mine,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			ch = mine;
		} else {
			free(mine);
			ch = none;
		}
	}
	return ch + ((unsigned)fd & (FD_CHUNK - 1));
}

void rt_fd_list_locked(struct rt_fd *f, struct rt_io_op *op)
{
	op->prev = NULL;
	op->next = f->ops;
	if (f->ops)
		f->ops->prev = op;
	f->ops = op;
	op->fd = f;
	op->listed = true;
}

void rt_fd_unlist_locked(struct rt_fd *f, struct rt_io_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		f->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->listed = false;
}

void rt_fd_unlist(struct rt_fd *f, struct rt_io_op *op)
{
	bool last;

	rt_lock_flag(&f->lock);
	if (op->listed)
		rt_fd_unlist_locked(f, op);
	last = f->closing && !f->ops;
	if (last)
		f->closing = false;
	rt_unlock_flag(&f->lock);
	if (last)
		close(f->num); /* vs_close's, put off until now */
}

void rt_wait_io(struct vs_task *me, struct rt_io_op *op)
{
	me->why = RT_WHY_NOTIFIED;
	me->wkind = RT_WAIT_IO;
	me->wio = op;
	op->task = me;
}

int rt_io_block(struct rt_cpu **cp, struct vs_task *me, unsigned char *lock)
{
	if (me->stackless) {
		me->in_wait = RT_IN_WAIT;
		rt_mark_blocked(*cp);
		if (lock)
			rt_unlock_flag(lock);
		return -EAGAIN;
	}
	*cp = rt_park(*cp, me, lock ? rt_unlock_flag_cb : NULL, lock);
	(void)rt_wait_end(me); /* how it ended is the backend's to read */
	return 0;
}

unsigned rt_io_dir(const struct rt_io_req *q)
{
	switch (q->kind) {
	case RT_IO_READ:
	case RT_IO_READV:
	case RT_IO_PREAD:
	case RT_IO_RECV:
	case RT_IO_RECVMSG:
	case RT_IO_ACCEPT:
		return RT_IO_IN;
	case RT_IO_WRITE:
	case RT_IO_WRITEV:
	case RT_IO_PWRITE:
	case RT_IO_SEND:
	case RT_IO_SENDMSG:
	case RT_IO_CONNECT:
		return RT_IO_OUT;
	case RT_IO_POLL:
		return (q->flags & (POLLIN | POLLPRI | POLLRDHUP) ? RT_IO_IN : 0) |
		       (q->flags & POLLOUT ? RT_IO_OUT : 0);
	default:
		return 0;
	}
}

/* One try of @q's syscall; @sock: the fd is a socket (reads and writes go
 * as recv and send, never raising SIGPIPE), @nowait: do not block. */
static ssize_t sys_once(const struct rt_io_req *q, bool sock, bool nowait)
{
	int dw = nowait ? MSG_DONTWAIT : 0;
	struct msghdr m;

	switch (q->kind) {
	case RT_IO_READ:
		if (sock)
			return recv(q->fd, q->buf, q->len, dw);
		return read(q->fd, q->buf, q->len);
	case RT_IO_WRITE:
		if (sock)
			return send(q->fd, q->buf, q->len, dw | MSG_NOSIGNAL);
		return write(q->fd, q->buf, q->len);
	case RT_IO_READV:
	case RT_IO_WRITEV:
		if (!sock)
			return q->kind == RT_IO_READV ? readv(q->fd, q->iov, q->iovcnt) :
							writev(q->fd, q->iov, q->iovcnt);
		memset(&m, 0, sizeof(m));
		m.msg_iov = (struct iovec *)q->iov;
		m.msg_iovlen = (size_t)q->iovcnt;
		return q->kind == RT_IO_READV ? recvmsg(q->fd, &m, dw) :
						sendmsg(q->fd, &m, dw | MSG_NOSIGNAL);
	case RT_IO_PREAD:
		return pread(q->fd, q->buf, q->len, q->off);
	case RT_IO_PWRITE:
		return pwrite(q->fd, q->buf, q->len, q->off);
	case RT_IO_RECV:
		return recv(q->fd, q->buf, q->len, q->flags | dw);
	case RT_IO_SEND:
		return send(q->fd, q->buf, q->len, q->flags | dw);
	case RT_IO_RECVMSG:
		return recvmsg(q->fd, q->msg, q->flags | dw);
	case RT_IO_SENDMSG:
		return sendmsg(q->fd, q->msg, q->flags | dw);
	case RT_IO_ACCEPT:
		return accept4(q->fd, q->addr, q->addrlen, q->flags);
	case RT_IO_CONNECT:
		return connect(q->fd, q->addr, q->alen);
	case RT_IO_OPENAT:
		return openat(q->fd, q->path, q->flags, q->mode);
	case RT_IO_FSYNC:
		return fsync(q->fd);
	case RT_IO_FDATASYNC:
		return fdatasync(q->fd);
	case RT_IO_POLL: {
		struct pollfd p = { .fd = q->fd, .events = (short)q->flags };
		int n = poll(&p, 1, nowait ? 0 : -1);

		return n > 0 ? (p.revents & POLLNVAL ? (errno = EBADF, -1) : p.revents) : n;
	}
	default:
		errno = EINVAL;
		return -1;
	}
}

ssize_t rt_io_sys(const struct rt_io_req *q, bool sock, bool nowait)
{
	ssize_t r;

	do
		r = sys_once(q, sock, nowait);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* What @fd is, found once (fstat, and lseek for a device) and kept in its
 * entry: a hint, fixed when a socket call says ENOTSOCK. */
unsigned rt_fd_kind(struct rt_fd *f, int fd)
{
	uint8_t k = atomic_load_explicit(&f->kind, memory_order_relaxed);
	struct stat st;

	if (k != RT_FD_UNKNOWN)
		return k;
	if (fstat(fd, &st) < 0)
		return RT_FD_UNKNOWN; /* the call itself then says why */
	if (S_ISSOCK(st.st_mode))
		k = RT_FD_SOCKET;
	else if (S_ISFIFO(st.st_mode) ||
		 (S_ISCHR(st.st_mode) && lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE))
		k = RT_FD_STREAM;
	else
		k = RT_FD_FILE;
	atomic_store_explicit(&f->kind, k, memory_order_relaxed);
	return k;
}

/*
 * Outside the runtime: the plain blocking syscall, given up at @deadline
 * by poll(2) first when it waits for readiness.
 */
static ssize_t call_plain(const struct rt_io_req *q, uint64_t deadline)
{
	unsigned dir = rt_io_dir(q);
	int type;
	socklen_t len = sizeof(type);
	bool sock;

	if (q->kind == RT_IO_CALL)
		return q->fn(q->arg);
	/* a write to a socket as send: never SIGPIPE, as in a task */
	sock = (q->kind == RT_IO_WRITE || q->kind == RT_IO_WRITEV) &&
	       getsockopt(q->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;

	if (deadline != VS_NEVER && dir) {
		struct pollfd p = { .fd = q->fd,
				    .events = (short)((dir & RT_IO_IN ? POLLIN : 0) |
						      (dir & RT_IO_OUT ? POLLOUT : 0)) };

		for (;;) {
			uint64_t now = rt_now();
			int n, ms;

			if (now >= deadline)
				return -ETIMEDOUT;
			ms = (deadline - now + 999999) / 1000000 > INT_MAX ?
				     INT_MAX :
				     (int)((deadline - now + 999999) / 1000000);
			n = poll(&p, 1, ms);
			if (n > 0)
				break;
			if (n < 0 && errno != EINTR)
				return -errno;
		}
	}
	return rt_io_sys(q, sock, false);
}

/* Whether reads of file @f (@fd) may be tried with RWF_NOWAIT: not on
 * O_DIRECT, where the syscall would wait for the device; found once. */
static bool nowait_ok(struct rt_fd *f, int fd)
{
	uint8_t k = atomic_load_explicit(&f->nowait, memory_order_relaxed);
	int fl;

	if (k == RT_NOWAIT_UNKNOWN) {
		fl = fcntl(fd, F_GETFL);
		k = fl >= 0 && !(fl & O_DIRECT) ? RT_NOWAIT_YES : RT_NOWAIT_NO;
		atomic_store_explicit(&f->nowait, k, memory_order_relaxed);
	}
	return k == RT_NOWAIT_YES;
}

/*
 * A read of a file whose pages are cached is done at once, as a plain
 * pread would be: preadv2 with RWF_NOWAIT, which says EAGAIN rather than
 * wait for the device. Its result; or -EAGAIN with the rest of the read
 * left in @op (what moved, in @pre), for the backend. A short read is
 * tried again for the rest, so the call ends short only at end of file.
 */
static ssize_t try_cached(struct rt_io_op *op)
{
	struct rt_io_req *q = &op->q;
	struct rt_fd *f;
	ssize_t r;

	if ((q->kind != RT_IO_READ && q->kind != RT_IO_PREAD) || !q->len ||
	    !(f = rt_fd_get(q->fd)) || rt_fd_kind(f, q->fd) != RT_FD_FILE || !nowait_ok(f, q->fd))
		return -EAGAIN;
	for (;;) {
		struct iovec v = { .iov_base = q->buf, .iov_len = q->len };

		do
			r = preadv2(q->fd, &v, 1, q->off, RWF_NOWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			/* not cached, or not for this file (EOPNOTSUPP), or a
			 * kernel or emulator without it: the backend reads;
			 * any other error it says again */
			if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
				atomic_store_explicit(&f->nowait, RT_NOWAIT_NO, memory_order_relaxed);
			return -EAGAIN;
		}
		op->pre += (size_t)r;
		if (!r || (size_t)r == q->len)
			return (ssize_t)op->pre; /* done, or end of file */
		q->buf = (char *)q->buf + r;
		q->len -= (size_t)r;
		if (q->off >= 0)
			q->off += r;
	}
}

/* Advances @op: a call, or an operation the offload pool has, there;
 * anything else through the backend, a cached file read at once. */
static ssize_t step(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
		    uint64_t deadline)
{
	ssize_t r;

	if (op->q.kind == RT_IO_CALL || op->pooled)
		r = rt_offload_step(c, me, op, deadline);
	else if (op->state == RT_OP_NEW && (r = try_cached(op)) != -EAGAIN)
		return r;
	else
		r = rt_g->io->step(c, me, op, deadline);
	/* the rest after a cached part: its error is not the call's (for a
	 * stackless task, -EAGAIN is "not done yet"; a stackful call's every
	 * return is its end) */
	if (op->pre && (r != -EAGAIN || !me->stackless))
		r = r < 0 ? (ssize_t)op->pre : (ssize_t)op->pre + r;
	return r;
}

/* Runs @q: in a stackful task through the backend, else plainly. */
/* Counts an operation as submitted, by kind (vsched/stats.h). */
static void count_io(uint8_t kind)
{
	static const uint8_t of[] = {
		[RT_IO_READ] = VS_IO_READ,	 [RT_IO_WRITE] = VS_IO_WRITE,
		[RT_IO_READV] = VS_IO_READ,	 [RT_IO_WRITEV] = VS_IO_WRITE,
		[RT_IO_PREAD] = VS_IO_READ,	 [RT_IO_PWRITE] = VS_IO_WRITE,
		[RT_IO_RECV] = VS_IO_READ,	 [RT_IO_SEND] = VS_IO_WRITE,
		[RT_IO_RECVMSG] = VS_IO_READ,	 [RT_IO_SENDMSG] = VS_IO_WRITE,
		[RT_IO_ACCEPT] = VS_IO_ACCEPT,	 [RT_IO_CONNECT] = VS_IO_CONNECT,
		[RT_IO_OPENAT] = VS_IO_OTHER,	 [RT_IO_FSYNC] = VS_IO_OTHER,
		[RT_IO_FDATASYNC] = VS_IO_OTHER, [RT_IO_POLL] = VS_IO_WAIT_FD,
		[RT_IO_CALL] = VS_IO_OFFLOAD,
	};

	rt_stat_any(offsetof(struct rt_stats, io) +
		    (kind < sizeof(of) ? of[kind] : VS_IO_OTHER) * sizeof(uint64_t));
}

static ssize_t io_call(const struct rt_io_req *q, uint64_t deadline)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	struct rt_io_op op;

	if (!me)
		return call_plain(q, deadline);
	if (me->stackless || me->idle)
		return -EPERM;
	count_io(q->kind);
	memset(&op, 0, sizeof(op));
	op.q = *q;
	op.state = RT_OP_NEW;
	if (__builtin_expect(rt_g->trace, 0)) {
		ssize_t r;

		rt_trace_emit(RT_TE_IO_SUBMIT, rt_ref(me), 0, q->kind, NULL);
		r = step(c, me, &op, deadline);
		rt_trace_emit(RT_TE_IO_DONE, rt_ref(me), (uint64_t)r, q->kind, NULL);
		return r;
	}
	return step(c, me, &op, deadline);
}

const char *vs_io_backend(void)
{
	return rt_g ? rt_g->io->parker.name : NULL;
}

/*
 * The requests, checked as the syscall would (a bad fd, a NULL buffer, a
 * negative offset) before anything is begun; lengths capped as the kernel
 * caps them. 0 or -errno.
 */
static int mk_buf(struct rt_io_req *q, uint8_t kind, int fd, const void *buf, size_t n,
		  int flags, off_t off)
{
	*q = (struct rt_io_req){ .kind = kind, .fd = fd, .flags = flags, .off = off };
	if (fd < 0)
		return -EBADF;
	if (!buf && n)
		return -EFAULT;
	if ((kind == RT_IO_PREAD || kind == RT_IO_PWRITE) && off < 0)
		return -EINVAL;
	q->buf = (void *)buf;
	q->len = n > IO_MAX_LEN ? IO_MAX_LEN : n;
	return 0;
}

static int mk_vec(struct rt_io_req *q, uint8_t kind, int fd, const struct iovec *iov,
		  int iovcnt)
{
	*q = (struct rt_io_req){ .kind = kind, .fd = fd, .off = -1 };
	if (fd < 0)
		return -EBADF;
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (!iov && iovcnt)
		return -EFAULT;
	q->iov = iov;
	q->iovcnt = iovcnt;
	return 0;
}

static int mk_msg(struct rt_io_req *q, uint8_t kind, int fd, const struct msghdr *msg, int flags)
{
	*q = (struct rt_io_req){ .kind = kind, .fd = fd, .flags = flags };
	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EFAULT;
	q->msg = (struct msghdr *)msg;
	return 0;
}

static int mk_accept(struct rt_io_req *q, int fd, struct sockaddr *addr, socklen_t *addrlen,
		     int flags)
{
	*q = (struct rt_io_req){ .kind = RT_IO_ACCEPT, .fd = fd, .flags = flags };
	if (fd < 0)
		return -EBADF;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (addr && !addrlen)
		return -EFAULT;
	q->addr = addr;
	q->addrlen = addrlen;
	return 0;
}

static int mk_connect(struct rt_io_req *q, int fd, const struct sockaddr *addr,
		      socklen_t addrlen)
{
	*q = (struct rt_io_req){ .kind = RT_IO_CONNECT, .fd = fd };
	if (fd < 0)
		return -EBADF;
	if (!addr)
		return -EFAULT;
	q->addr = (struct sockaddr *)addr;
	q->alen = addrlen;
	return 0;
}

static int mk_openat(struct rt_io_req *q, int dirfd, const char *path, int flags, mode_t mode)
{
	*q = (struct rt_io_req){ .kind = RT_IO_OPENAT, .fd = dirfd, .flags = flags };
	if (!path)
		return -EFAULT;
	q->path = path;
	q->mode = mode;
	return 0;
}

static int mk_sync(struct rt_io_req *q, uint8_t kind, int fd)
{
	*q = (struct rt_io_req){ .kind = kind, .fd = fd };
	return fd < 0 ? -EBADF : 0;
}

static int mk_wait_fd(struct rt_io_req *q, int fd, unsigned events)
{
	*q = (struct rt_io_req){ .kind = RT_IO_POLL, .fd = fd, .flags = (int)events };
	if (fd < 0)
		return -EBADF;
	if (!events || (events & ~(unsigned)(POLLIN | POLLOUT | POLLPRI | POLLRDHUP)))
		return -EINVAL;
	return 0;
}

/* A blocking call: the request if it is good, else its error. */
static ssize_t run(int made, const struct rt_io_req *q, uint64_t deadline)
{
	return made < 0 ? made : io_call(q, deadline);
}

ssize_t vs_read_until(int fd, void *buf, size_t n, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_READ, fd, buf, n, 0, -1), &q, deadline_ns);
}

ssize_t vs_read(int fd, void *buf, size_t n)
{
	return vs_read_until(fd, buf, n, VS_NEVER);
}

ssize_t vs_write_until(int fd, const void *buf, size_t n, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_WRITE, fd, buf, n, 0, -1), &q, deadline_ns);
}

ssize_t vs_write(int fd, const void *buf, size_t n)
{
	return vs_write_until(fd, buf, n, VS_NEVER);
}

ssize_t vs_readv_until(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_vec(&q, RT_IO_READV, fd, iov, iovcnt), &q, deadline_ns);
}

ssize_t vs_readv(int fd, const struct iovec *iov, int iovcnt)
{
	return vs_readv_until(fd, iov, iovcnt, VS_NEVER);
}

ssize_t vs_writev_until(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_vec(&q, RT_IO_WRITEV, fd, iov, iovcnt), &q, deadline_ns);
}

ssize_t vs_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return vs_writev_until(fd, iov, iovcnt, VS_NEVER);
}

ssize_t vs_pread_until(int fd, void *buf, size_t n, off_t off, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_PREAD, fd, buf, n, 0, off), &q, deadline_ns);
}

ssize_t vs_pread(int fd, void *buf, size_t n, off_t off)
{
	return vs_pread_until(fd, buf, n, off, VS_NEVER);
}

ssize_t vs_pwrite_until(int fd, const void *buf, size_t n, off_t off, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_PWRITE, fd, buf, n, 0, off), &q, deadline_ns);
}

ssize_t vs_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return vs_pwrite_until(fd, buf, n, off, VS_NEVER);
}

ssize_t vs_recv_until(int fd, void *buf, size_t n, int flags, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_RECV, fd, buf, n, flags, -1), &q, deadline_ns);
}

ssize_t vs_recv(int fd, void *buf, size_t n, int flags)
{
	return vs_recv_until(fd, buf, n, flags, VS_NEVER);
}

ssize_t vs_send_until(int fd, const void *buf, size_t n, int flags, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_buf(&q, RT_IO_SEND, fd, buf, n, flags, -1), &q, deadline_ns);
}

ssize_t vs_send(int fd, const void *buf, size_t n, int flags)
{
	return vs_send_until(fd, buf, n, flags, VS_NEVER);
}

ssize_t vs_recvmsg_until(int fd, struct msghdr *msg, int flags, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_msg(&q, RT_IO_RECVMSG, fd, msg, flags), &q, deadline_ns);
}

ssize_t vs_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return vs_recvmsg_until(fd, msg, flags, VS_NEVER);
}

ssize_t vs_sendmsg_until(int fd, const struct msghdr *msg, int flags, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_msg(&q, RT_IO_SENDMSG, fd, msg, flags), &q, deadline_ns);
}

ssize_t vs_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return vs_sendmsg_until(fd, msg, flags, VS_NEVER);
}

int vs_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		    uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_accept(&q, fd, addr, addrlen, flags), &q, deadline_ns);
}

int vs_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	return vs_accept_until(fd, addr, addrlen, flags, VS_NEVER);
}

int vs_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_connect(&q, fd, addr, addrlen), &q, deadline_ns);
}

int vs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return vs_connect_until(fd, addr, addrlen, VS_NEVER);
}

int vs_shutdown(int fd, int how)
{
	return shutdown(fd, how) < 0 ? -errno : 0;
}

int vs_close(int fd)
{
	struct rt_fd *f = rt_g ? rt_fd_get(fd) : NULL;

	if (fd < 0)
		return -EBADF;
	if (f) {
		/* the waits on it end before the number can be reused: an
		 * operation that still holds it (an io_uring entry not yet
		 * submitted names it by number) closes it as it ends, as Go's
		 * last reference does */
		rt_lock_flag(&f->lock);
		atomic_fetch_add_explicit(&f->gen, 1, memory_order_relaxed);
		atomic_store_explicit(&f->kind, RT_FD_UNKNOWN, memory_order_relaxed);
		atomic_store_explicit(&f->rhint, 0, memory_order_relaxed);
		atomic_store_explicit(&f->nowait, RT_NOWAIT_UNKNOWN, memory_order_relaxed);
		rt_g->io->close_locked(f, fd);
		if (f->ops) {
			f->closing = true;
			rt_unlock_flag(&f->lock);
			return 0;
		}
		rt_unlock_flag(&f->lock);
	}
	/* not retried on EINTR: the fd is gone whatever close says */
	return close(fd) < 0 ? -errno : 0;
}

int vs_openat_until(int dirfd, const char *path, int flags, mode_t mode, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_openat(&q, dirfd, path, flags, mode), &q, deadline_ns);
}

int vs_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return vs_openat_until(dirfd, path, flags, mode, VS_NEVER);
}

int vs_fsync_until(int fd, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_sync(&q, RT_IO_FSYNC, fd), &q, deadline_ns);
}

int vs_fsync(int fd)
{
	return vs_fsync_until(fd, VS_NEVER);
}

int vs_fdatasync_until(int fd, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_sync(&q, RT_IO_FDATASYNC, fd), &q, deadline_ns);
}

int vs_fdatasync(int fd)
{
	return vs_fdatasync_until(fd, VS_NEVER);
}

int vs_wait_fd_until(int fd, unsigned events, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return (int)run(mk_wait_fd(&q, fd, events), &q, deadline_ns);
}

int vs_wait_fd(int fd, unsigned events)
{
	return vs_wait_fd_until(fd, events, VS_NEVER);
}

static int mk_call(struct rt_io_req *q, vs_blocking_fn fn, void *arg)
{
	*q = (struct rt_io_req){ .kind = RT_IO_CALL, .fd = -1 };
	if (!fn)
		return -EINVAL;
	q->fn = fn;
	q->arg = arg;
	return 0;
}

ssize_t vs_offload_until(vs_blocking_fn fn, void *arg, uint64_t deadline_ns)
{
	struct rt_io_req q;

	return run(mk_call(&q, fn, arg), &q, deadline_ns);
}

ssize_t vs_offload(vs_blocking_fn fn, void *arg)
{
	return vs_offload_until(fn, arg, VS_NEVER);
}

/* ------------------------------------------ handles for stackless tasks */

_Static_assert(sizeof(struct rt_io_op) <= sizeof(struct vs_io), "vs_io holds an operation");
_Static_assert(_Alignof(struct rt_io_op) <= _Alignof(struct vs_io), "vs_io is aligned for one");

static struct rt_io_op *io_op(struct vs_io *io)
{
	return (struct rt_io_op *)(void *)io;
}

/* A prepared request into @io, if it is good and @io is not in use. */
static int prep(struct vs_io *io, int made, const struct rt_io_req *q)
{
	struct rt_io_op *op = io_op(io);

	if (!io)
		return -EINVAL;
	if (op->state != RT_OP_IDLE)
		return -EBUSY;
	if (made < 0)
		return made;
	memset(op, 0, sizeof(*op));
	op->q = *q;
	op->state = RT_OP_NEW;
	return 0;
}

int vs_io_prep_read(struct vs_io *io, int fd, void *buf, size_t n)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_READ, fd, buf, n, 0, -1), &q);
}

int vs_io_prep_write(struct vs_io *io, int fd, const void *buf, size_t n)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_WRITE, fd, buf, n, 0, -1), &q);
}

int vs_io_prep_readv(struct vs_io *io, int fd, const struct iovec *iov, int iovcnt)
{
	struct rt_io_req q;

	return prep(io, mk_vec(&q, RT_IO_READV, fd, iov, iovcnt), &q);
}

int vs_io_prep_writev(struct vs_io *io, int fd, const struct iovec *iov, int iovcnt)
{
	struct rt_io_req q;

	return prep(io, mk_vec(&q, RT_IO_WRITEV, fd, iov, iovcnt), &q);
}

int vs_io_prep_pread(struct vs_io *io, int fd, void *buf, size_t n, off_t off)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_PREAD, fd, buf, n, 0, off), &q);
}

int vs_io_prep_pwrite(struct vs_io *io, int fd, const void *buf, size_t n, off_t off)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_PWRITE, fd, buf, n, 0, off), &q);
}

int vs_io_prep_recv(struct vs_io *io, int fd, void *buf, size_t n, int flags)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_RECV, fd, buf, n, flags, -1), &q);
}

int vs_io_prep_send(struct vs_io *io, int fd, const void *buf, size_t n, int flags)
{
	struct rt_io_req q;

	return prep(io, mk_buf(&q, RT_IO_SEND, fd, buf, n, flags, -1), &q);
}

int vs_io_prep_recvmsg(struct vs_io *io, int fd, struct msghdr *msg, int flags)
{
	struct rt_io_req q;

	return prep(io, mk_msg(&q, RT_IO_RECVMSG, fd, msg, flags), &q);
}

int vs_io_prep_sendmsg(struct vs_io *io, int fd, const struct msghdr *msg, int flags)
{
	struct rt_io_req q;

	return prep(io, mk_msg(&q, RT_IO_SENDMSG, fd, msg, flags), &q);
}

int vs_io_prep_accept(struct vs_io *io, int fd, struct sockaddr *addr, socklen_t *addrlen,
		      int flags)
{
	struct rt_io_req q;

	return prep(io, mk_accept(&q, fd, addr, addrlen, flags), &q);
}

int vs_io_prep_connect(struct vs_io *io, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct rt_io_req q;

	return prep(io, mk_connect(&q, fd, addr, addrlen), &q);
}

int vs_io_prep_openat(struct vs_io *io, int dirfd, const char *path, int flags, mode_t mode)
{
	struct rt_io_req q;

	return prep(io, mk_openat(&q, dirfd, path, flags, mode), &q);
}

int vs_io_prep_fsync(struct vs_io *io, int fd)
{
	struct rt_io_req q;

	return prep(io, mk_sync(&q, RT_IO_FSYNC, fd), &q);
}

int vs_io_prep_fdatasync(struct vs_io *io, int fd)
{
	struct rt_io_req q;

	return prep(io, mk_sync(&q, RT_IO_FDATASYNC, fd), &q);
}

int vs_io_prep_wait_fd(struct vs_io *io, int fd, unsigned events)
{
	struct rt_io_req q;

	return prep(io, mk_wait_fd(&q, fd, events), &q);
}

int vs_io_prep_offload(struct vs_io *io, vs_blocking_fn fn, void *arg)
{
	struct rt_io_req q;

	return prep(io, mk_call(&q, fn, arg), &q);
}

ssize_t vs_io_poll(struct vs_io *io, uint64_t deadline_ns)
{
	struct rt_io_op *op = io_op(io);
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	ssize_t r;

	if (!io || op->state == RT_OP_IDLE)
		return -EINVAL;
	if (me && me->idle)
		return -EPERM;
	/* a stackless task waits for one thing at a time */
	if (me && op->state == RT_OP_NEW && me->in_wait)
		return -EBUSY;
	if (me && op->state == RT_OP_NEW)
		count_io(op->q.kind);
	/* outside the runtime the plain call; a stackful task blocks */
	r = me ? step(c, me, op, deadline_ns) : call_plain(&op->q, deadline_ns);
	if (r != -EAGAIN || !me || !me->stackless)
		op->state = RT_OP_IDLE; /* done: the handle may be prepared again */
	return r;
}

/* VSCHED_IO: "uring", "epoll", or unset (the best the kernel allows). */
static int backend_wanted(const struct rt_io_backend **be)
{
	const char *e = getenv("VSCHED_IO");

	*be = NULL;
	if (!e || !*e)
		return 0;
	if (!strcmp(e, "epoll")) {
		*be = &rt_io_epoll;
		return 0;
	}
	if (!strcmp(e, "uring") || !strcmp(e, "io_uring")) {
#ifdef VS_HAVE_URING
		*be = &rt_io_uring;
		return 0;
#else
		return -ENOSYS; /* built without liburing */
#endif
	}
	return -EINVAL;
}

int rt_io_start(void)
{
	const struct rt_io_backend *be;
	int r = backend_wanted(&be);

	if (r < 0)
		return r;
	r = fd_table_init();
	if (r < 0)
		return r;
#ifdef VS_HAVE_URING
#ifdef VS_HAVE_VALGRIND
	/* valgrind does not let the other threads run while one waits in
	 * io_uring_enter: under it, epoll unless asked */
	if (!be && RUNNING_ON_VALGRIND)
		be = &rt_io_epoll;
#endif
	if (!be) {
		/* the probe: CPU 0's own ring, on this thread (its issuer) */
		rt_g->io = &rt_io_uring;
		if (rt_io_uring.init() == 0) {
			if (rt_io_uring.cpu_init(&rt_g->cpus[0]) == 0)
				goto up;
			rt_io_uring.fini();
		}
		be = &rt_io_epoll;
	}
#else
	if (!be)
		be = &rt_io_epoll;
#endif
	rt_g->io = be;
	r = be->init();
	if (r < 0)
		goto fail;
	r = be->cpu_init(&rt_g->cpus[0]);
	if (r < 0) {
		be->fini();
		goto fail;
	}
#ifdef VS_HAVE_URING
up:
#endif
	rt_g->parker = &rt_g->io->parker;
	return 0;
fail:
	fd_table_fini();
	rt_g->io = NULL;
	return r;
}

void rt_io_stop(void)
{
	for (unsigned i = 0; i < rt_g->ncpus; i++)
		rt_g->io->cpu_fini(&rt_g->cpus[i]);
	rt_g->io->fini();
	fd_table_fini();
}

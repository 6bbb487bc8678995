/* SPDX-License-Identifier: MIT */
/*
 * I/O for tasks: a call blocks only the calling task, never its CPU.
 *
 * Each call is the syscall of the same name, with the same arguments and
 * the same errors, returning the count (or the new fd, or 0) on success
 * and the negative errno on failure (-EBADF, -ECONNRESET, -EPIPE, ...).
 * It retries on EINTR itself. The conventions are vs.h's:
 * - X_until(..., deadline_ns) gives up with -ETIMEDOUT once the deadline
 *   (vs_now() time; VS_NEVER: none) has passed, and once the runtime is
 *   cancelling, a call that would wait returns -ECANCELED. A call that gave
 *   up returns only once the kernel is done with its buffers: what it had
 *   already moved by then is returned instead (a read that moved data
 *   returns the data), and an fd that an accept or open made meanwhile is
 *   closed;
 * - called from a thread that is not a task of the runtime (or with no
 *   runtime running), a call is the plain blocking syscall; from a
 *   stackless task, it is -EPERM (stackless tasks use the handles below).
 *
 * Sockets and pipes that tasks use should be closed with vs_close: it
 * wakes the tasks that wait on the fd with -EBADF before the number can be
 * reused. Writes to a socket through vs_read/vs_write never raise SIGPIPE
 * (the error is -EPIPE); vs_send and vs_sendmsg take the caller's flags.
 *
 * The backend (vs_io_backend()) is io_uring, one ring per CPU, where the
 * kernel allows it, else epoll, one for the runtime; VSCHED_IO=uring or
 * VSCHED_IO=epoll in the environment of vs_runtime_start forces one (any
 * other value: the start fails with -EINVAL; uring where the library was
 * built without it, or the kernel refuses it: with its error). The
 * epoll backend puts the sockets and pipes it waits on into non-blocking
 * mode (as Go does), and does file I/O on the calling CPU.
 */
#ifndef VSCHED_IO_H
#define VSCHED_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <vsched/vs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The backend of the running runtime: "io_uring" or "epoll"; NULL when
 * none runs. */
const char *vs_io_backend(void);

ssize_t vs_read(int fd, void *buf, size_t n);
ssize_t vs_read_until(int fd, void *buf, size_t n, uint64_t deadline_ns);
ssize_t vs_write(int fd, const void *buf, size_t n);
ssize_t vs_write_until(int fd, const void *buf, size_t n, uint64_t deadline_ns);
ssize_t vs_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t vs_readv_until(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline_ns);
ssize_t vs_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t vs_writev_until(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline_ns);
ssize_t vs_pread(int fd, void *buf, size_t n, off_t off);
ssize_t vs_pread_until(int fd, void *buf, size_t n, off_t off, uint64_t deadline_ns);
ssize_t vs_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t vs_pwrite_until(int fd, const void *buf, size_t n, off_t off, uint64_t deadline_ns);

ssize_t vs_recv(int fd, void *buf, size_t n, int flags);
ssize_t vs_recv_until(int fd, void *buf, size_t n, int flags, uint64_t deadline_ns);
ssize_t vs_send(int fd, const void *buf, size_t n, int flags);
ssize_t vs_send_until(int fd, const void *buf, size_t n, int flags, uint64_t deadline_ns);
ssize_t vs_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t vs_recvmsg_until(int fd, struct msghdr *msg, int flags, uint64_t deadline_ns);
ssize_t vs_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t vs_sendmsg_until(int fd, const struct msghdr *msg, int flags, uint64_t deadline_ns);
/* accept4(2): @flags SOCK_NONBLOCK, SOCK_CLOEXEC; the new fd. */
int vs_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int vs_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		    uint64_t deadline_ns);
int vs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int vs_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline_ns);
int vs_shutdown(int fd, int how);
int vs_close(int fd);

int vs_openat(int dirfd, const char *path, int flags, mode_t mode);
int vs_openat_until(int dirfd, const char *path, int flags, mode_t mode, uint64_t deadline_ns);
int vs_fsync(int fd);
int vs_fsync_until(int fd, uint64_t deadline_ns);
int vs_fdatasync(int fd);
int vs_fdatasync_until(int fd, uint64_t deadline_ns);

/*
 * Waits until @fd is ready for @events (POLLIN, POLLOUT, POLLPRI), for
 * libraries that bring their own non-blocking fds; the events that are
 * ready (POLLERR and POLLHUP among them, as poll(2) reports them), > 0.
 */
int vs_wait_fd(int fd, unsigned events);
int vs_wait_fd_until(int fd, unsigned events, uint64_t deadline_ns);

/*
 * Blocking work with no asynchronous form (getaddrinfo, a library's
 * blocking call): fn(arg) runs on a thread of the offload pool while the
 * calling task is parked, its CPU running other tasks; its return value
 * (by this library's convention, the result or -errno). The pool has at
 * most 4 threads per CPU (at least 4, at most 256), made on demand and
 * gone after 5 s idle; more work waits its turn. A deadline or the
 * canceller takes work that has not begun off the queue (-ETIMEDOUT,
 * -ECANCELED); work already running is only told (vs_offload_cancelled()
 * turns true in it), and the call returns its value once it returns. -EINVAL
 * for a NULL @fn. Outside the runtime, fn(arg) runs on the caller.
 */
typedef ssize_t (*vs_blocking_fn)(void *arg);
ssize_t vs_offload(vs_blocking_fn fn, void *arg);
ssize_t vs_offload_until(vs_blocking_fn fn, void *arg, uint64_t deadline_ns);
/* In a function the pool runs: its caller gave up waiting (its deadline,
 * the canceller); it may stop early. */
bool vs_offload_cancelled(void);

/*
 * Stackless tasks: an operation handle, as liburing's prepare-then-submit.
 * Zero it (or VS_IO_INIT), prepare it with a vs_io_prep_* call (the
 * arguments of the blocking call of the same name: 0, or that call's
 * error for bad arguments, with nothing begun; -EBUSY while the handle is
 * in use), then call vs_io_poll in each poll of the task until it returns
 * anything but -EAGAIN: the result, as the blocking call would return it.
 * On -EAGAIN the task is registered to be woken, and its poll function
 * returns VS_PENDING; -EBUSY if it already waits for something else. The
 * handle and the buffers stay put (not copied, moved or freed) until the
 * result; then the handle may be prepared again. Pass the same deadline
 * (vs_now() time; VS_NEVER: none) on every poll. A stackful task or a
 * thread may use a handle too: vs_io_poll then blocks until the result.
 */
struct vs_io {
	uint64_t opaque_[28];
};
#define VS_IO_INIT { { 0 } }

int vs_io_prep_read(struct vs_io *io, int fd, void *buf, size_t n);
int vs_io_prep_write(struct vs_io *io, int fd, const void *buf, size_t n);
int vs_io_prep_readv(struct vs_io *io, int fd, const struct iovec *iov, int iovcnt);
int vs_io_prep_writev(struct vs_io *io, int fd, const struct iovec *iov, int iovcnt);
int vs_io_prep_pread(struct vs_io *io, int fd, void *buf, size_t n, off_t off);
int vs_io_prep_pwrite(struct vs_io *io, int fd, const void *buf, size_t n, off_t off);
int vs_io_prep_recv(struct vs_io *io, int fd, void *buf, size_t n, int flags);
int vs_io_prep_send(struct vs_io *io, int fd, const void *buf, size_t n, int flags);
int vs_io_prep_recvmsg(struct vs_io *io, int fd, struct msghdr *msg, int flags);
int vs_io_prep_sendmsg(struct vs_io *io, int fd, const struct msghdr *msg, int flags);
int vs_io_prep_accept(struct vs_io *io, int fd, struct sockaddr *addr, socklen_t *addrlen,
		      int flags);
int vs_io_prep_connect(struct vs_io *io, int fd, const struct sockaddr *addr, socklen_t addrlen);
int vs_io_prep_openat(struct vs_io *io, int dirfd, const char *path, int flags, mode_t mode);
int vs_io_prep_fsync(struct vs_io *io, int fd);
int vs_io_prep_fdatasync(struct vs_io *io, int fd);
int vs_io_prep_wait_fd(struct vs_io *io, int fd, unsigned events);
int vs_io_prep_offload(struct vs_io *io, vs_blocking_fn fn, void *arg);
ssize_t vs_io_poll(struct vs_io *io, uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif

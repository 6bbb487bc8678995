/* SPDX-License-Identifier: MIT */
/*
 * I/O inside the runtime (io.c, io_uring.c, io_epoll.c): a request, the
 * operation record that waits for it, the table of fds, and the backend
 * contract.
 *
 * A task doing I/O waits in a wait of kind RT_WAIT_IO (wait.h), with an
 * operation record on its stack. The record is on its fd's list from the
 * moment the task may wait until the wait is over, so that vs_close finds
 * every wait on the fd. How the wait ends is the backend's:
 * - io_uring: the operation is in the ring of the CPU that submitted it,
 *   and only that CPU's thread touches the ring. The record counts the
 *   completions still to come (@pending); the one that takes it to 0 wakes
 *   the task, and nothing else does. A timer, the canceller or vs_close ask
 *   for a cancel by adding one to @pending (only while it is not 0, so the
 *   record is alive) and pushing the record on the CPU's inbox; that CPU
 *   submits the cancel (or, if the operation is already complete, drops
 *   the count). So a call never returns before the kernel is done with it.
 * - epoll: the record waits for readiness of its fd in one direction,
 *   listed under the fd's lock; whoever takes it off the list (the poller,
 *   a timer, the canceller, vs_close) wakes the task, exactly once.
 */
#ifndef VS_RUNTIME_IO_H
#define VS_RUNTIME_IO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rt.h"

enum rt_io_kind {
	RT_IO_READ,
	RT_IO_WRITE,
	RT_IO_READV,
	RT_IO_WRITEV,
	RT_IO_PREAD,
	RT_IO_PWRITE,
	RT_IO_RECV,
	RT_IO_SEND,
	RT_IO_RECVMSG,
	RT_IO_SENDMSG,
	RT_IO_ACCEPT,
	RT_IO_CONNECT,
	RT_IO_OPENAT,
	RT_IO_FSYNC,
	RT_IO_FDATASYNC,
	RT_IO_POLL,
	RT_IO_CALL, /* a blocking function, on the offload pool */
	RT_IO_NKINDS
};

/* What a call asks for: the syscall's arguments. */
struct rt_io_req {
	uint8_t kind;
	int fd;
	int flags; /* recv/send/msg flags, accept4's, openat's, poll's events */
	union {
		void *buf;
		const struct iovec *iov;
		struct msghdr *msg;
		struct sockaddr *addr;
		const char *path;
		void *arg; /* a call's */
	};
	union {
		size_t len;
		ssize_t (*fn)(void *arg); /* a call's */
		int iovcnt;
		socklen_t *addrlen; /* accept */
		socklen_t alen;	    /* connect */
		mode_t mode;	    /* openat */
	};
	off_t off; /* pread, pwrite; -1: the file's position */
};

/* Readiness, in the fd's ready bits and an epoll wait's direction. */
enum { RT_IO_IN = 1, RT_IO_OUT = 2 };

/* What an fd is, as far as the runtime knows (a hint, checked on use):
 * a socket, another stream (a pipe, a terminal: no offsets), or a file
 * that has offsets. */
enum { RT_FD_UNKNOWN = 0, RT_FD_SOCKET = 1, RT_FD_STREAM = 2, RT_FD_FILE = 3 };

/* epoll: the fd's registration. */
enum { RT_FD_UNREG = 0, RT_FD_REG = 1, RT_FD_NOPOLL = 2 };

struct rt_io_op;

/* An fd's entry in the runtime's table (by fd number): never freed while
 * the runtime runs, so a stale pointer still names an entry. */
struct rt_fd {
	struct rt_io_op *ops; /* the waits on this fd, under @lock */
	int num;	      /* the fd number it is the entry of */
	_Atomic uint32_t gen; /* bumped by vs_close */
	unsigned char lock;   /* rt_lock_flag */
	bool closing;	      /* vs_close left the close to the last wait
			       * (io_uring, where operations hold the fd);
			       * under @lock */
	_Atomic uint8_t kind; /* RT_FD_*: relaxed, a hint */
	_Atomic uint8_t rhint; /* a read may find data at once (io_uring) */
	uint8_t reg;	      /* epoll: RT_FD_UNREG...; under @lock */
	uint8_t ready;	      /* epoll: RT_IO_IN|OUT seen, unconsumed; under @lock */
	_Atomic uint8_t nowait; /* a file: RT_NOWAIT_*, relaxed, a hint */
};

/* Whether a file's reads are tried with RWF_NOWAIT (io.c, step). */
enum { RT_NOWAIT_UNKNOWN = 0, RT_NOWAIT_YES = 1, RT_NOWAIT_NO = 2 };

/* Where an operation is (its record's @state). */
enum {
	RT_OP_IDLE = 0, /* nothing asked (a stackless handle between uses) */
	RT_OP_NEW,	/* asked, not begun */
	RT_OP_TRY,	/* epoll: the syscall is to be tried (again) */
	RT_OP_RING,	/* io_uring: in a ring */
	RT_OP_POLL,	/* io_uring: a poll for its readiness is in a ring */
	RT_OP_WAIT,	/* epoll: waiting for readiness */
	RT_OP_CONN,	/* epoll: a connect in progress, to be checked */
	RT_OP_CWAIT,	/* epoll: a connect in progress, waiting to be writable */
	RT_OP_QUEUED,	/* on the offload pool's queue */
	RT_OP_RUNNING,	/* running on an offload thread */
	RT_OP_RAN,	/* the offload thread is done with it */
};

/*
 * One operation and the wait for it (the header comment): on the stack of
 * a stackful call, in the vs_io handle of a stackless task. Its backend
 * advances it (step) until it has a result.
 */
struct rt_io_op {
	struct rt_io_op *next, *prev; /* on fd->ops */
	struct rt_io_op *inext;	      /* io_uring: on the CPU's inbox */
	struct vs_task *task;
	struct rt_fd *fd;	  /* the entry it is listed on, or NULL */
	struct rt_io_req q;	  /* what it asks */
	struct msghdr m;	  /* io_uring: a socket readv/writev as a message */
	size_t got;		  /* epoll: what a MSG_WAITALL recv has so far */
	size_t pre;		  /* a file read: what its cached part moved at once */
	_Atomic uint32_t pending; /* io_uring: completions to come */
	_Atomic uint8_t cancel;	  /* the first cancel's why (RT_WHY_*), or 0 */
	uint8_t state;		  /* RT_OP_* */
	uint8_t dir;		  /* epoll: RT_IO_IN and/or RT_IO_OUT */
	bool listed;		  /* on fd->ops; under its lock */
	bool done;		  /* io_uring: the operation's own completion came */
	bool sock;		  /* the fd is a socket (a hint) */
	bool gather;		  /* epoll: a MSG_WAITALL recv on a stream */
	bool pooled;		  /* the offload pool's (set before it waits) */
	uint16_t cpu;		  /* io_uring: the CPU whose ring has it */
	int32_t res;		  /* io_uring: the operation's result */
	uint32_t gen;		  /* the fd's number of closes at the start */
};

/* The backend: how idle CPUs sleep (it is the parker), and the calls. */
struct rt_io_backend {
	struct rt_parker parker;
	/* At start, before the CPU threads: 0 or -errno. */
	int (*init)(void);
	void (*fini)(void);
	/* On each CPU's own thread as it comes up; at stop, once every CPU
	 * thread has been joined (no kick can reach it then), on CPU 0's, or
	 * on a start that failed. */
	int (*cpu_init)(struct rt_cpu *c);
	void (*cpu_fini)(struct rt_cpu *c);
	/* Advances @op (RT_OP_NEW at first) for @me on @c until @deadline:
	 * its result; a stackful @me parks meanwhile, a stackless one gets
	 * -EAGAIN once it is blocked in a wait that ends when @op can go on
	 * (its next poll calls step again). */
	ssize_t (*step)(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
			uint64_t deadline);
	/* The wait kind's fire (wait.h): ends, or asks to end, blocked @t's
	 * I/O wait for @why; true if the caller must wake @t. */
	bool (*fire)(struct vs_task *t, uint8_t why);
	/* From the ticking thread, at each tick: a look at what no CPU
	 * looks at while all are busy (the epoll); then, for each CPU,
	 * whether it has I/O to reap or submit and must be made to switch
	 * (a hint). */
	void (*monitor)(void);
	bool (*pending)(struct rt_cpu *c);
	/* vs_close's part: ends every wait on @f (locked) with -EBADF, or
	 * asks for it; the close itself waits for the last (rt_fd_unlist). */
	void (*close_locked)(struct rt_fd *f, int fd);
};

#ifdef VS_HAVE_URING
extern const struct rt_io_backend rt_io_uring;
#endif
extern const struct rt_io_backend rt_io_epoll;

/*
 * The offload pool (offload.c): a bounded set of threads for what has no
 * asynchronous form. rt_offload_step advances @op (a call, or any request
 * run as its plain syscall) as a backend's step does: queued, then run by
 * a pool thread, which wakes @me. A timer or the canceller takes a queued
 * operation off the queue (its error); a running one is only told
 * (vs_offload_cancelled), and the task waits for it to return.
 */
ssize_t rt_offload_step(struct rt_cpu *c, struct vs_task *me, struct rt_io_op *op,
			uint64_t deadline);
bool rt_offload_fire(struct vs_task *t, uint8_t why);
void rt_offload_stop(void);

/* Picks and starts the backend (VSCHED_IO, else io_uring if the kernel
 * allows it); sets rt_g->io and rt_g->parker. At start, on CPU 0's
 * thread, before the other CPUs. */
int rt_io_start(void);
void rt_io_stop(void);

/* The entry of @fd, made on first use; NULL if @fd is out of range. */
struct rt_fd *rt_fd_get(int fd);

/* The plain syscall of @q, retried on EINTR; -errno on failure. @sock:
 * the fd is a socket (a read or write goes as recv or send, which never
 * raises SIGPIPE); @nowait: never block (MSG_DONTWAIT, poll's 0). */
ssize_t rt_io_sys(const struct rt_io_req *q, bool sock, bool nowait);
/* What @fd (entry @f) is (RT_FD_*): found once, then a hint in @f. */
unsigned rt_fd_kind(struct rt_fd *f, int fd);
/* The direction @q waits in: RT_IO_IN or RT_IO_OUT; 0 if it never waits
 * for readiness (a file operation). */
unsigned rt_io_dir(const struct rt_io_req *q);
/* Begins @me's I/O wait on @op (the kind, the record), before it parks. */
void rt_wait_io(struct vs_task *me, struct rt_io_op *op);
/*
 * Blocks @me (on *@cp) in the I/O wait just begun, releasing @lock (if
 * any) once it cannot be missed: a stackful task parks, and this returns
 * 0 once it runs again with the wait ended (*@cp its CPU then); a
 * stackless one is marked blocked and this returns -EAGAIN (the
 * dispatcher ends the wait before its next poll).
 */
int rt_io_block(struct rt_cpu **cp, struct vs_task *me, unsigned char *lock);
/* Lists @op on @f (locked). */
void rt_fd_list_locked(struct rt_fd *f, struct rt_io_op *op);
void rt_fd_unlist_locked(struct rt_fd *f, struct rt_io_op *op);
/* Takes @op off @f (if it is on it) and, if it was the last wait of an
 * fd vs_close has closed meanwhile, closes the fd now. */
void rt_fd_unlist(struct rt_fd *f, struct rt_io_op *op);

#endif

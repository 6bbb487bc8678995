/* SPDX-License-Identifier: MIT */
/*
 * Domains: several processes scheduling through one scheduler. A domain is
 * two memfds: its geometry, sealed against any change, and its state (a
 * member table and one scheduler section per member), sealed against
 * resizing. A process joins by creating a domain, by opening the two fds
 * it inherited (fork, or exec once FD_CLOEXEC is cleared), or by receiving
 * them over a Unix socket. Every call returns 0 (or a count) on success
 * and a negative errno on failure, and changes nothing then.
 *
 * A handle belongs to the process that made it: after fork, the child's
 * copy refuses every call but vs_domain_close (-EPERM); the child joins
 * with vs_domain_open on the fds.
 */
#ifndef VSCHED_DOMAIN_H
#define VSCHED_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include <vsched/vs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A zero field means its default. */
struct vs_domain_attr {
	unsigned ncpus;		  /* domain CPUs; 0: as many as the creator may run on */
	unsigned max_members;	  /* 0: 8; at most 64 */
	unsigned max_tasks;	  /* per member; 0: 4096 */
	unsigned queue_cap;	  /* per-CPU run-queue capacity; 0: 256 */
	uint64_t member_slice_ns; /* least time a member keeps a CPU; 0: 1 ms */
	int any_uid;		  /* accept peers of other users on a socket */
	unsigned max_objects;	  /* channels and wait queues; 0: 64; at most 1024 */
};

/* The creator's weight, and a joiner's until it sets one. */
#define VS_DOMAIN_WEIGHT_DEFAULT 1u
#define VS_DOMAIN_WEIGHT_MAX 1000000u

/*
 * Creates a domain and joins it. Returns -EINVAL for a bad @attr (NULL:
 * the defaults), -EOPNOTSUPP if the kernel lacks sealed memfds, or the
 * -errno of a failed system call.
 */
VS_WARN_UNUSED int vs_domain_create(const struct vs_domain_attr *attr, vs_domain_t **out);

/*
 * Joins the domain whose geometry and state are @geom_fd and @state_fd
 * (duplicated: the caller keeps its own). -EBADF for an fd that is not
 * open, -EINVAL for files that are not a domain's (wrong seals, size or
 * contents), -EUSERS when every member slot is held by a live process.
 */
VS_WARN_UNUSED int vs_domain_open(int geom_fd, int state_fd, vs_domain_t **out);

/* The two fds of @d (owned by @d: valid until vs_domain_close). */
int vs_domain_fds(const vs_domain_t *d, int *geom_fd, int *state_fd);

/*
 * Passes @d over the connected Unix socket @sock, to a peer of the same
 * user unless the domain was made with any_uid (-EPERM otherwise, read
 * from SO_PEERCRED).
 */
VS_WARN_UNUSED int vs_domain_send(const vs_domain_t *d, int sock);

/* vs_domain_recv: take a sender of another user too. */
#define VS_DOMAIN_ANY_UID 0x1u

/*
 * Receives a domain sent over @sock and joins it, from a sender of the
 * same user unless @flags has VS_DOMAIN_ANY_UID (-EPERM, and nothing is
 * read). -EPROTO for a message that is not a domain, and the errors of
 * vs_domain_open.
 */
VS_WARN_UNUSED int vs_domain_recv(int sock, unsigned flags, vs_domain_t **out);

/* This process's member number in @d, 0 .. max_members - 1. */
int vs_domain_member_id(const vs_domain_t *d);

/* Sets this member's weight, 1 .. VS_DOMAIN_WEIGHT_MAX: the share of the
 * domain's CPUs it gets against the other members that have work. */
int vs_domain_set_weight(vs_domain_t *d, unsigned weight);

/* One member, as vs_domain_members lists it. */
struct vs_domain_member {
	unsigned id;		/* member number */
	unsigned incarnation;	/* how many processes have held the slot */
	int pid;		/* the process holding it */
	unsigned weight;
	int running;		/* a runtime runs on the domain there */
	uint64_t cpu_ns;	/* CPU time its CPUs have used */
};

/*
 * Fills @out with up to @n live members, in member order, and returns how
 * many there are (which may exceed @n). A member found dead is reclaimed
 * on the way: its slot is emptied for the next joiner.
 */
int vs_domain_members(vs_domain_t *d, struct vs_domain_member *out, unsigned n);

/*
 * Objects in the domain, named by a handle (a number any member may use:
 * pass it as data). A channel carries messages of one fixed size between
 * tasks of any members; a wait queue is a 32-bit value that tasks wait to
 * see change (a futex for tasks). An object belongs to the member that
 * made it: when that process dies, every call on it returns -EOWNERDEAD.
 *
 * The blocking calls block the calling task, which must be a stackful
 * task of a runtime started on @d (-EPERM otherwise); their _poll forms
 * are for stackless tasks of that runtime, as in vs.h (-EAGAIN once the
 * task is registered to be woken: return VS_PENDING, and call again in
 * the next poll); the try forms may be called from any thread of a
 * member. Every call returns -EINVAL for a
 * handle that names nothing, -EIDRM for one that named an object now
 * destroyed, -EIO if a peer left the object in a state that makes no
 * sense (it changes nothing then), and -ECANCELED once the runtime is
 * cancelling. The _until forms give up with -ETIMEDOUT once @deadline_ns
 * (vs_now() time; VS_NEVER: none) has passed, having changed nothing. A
 * member killed midway through a call loses at most the
 * message it was sending or taking; the channel goes on for the others.
 */
#define VS_DCHAN_MSG_MAX 56u
#define VS_DCHAN_CAP_MAX 60u

/* A channel of @cap messages of @msg_size bytes. -ENOSPC: no free object. */
VS_WARN_UNUSED int vs_dchan_create(vs_domain_t *d, unsigned msg_size, unsigned cap,
				   uint32_t *out);
/*
 * Sends one message of the channel's size (@len must be that size:
 * -EINVAL), blocking while the channel is full; -EPIPE once it is
 * closed. vs_dchan_try_send returns -EAGAIN instead of blocking.
 */
VS_WARN_UNUSED int vs_dchan_send(vs_domain_t *d, uint32_t ch, const void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_send_until(vs_domain_t *d, uint32_t ch, const void *msg, size_t len,
				       uint64_t deadline_ns);
VS_WARN_UNUSED int vs_dchan_try_send(vs_domain_t *d, uint32_t ch, const void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_send_poll(vs_domain_t *d, uint32_t ch, const void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_send_until_poll(vs_domain_t *d, uint32_t ch, const void *msg,
					    size_t len, uint64_t deadline_ns);
/* Receives the oldest message, blocking while the channel is empty;
 * -EPIPE once it is closed and empty. */
VS_WARN_UNUSED int vs_dchan_recv(vs_domain_t *d, uint32_t ch, void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_recv_until(vs_domain_t *d, uint32_t ch, void *msg, size_t len,
				       uint64_t deadline_ns);
VS_WARN_UNUSED int vs_dchan_try_recv(vs_domain_t *d, uint32_t ch, void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_recv_poll(vs_domain_t *d, uint32_t ch, void *msg, size_t len);
VS_WARN_UNUSED int vs_dchan_recv_until_poll(vs_domain_t *d, uint32_t ch, void *msg, size_t len,
					    uint64_t deadline_ns);
/* Closes a channel (any member may): sends fail from now on, receives
 * drain what is in it. -EPIPE if it was closed already. */
int vs_dchan_close(vs_domain_t *d, uint32_t ch);

/* A wait queue, of value 0. */
VS_WARN_UNUSED int vs_dwq_create(vs_domain_t *d, uint32_t *out);
int vs_dwq_load(vs_domain_t *d, uint32_t wq, uint32_t *value);
/* Adds @delta to the value (wrapping) and wakes every task waiting on it;
 * the new value in *@value if not NULL. */
int vs_dwq_add(vs_domain_t *d, uint32_t wq, uint32_t delta, uint32_t *value);
/* Blocks the calling task while the value is @expected: 0 once it is not. */
VS_WARN_UNUSED int vs_dwq_wait(vs_domain_t *d, uint32_t wq, uint32_t expected);
VS_WARN_UNUSED int vs_dwq_wait_until(vs_domain_t *d, uint32_t wq, uint32_t expected,
				     uint64_t deadline_ns);
VS_WARN_UNUSED int vs_dwq_wait_poll(vs_domain_t *d, uint32_t wq, uint32_t expected);
VS_WARN_UNUSED int vs_dwq_wait_until_poll(vs_domain_t *d, uint32_t wq, uint32_t expected,
					  uint64_t deadline_ns);

/* Destroys an object (its creator only: -EPERM): its waiters wake with
 * -EIDRM, and its handle names nothing from now on. */
int vs_dobj_destroy(vs_domain_t *d, uint32_t h);

/* Leaves the domain (-EBUSY while a runtime runs on it) and frees @d. */
int vs_domain_close(vs_domain_t *d);

#ifdef __cplusplus
}
#endif

#endif

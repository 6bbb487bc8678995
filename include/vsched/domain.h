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

/* Leaves the domain (-EBUSY while a runtime runs on it) and frees @d. */
int vs_domain_close(vs_domain_t *d);

#ifdef __cplusplus
}
#endif

#endif

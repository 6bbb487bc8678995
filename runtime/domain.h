/* SPDX-License-Identifier: MIT */
/*
 * A domain's two files and the handle a member holds (domain.c).
 *
 *   geometry memfd (sealed: no write, no resize, no new seals)
 *     [ struct vsd_geom ]
 *   state memfd (sealed: no resize, no new seals)
 *     [ page 0: struct vsd_state ][ member table ][ domain CPUs ][ wake words ]
 *     [ section 0 ][ section 1 ] ...
 *
 * A section is one member's scheduler: the shared part of its vvar area
 * (vvar.h), mapped by the loader at its offset in the state. The member
 * table says which process holds each section. Every member keeps a copy
 * of the geometry, checked once, and trusts nothing it reads from the
 * state beyond what it checks at each use.
 */
#ifndef VS_DOMAIN_INTERNAL_H
#define VS_DOMAIN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vsched/domain.h"

#define VSD_GEOM_MAGIC 0x4d4f4456u  /* "VDOM" */
#define VSD_STATE_MAGIC 0x54534456u /* "VDST" */
#define VSD_VERSION 2u
#define VSD_MAX_MEMBERS 64u
#define VSD_PAGE 4096u

/* The geometry file's contents: what every member checks and copies. */
struct vsd_geom {
	uint32_t magic;
	uint32_t version;
	uint32_t ncpus;
	uint32_t max_members;
	uint32_t max_tasks; /* per member */
	uint32_t queue_cap;
	uint64_t member_slice_ns;
	uint32_t uid;	  /* the creator's */
	uint32_t any_uid; /* peers of other users may be sent the domain */
	uint64_t nonce;	  /* the state's page 0 carries the same */
	uint64_t members_off;
	uint64_t cpus_off;  /* struct vsd_cpu[ncpus] */
	uint64_t wake_off;  /* uint32_t[max_members][ncpus] */
	uint64_t section_size; /* a member's shared part (vsched_vvar_layout) */
	uint64_t sections_off;
	uint64_t state_size;
};

/* The owner word of a member slot: 0 free, a pid, or a pid with this bit
 * while that process reclaims the slot from a dead holder. */
#define VSD_REAPING 0x80000000u
#define VSD_PID_MASK 0x3fffffffu

/* (shared) One member slot. Only the holder writes weight, running and
 * cpu_ns; a reclaimer clears them before freeing the slot. */
struct vsd_member {
	_Atomic uint32_t owner;
	_Atomic uint32_t incarnation; /* bumped by each process that takes it */
	_Atomic uint32_t weight;
	_Atomic uint32_t running; /* a runtime runs on the section */
	_Atomic uint64_t cpu_ns;  /* domain CPU time it held */
	_Atomic uint64_t vruntime; /* held time weighted by 1 / weight */
	uint64_t pad[4];
};

/*
 * (shared) One domain CPU: which member's worker runs on it. The holder
 * hands it to the waiting member with the least vruntime once it has
 * nothing to run, or once it held it a member slice and a waiting member
 * is behind it; or frees it (holder 0) if nobody waits.
 */
struct vsd_cpu {
	_Atomic uint32_t holder;     /* member + 1; 0: free */
	uint32_t pad0;
	_Atomic uint64_t since;	     /* CLOCK_MONOTONIC ns it changed hands */
	_Atomic uint64_t want;	     /* bit m: member m has work for it */
	_Atomic uint64_t handoffs;   /* times it changed hands */
	uint64_t pad[4];
};

/* A member's wake word for one CPU: a count in steps of 2, bit 0 set
 * while its worker sleeps on it (a futex, shared between processes). */
#define VSD_WAKE_SLEEPING 1u

/* (shared) Page 0 of the state. */
struct vsd_state {
	uint32_t magic;
	uint32_t version;
	uint64_t nonce;
	/* the floor of members' vruntimes: a member that starts wanting a
	 * CPU after a rest is placed no further behind than a slice */
	_Atomic uint64_t min_vruntime;
};

_Static_assert(sizeof(struct vsd_cpu) == 64, "a domain CPU is a line");

_Static_assert(sizeof(struct vsd_member) == 64, "a member slot is a line");

/* The handle: this process's membership. */
struct vs_domain {
	int gfd, sfd;
	pid_t pid;	    /* the process that made it */
	unsigned id;	    /* its member slot */
	uint32_t incarnation;
	struct vsd_geom g;  /* checked copy */
	char *map;	    /* state [0, sections_off), shared */
	struct vsd_member *me;
	_Atomic int running; /* a runtime of this process runs on it */
	uint64_t *held_since; /* per CPU: when this member took it (0: not held) */
};

/*
 * For the runtime: claims @d for a runtime about to start (-EPERM from a
 * forked copy, -EBUSY if one runs), zeroes its section and says where the
 * section is. vsd_runtime_end gives it back, and every CPU it held.
 */
int vsd_runtime_begin(struct vs_domain *d, uint64_t *off);
void vsd_runtime_end(struct vs_domain *d);

/*
 * Domain CPUs, from the member's worker of @cpu (its thread only).
 * want: says this member has work for @cpu (or not). take: takes @cpu if
 * it is free (say want first: a releaser that frees it then sees it).
 * due: a hand-off is due (held a member slice, and a waiting member is
 * behind this one); cheap while nobody waits. release: gives @cpu to the
 * waiting member that is furthest behind, or frees it. wait: sleeps
 * until @cpu is this member's, up to @timeout_ns; then it looks after the
 * holder: one that died is reclaimed, one that held it past the lease
 * while others waited loses it. Returns true if @cpu is now held.
 */
void vsd_cpu_want(struct vs_domain *d, unsigned cpu, bool on);
bool vsd_cpu_take(struct vs_domain *d, unsigned cpu);
bool vsd_cpu_due(struct vs_domain *d, unsigned cpu);
void vsd_cpu_release(struct vs_domain *d, unsigned cpu);
bool vsd_cpu_wait(struct vs_domain *d, unsigned cpu, uint64_t timeout_ns);
/* Wakes this member's worker of @cpu from vsd_cpu_wait. */
void vsd_cpu_kick(struct vs_domain *d, unsigned cpu);
/* Is someone other than this member waiting for @cpu, or has @cpu been
 * taken from it (its lease ran out)? Two loads from one line, which the
 * others write once per hand-off. */
static inline bool vsd_cpu_contended(const struct vs_domain *d, const struct vsd_cpu *dc)
{
	return (atomic_load_explicit(&dc->want, memory_order_relaxed) & ~(1ull << d->id)) != 0 ||
	       atomic_load_explicit(&dc->holder, memory_order_relaxed) != d->id + 1;
}
struct vsd_cpu *vsd_cpu(struct vs_domain *d, unsigned cpu);

#endif

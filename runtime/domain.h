/* SPDX-License-Identifier: MIT */
/*
 * A domain's two files and the handle a member holds (domain.c).
 *
 *   geometry memfd (sealed: no write, no resize, no new seals)
 *     [ struct vsd_geom ]
 *   state memfd (sealed: no resize, no new seals)
 *     [ page 0: struct vsd_state ][ member table ][ section 0 ][ section 1 ] ...
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
#include <stdint.h>
#include <sys/types.h>

#include "vsched/domain.h"

#define VSD_GEOM_MAGIC 0x4d4f4456u  /* "VDOM" */
#define VSD_STATE_MAGIC 0x54534456u /* "VDST" */
#define VSD_VERSION 1u
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
	_Atomic uint64_t cpu_ns;
	uint64_t pad[5];
};

/* (shared) Page 0 of the state. */
struct vsd_state {
	uint32_t magic;
	uint32_t version;
	uint64_t nonce;
};

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
};

/*
 * For the runtime: claims @d for a runtime about to start (-EPERM from a
 * forked copy, -EBUSY if one runs), zeroes its section and says where the
 * section is. vsd_runtime_end gives it back, adding @cpu_ns to what the
 * member reports.
 */
int vsd_runtime_begin(struct vs_domain *d, uint64_t *off);
void vsd_runtime_end(struct vs_domain *d);
void vsd_account(struct vs_domain *d, uint64_t cpu_ns);

#endif

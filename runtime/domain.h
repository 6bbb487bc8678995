/* SPDX-License-Identifier: MIT */
/*
 * A domain's two files and the handle a member holds (domain.c).
 *
 *   geometry memfd (sealed: no write, no resize, no new seals)
 *     [ struct vsd_geom ]
 *   state memfd (sealed: no resize, no new seals)
 *     [ page 0: struct vsd_state ][ member table ][ domain CPUs ][ wake words ]
 *     [ bells ][ objects ]
 *
 * A member's own scheduler (the core's vvar area, shared part included)
 * is not in the state: it is the member's private memory, since tasks
 * never move between members and no peer needs it. So no peer can drop
 * a member's tasks or rewrite their states. Every member keeps a copy of
 * the geometry, checked once, and trusts nothing it reads from the state
 * beyond what it checks at each use.
 */
#ifndef VS_DOMAIN_INTERNAL_H
#define VS_DOMAIN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vsched/domain.h"
#include "vsched/vs.h"

#define VSD_GEOM_MAGIC 0x4d4f4456u  /* "VDOM" */
#define VSD_STATE_MAGIC 0x54534456u /* "VDST" */
#define VSD_VERSION 4u
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
	uint32_t max_objects;
	uint32_t bell_words; /* a member's bells: 1 + max_objects / 64, rounded up to 8 */
	uint64_t bells_off; /* uint64_t[max_members][bell_words] */
	uint64_t objs_off;  /* VSD_OBJ_SIZE each */
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
	_Atomic uint32_t running; /* a runtime of the member runs */
	_Atomic uint64_t cpu_ns;  /* domain CPU time it held */
	_Atomic uint64_t vruntime; /* held time weighted by 1 / weight */
	_Atomic uint32_t spinning; /* its idle workers still looking for work */
	uint32_t pad0;
	uint64_t pad[3];
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

/*
 * (shared) A domain object: a channel or a wait queue, named by a handle
 * gen << 12 | index. Its word is gen << 12 | creator + 1 << 4 | kind: the
 * kind goes FREE -> BUSY (the creator fills it in) -> CHAN or WQ -> FREE
 * (destroyed) or DEAD (its creator died), each step one CAS, the gen
 * bumped when a slot is taken again, so a stale handle fails (dobj.c).
 */
#define VSD_OBJ_SIZE 4096u
#define VSD_CELL_DATA 56u
#define VSD_CHAN_CAP_MAX ((VSD_OBJ_SIZE - 256u) / 64u)
#define VSD_MAX_OBJECTS 1024u
enum { VSD_OBJ_FREE = 0, VSD_OBJ_BUSY = 1, VSD_OBJ_CHAN = 2, VSD_OBJ_WQ = 3, VSD_OBJ_DEAD = 4 };

/* Four lines, so that a sender and a receiver on two CPUs each write
 * their own: what is fixed at creation (read by all), the value and the
 * waiters, the tail (the senders') and the head (the receivers'). */
struct vsd_obj {
	_Atomic uint32_t word;
	uint32_t msg_size, cap;	  /* a channel's, set while BUSY: checked at each use */
	uint32_t pad0[13];
	uint32_t pad1a;
	_Atomic uint32_t value;	  /* a wait queue's value; a channel's closed flag */
	_Atomic uint64_t waiters; /* bit m: member m has a task waiting on it */
	uint64_t pad1[6];
	_Atomic uint64_t tail;	  /* a channel's next position to fill */
	uint64_t pad2[7];
	_Atomic uint64_t head;	  /* and to take */
	uint64_t pad3[7];
};

/* (shared) A channel's cell: pos << 16 | member + 1 << 8 | state (dobj.c),
 * then the message. */
struct vsd_cell {
	_Atomic uint64_t w;
	unsigned char data[VSD_CELL_DATA];
};

_Static_assert(sizeof(struct vsd_obj) == 256, "an object's head is four lines");
_Static_assert(VSD_CHAN_CAP_MAX == VS_DCHAN_CAP_MAX, "the public bound");
_Static_assert(sizeof(struct vsd_cell) == 64, "a cell is a line");

/* (private) What the stackless waiters on one side of an object (send,
 * receive, wait) last found in their way, since when, and when they look
 * after the members in the way next (dobj.c). Written by any of the
 * process's workers: a race only moves a look or a lease a little. */
struct vsd_look {
	_Atomic uint64_t seen, since, next;
};

/* The handle: this process's membership. */
struct vs_domain {
	int gfd, sfd;
	pid_t pid;	    /* the process that made it */
	unsigned id;	    /* its member slot */
	uint32_t incarnation;
	struct vsd_geom g;  /* checked copy */
	char *map;	    /* the whole state, shared */
	struct vsd_member *me;
	_Atomic int running; /* a runtime of this process runs on it */
	uint64_t *held_since; /* per CPU: when this member took it (0: not held) */
	uint8_t *prewoke;     /* per CPU: its next holder was woken this slice */
	struct vs_wq *owq;    /* per object: this process's tasks waiting on it */
	struct vsd_look *olook; /* per object and side: its poll-form waiters' looks */
	_Atomic uint64_t pend; /* members to kick once this worker sleeps (dobj.c) */
	_Atomic uint64_t pend_since; /* when the first of them was put off */
	bool spin;	      /* the process may run on more than one machine CPU:
			       * waiting by spinning can pay (else the one
			       * spinning keeps the one it waits for off) */
	_Atomic unsigned long late; /* waits whose wake-up never came (dobj.c) */
};

/* This process's pid (kept, and forgotten in a fork's child). */
pid_t vsd_self(void);
void vsd_atfork_init(void);
/* Is @d this process's own handle, not a copy a fork left? */
static inline bool vsd_own(const struct vs_domain *d)
{
	return d && d->pid == vsd_self();
}

/* The bits of the member slots @d has (a bitmap read from the state is
 * masked with it before it indexes anything). */
static inline uint64_t vsd_members_mask(const struct vs_domain *d)
{
	return d->g.max_members >= 64 ? ~0ull : (1ull << d->g.max_members) - 1;
}

/*
 * For the runtime: claims @d for a runtime about to start (-EPERM from a
 * forked copy, -EBUSY if one runs, -ENOMEM). vsd_runtime_end gives it
 * back, and every CPU it held.
 */
int vsd_runtime_begin(struct vs_domain *d);
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

/*
 * Bells: how a member learns that an object its tasks wait on changed.
 * Word 0 of a member's bells says "rung", the others are a bitmap of
 * objects. A ringer sets the object's bit, then word 0, then wakes one of
 * the member's sleeping workers; a worker clears word 0, then takes the
 * bits (dobj.c), and looks at word 0 after announcing it sleeps (vsd_sleep).
 */
static inline _Atomic uint64_t *vsd_bells(const struct vs_domain *d, unsigned m)
{
	return (_Atomic uint64_t *)(d->map + d->g.bells_off) + (size_t)m * d->g.bell_words;
}

static inline bool vsd_rung(const struct vs_domain *d)
{
	return atomic_load_explicit(vsd_bells(d, d->id), memory_order_relaxed) != 0;
}
/* Wakes this member's tasks waiting on objects whose bell rang. */
void vsd_serve(struct vs_domain *d);
/*
 * On one machine CPU, a worker that rings another member puts the kick
 * off until it is about to sleep (or gives its CPU up, or a member slice
 * passed): woken earlier, the other's worker would only take the machine
 * CPU from it, find the domain CPU held, and sleep again.
 */
void vsd_flush_kicks(struct vs_domain *d);
static inline void vsd_flush_due(struct vs_domain *d, uint64_t now)
{
	if (atomic_load_explicit(&d->pend, memory_order_relaxed) &&
	    now - atomic_load_explicit(&d->pend_since, memory_order_relaxed) >
		    d->g.member_slice_ns)
		vsd_flush_kicks(d);
}
/* This member's idle workers that spin: one more, or one less. */
void vsd_spinning(struct vs_domain *d, bool on);
/* Wakes a sleeping worker of member @m, if one sleeps and none spins. */
void vsd_kick_member(struct vs_domain *d, unsigned m);
/*
 * A member's idle worker of @cpu sleeps here, on its wake word, until
 * kicked (locally, or by a ringer), until *@seqp is no longer @seq, or
 * until @deadline (rt_now() time; 0: none).
 */
void vsd_sleep(struct vs_domain *d, unsigned cpu, _Atomic uint32_t *seqp, uint32_t seq,
	       uint64_t deadline);
/* Is member @m's holder dead? Then its slot is reclaimed (and true). */
bool vsd_member_reap(struct vs_domain *d, unsigned m);
/* A reclaimer's part for objects (dobj.c): the dead member @m's objects
 * die, cells it left half-done are repaired, its waits are forgotten, and
 * everyone waiting on what changed is woken. */
void vsd_objs_reap(struct vs_domain *d, unsigned m);

/*
 * For the kill tests: a process that sets vsd_die_step to a step's label
 * dies by SIGKILL at its vsd_die_after-th pass there (counted from 0).
 */
enum {
	VSD_STEP_SEND_CLAIMED = 1, /* a cell claimed for a message, not written */
	VSD_STEP_SEND_WRITTEN,	   /* written, not published */
	VSD_STEP_RECV_CLAIMED,	   /* a full cell claimed, not read */
	VSD_STEP_RECV_READ,	   /* read, not freed */
	VSD_STEP_CREATE,	   /* an object slot taken, not filled in */
	VSD_STEP_NOTIFY,	   /* a change made, its waiters not yet rung */
	VSD_STEP_HANDOFF,	   /* a CPU handed over, its new holder not woken */
	VSD_STEP_WAIT,		   /* a waiter announced, not yet asleep */
	VSD_STEP_N
};
extern int vsd_die_step;
extern unsigned long vsd_die_after;
extern int vsd_die_signal; /* 0: SIGKILL; SIGSTOP to be stopped there instead */
void vsd_step_die(void);
static inline void vsd_step(int s)
{
	if (__builtin_expect(vsd_die_step == s, 0))
		vsd_step_die();
}

#endif

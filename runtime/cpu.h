/* SPDX-License-Identifier: MIT */
/*
 * CPUs (cpu.c): the worker threads, kicking and waking idle ones, the idle
 * loop, and the runtime's spinlocks, counted per CPU for preemption.
 */
#ifndef VS_RUNTIME_CPU_H
#define VS_RUNTIME_CPU_H

#include "rt.h"

void rt_kick(uint32_t cpu);
/* Wakes the CPUs the core put work back on while this one stole. */
void rt_drain_kicks_slow(struct rt_cpu *c);
static inline void rt_drain_kicks(struct rt_cpu *c)
{
	/* a peek, at every switch: almost always 0 */
	if (atomic_load_explicit(&c->core->kick, memory_order_relaxed))
		rt_drain_kicks_slow(c);
}
/* Wakes one parked CPU other than @self, if any, to steal new work. */
void rt_wake_idle(uint32_t self);
bool rt_cpu_has_work(uint32_t cpu);
/* Tasks waiting on @cpu (its ring and runnext slot): a load estimate. */
uint64_t rt_cpu_load(uint32_t cpu);
void rt_idle_loop(struct rt_cpu *c);
/* A domain member's CPU 0 at start: waits until the domain CPU is its. */
void rt_dom_boot(struct rt_cpu *c);
/* At every switch of a domain member's CPU that others wait for: marks a
 * hand-off due once its member slice is over (the next pick goes idle). */
void rt_dom_check(struct rt_cpu *c);
/* How many CPUs the process may run on (its affinity mask, into @set),
 * else how many are online; at least 1. */
unsigned rt_cpus_allowed(cpu_set_t *set);
/* Pins the calling thread to the @id-th CPU (modulo their number) of those
 * the process could run on at start. */
void rt_cpu_pin(unsigned id);
/* A CPU thread (start's pthread_create), and CPU 0's idle task. */
void *rt_cpu_thread(void *arg);
void rt_idle_entry(void *arg);


/* A short spinlock (held for a few instructions), counted in the CPU's
 * locks: never preempted while held. */
void rt_lock_flag(unsigned char *f);
void rt_unlock_flag(unsigned char *f);
/* rt_unlock_flag for rt_park, which releases the lock once off the CPU. */
void rt_unlock_flag_cb(void *f);
/* A stretch of @c's thread (its own) that the preemption signal must not
 * switch out of, counted as a lock: foreign code working on the thread's
 * own state (liburing on the CPU's ring), which a task switched in on
 * this thread could otherwise re-enter. */
static inline void rt_nopreempt_begin(struct rt_cpu *c)
{
	__atomic_store_n(&c->locks, c->locks + 1, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void rt_nopreempt_end(struct rt_cpu *c)
{
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n(&c->locks, c->locks - 1, __ATOMIC_RELAXED);
}

/* The calling thread's CPU holds none of the runtime's locks. */
static inline bool rt_locks_none(const struct rt_cpu *c)
{
	return !c || !__atomic_load_n(&c->locks, __ATOMIC_RELAXED);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Task stacks: per-CPU caches fed by slabs (no mmap on a warm spawn), a
 * guard page while the budget of memory mappings allows, else a canary
 * checked at every resume; an overflow stops the process naming the task.
 */
#ifndef VS_RT_STACK_H
#define VS_RT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/*
 * VSCHED_GUARD_PAGES (read when the runtime starts): the most guard pages
 * the stacks may have at once; 0 gives canary-only stacks. Unset, it is a
 * sixth of /proc/sys/vm/max_map_count (a guard page may split one mapping
 * into three, so guards use at most a third of the mapping budget).
 */
#define RT_STACK_GUARD_ENV "VSCHED_GUARD_PAGES"

#define RT_STACK_CACHE 64	 /* stacks kept per CPU for reuse */
#define RT_STACK_CANARY_WORDS 8	 /* one cache line right below the stack */

struct rt_cpu;
struct rt_slab;

/* A task's stack: usable range [lo, lo + size). */
struct rt_stack {
	void *lo;
	size_t size;
	uint64_t *canary;     /* RT_STACK_CANARY_WORDS words below lo; NULL if guarded */
	struct rt_slab *slab; /* NULL: a mapping of its own, [map, map + map_len) */
	void *map;
	size_t map_len;
	uint32_t slot; /* index in the slab */
	bool guarded;  /* the page below lo is PROT_NONE */
	unsigned vg_id; /* its valgrind stack id (when built with valgrind.h) */
};

/* A free slot of a slab. */
struct rt_stack_ref {
	struct rt_slab *slab;
	uint32_t slot;
};

/* One CPU's cache, touched only by that CPU's thread. */
struct rt_stack_cache {
	unsigned n;
	struct rt_stack_ref s[RT_STACK_CACHE];
	void *altstack; /* the thread's signal stack, if this module set it */
};

/*
 * A stack of at least @size bytes into @out: from @c's cache when @size is
 * the runtime's default (c may be NULL on a thread that is not a CPU).
 * Returns 0, -EINVAL for a zero or absurd size, or -ENOMEM.
 */
int rt_stack_get(struct rt_cpu *c, size_t size, struct rt_stack *out);

/* Gives @s back (to @c's cache if it can) and clears it. */
void rt_stack_put(struct rt_cpu *c, struct rt_stack *s);

/* On a CPU's own thread when it comes up: a signal stack, so that a guard
 * page hit can be reported. Best effort: a thread's own one is kept. */
void rt_stack_cpu_init(struct rt_cpu *c);

/* On a CPU's own thread when it stops: hands its cache back. */
void rt_stack_cpu_fini(struct rt_cpu *c);

/* When the runtime stops (every stack given back): unmaps everything. */
void rt_stack_fini(void);

/* Counters for tests and diagnostics; cumulative over runtimes. */
struct rt_stack_stats {
	uint64_t maps;	 /* mmap calls made for stacks */
	uint64_t unmaps; /* munmap calls made for stacks */
	long guards;	 /* guard pages now in place */
	long slabs;	 /* slabs now mapped */
	uint32_t slab_slots; /* stacks per slab */
};
void rt_stack_stats(struct rt_stack_stats *out);

extern uint64_t rt_stack_secret;

/* overflow.c: the SIGSEGV handler, set while the stacks are in use */
void rt_overflow_trap_set(void);
void rt_overflow_trap_clear(void);
/* Frees the signal stack rt_stack_cpu_init gave @c's thread (on it). */
void rt_overflow_altstack_drop(struct rt_cpu *c);

/* Prints "vsched: stack overflow in task '<name>' ..." and aborts. */
__attribute__((noreturn, cold)) void rt_stack_fail(const struct rt_stack *s,
						   const char *task_name);

/* The canary of @s (if it has one) is intact, or the process stops. */
static inline void rt_stack_check(const struct rt_stack *s, const char *task_name)
{
	const volatile uint64_t *w = s->canary;
	uint64_t bad = 0;

	if (!w)
		return;
	for (unsigned i = 0; i < RT_STACK_CANARY_WORDS; i++)
		bad |= w[i] ^ rt_stack_secret ^ (uint64_t)(uintptr_t)&w[i];
	if (bad)
		rt_stack_fail(s, task_name);
}

#endif

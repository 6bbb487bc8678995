/* SPDX-License-Identifier: MIT */
/*
 * Task stacks: slabs carved into default-size slots, per-CPU caches that
 * trade slots with the slabs in batches under one lock, guard pages while
 * the mapping budget allows, canaries otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifdef VS_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif
#include "rt.h"
#include "stack.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
/* frames that never returned (a parked CPU idle task, a task that exited)
 * leave their redzones poisoned: clear them before the memory is reused */
#define unpoison(p, len) __asan_unpoison_memory_region((p), (len))
#else
#define unpoison(p, len) ((void)(p), (void)(len))
#endif

/*
 * A slab, one mapping:
 *
 *   [ head page | slot 0 | slot 1 | ... | slot n-1 ]   slot = stack size + 1 page
 *
 * guarded slab: each slot is [ PROT_NONE page | stack        ]
 * canary slab:  each slot is [ stack              | canary' ]
 *
 * canary' is the canary of the slot above: a stack's canary is the last 64
 * bytes of the slot below it (of the head page for slot 0), so it shares
 * the page that the stack below keeps its first frames in, and a parked
 * task with a shallow stack costs one page, not two.
 */
#define SLAB_BYTES (8u << 20) /* about this much address space per slab */
#define SLAB_MIN 8
#define SLAB_MAX 1024
#define CANARY_BYTES (RT_STACK_CANARY_WORDS * sizeof(uint64_t))
#define DEFAULT_MAX_MAP_COUNT 65530

struct rt_slab {
	struct rt_slab *next, *prev;	     /* partial list: it has free slots */
	struct rt_slab *all_next, *all_prev; /* every slab, for the final unmap */
	char *base;
	uint32_t nfree;
	bool guarded, partial;
	uint16_t free[]; /* indices of the free slots, a stack */
};

uint64_t rt_stack_secret;

static struct {
	pthread_mutex_t lock;
	_Atomic bool ready;
	size_t page, dflt, stride, slab_len;
	uint32_t nslots;
	struct rt_slab *partial, *partial_tail, *all;
	struct rt_slab *spare; /* the one wholly free slab kept mapped */
	_Atomic long guards_left;
	_Atomic uint64_t maps, unmaps;
	_Atomic long guards, slabs;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t round_page(size_t n)
{
	return (n + g.page - 1) & ~(g.page - 1);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	atomic_fetch_add_explicit(&g.maps, 1, memory_order_relaxed);
	unpoison(p, len);
	/* a huge page would make each touched stack cost 2 MiB */
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void unmap(void *p, size_t len)
{
	munmap(p, len);
	atomic_fetch_add_explicit(&g.unmaps, 1, memory_order_relaxed);
}

static bool guards_take(long n)
{
	long left = atomic_load_explicit(&g.guards_left, memory_order_relaxed);

	while (left >= n)
		if (atomic_compare_exchange_weak_explicit(&g.guards_left, &left, left - n,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

static void guards_give(long n)
{
	atomic_fetch_add_explicit(&g.guards_left, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&g.guards, n, memory_order_relaxed);
}

static void canary_set(uint64_t *w)
{
	for (unsigned i = 0; i < RT_STACK_CANARY_WORDS; i++)
		w[i] = rt_stack_secret ^ (uint64_t)(uintptr_t)&w[i];
}

/* ---- slabs and their lists (under g.lock) ---- */

static char *slot_base(const struct rt_slab *sl, uint32_t i)
{
	return sl->base + g.page + (size_t)i * g.stride;
}

static void partial_add(struct rt_slab *sl, bool head)
{
	sl->partial = true;
	sl->prev = head ? NULL : g.partial_tail;
	sl->next = head ? g.partial : NULL;
	if (sl->prev)
		sl->prev->next = sl;
	else
		g.partial = sl;
	if (sl->next)
		sl->next->prev = sl;
	else
		g.partial_tail = sl;
}

static void partial_del(struct rt_slab *sl)
{
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		g.partial = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	else
		g.partial_tail = sl->prev;
	sl->partial = false;
	sl->next = sl->prev = NULL;
}

/* PROT_NONE on the lowest page of every slot; all or nothing. */
static bool slab_guard(struct rt_slab *sl)
{
	for (uint32_t i = 0; i < g.nslots; i++)
		if (mprotect(slot_base(sl, i), g.page, PROT_NONE)) {
			(void)mprotect(sl->base, g.slab_len, PROT_READ | PROT_WRITE);
			return false;
		}
	return true;
}

static struct rt_slab *slab_new(void)
{
	struct rt_slab *sl = calloc(1, sizeof(*sl) + g.nslots * sizeof(sl->free[0]));

	if (!sl)
		return NULL;
	sl->base = map(g.slab_len);
	if (!sl->base) {
		free(sl);
		return NULL;
	}
	if (guards_take(g.nslots)) {
		atomic_fetch_add_explicit(&g.guards, g.nslots, memory_order_relaxed);
		sl->guarded = slab_guard(sl);
		if (!sl->guarded) {
			/* out of mappings: no more guards from now on */
			guards_give(g.nslots);
			atomic_store_explicit(&g.guards_left, 0, memory_order_relaxed);
		}
	}
	for (uint32_t i = 0; i < g.nslots; i++)
		sl->free[i] = (uint16_t)(g.nslots - 1 - i); /* slot 0 first */
	sl->nfree = g.nslots;
	sl->all_next = g.all;
	if (g.all)
		g.all->all_prev = sl;
	g.all = sl;
	atomic_fetch_add_explicit(&g.slabs, 1, memory_order_relaxed);
	return sl;
}

static void slab_free(struct rt_slab *sl)
{
	if (sl->partial)
		partial_del(sl);
	if (sl->all_prev)
		sl->all_prev->all_next = sl->all_next;
	else
		g.all = sl->all_next;
	if (sl->all_next)
		sl->all_next->all_prev = sl->all_prev;
	if (g.spare == sl)
		g.spare = NULL;
	if (sl->guarded)
		guards_give(g.nslots);
	unmap(sl->base, g.slab_len);
	atomic_fetch_sub_explicit(&g.slabs, 1, memory_order_relaxed);
	free(sl);
}

/* Up to @want free slots into @out; how many (0: out of memory). */
static unsigned take_locked(struct rt_stack_ref *out, unsigned want)
{
	unsigned n = 0;

	while (n < want) {
		struct rt_slab *sl = g.partial;

		if (!sl) {
			sl = slab_new();
			if (!sl)
				break;
			partial_add(sl, true);
		}
		if (sl == g.spare)
			g.spare = NULL;
		while (n < want && sl->nfree) {
			out[n].slab = sl;
			out[n].slot = sl->free[--sl->nfree];
			n++;
		}
		if (!sl->nfree)
			partial_del(sl);
	}
	return n;
}

/* A free slot back to its slab; a wholly free slab is unmapped unless it
 * is the one kept spare (so a spawn/exit burst at a boundary does not
 * map and unmap over and over). */
static void give_locked(struct rt_stack_ref r)
{
	struct rt_slab *sl = r.slab;

	sl->free[sl->nfree++] = (uint16_t)r.slot;
	if (!sl->partial)
		partial_add(sl, false);
	if (sl->nfree < g.nslots)
		return;
	if (!g.spare)
		g.spare = sl;
	else if (g.spare != sl)
		slab_free(sl);
}

/* ---- set-up ---- */

static long guard_budget(void)
{
	const char *env = getenv(RT_STACK_GUARD_ENV);
	long max = DEFAULT_MAX_MAP_COUNT;
	FILE *f;

	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);

		if (!*end && v >= 0)
			return v;
	}
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1 || max <= 0)
			max = DEFAULT_MAX_MAP_COUNT;
		fclose(f);
	}
	return max / 3 / 2; /* a third of the mappings, two per guard page */
}

static void secret_init(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
		    (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&ts;
	}
	rt_stack_secret = s;
}

static void init_locked(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t n;

	g.page = ps > 0 ? (size_t)ps : 4096;
	g.dflt = round_page(rt_g ? rt_g->cfg.stack_size : 256u << 10);
	g.stride = g.dflt + g.page;
	n = SLAB_BYTES / g.stride;
	n = n < SLAB_MIN ? SLAB_MIN : n > SLAB_MAX ? SLAB_MAX : n;
	g.nslots = (uint32_t)n;
	g.slab_len = g.page + n * g.stride;
	atomic_store_explicit(&g.guards_left, guard_budget(), memory_order_relaxed);
	secret_init();
	rt_overflow_trap_set();
	/* release: a thread that sees ready sees the geometry */
	atomic_store_explicit(&g.ready, true, memory_order_release);
}

static void ensure_ready(void)
{
	if (atomic_load_explicit(&g.ready, memory_order_acquire))
		return;
	pthread_mutex_lock(&g.lock);
	if (!atomic_load_explicit(&g.ready, memory_order_relaxed))
		init_locked();
	pthread_mutex_unlock(&g.lock);
}

/* ---- stacks ---- */

static void from_slot(struct rt_stack *out, struct rt_stack_ref r)
{
	char *b = slot_base(r.slab, r.slot);

	memset(out, 0, sizeof(*out));
	out->slab = r.slab;
	out->slot = r.slot;
	if (r.slab->guarded) {
		out->lo = b + g.page;
		out->size = g.dflt;
		out->guarded = true;
		return;
	}
	out->lo = b;
	out->size = g.stride - CANARY_BYTES;
	out->canary = (uint64_t *)(void *)(b - CANARY_BYTES);
	canary_set(out->canary);
}

/* A mapping of its own: [ guard or canary page | stack ]. */
static int own_get(size_t size, struct rt_stack *out)
{
	char *p = map(size + g.page);

	if (!p)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	out->map = p;
	out->map_len = size + g.page;
	out->lo = p + g.page;
	out->size = size;
	if (guards_take(1)) {
		atomic_fetch_add_explicit(&g.guards, 1, memory_order_relaxed);
		if (mprotect(p, g.page, PROT_NONE) == 0) {
			out->guarded = true;
			return 0;
		}
		guards_give(1);
	}
	out->canary = (uint64_t *)(void *)(p + g.page - CANARY_BYTES);
	canary_set(out->canary);
	return 0;
}

/*
 * Tells valgrind's memcheck where a stack is: stacks from one slab lie
 * close together, and a switch between them would otherwise look like a
 * stack frame being pushed, leaving the frame popped "uninitialised".
 * Outside valgrind these are a few instructions that do nothing.
 */
static int registered(int r, struct rt_stack *out)
{
#ifdef VS_HAVE_VALGRIND
	if (r == 0)
		out->vg_id = VALGRIND_STACK_REGISTER(out->lo, (char *)out->lo + out->size);
#else
	(void)out;
#endif
	return r;
}

static int stack_get(struct rt_cpu *c, size_t size, struct rt_stack *out);

int rt_stack_get(struct rt_cpu *c, size_t size, struct rt_stack *out)
{
	return registered(stack_get(c, size, out), out);
}

static int stack_get(struct rt_cpu *c, size_t size, struct rt_stack *out)
{
	struct rt_stack_ref r;

	if (!size || size > SIZE_MAX / 4)
		return -EINVAL;
	ensure_ready();
	size = round_page(size);
	if (size != g.dflt)
		return own_get(size, out);
	if (c) {
		struct rt_stack_cache *k = &c->stacks;

		if (!k->n) {
			pthread_mutex_lock(&g.lock);
			k->n = take_locked(k->s, RT_STACK_CACHE / 2);
			pthread_mutex_unlock(&g.lock);
			if (!k->n)
				return -ENOMEM;
		}
		r = k->s[--k->n];
	} else {
		unsigned n;

		pthread_mutex_lock(&g.lock);
		n = take_locked(&r, 1);
		pthread_mutex_unlock(&g.lock);
		if (!n)
			return -ENOMEM;
	}
	from_slot(out, r);
	return 0;
}

void rt_stack_put(struct rt_cpu *c, struct rt_stack *s)
{
	struct rt_stack_ref r = { s->slab, s->slot };

	if (!s->lo)
		return;
#ifdef VS_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	unpoison(s->lo, s->size);
	if (!s->slab) {
		if (s->guarded)
			guards_give(1);
		unmap(s->map, s->map_len);
	} else if (c) {
		struct rt_stack_cache *k = &c->stacks;

		if (k->n == RT_STACK_CACHE) {
			/* full: the older half goes back to the slabs */
			const unsigned half = RT_STACK_CACHE / 2;

			pthread_mutex_lock(&g.lock);
			for (unsigned i = 0; i < half; i++)
				give_locked(k->s[i]);
			pthread_mutex_unlock(&g.lock);
			memmove(k->s, k->s + half, (RT_STACK_CACHE - half) * sizeof(k->s[0]));
			k->n -= half;
		}
		k->s[k->n++] = r;
	} else {
		pthread_mutex_lock(&g.lock);
		give_locked(r);
		pthread_mutex_unlock(&g.lock);
	}
	memset(s, 0, sizeof(*s));
}

void rt_stack_cpu_fini(struct rt_cpu *c)
{
	struct rt_stack_cache *k = &c->stacks;

	if (k->n) {
		pthread_mutex_lock(&g.lock);
		while (k->n)
			give_locked(k->s[--k->n]);
		pthread_mutex_unlock(&g.lock);
	}
	rt_overflow_altstack_drop(c);
}

void rt_stack_fini(void)
{
	pthread_mutex_lock(&g.lock);
	while (g.all)
		slab_free(g.all);
	g.partial = g.partial_tail = g.spare = NULL;
	rt_overflow_trap_clear();
	atomic_store_explicit(&g.ready, false, memory_order_relaxed);
	pthread_mutex_unlock(&g.lock);
}

void rt_stack_stats(struct rt_stack_stats *out)
{
	out->maps = atomic_load_explicit(&g.maps, memory_order_relaxed);
	out->unmaps = atomic_load_explicit(&g.unmaps, memory_order_relaxed);
	out->guards = atomic_load_explicit(&g.guards, memory_order_relaxed);
	out->slabs = atomic_load_explicit(&g.slabs, memory_order_relaxed);
	out->slab_slots = g.nslots;
}

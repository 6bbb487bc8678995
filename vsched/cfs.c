/* SPDX-License-Identifier: MIT */
/*
 * CFS: each CPU runs the task with the least virtual runtime (time run,
 * weighted by Linux's nice-to-weight table). A CPU's heap is touched by
 * that CPU alone; other CPUs and threads hand it tasks through its
 * lock-free ring (the inbox), which it drains at every pick. min_vruntime
 * only grows and is published for readers on other CPUs.
 */
#include "core.h"

#define NICE_0_WEIGHT 1024u

/* Linux's sched_prio_to_weight: each nice step is about 10% of CPU. */
static const uint32_t nice_weight[40] = {
	88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
	9548,  7620,  6100,  4904,  3906,  3121,  2501,  1991,  1586,  1277,
	1024,  820,   655,   526,   423,   335,   272,   215,   172,   137,
	110,   87,    70,    56,    45,    36,    29,    23,    18,    15,
};

static uint32_t weight_of(int nice)
{
	return nice_weight[nice + 20];
}

/* @delta of real time as virtual time for a task of @nice, rounded up:
 * a heavy task that runs at all moves on, however little. */
static uint64_t to_virtual(uint64_t delta, int nice)
{
	uint32_t w = weight_of(nice);

	return (delta * NICE_0_WEIGHT + w - 1) / w;
}

/* A task's nice, as an index into the weights: clamped, as the slot may
 * be shared and hold anything. */
static int nice_of(struct vsched_task *t)
{
	int n = atomic_load_explicit(&t->prio, memory_order_relaxed);

	return n < -20 ? -20 : n > 19 ? 19 : n;
}

static uint64_t vrt_load(struct vsched_task *t)
{
	/* relaxed: a remote reader (a drain placing a task that was just
	 * preempted) may see a slightly stale value, which placement bounds */
	return __atomic_load_n(&t->vruntime, __ATOMIC_RELAXED);
}

static void vrt_store(struct vsched_task *t, uint64_t v)
{
	__atomic_store_n(&t->vruntime, v, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------- heap */

/* Tasks in @c's heap: the owner's private count. */
static uint32_t nr(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return cpu_priv(h, c)->cfs_nr;
}

/* Sets it, and the copy other CPUs read (a hint: ask_for_work, the tick). */
static void set_nr(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t n)
{
	cpu_priv(h, c)->cfs_nr = n;
	atomic_store_explicit(&c->cfs_nr, n, memory_order_relaxed);
}

static bool before(const struct vsched_cfs_ent *a, const struct vsched_cfs_ent *b)
{
	return a->key < b->key || (a->key == b->key && a->idx < b->idx);
}

static void set_at(struct vsched_vvar *h, struct vsched_cfs_ent *q, uint32_t i,
		   struct vsched_cfs_ent e)
{
	q[i] = e;
	task_at(h, e.idx)->pol_aux = i + 1;
}

static void sift_up(struct vsched_vvar *h, struct vsched_cfs_ent *q, uint32_t i)
{
	struct vsched_cfs_ent e = q[i];

	while (i && before(&e, &q[(i - 1) / 2])) {
		set_at(h, q, i, q[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	set_at(h, q, i, e);
}

static void sift_down(struct vsched_vvar *h, struct vsched_cfs_ent *q, uint32_t n, uint32_t i)
{
	struct vsched_cfs_ent e = q[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= n)
			break;
		if (r < n && before(&q[r], &q[l]))
			m = r;
		if (!before(&q[m], &e))
			break;
		set_at(h, q, i, q[m]);
		i = m;
	}
	set_at(h, q, i, e);
}

static void heap_insert(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
			uint64_t key)
{
	struct vsched_cfs_ent *q = core_cfs(h, cpu_index(h, c));
	uint32_t n = nr(h, c);

	/* a task is in one heap at a time, so a heap never fills, unless a
	 * shared slot's heap position lied and a task came in twice */
	if (unlikely(n >= HDR.ntasks))
		return;
	vrt_store(t, key);
	q[n] = (struct vsched_cfs_ent){ .key = key, .idx = (uint32_t)(t - core_tasks(h)),
					.nice = nice_of(t) };
	set_nr(h, c, n + 1);
	sift_up(h, q, n);
}

/* Takes the entry at @i out of the heap; returns its task. */
static struct vsched_task *heap_remove(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t i)
{
	struct vsched_cfs_ent *q = core_cfs(h, cpu_index(h, c));
	struct vsched_task *t = task_at(h, q[i].idx);
	uint32_t n = nr(h, c) - 1;

	set_nr(h, c, n);
	t->pol_aux = 0;
	if (i != n) {
		struct vsched_cfs_ent last = q[n];

		set_at(h, q, i, last);
		if (i && before(&last, &q[(i - 1) / 2]))
			sift_up(h, q, i);
		else
			sift_down(h, q, n, i);
	}
	return t;
}

/* ----------------------------------------------------- min_vruntime */

static uint64_t min_vrt(struct vsched_cpu *c)
{
	return atomic_load_explicit(&c->min_vruntime, memory_order_relaxed);
}

/*
 * min_vruntime = max(itself, min(current's, the heap's least)): it only
 * grows. A single store by the owner; relaxed, as readers want a value,
 * not an ordering with anything else.
 */
static void update_min(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur)
{
	uint64_t m = UINT64_MAX, old = min_vrt(c);

	if (cur)
		m = vrt_load(cur);
	if (nr(h, c)) {
		uint64_t top = core_cfs(h, cpu_index(h, c))[0].key;

		if (top < m)
			m = top;
	}
	if (m != UINT64_MAX && m > old)
		atomic_store_explicit(&c->min_vruntime, m, memory_order_relaxed);
}

/*
 * Where a task arriving on @c goes: its own vruntime, but no more than
 * one slice (weighted) behind min_vruntime, so a sleeper or a task from a
 * CPU behind this one gets no unfair boost, and no more than one slice
 * ahead, so a task from a CPU ahead of this one does not starve. A new
 * task starts one slice ahead (it has not waited for anything).
 */
static uint64_t place(struct vsched_cpu *c, struct vsched_task *t)
{
	uint64_t v = vrt_load(t), m = min_vrt(c);
	uint64_t vs = to_virtual(HDR.slice, nice_of(t));

	if (v == VSCHED_VRUNTIME_NEW)
		return m + vs;
	if (v + vs < m)
		return m - vs;
	if (v > m + vs)
		return m + vs;
	return v;
}

/* A request to weigh a queued task again (its nice changed). */
static void reweight(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t idx)
{
	struct vsched_cfs_ent *q = core_cfs(h, cpu_index(h, c));
	struct vsched_task *t = task_at(h, idx);
	uint32_t pos;
	int64_t lag;
	int nice;

	if (!t)
		return;
	pos = t->pol_aux;
	/* not in this heap (any more): the new nice applies as it runs */
	if (!pos || pos > nr(h, c) || q[pos - 1].idx != idx)
		return;
	nice = nice_of(t);
	lag = (int64_t)(q[pos - 1].key - min_vrt(c));
	/* the same real-time distance from the floor, at the new weight */
	lag = lag * (int64_t)weight_of(q[pos - 1].nice) / (int64_t)weight_of(nice);
	q[pos - 1].key = min_vrt(c) + (uint64_t)lag;
	q[pos - 1].nice = nice;
	vrt_store(t, q[pos - 1].key);
	if (pos > 1 && before(&q[pos - 1], &q[(pos - 2) / 2]))
		sift_up(h, q, pos - 1);
	else
		sift_down(h, q, nr(h, c), pos - 1);
}

/* Is @t in @c's heap? Its shared heap position, checked against the heap. */
static bool in_heap(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t)
{
	uint32_t pos = __atomic_load_n(&t->pol_aux, __ATOMIC_RELAXED);

	return pos && pos <= nr(h, c) &&
	       core_cfs(h, cpu_index(h, c))[pos - 1].idx == task_index(h, t);
}

/* Moves what arrived in the inbox into the heap. */
static void drain(struct vsched_vvar *h, struct vsched_cpu *c)
{
	uint64_t n = rq_len(h, c);

	while (n--) {
		uint32_t val = rq_pop_raw(h, c);
		struct vsched_task *t;

		if (!val)
			break;
		if (val & VSCHED_RQ_MSG) {
			reweight(h, c, (val & ~VSCHED_RQ_MSG) - 1);
			continue;
		}
		t = rq_checked(h, val);
		if (t && !in_heap(h, c, t))
			heap_insert(h, c, t, place(c, t));
	}
}

/* The heap entry likely to run last: the greatest of a few leaves from
 * the end (a leaf is no earlier than any task above it). */
static uint32_t last_ish(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_cfs_ent *q = core_cfs(h, cpu_index(h, c));
	uint32_t n = nr(h, c), best = n - 1;

	for (uint32_t i = n - 1; i > n / 2 && i + 8 > n; i--)
		if (before(&q[best], &q[i - 1]))
			best = i - 1;
	return best;
}

/*
 * Gives CPUs that asked (they found nothing to steal) half of what waits
 * here, taking the tasks that would run last, so those that would run soon
 * keep their turn.
 */
static void donate(struct vsched_vvar *h, struct vsched_cpu *c)
{
	uint64_t req = atomic_load_explicit(&c->steal_req, memory_order_relaxed);
	struct vsched_cpu *cpus = core_cpus(h);

	if (!req || nr(h, c) < 2)
		return;
	req = atomic_exchange_explicit(&c->steal_req, 0, memory_order_relaxed);
	for (uint32_t r = 0; r < HDR.ncpus && r < 64; r++) {
		uint32_t give = nr(h, c) / 2;

		if (!((req >> r) & 1) || r == cpu_index(h, c))
			continue;
		while (give--) {
			uint32_t i = last_ish(h, c);
			struct vsched_task *t = task_at(h, core_cfs(h, cpu_index(h, c))[i].idx);

			if (!rq_may_run(h, t, cpus + r))
				break;
			heap_remove(h, c, i);
			atomic_store_explicit(&t->cpu, r, memory_order_relaxed);
			if (rq_put(h, cpus + r, (uint32_t)(t - core_tasks(h)) + 1, ENQ_LOCAL) <
			    0) {
				atomic_store_explicit(&t->cpu, cpu_index(h, c), memory_order_relaxed);
				heap_insert(h, c, t, vrt_load(t));
				break;
			}
			rq_want_kick(c, r);
		}
		return; /* one at a time: the others ask again */
	}
}

/* Nothing here: ask the CPU with the most waiting to give some. */
static void ask_for_work(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_cpu *cpus = core_cpus(h), *best = 0;
	uint32_t most = 1;

	for (uint32_t i = 0; i < HDR.ncpus; i++) {
		uint32_t n = atomic_load_explicit(&cpus[i].cfs_nr, memory_order_relaxed);

		if (cpus + i != c && n > most) {
			most = n;
			best = cpus + i;
		}
	}
	if (best)
		atomic_fetch_or_explicit(&best->steal_req,
					 1ull << (cpu_index(h, c) < 63 ? cpu_index(h, c) : 63),
					 memory_order_relaxed);
}

int cfs_enqueue(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *t,
		uint32_t flags)
{
	/* every arrival goes through the inbox; the owner places it */
	return rq_put(h, c, (uint32_t)(t - core_tasks(h)) + 1, flags & ENQ_LOCAL);
}

struct vsched_task *cfs_pick(struct vsched_vvar *h, struct vsched_cpu *c)
{
	struct vsched_task *t = 0;

	drain(h, c);
	donate(h, c);
	if (++c->schedtick % RQ_GLOBAL_CHECK_EVERY == 0 || !nr(h, c))
		t = rq_global_take(h, c);
	if (t) {
		heap_insert(h, c, t, place(c, t));
		t = 0;
	}
	if (!nr(h, c)) {
		t = rq_steal(h, c); /* only what still waits in other inboxes */
		if (t)
			heap_insert(h, c, t, place(c, t));
		drain(h, c); /* the rest of the loot */
	}
	if (!nr(h, c)) {
		ask_for_work(h, c);
		return 0;
	}
	t = heap_remove(h, c, 0);
	update_min(h, c, t);
	return t;
}

void cfs_account(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur,
		 uint64_t delta)
{
	uint64_t v = vrt_load(cur);

	if (v == VSCHED_VRUNTIME_NEW) /* a task run without queueing (boot) */
		v = min_vrt(c);
	vrt_store(cur, v + to_virtual(delta, nice_of(cur)));
	update_min(h, c, cur);
}

int cfs_set_prio(struct vsched_vvar *h, struct vsched_task *t, int32_t prio)
{
	uint32_t cpu = atomic_load_explicit(&t->cpu, memory_order_relaxed);
	uint32_t idx = (uint32_t)(t - core_tasks(h));

	atomic_store_explicit(&t->prio, (int8_t)prio, memory_order_relaxed);
	/* queued: ask its CPU to move it (a hint: if it cannot be delivered,
	 * or the task has moved on, the new nice still applies as it runs) */
	if (atomic_load_explicit(&t->state, memory_order_relaxed) == VSCHED_TASK_READY &&
	    cpu < HDR.ncpus)
		(void)rq_put(h, core_cpus(h) + cpu, (idx + 1) | VSCHED_RQ_MSG, ENQ_LOCAL);
	return 0;
}

bool cfs_busy(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return atomic_load_explicit(&c->cfs_nr, memory_order_relaxed) || rq_len(h, c);
}

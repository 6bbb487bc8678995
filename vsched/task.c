/* SPDX-License-Identifier: MIT */
/*
 * The task table: slot allocation (a lock-free tagged free list over a bump
 * pointer, so untouched slots cost nothing) and checked lookup of references.
 */
#include "core.h"

bool vvar_geometry_ok(const struct vsched_vvar *h)
{
	struct vsched_geometry g = {
		.ncpus = HDR.ncpus,
		.queue_cap = HDR.queue_cap,
		.ntasks = HDR.ntasks,
		.policy = HDR.policy,
		.slice = HDR.slice,
		.priv_size = HDR.priv_stride,
	};
	struct vsched_vvar want;

	if (h->magic != VSCHED_VVAR_MAGIC || h->version != VSCHED_VVAR_VERSION)
		return false;
	/* the layout is a pure function of the geometry: recompute, compare
	 * (the header is the mapper's own, read-only: this catches a mapper
	 * of another build, not a peer) */
	if (!vsched_vvar_layout(&g, &want))
		return false;
	return h->hdr_size == want.hdr_size && HDR.priv_stride == want.priv_stride &&
	       HDR.priv_shift == want.priv_shift &&
	       h->area_size == want.area_size && h->shared_size == want.shared_size &&
	       HDR.queue_cap == want.queue_cap && HDR.gq_cap == want.gq_cap &&
	       h->task_size == want.task_size && h->cpu_size == want.cpu_size &&
	       h->glob_off == want.glob_off && h->cpus_off == want.cpus_off &&
	       h->gq_off == want.gq_off && h->rq_off == want.rq_off &&
	       h->tasks_off == want.tasks_off && h->pcpu_off == want.pcpu_off &&
	       h->cfs_off == want.cfs_off && h->tpriv_off == want.tpriv_off;
}

struct vsched_task *task_at(struct vsched_vvar *h, uint32_t idx)
{
	if (unlikely(idx >= HDR.ntasks))
		return 0;
	return core_tasks(h) + idx;
}

/* The slot of a live task, or NULL for a malformed, stale or free reference. */
struct vsched_task *task_get(struct vsched_vvar *h, vsched_ref_t ref)
{
	struct vsched_task *t = task_at(h, VSCHED_REF_IDX(ref));

	if (unlikely(!t || VSCHED_REF_GEN(ref) == 0))
		return 0;
	/* acquire: pairs with the release in task_alloc, so a reader that
	 * sees the new generation also sees the slot's new contents */
	if (unlikely(atomic_load_explicit(&t->gen, memory_order_acquire) !=
		     VSCHED_REF_GEN(ref)))
		return 0;
	if (unlikely(atomic_load_explicit(&t->state, memory_order_relaxed) ==
		     VSCHED_TASK_FREE))
		return 0;
	return t;
}

vsched_ref_t task_ref(struct vsched_vvar *h, struct vsched_task *t)
{
	uint32_t idx = (uint32_t)(t - core_tasks(h));

	return VSCHED_REF(atomic_load_explicit(&t->gen, memory_order_relaxed), idx);
}

/* CAS turns a slot allocation may take: each failed one is another
 * thread's success, so only a corrupt or hostile writer of the shared
 * part (a domain peer) makes them run out. */
#define SLOT_TRIES (1u << 16)

/* Pops a slot index from the free list, or takes a never-used one
 * (*@fresh then). */
static int64_t slot_take(struct vsched_vvar *h, bool *fresh)
{
	uint64_t head = atomic_load_explicit(&glob(h)->free_head, memory_order_acquire);
	uint32_t turn = 0;

	while ((uint32_t)head != 0) {
		if (unlikely(++turn == SLOT_TRIES))
			return -VSCHED_EIO;
		uint32_t idx = (uint32_t)head - 1;
		struct vsched_task *t = task_at(h, idx);
		uint64_t next;

		if (unlikely(!t))
			return -VSCHED_EIO; /* corrupt list: refuse, never wander */
		/* a stale read here is harmless: the tag makes the CAS fail */
		next = (head & 0xffffffff00000000ull) + (1ull << 32) +
		       atomic_load_explicit(&t->next_free, memory_order_relaxed);
		/* acquire on success: the slot's last free happens before us */
		if (atomic_compare_exchange_weak_explicit(&glob(h)->free_head, &head, next,
							  memory_order_acquire,
							  memory_order_acquire))
			return idx;
	}
	for (;;) {
		uint32_t b = atomic_load_explicit(&glob(h)->bump, memory_order_relaxed);

		if (unlikely(++turn >= 2 * SLOT_TRIES))
			return -VSCHED_EIO;
		if (b >= HDR.ntasks)
			return -VSCHED_EAGAIN;
		if (atomic_compare_exchange_weak_explicit(&glob(h)->bump, &b, b + 1,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			*fresh = true;
			return b;
		}
	}
}

/* Pushes a slot on the free list; false if the list would not take it
 * in SLOT_TRIES turns (the slot is then never used again). */
static bool slot_put(struct vsched_vvar *h, uint32_t idx)
{
	struct vsched_task *t = core_tasks(h) + idx;
	uint64_t head = atomic_load_explicit(&glob(h)->free_head, memory_order_relaxed);
	uint64_t next;
	uint32_t turn = 0;

	do {
		if (unlikely(++turn == SLOT_TRIES))
			return false;
		atomic_store_explicit(&t->next_free, (uint32_t)head, memory_order_relaxed);
		next = (head & 0xffffffff00000000ull) + (1ull << 32) + idx + 1;
		/* release: the slot's reset happens before its next taker */
	} while (!atomic_compare_exchange_weak_explicit(&glob(h)->free_head, &head, next,
							memory_order_release,
							memory_order_relaxed));
	return true;
}

/* A mask that names at least one CPU of this domain (or 0: any). */
static bool affinity_ok(uint64_t affinity)
{
	if (affinity == 0)
		return true;
	if (HDR.ncpus < 64)
		affinity &= (1ull << HDR.ncpus) - 1;
	return affinity != 0;
}

int task_alloc(struct vsched_vvar *h, const struct vsched_task_desc *d,
	       vsched_ref_t *out)
{
	struct vsched_task_priv *p;
	struct vsched_task *t;
	bool fresh = false;
	int64_t idx;
	uint32_t gen = 1; /* a never-used slot's first */

	/* a stackful task may have no frame yet (a thread becoming a task);
	 * spawn and switch_to refuse to start one without */
	if (!d || !out || d->kind > VSCHED_KIND_STACKLESS || (d->flags & ~VSCHED_TF_STAY) ||
	    d->prio < -20 || d->prio > 19 || !affinity_ok(d->affinity))
		return -VSCHED_EINVAL;
	idx = slot_take(h, &fresh);
	if (idx < 0)
		return (int)idx;
	t = core_tasks(h) + idx;
	p = core_tpriv(h, (uint32_t)idx);
	/* written before it is read, so a never-touched page of records comes
	 * in as a page of its own, not the zero page (see below) */
	p->pad = 0;
	/* the free list and the bump pointer are shared: a slot this process
	 * still uses is not handed out twice, whatever they say */
	if (unlikely(atomic_load_explicit(&p->used, memory_order_relaxed)))
		return -VSCHED_EIO;
	/* a never-used slot is zero (the area is formatted zeroed), and its
	 * first access is a write: a read first would map the kernel's zero
	 * page, and the write after it would then fault again and flush that
	 * mapping from every CPU running this process (an interrupt to each,
	 * once per 64 slots: a sixth of a fan-out of a million tasks) */
	if (!fresh) {
		gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
		if (gen == 0)
			gen = 1;
	}
	atomic_store_explicit(&p->used, 1, memory_order_relaxed);
	p->ctx_sp = d->ctx_sp;
	atomic_store_explicit(&p->run_cpu, 0, memory_order_relaxed);
	atomic_store_explicit(&p->on_cpu, 0, memory_order_relaxed);
	p->kind = (uint8_t)d->kind;
	p->idle = 0;
	atomic_store_explicit(&p->live, 0, memory_order_relaxed);
	atomic_store_explicit(&t->need_resched, 0, memory_order_relaxed);
	/* STAY: its first run is on the CPU it is spawned on */
	__atomic_store_n(&t->flags, (uint8_t)d->flags, __ATOMIC_RELAXED);
	t->owner = d->owner;
	atomic_store_explicit(&t->cpu, 0, memory_order_relaxed);
	atomic_store_explicit(&t->next_free, 0, memory_order_relaxed);
	atomic_store_explicit(&t->prio, (int8_t)d->prio, memory_order_relaxed);
	t->pol_aux = 0;
	t->affinity = d->affinity;
	t->vruntime = VSCHED_VRUNTIME_NEW; /* CFS places it when it first queues */
	atomic_store_explicit(&t->state, VSCHED_TASK_NEW, memory_order_relaxed);
	/* release: publishes the fields above with the generation */
	atomic_store_explicit(&t->gen, gen, memory_order_release);
	atomic_fetch_add_explicit(&glob(h)->nr_alive, 1, memory_order_relaxed);
	*out = VSCHED_REF(gen, idx);
	return 0;
}

int task_free(struct vsched_vvar *h, vsched_ref_t ref)
{
	struct vsched_task *t = task_get(h, ref);
	uint32_t st, gen;

	if (!t)
		return -VSCHED_ESRCH;
	st = atomic_load_explicit(&t->state, memory_order_acquire);
	if ((st != VSCHED_TASK_NEW && st != VSCHED_TASK_EXITED) || task_priv(h, t)->idle)
		return -VSCHED_EBUSY;
	/* never spawned, or seen exiting, by this process: a shared state
	 * that says so is not enough */
	if (atomic_load_explicit(&task_priv(h, t)->live, memory_order_relaxed))
		return -VSCHED_EBUSY;
	/* acquire: the CPU that last ran it has finished with its context */
	if (atomic_load_explicit(&task_priv(h, t)->on_cpu, memory_order_acquire))
		return -VSCHED_EBUSY;
	if (!atomic_compare_exchange_strong_explicit(&t->state, &st, VSCHED_TASK_FREE,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return -VSCHED_EBUSY;
	gen = atomic_load_explicit(&t->gen, memory_order_relaxed) + 1;
	if (gen == 0)
		gen = 1;
	/* stale references stop resolving from here on */
	atomic_store_explicit(&t->gen, gen, memory_order_relaxed);
	atomic_fetch_sub_explicit(&glob(h)->nr_alive, 1, memory_order_relaxed);
	/* its context is gone (its stack may be reused): nothing resumes it */
	task_priv(h, t)->ctx_sp = 0;
	atomic_store_explicit(&task_priv(h, t)->live, 0, memory_order_relaxed);
	/* relaxed: the free list's release (slot_put) orders it before the
	 * slot's next taker in this process */
	atomic_store_explicit(&task_priv(h, t)->used, 0, memory_order_relaxed);
	return slot_put(h, VSCHED_REF_IDX(ref)) ? 0 : -VSCHED_EIO;
}

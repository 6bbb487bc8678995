/* SPDX-License-Identifier: MIT */
/*
 * Bounded lock-free MPMC ring of task indices (Vyukov's sequence-numbered
 * cells), the run queues' building block. Freestanding, header-only so the
 * queue suite can test exactly this code.
 *
 * A cell is one 64-bit word: high half = (sequence - cell index), low half =
 * value (task index + 1, never 0). Storing the sequence relative to the
 * cell index makes all-zero memory a valid empty ring. Position counters are
 * 64-bit and never wrap in practice; the 32-bit sequences are compared as
 * signed differences, so they wrap safely. A ring needs at least 2 cells:
 * with one, "full at p" and "empty at p + 1" are the same cell state. Zero
 * is not a value (it reads as empty).
 *
 * The cells may be shared with other processes, which may write anything
 * into them: every loop gives up after VS_RING_TRIES turns that make no
 * progress of its own (a ring only this process writes never needs a
 * tenth of that: each failed turn is another thread's success).
 */
#ifndef VSCHED_QUEUE_H
#define VSCHED_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VS_RING_TRIES (1u << 16)
#define VS_RING_FULL (-11) /* -EAGAIN */
#define VS_RING_STUCK (-5) /* -EIO: no progress in VS_RING_TRIES turns */

struct vs_ring {
	_Atomic uint64_t *cells;
	_Atomic uint64_t *enq;
	_Atomic uint64_t *deq;
	uint32_t mask; /* capacity - 1; capacity a power of two, at least 2 */
};

static inline uint64_t vs_cell(uint32_t seq, uint32_t idx, uint32_t val)
{
	return ((uint64_t)(uint32_t)(seq - idx) << 32) | val;
}

static inline uint32_t vs_cell_seq(uint64_t w, uint32_t idx)
{
	return (uint32_t)(w >> 32) + idx;
}

/*
 * Appends @val (non-zero). Returns 0, or VS_RING_FULL if the ring is full:
 * the cell at the tail still holds a value of the previous lap, or a
 * consumer has claimed it and not yet released it; or VS_RING_STUCK if it
 * made no progress in VS_RING_TRIES turns. Nothing is changed then.
 */
static inline int vs_ring_push(const struct vs_ring *r, uint32_t val)
{
	uint64_t pos = atomic_load_explicit(r->enq, memory_order_relaxed);
	uint32_t idx;
	uint64_t w;

	for (uint32_t turn = 0;; turn++) {
		if (turn == VS_RING_TRIES)
			return VS_RING_STUCK;
		idx = (uint32_t)pos & r->mask;
		/* acquire: pairs with the consumer's release of this cell, so its
		 * read of the old value happens before we overwrite it */
		w = atomic_load_explicit(&r->cells[idx], memory_order_acquire);
		int32_t dif = (int32_t)(vs_cell_seq(w, idx) - (uint32_t)pos);
		if (dif == 0) {
			/* relaxed: the cell's sequence, not the counter, publishes */
			if (atomic_compare_exchange_weak_explicit(r->enq, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return VS_RING_FULL;
		} else {
			pos = atomic_load_explicit(r->enq, memory_order_relaxed);
		}
	}
	/* release: everything written to the task before the push is visible
	 * to whoever pops it */
	atomic_store_explicit(&r->cells[idx], vs_cell((uint32_t)pos + 1, idx, val),
			      memory_order_release);
	return 0;
}

/* Removes the oldest value; returns 0 if the ring is empty, or if it made
 * no progress in VS_RING_TRIES turns (a corrupt ring reads as empty). */
static inline uint32_t vs_ring_pop(const struct vs_ring *r)
{
	uint64_t pos = atomic_load_explicit(r->deq, memory_order_relaxed);
	uint32_t idx;
	uint64_t w;

	for (uint32_t turn = 0;; turn++) {
		if (turn == VS_RING_TRIES)
			return 0;
		idx = (uint32_t)pos & r->mask;
		/* acquire: pairs with the producer's release of this cell */
		w = atomic_load_explicit(&r->cells[idx], memory_order_acquire);
		int32_t dif = (int32_t)(vs_cell_seq(w, idx) - (uint32_t)(pos + 1));
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(r->deq, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(r->deq, memory_order_relaxed);
		}
	}
	/* release the cell for the producer one lap ahead */
	atomic_store_explicit(&r->cells[idx],
			      vs_cell((uint32_t)pos + r->mask + 1, idx, 0),
			      memory_order_release);
	return (uint32_t)w;
}

/* Values in the ring (a snapshot; exact when nothing runs concurrently). */
static inline uint64_t vs_ring_len(const struct vs_ring *r)
{
	uint64_t d = atomic_load_explicit(r->deq, memory_order_relaxed);
	uint64_t e = atomic_load_explicit(r->enq, memory_order_relaxed);
	return e > d ? e - d : 0;
}

#endif

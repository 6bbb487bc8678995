/* SPDX-License-Identifier: MIT */
/*
 * Synchronisation between tasks: mutex, condition variable, semaphore and a
 * bounded channel. A blocking call blocks the calling task, never its CPU.
 * Calls return 0 or a negative errno (-EINVAL for a NULL argument); the
 * conventions (X_until, X_poll, X_try) are vs.h's.
 */
#ifndef VSCHED_SYNC_H
#define VSCHED_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "vs.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A mutex. Embed it and initialise it with VS_MUTEX_INIT or vs_mutex_init;
 * the fields are private. Uncontended lock and unlock are one atomic
 * operation each. A locker finding it held by a task running on another
 * CPU spins briefly before it sleeps. Normal mode: an unlock frees it and
 * wakes the oldest waiter, and a running task may take it first. A waiter
 * that has waited 1 ms turns it to starvation mode, where unlock hands it
 * to the oldest waiter (as Go's sync.Mutex; see vs_mutex_lock(3)).
 */
struct vs_mutex {
	uintptr_t state; /* the holder's identity | waiters, starving bits */
	struct vs_wq wq;
};
#define VS_MUTEX_INIT { 0, VS_WQ_INIT }

void vs_mutex_init(struct vs_mutex *m);

/*
 * Takes @m, blocking the calling stackful task while another holds it;
 * the _until form gives up with -ETIMEDOUT. -EPERM from a thread that is
 * not a stackful task (stackless tasks and plain threads use
 * vs_mutex_try_lock), -EDEADLK if the caller holds it.
 */
VS_WARN_UNUSED int vs_mutex_lock(struct vs_mutex *m);
VS_WARN_UNUSED int vs_mutex_lock_until(struct vs_mutex *m, uint64_t deadline_ns);

/*
 * Takes @m if it is free (and not being handed to a waiter); callable from
 * any thread or task. -EAGAIN otherwise (the caller's own hold included).
 */
VS_WARN_UNUSED int vs_mutex_try_lock(struct vs_mutex *m);

/*
 * Releases @m and wakes the oldest waiter, if any (in starvation mode,
 * as the new holder). -EPERM if the caller (the task, or for a plain
 * thread the thread) does not hold it.
 */
int vs_mutex_unlock(struct vs_mutex *m);

/*
 * A condition variable. VS_COND_INIT or vs_cond_init; fields private.
 * It may be used with different mutexes at different times.
 */
struct vs_cond {
	unsigned seq; /* bumped by every signal and broadcast */
	struct vs_wq wq;
};
#define VS_COND_INIT { 0, VS_WQ_INIT }

void vs_cond_init(struct vs_cond *cv);

/*
 * Releases @m and blocks the calling stackful task until a signal or a
 * broadcast, atomically: a signal sent after the caller took @m is never
 * missed. Returns holding @m again. As with pthreads, a wake-up may be
 * spurious (a signal wakes one sleeping waiter but also every waiter
 * caught between releasing @m and going to sleep), so wait in a loop over
 * the condition. -EPERM if the caller is not a stackful task or does not
 * hold @m (nothing is released then).
 */
VS_WARN_UNUSED int vs_cond_wait(struct vs_cond *cv, struct vs_mutex *m);

/* vs_cond_wait giving up with -ETIMEDOUT once @deadline_ns has passed
 * (holding @m again, as always). */
VS_WARN_UNUSED int vs_cond_wait_until(struct vs_cond *cv, struct vs_mutex *m,
				      uint64_t deadline_ns);

/*
 * Wakes one waiter / every waiter of @cv. Callable from any thread, with
 * or without the mutex held. -EINVAL for a NULL @cv.
 */
int vs_cond_signal(struct vs_cond *cv);
int vs_cond_broadcast(struct vs_cond *cv);

/*
 * A counting semaphore. VS_SEM_INIT(value) or vs_sem_init; fields
 * private. Not FIFO: a post wakes one waiter, but a caller arriving first
 * may take the unit, and the woken waiter then sleeps again.
 */
struct vs_sem {
	int value;
	int sleepers; /* tasks in the blocking path of vs_sem_wait */
	struct vs_wq wq;
};
#define VS_SEM_INIT(v) { (v), 0, VS_WQ_INIT }

/* Sets @sem to @value units. -EINVAL for a negative @value. */
int vs_sem_init(struct vs_sem *sem, int value);

/*
 * Takes one unit, blocking the calling stackful task while there is none;
 * the _until form gives up with -ETIMEDOUT. -EPERM from a thread that is
 * not a stackful task (use vs_sem_try_wait).
 */
VS_WARN_UNUSED int vs_sem_wait(struct vs_sem *sem);
VS_WARN_UNUSED int vs_sem_wait_until(struct vs_sem *sem, uint64_t deadline_ns);

/* Takes one unit if there is one; from anywhere. -EAGAIN if there is none. */
VS_WARN_UNUSED int vs_sem_try_wait(struct vs_sem *sem);

/* Adds one unit and wakes a waiter; from anywhere. -EOVERFLOW at INT_MAX. */
int vs_sem_post(struct vs_sem *sem);

/* The units available at this instant; -EINVAL for NULL. */
int vs_sem_value(struct vs_sem *sem);

/*
 * A bounded multi-producer multi-consumer channel of fixed-size elements,
 * copied in and out: a lock-free ring, FIFO overall (so per sender); a
 * send or receive that need not wait takes no lock and wakes nobody
 * unless somebody waits. Blocking forms from stackful tasks, *_poll
 * forms from stackless ones, try forms and close from anywhere.
 */
typedef struct vs_chan vs_chan_t;

/*
 * Creates a channel holding up to @capacity elements of @elem_size bytes.
 * -EINVAL for a zero size or capacity, a capacity above 2^31 (or a size
 * that overflows), -ENOMEM.
 */
VS_WARN_UNUSED int vs_chan_create(size_t elem_size, size_t capacity, vs_chan_t **out);

/* Frees @ch (NULL is fine). Nobody may be using or waiting on it. */
void vs_chan_destroy(vs_chan_t *ch);

/*
 * Copies *@elem into @ch, blocking the calling stackful task while the
 * channel is full. -EPIPE once it is closed (also for a sender blocked
 * when it closes: the element is not sent), -EPERM from a thread that is
 * not a stackful task.
 */
VS_WARN_UNUSED int vs_chan_send(vs_chan_t *ch, const void *elem);

/*
 * Takes the oldest element into *@elem, blocking the calling stackful
 * task while the channel is empty. Elements sent before close are still
 * received; -EPIPE once it is closed and empty. -EPERM as for send.
 */
VS_WARN_UNUSED int vs_chan_recv(vs_chan_t *ch, void *elem);

/*
 * As send and recv, but giving up with -ETIMEDOUT once @deadline_ns has
 * passed (a deadline already past: only if it can be done at once).
 */
VS_WARN_UNUSED int vs_chan_send_until(vs_chan_t *ch, const void *elem, uint64_t deadline_ns);
VS_WARN_UNUSED int vs_chan_recv_until(vs_chan_t *ch, void *elem, uint64_t deadline_ns);

/* As send and recv, from anywhere, but -EAGAIN where they would block. */
VS_WARN_UNUSED int vs_chan_try_send(vs_chan_t *ch, const void *elem);
VS_WARN_UNUSED int vs_chan_try_recv(vs_chan_t *ch, void *elem);

/*
 * The stackless forms: 0 once done (or -EPIPE as above, -ETIMEDOUT once
 * @deadline_ns has passed), else -EAGAIN after registering the calling
 * stackless task to be woken when it may succeed. -EPERM outside a
 * stackless task, -EBUSY if it is already waiting elsewhere.
 */
VS_WARN_UNUSED int vs_chan_send_poll(vs_chan_t *ch, const void *elem);
VS_WARN_UNUSED int vs_chan_recv_poll(vs_chan_t *ch, void *elem);
VS_WARN_UNUSED int vs_chan_send_until_poll(vs_chan_t *ch, const void *elem,
					   uint64_t deadline_ns);
VS_WARN_UNUSED int vs_chan_recv_until_poll(vs_chan_t *ch, void *elem, uint64_t deadline_ns);

/*
 * Closes @ch: later sends get -EPIPE, receives drain what is left then
 * get -EPIPE, and every blocked sender and receiver is woken. From
 * anywhere. -EPIPE if it was already closed.
 */
int vs_chan_close(vs_chan_t *ch);

#ifdef __cplusplus
}
#endif

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The wait protocol (wait.c) every blocking call follows.
 */
#ifndef VS_RUNTIME_WAIT_H
#define VS_RUNTIME_WAIT_H

#include "rt.h"

/*
 * The kinds of wait. Each says how a timer or the canceller ends a wait of
 * its kind, which it may do only while the task is blocked in it (pinned:
 * rt_wait_fire). A new kind (an I/O operation that only its completion may
 * end, whose fire starts an asynchronous cancel and returns false) is a
 * new entry in rt_wait_kinds, with the other kinds untouched.
 */
enum { RT_WAIT_DIRECT = 0, RT_WAIT_QUEUE = 1, RT_WAIT_IO = 2, RT_WAIT_NKINDS };

struct rt_wait_kind {
	/* Ends pinned, blocked @t's wait for @why (RT_WHY_*), if it still
	 * can: true if the caller must then wake @t. */
	bool (*fire)(struct vs_task *t, uint8_t why);
};

extern const struct rt_wait_kind rt_wait_kinds[RT_WAIT_NKINDS];

/* The number of @me's current (or next) wait. */
static inline uint32_t rt_wait_seq(struct vs_task *me)
{
	return (uint32_t)(atomic_load_explicit(&me->wword, memory_order_relaxed) >> 32);
}
/* Begins a wait of @me on @wq (locked): queued, last or (@front) first.
 * A stackful task then parks (rt_park, which marks it blocked), a
 * stackless one marks itself blocked (rt_mark_blocked) before the lock
 * goes. */
void rt_wait_queue_locked(struct vs_task *me, struct vs_wq *wq, bool front);
/* Begins a direct wait of @me (sleep, join), claimed by whoever ends it
 * with rt_wait_claim; then as above. */
void rt_wait_direct(struct vs_task *me);
/* Claims @t's direct wait: true if the caller must wake @t. */
bool rt_wait_claim(struct vs_task *t);
/* Ends the wait of @me once it runs again: 0 if notified, -ETIMEDOUT or
 * -ECANCELED. */
int rt_wait_end(struct vs_task *me);
/* The error a wait ended for @why (RT_WHY_*) returns; 0 if notified. */
int rt_why_err(uint8_t why);
/* How @me's last ended wait ended, again (as rt_wait_end returned). */
int rt_wait_result(const struct vs_task *me);
/* Ends @t's wait number @seq for @why (a timer, the canceller), if @t is
 * still blocked in it. True if @t is in that wait but not blocked yet
 * (the caller must try again later). The caller holds a reference on @t. */
bool rt_wait_fire(struct vs_task *t, uint32_t seq, uint8_t why);
/* Cancels every blocked task's wait (stop with VS_STOP_CANCEL). */
void rt_wait_cancel_all(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Time (timer.c): the clock and the per-CPU timer heaps.
 */
#ifndef VS_RUNTIME_TIMER_H
#define VS_RUNTIME_TIMER_H

#include "rt.h"

uint64_t rt_now(void);
/* Fires the due timers of @c (its own thread), at every switch: a peek at
 * the earliest deadline first. */
void rt_timers_poll_slow(struct rt_cpu *c, uint64_t nt);
static inline void rt_timers_poll(struct rt_cpu *c)
{
	uint64_t nt = atomic_load_explicit(&c->next_timer, memory_order_relaxed);

	if (nt)
		rt_timers_poll_slow(c, nt);
}
/* An idle CPU @self fires the due timers of the others (*@fired says if
 * it did); returns the earliest deadline left on any CPU (0: none), to
 * sleep until. */
uint64_t rt_timers_help(struct rt_cpu *self, bool *fired);
/* Arms a timer on @c that ends @t's current wait at @deadline, if @t is
 * still in it then (takes a reference on @t). */
int rt_timer_arm(struct rt_cpu *c, struct vs_task *t, uint64_t deadline);
/*
 * Before a wait of @me on @c (the caller's CPU) that ends at @deadline
 * (VS_NEVER: none): -ECANCELED if @cancelable and the runtime is
 * cancelling, -ETIMEDOUT if the deadline has passed, else 0 once its timer
 * is armed (or -ENOMEM). The timer fires once @me is off the CPU, by
 * another CPU sooner, but then it is kept until @me is (wait.c).
 */
int rt_wait_begin(struct rt_cpu *c, struct vs_task *me, uint64_t deadline, bool cancelable);
/* Drops @c's timers (at stop). */
void rt_timers_fini(struct rt_cpu *c);

#endif

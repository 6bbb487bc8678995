/* SPDX-License-Identifier: MIT */
/*
 * Park and ready (park.c): the only caller of the core's switching calls.
 */
#ifndef VS_RUNTIME_PARK_H
#define VS_RUNTIME_PARK_H

#include "rt.h"

/* The resume hook every switch returns through: releases what the task
 * that parked left locked, reclaims an exited task, fires timers; returns
 * the CPU now running @me. */
struct rt_cpu *rt_after_switch(struct vs_task *me);
/* TSan (nothing in other builds): the thread of @c leaves its task for its
 * transit fiber before the core switches it; the context resumed by the
 * core tells TSan it is @me's first thing, before instrumented code runs.
 * So a task never is current on two threads at once in TSan's view, even
 * while another CPU resumes it as soon as the core lets it. */
#ifdef __SANITIZE_THREAD__
void rt_tsan_leave(struct rt_cpu *c);
void rt_tsan_resume(struct vs_task *me);
#else
static inline void rt_tsan_leave(struct rt_cpu *c)
{
	(void)c;
}

static inline void rt_tsan_resume(struct vs_task *me)
{
	(void)me;
}
#endif
/* Marks the running (stackless) task of @c blocked; the core writes it. */
void rt_mark_blocked(struct rt_cpu *c);
/* Marks @me, running on @c, blocked and leaves @c; @unlock(@arg) runs
 * once @me is off it. Returns @me's CPU once it runs again. */
struct rt_cpu *rt_park(struct rt_cpu *c, struct vs_task *me, void (*unlock)(void *), void *arg);
int rt_migrate(struct rt_cpu *c, struct vs_task *me, uint32_t cpu);
/* From the preemption handler: off the CPU, back later on this thread. */
void rt_preempt(struct rt_cpu *c, struct vs_task *me);
/* Marks @me exited and leaves the CPU for good. */
void rt_exit_cpu(struct rt_cpu *c, struct vs_task *me);
/* The idle task looks for work; true if it ran some. */
bool rt_idle_switch(struct rt_cpu *c);
/* A stackless task's poll is over: @done (exited), else blocked or ready
 * to be polled again. */
int rt_poll_leave(struct rt_cpu *c, struct vs_task *t, bool done);
/* Makes a blocked @t ready: on the caller's CPU to run next (@handoff,
 * for notify_one), else on the CPU it last ran on. */
void rt_wake(struct vs_task *t, bool handoff);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Park and ready: the only file that calls the core's switching entry
 * points. A task parks through one call, which leaves the CPU and releases
 * the caller's lock only once the task is off it (Go's gopark(unlockf)), so
 * a waker that takes the lock can only find a task whose context is saved;
 * rt_wake makes one ready (goready). Every resume point, whatever task or
 * idle loop it is on, goes through rt_after_switch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"
#include "cpu.h"
#include "park.h"
#include "timer.h"
#include "task.h"
#include "domain.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef __SANITIZE_THREAD__
RT_NO_TSAN void rt_tsan_leave(struct rt_cpu *c)
{
	__tsan_switch_to_fiber(c->tsan_transit, 0);
}

RT_NO_TSAN void rt_tsan_resume(struct vs_task *me)
{
	void *f = me->tsan_fiber;

	if (f && f != __tsan_get_current_fiber())
		__tsan_switch_to_fiber(f, 0);
	/* what whoever readied it did before (tsan.h) */
	__tsan_acquire(me);
}
#endif

struct rt_cpu *rt_after_switch(struct vs_task *me)
{
	struct rt_cpu *c = rt_self();
	vsched_ref_t prev = VSCHED_REF_NONE;
	void (*unlock)(void *) = c->unlock;
	int st;

#ifdef __SANITIZE_ADDRESS__
	/* tell ASan which stack it is on now (the switch happened in the
	 * uninstrumented core, which could not say where it went) */
	if (me->stack_lo) {
		void *fake = NULL;

		__sanitizer_start_switch_fiber(&fake, me->stack_lo, me->stack_len);
		__sanitizer_finish_switch_fiber(fake, NULL, NULL);
	}
#endif
	/* the lock of the task that parked to get here: first, as what
	 * follows (timers) may take it */
	if (unlock) {
		c->unlock = NULL;
		unlock(c->unlock_arg);
	}
	/* the run that just ended, checked here rather than through prev:
	 * prev may already be running, or freed, on another CPU */
	if (me->stk)
		rt_stack_check(me->stk, me->name);
	if (rt_g->ttimes)
		rt_tt_arrive(c, me);
	if (__builtin_expect(rt_g->trace, 0))
		rt_trace_switch(c, me);
	__atomic_store_n(&c->cur, me, __ATOMIC_RELAXED); /* the ticking thread reads it */
	rt_drain_kicks(c);
	/* a domain member's CPU that other members wait for (one load of a
	 * line they seldom write, and only in a domain) */
	if (__builtin_expect(c->dheld, 0) && !c->ddue && vsd_cpu_contended(rt_g->cfg.domain, c->dcpu))
		rt_dom_check(c);
	/* the state prev had as it left, not now: a task that left blocked
	 * may already have been woken, run and exited on another CPU, which
	 * then reclaims it; only one that left exited is ours to reclaim */
	st = vsched_take_prev_task(c->id, &prev);
	rt_must(st, "take_prev_task");
	if (prev) {
		struct vsched_task *pi = rt_inner(prev);

		if (st == VSCHED_TASK_EXITED) {
			if (pi->owner == rt_g->owner)
				rt_task_reclaim(c, rt_rec(prev));
		} else if (st == VSCHED_TASK_READY) {
			uint32_t to = atomic_load_explicit(&pi->cpu, memory_order_relaxed);

			if (to != c->id && to < rt_g->ncpus)
				rt_kick(to); /* migrated: it could only be queued
					      * there, not announced, until it was
					      * off this CPU */
		}
	}
	/* timers, bells and I/O last: waking tasks is for after prev is off
	 * this CPU */
	rt_timers_poll(c);
	/* a member's: other members' changes to objects its tasks wait on */
	if (__builtin_expect(c->dcpu != NULL, 0)) {
		if (vsd_rung(rt_g->cfg.domain))
			vsd_serve(rt_g->cfg.domain);
		/* kicks put off a member slice ago go now */
		if (atomic_load_explicit(&rt_g->cfg.domain->pend, memory_order_relaxed))
			vsd_flush_due(rt_g->cfg.domain, rt_now());
	}
	if (c->io_flags)
		rt_g->parker->tick(c);
	return c;
}

void rt_mark_blocked(struct rt_cpu *c)
{
	rt_tsan_release(c->cur); /* the core's release of BLOCKED */
	rt_must(vsched_mark_current(c->id, VSCHED_TASK_BLOCKED), "marking a task blocked");
}

struct rt_cpu *rt_park(struct rt_cpu *c, struct vs_task *me, void (*unlock)(void *),
			       void *arg)
{
	c->unlock = unlock;
	c->unlock_arg = arg;
	if (rt_g->ttimes)
		rt_tt_leave(c, me, false);
	RT_TRACE(RT_TE_BLOCK, rt_ref(me), 0, me->wkind, NULL);
	rt_tsan_release(me); /* the core's release of BLOCKED */
	/* marked blocked by the core on the way out: whoever could end the
	 * wait either needs the lock held until we are off (a notifier, a
	 * joinee), or finds us not blocked yet and tries again later (a timer
	 * fired by an idle CPU, the canceller; wait.c) */
	rt_tsan_leave(c);
	rt_must(vsched_park(c->id, VSCHED_TASK_BLOCKED), "parking a task");
	rt_tsan_resume(me);
	return rt_after_switch(me);
}

int vs_task_yield(void)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!me || me->stackless || me->idle)
		return -EPERM;
	rt_stat_inc(&c->st.yields);
	if (rt_g->ttimes)
		rt_tt_leave(c, me, true);
	rt_tsan_leave(c);
	r = vsched_yield_now(c->id);
	rt_tsan_resume(me);
	rt_after_switch(me);
	return r;
}

int rt_migrate(struct rt_cpu *c, struct vs_task *me, uint32_t cpu)
{
	int r;

	if (rt_g->ttimes)
		rt_tt_leave(c, me, true);
	rt_tsan_leave(c);
	r = vsched_migrate_entry(c->id, cpu);
	rt_tsan_resume(me);
	rt_after_switch(me);
	return r;
}

void rt_preempt(struct rt_cpu *c, struct vs_task *me)
{
	int r;

	if (rt_g->ttimes)
		rt_tt_leave(c, me, true);
	rt_tsan_leave(c);
	r = vsched_preempt_current(c->id);
	rt_tsan_resume(me);
	if (r != 0 && rt_g->ttimes)
		rt_tt_arrive(c, me); /* not switched out: on it goes */
	if (r == 0) {
		rt_stat_inc(&rt_self()->st.preempts);
		RT_TRACE(RT_TE_PREEMPT, rt_ref(me), 0, 0, NULL);
		c = rt_after_switch(me);
		/* a slice ran out: a CPU this busy seldom switches, so the I/O
		 * backend gets its turn now, not only every so many switches */
		if (c->io_flags)
			(void)rt_g->parker->poll(c);
	}
}

void rt_exit_cpu(struct rt_cpu *c, struct vs_task *me)
{
	if (rt_g->ttimes)
		rt_tt_leave(c, me, false);
	RT_TRACE(RT_TE_EXIT, rt_ref(me), 0, 0, NULL);
	rt_tsan_leave(c);
	rt_must(vsched_park(c->id, VSCHED_TASK_EXITED), "leaving an exited task");
	fprintf(stderr, "vsched: exited task '%s' was resumed\n", me->name);
	abort();
}

bool rt_idle_switch(struct rt_cpu *c)
{
	uint64_t sw = atomic_load_explicit(&c->core->nr_switches, memory_order_relaxed);
	uint64_t st = atomic_load_explicit(&c->core->nr_steals, memory_order_relaxed);

	rt_tsan_leave(c);
	rt_must(vsched_yield_now(c->id), "idle yield");
	rt_tsan_resume(c->idle);
	if (__builtin_expect(rt_g->trace, 0) &&
	    atomic_load_explicit(&c->core->nr_steals, memory_order_relaxed) != st)
		rt_trace_emit(RT_TE_STEAL, 0, 0,
			      (uint32_t)(atomic_load_explicit(&c->core->nr_steals,
							      memory_order_relaxed) - st), NULL);
	/* a pick that found nothing to run may still have put a stolen task
	 * back for a CPU that sleeps: wake it now, as this CPU may park next
	 * (a switch drains them too, in rt_after_switch) */
	rt_drain_kicks(c);
	return atomic_load_explicit(&c->core->nr_switches, memory_order_relaxed) != sw;
}

int rt_poll_leave(struct rt_cpu *c, struct vs_task *t, bool done)
{
	struct vs_task *idle = c->idle;
	bool again = false;
	int r;

	if (done) {
		rt_must(vsched_mark_current(c->id, VSCHED_TASK_EXITED), "marking a task exited");
	} else {
		again = atomic_load_explicit(&rt_slot(t)->state, memory_order_relaxed) ==
			VSCHED_TASK_RUNNING;
		rt_tsan_release(t); /* its next poll may be on another CPU's fiber */
	}
	/* exited, blocked, or already woken: leave it; else poll it again later */
	rt_tsan_leave(c);
	r = again ? vsched_yield_f(c->id) : vsched_resched_f(c->id);
	/* back on the idle context, maybe after stackful tasks ran */
	rt_tsan_resume(idle);
	return r;
}

void rt_wake(struct vs_task *t, bool handoff)
{
	struct rt_cpu *c = rt_self();
	uint32_t src = c ? c->id : VSCHED_CPU_NONE;
	uint32_t dst = atomic_load_explicit(&rt_slot(t)->cpu, memory_order_relaxed);
	uint32_t flags = 0;
	vsched_ref_t ref = rt_ref(t);
	int r;

	if (handoff && c) {
		/* Go's runnext: the woken task runs next here, cache-hot (the
		 * core moves it to a CPU its affinity allows if need be) */
		dst = c->id;
		flags = VSCHED_WAKE_NEXT;
	}
	if (dst >= rt_g->ncpus)
		dst = 0;
	/* a waker that loses the race to another writes a moment late: the
	 * task's ready time is that much short (and a running task's ready_at
	 * is written anew before it is read) */
	if (rt_g->ttimes)
		rt_tt_ready(t);
	/* from here on @t may run, exit and be reclaimed: use only copies */
	rt_tsan_release(t);
	r = vsched_unblock_task(dst, ref, flags, src);
	rt_must(r, "unblock");
	if (r != 1)
		return;
	/* where it landed (a hint: it may already run, even be gone) */
	dst = atomic_load_explicit(&rt_inner(ref)->cpu, memory_order_relaxed);
	if (!c)
		atomic_fetch_add_explicit(&rt_g->outside.wakes_remote, 1, memory_order_relaxed);
	else
		rt_stat_inc(dst == src ? &c->st.wakes_local : &c->st.wakes_remote);
	RT_TRACE(RT_TE_WAKE, ref, c && c->cur && !c->cur->idle ? rt_ref(c->cur) : 0, 0, NULL);
	if (dst >= rt_g->ncpus)
		return;
	if (dst != src)
		rt_kick(dst);
	else
		rt_wake_idle(src);
}

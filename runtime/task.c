/* SPDX-License-Identifier: MIT */
/*
 * Tasks: spawn (stackful and stackless), exit, join, detach, the resume
 * hook run after every switch (take the previous task, reclaim it if it
 * exited) and the dispatcher that polls stackless tasks on the idle stack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "rt.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

void rt_task_put(struct vs_task *t)
{
	/* acq_rel: the last one out sees every write of the others */
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

static void reclaim(struct rt_cpu *c, struct vs_task *t)
{
	rt_stack_check(&t->stack, t->name); /* its last run: it never resumes */
	rt_stack_put(c, &t->stack);
	rt_must(vsched_task_free(c->id, t->ref), "freeing an exited task");
	rt_task_put(t);
	if (atomic_fetch_sub_explicit(&rt_g->live, 1, memory_order_acq_rel) == 1)
		vs_wq_notify_all(&rt_g->live_wq);
}

struct rt_cpu *rt_after_switch(struct vs_task *me)
{
	struct rt_cpu *c = rt_self();
	vsched_ref_t prev = VSCHED_REF_NONE;
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
	/* the run that just ended, checked here rather than through prev:
	 * prev may already be running, or freed, on another CPU */
	rt_stack_check(&me->stack, me->name);
	c->cur = me;
	rt_drain_kicks(c);
	/* the state prev had as it left, not now: a task that left blocked
	 * may already have been woken, run and exited on another CPU, which
	 * then reclaims it; only one that left exited is ours to reclaim */
	st = vsched_take_prev_task(c->id, &prev);
	rt_must(st, "take_prev_task");
	if (prev) {
		struct vsched_task *pi = rt_inner(prev);

		if (st == VSCHED_TASK_EXITED) {
			if (pi->owner == rt_g->owner && pi->ext)
				reclaim(c, (struct vs_task *)(uintptr_t)pi->ext);
		} else if (st == VSCHED_TASK_READY) {
			uint32_t to = atomic_load_explicit(&pi->cpu, memory_order_relaxed);

			if (to != c->id && to < rt_g->ncpus)
				rt_kick(to); /* migrated: it could only be queued
					      * there, not announced, until it was
					      * off this CPU */
		}
	}
	/* timers last: waking tasks is for after prev is off this CPU */
	rt_timers_poll(c);
	return c;
}

static void task_entry(void *arg)
{
	struct vs_task *t = arg;

	rt_after_switch(t);
	(void)vs_task_exit(t->fn(t->arg));
	abort(); /* only the boot task cannot exit, and it never starts here */
}

struct vs_task *rt_task_new(bool stackless, const struct vs_task_attr *attr, int *err)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *t = calloc(1, sizeof(*t));
	size_t size = attr && attr->stack_size ? attr->stack_size : rt_g->cfg.stack_size;

	if (!t) {
		*err = -ENOMEM;
		return NULL;
	}
	t->stackless = stackless;
	atomic_init(&t->refs, 2);
	vs_wq_init(&t->join_wq);
	if (attr && attr->name)
		snprintf(t->name, sizeof(t->name), "%s", attr->name);
	if (!stackless) {
		int r = rt_stack_get(c, size, &t->stack);

		if (r < 0) {
			free(t);
			*err = r;
			return NULL;
		}
		t->stack_lo = t->stack.lo;
		t->stack_len = t->stack.size;
	}
	return t;
}

static void task_destroy(struct vs_task *t)
{
	rt_stack_put(rt_self(), &t->stack);
	free(t);
}

static bool allows(uint64_t affinity, unsigned cpu)
{
	return vsched_affinity_allows(affinity, cpu);
}

/* The least-loaded CPU @affinity allows (there is one: attr_ok checked). */
static int least_loaded(uint64_t affinity)
{
	uint64_t best_load = UINT64_MAX;
	int best = 0;

	for (unsigned i = 0; i < rt_g->ncpus; i++) {
		uint64_t load;

		if (!allows(affinity, i))
			continue;
		load = rt_cpu_load(i);
		if (load < best_load) {
			best_load = load;
			best = (int)i;
		}
	}
	return best;
}

/* Where a new task starts: the least-loaded allowed CPU if asked; else the
 * CPU asked for; else the spawning CPU if the affinity allows it. */
static int place(const struct vs_task_attr *attr, struct rt_cpu *c)
{
	uint64_t aff = attr ? attr->affinity : 0;
	int self = c ? (int)c->id : 0;

	if (attr && attr->balance)
		return least_loaded(aff); /* wins over cpu: { .balance = 1 } works */
	if (attr && attr->cpu >= 0)
		return attr->cpu;
	if (!allows(aff, (unsigned)self))
		return least_loaded(aff);
	return self;
}

static int task_start(struct vs_task *t, const struct vs_task_attr *attr, vs_task_t **out)
{
	struct rt_cpu *c = rt_self();
	struct vsched_task_desc d = {
		.kind = t->stackless ? VSCHED_KIND_STACKLESS : VSCHED_KIND_STACKFUL,
		.owner = rt_g->owner,
		.ext = (uint64_t)(uintptr_t)t,
	};
	int cpu = place(attr, c);
	int r;

	d.affinity = attr ? attr->affinity : 0;
	d.prio = attr ? attr->priority : 0;
	if (!t->stackless) {
		d.ctx_sp = vs_ctx_init(t->stack_lo, t->stack_len, task_entry, t);
		if (!d.ctx_sp) {
			task_destroy(t);
			return -EINVAL;
		}
	}
	r = vsched_task_alloc(c ? c->id : VSCHED_CPU_NONE, &d, &t->ref);
	if (r < 0) {
		task_destroy(t);
		return r;
	}
	t->inner = rt_inner(t->ref);
	atomic_fetch_add_explicit(&rt_g->live, 1, memory_order_relaxed);
	*out = t; /* before spawn: the task may run (and look itself up) at once */
	r = vsched_spawn((uint32_t)cpu, t->ref);
	if (r < 0) {
		*out = NULL;
		rt_must(vsched_task_free(c ? c->id : VSCHED_CPU_NONE, t->ref), "task_free");
		atomic_fetch_sub_explicit(&rt_g->live, 1, memory_order_relaxed);
		task_destroy(t);
		return r;
	}
	if (!c || (uint32_t)cpu != c->id)
		rt_kick((uint32_t)cpu);
	else
		rt_wake_idle(c->id); /* an idle CPU may steal it */
	return 0;
}

static int attr_ok(const struct vs_task_attr *attr)
{
	if (!attr)
		return 1;
	uint64_t usable = rt_g->ncpus >= 64 ? ~0ull : (1ull << rt_g->ncpus) - 1;

	if (attr->cpu < -1 || (attr->cpu >= 0 && (unsigned)attr->cpu >= rt_g->ncpus))
		return 0;
	if (attr->stack_size && attr->stack_size < 16384)
		return 0;
	/* the mask must name a CPU this runtime has, and the CPU asked for */
	if (attr->affinity && !(attr->affinity & usable))
		return 0;
	if (attr->cpu >= 0 && !allows(attr->affinity, (unsigned)attr->cpu))
		return 0;
	if (attr->priority < -20 || attr->priority > 19)
		return 0;
	return 1;
}

/* The checks and allocation both spawn forms share; NULL with *err set. */
static struct vs_task *spawn_new(bool stackless, bool has_body, const struct vs_task_attr *attr,
				 vs_task_t **out, int *err)
{
	if (!rt_g) {
		*err = -EPERM;
		return NULL;
	}
	if (!has_body || !out || !attr_ok(attr)) {
		*err = -EINVAL;
		return NULL;
	}
	return rt_task_new(stackless, attr, err);
}

int vs_task_spawn(vs_task_fn fn, void *arg, const struct vs_task_attr *attr, vs_task_t **out)
{
	int err = 0;
	struct vs_task *t = spawn_new(false, fn != NULL, attr, out, &err);

	if (!t)
		return err;
	t->fn = fn;
	t->arg = arg;
	return task_start(t, attr, out);
}

int vs_task_spawn_poll(vs_poll_fn poll, void *state, const struct vs_task_attr *attr,
		       vs_task_t **out)
{
	int err = 0;
	struct vs_task *t = spawn_new(true, poll != NULL, attr, out, &err);

	if (!t)
		return err;
	t->poll = poll;
	t->state = state;
	return task_start(t, attr, out);
}

vs_task_t *vs_task_self(void)
{
	struct rt_cpu *c = rt_self();

	return c && c->cur && !c->cur->idle ? c->cur : NULL;
}

int vs_cpu_self(void)
{
	struct rt_cpu *c = rt_self();

	return c ? (int)c->id : -1;
}

const char *vs_task_name(const vs_task_t *t)
{
	return t ? t->name : "";
}

int vs_task_yield(void)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!me || me->stackless || me->idle)
		return -EPERM;
	r = vsched_yield_now(c->id);
	rt_after_switch(me);
	return r;
}

int vs_task_migrate(int cpu)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!me || me->stackless || me->idle || me->boot)
		return -EPERM;
	if (cpu < 0 || (unsigned)cpu >= rt_g->ncpus)
		return -EINVAL;
	r = vsched_migrate_entry(c->id, (uint32_t)cpu);
	rt_after_switch(me);
	return r;
}

/* Records the exit and wakes the joiners; the caller then leaves the CPU. */
static void task_finish(struct vs_task *t, int code)
{
	rt_wq_lock(&t->join_wq);
	t->exit_code = code;
	t->done = true;
	rt_wq_unlock(&t->join_wq);
	vs_wq_notify_all(&t->join_wq);
	atomic_store_explicit(&t->inner->state, VSCHED_TASK_EXITED, memory_order_release);
}

int vs_task_exit(int code)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;

	if (!me || me->stackless || me->idle || me->boot)
		return -EPERM;
	task_finish(me, code);
	rt_must(vsched_resched(c->id), "resched of an exited task");
	fprintf(stderr, "vsched: exited task '%s' was resumed\n", me->name);
	abort();
}

/* Takes the handle of @t for joiner @me; -EINVAL if it was given up. */
static int claim(struct vs_task *t, struct vs_task *me)
{
	if (t->handle == HANDLE_DETACHED ||
	    (t->handle == HANDLE_JOINING && t->joiner != me))
		return -EINVAL;
	t->handle = HANDLE_JOINING;
	t->joiner = me;
	return 0;
}

int vs_task_join(vs_task_t *t, int *code)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!t || !code)
		return -EINVAL;
	if (!me || me->stackless || me->idle)
		return -EPERM;
	if (t == me)
		return -EDEADLK;
	if (t->boot)
		return -EINVAL;
	rt_wq_lock(&t->join_wq);
	r = claim(t, me);
	if (r < 0) {
		rt_wq_unlock(&t->join_wq);
		return r;
	}
	while (!t->done) {
		rt_wq_block_locked(&t->join_wq, c);
		c = rt_self();
		rt_wq_lock(&t->join_wq);
	}
	rt_wq_unlock(&t->join_wq);
	*code = t->exit_code;
	rt_task_put(t);
	return 0;
}

int vs_task_join_poll(vs_task_t *t, int *code)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r;

	if (!t || !code)
		return -EINVAL;
	if (!me || !me->stackless)
		return -EPERM;
	if (t == me)
		return -EDEADLK;
	if (t->boot)
		return -EINVAL;
	rt_wq_lock(&t->join_wq);
	r = claim(t, me);
	if (r < 0) {
		rt_wq_unlock(&t->join_wq);
		return r;
	}
	if (t->done) {
		rt_wq_unlock(&t->join_wq);
		*code = t->exit_code;
		rt_task_put(t);
		return 0;
	}
	/* queued under the lock task_finish sets done under: not missed */
	r = rt_wq_park_poll_locked(&t->join_wq, me);
	rt_wq_unlock(&t->join_wq);
	return r < 0 ? r : -EAGAIN;
}

int vs_task_detach(vs_task_t *t)
{
	if (!t || t->boot)
		return -EINVAL;
	rt_wq_lock(&t->join_wq);
	if (t->handle != HANDLE_HELD) {
		rt_wq_unlock(&t->join_wq);
		return -EINVAL;
	}
	t->handle = HANDLE_DETACHED;
	rt_wq_unlock(&t->join_wq);
	rt_task_put(t);
	return 0;
}

/* Runs stackless tasks while one is current; returns when idle is. */
void rt_dispatch(struct rt_cpu *c)
{
	for (;;) {
		vsched_ref_t cur = VSCHED_REF_NONE;
		struct vsched_task *ti;
		struct vs_task *t;
		int code = 0, r;

		rt_must(vsched_current(c->id, &cur), "current");
		ti = rt_inner(cur);
		if (ti->flags & VSCHED_TF_IDLE)
			return;
		t = (struct vs_task *)(uintptr_t)ti->ext;
		c->cur = t;
		if (t->poll(t->state, &code) == VS_READY) {
			task_finish(t, code);
			r = vsched_resched_f(c->id);
		} else if (atomic_load_explicit(&ti->state, memory_order_relaxed) ==
			   VSCHED_TASK_RUNNING) {
			r = vsched_yield_f(c->id);
		} else {
			r = vsched_resched_f(c->id); /* blocked, or already woken */
		}
		rt_must(r, "stackless dispatch");
		c = rt_after_switch(c->idle);
	}
}

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
#include "cpu.h"
#include "park.h"
#include "wait.h"
#include "timer.h"
#include "wq.h"
#include "task.h"


void rt_task_put(struct vs_task *t)
{
	/* acq_rel: the last one out sees every write of the others */
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
		struct rt_cpu *c = rt_self();
		vsched_ref_t ref = rt_ref(t);

		/* the slot frees the record with it: a new task may take both */
		rt_tsan_release(t);
		rt_must(vsched_task_free(c ? c->id : VSCHED_CPU_NONE, ref), "freeing a task");
	}
}

bool rt_task_tryget(struct vs_task *t)
{
	uint32_t r = atomic_load_explicit(&t->refs, memory_order_relaxed);

	/* acquire: pairs with the release that publishes a new record */
	do {
		if (!r)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&t->refs, &r, r + 1, memory_order_acquire,
							memory_order_relaxed));
	return true;
}

/* Gives back the stack of @t (its descriptor lives on it: copy it out). */
static void stack_release(struct rt_cpu *c, struct vs_task *t)
{
	struct rt_stack st;

	if (!t->stk)
		return;
	st = *t->stk;
	t->stk = NULL;
	rt_stack_put(c, &st);
}

void rt_task_reclaim(struct rt_cpu *c, struct vs_task *t)
{
	if (t->stk) {
		rt_stack_check(t->stk, t->name); /* its last run: it never resumes */
#ifdef __SANITIZE_THREAD__
		rt_tsan_fiber_free(t->tsan_fiber);
#endif
	}
	stack_release(c, t);
	rt_task_put(t);
	if (atomic_fetch_sub_explicit(&rt_g->live, 1, memory_order_acq_rel) == 1)
		vs_wq_notify_all(&rt_g->live_wq);
}

/* Records the exit and wakes the joiner; the caller then leaves the CPU,
 * marked exited (park.c). */
static void task_finish(struct vs_task *t, int code)
{
	struct vs_task *j;
	bool wake = false;

	rt_lock_flag(&t->jlock);
	t->exit_code = code;
	t->done = true;
	j = t->joiner;
	/* under jlock: a joiner that gave up (cancelled, timed out) is
	 * unregistered under it too, so this never claims a later wait of
	 * its */
	if (j)
		wake = rt_wait_claim(j);
	rt_unlock_flag(&t->jlock);
	if (wake)
		rt_wake(j, true);
}

__attribute__((noreturn)) static void task_run(struct vs_task *t)
{
	rt_after_switch(t);
	t->started = true;
	/* a task that never ran before its runtime began cancelling never
	 * runs: it exits as if it had returned -ECANCELED */
	(void)vs_task_exit(rt_cancelled() ? -ECANCELED : t->fn(t->arg));
	abort(); /* only the boot task cannot exit, and it never starts here */
}

/* A new task's first code: which it is, from the core, then (TSan) whose
 * fiber this is, before anything instrumented. */
RT_NO_TSAN static void task_entry(void *arg)
{
	vsched_ref_t ref = VSCHED_REF_NONE;
	struct vs_task *t;

	(void)arg;
	if (vsched_current(rt_self()->id, &ref) < 0)
		abort();
	t = rt_g->recs + VSCHED_REF_IDX(ref);
	rt_tsan_resume(t);
	task_run(t);
}

/* Fills a fresh record for slot @ref. */
static struct vs_task *rec_init(vsched_ref_t ref, bool stackless, const char *name, uint32_t refs)
{
	struct vs_task *t = rt_rec(ref);

	size_t i = 0;

	/* the core's part is the core's: it wrote it at alloc. The name is
	 * written a byte at a time, atomically: VSCHED_SCHEDTRACE's thread
	 * may read an old task's name there meanwhile (stats.c) */
	memset((char *)t + offsetof(struct vs_task, gen), 0,
	       offsetof(struct vs_task, name) - offsetof(struct vs_task, gen));
	memset((char *)t + offsetof(struct vs_task, name) + sizeof(t->name), 0,
	       sizeof(*t) - offsetof(struct vs_task, name) - sizeof(t->name));
	t->gen = VSCHED_REF_GEN(ref);
	t->stackless = stackless;
	__atomic_clear(&t->jlock, __ATOMIC_RELAXED);
	for (; name && name[i] && i + 1 < sizeof(t->name); i++)
		__atomic_store_n(&t->name[i], name[i], __ATOMIC_RELAXED);
	for (; i < sizeof(t->name); i++)
		__atomic_store_n(&t->name[i], 0, __ATOMIC_RELAXED);
	/* release: a tryget that sees the count sees the record */
	atomic_store_explicit(&t->refs, refs, memory_order_release);
	return t;
}

struct vs_task *rt_task_create(bool stackless, const struct vs_task_attr *attr,
			       void (*entry)(void *), void *arg, int *err)
{
	struct rt_cpu *c = rt_self();
	size_t size = attr && attr->stack_size ? attr->stack_size : rt_g->cfg.stack_size;
	struct vsched_task_desc d = {
		.kind = stackless ? VSCHED_KIND_STACKLESS : VSCHED_KIND_STACKFUL,
		.owner = rt_g->owner,
		.affinity = attr ? attr->affinity : 0,
		.prio = attr ? attr->priority : 0,
		/* a CPU asked for is where it first runs: no other steals it */
		.flags = attr && attr->place == VS_PLACE_CPU ? VSCHED_TF_STAY : 0,
	};
	struct rt_stack st = { 0 }, *stk = NULL;
	struct vs_task *t;
	vsched_ref_t ref;
	size_t len = 0;

	if (!stackless) {
		*err = rt_stack_get(c, size, &st);
		if (*err < 0)
			return NULL;
		/* the descriptor at the top, the usable stack below it */
		stk = (struct rt_stack *)(((uintptr_t)st.lo + st.size - sizeof(*stk)) & ~(uintptr_t)63);
		len = (size_t)((char *)stk - (char *)st.lo);
		*stk = st;
		d.ctx_sp = vs_ctx_init(st.lo, len, entry, arg);
		if (!d.ctx_sp) {
			rt_stack_put(c, &st);
			*err = -EINVAL;
			return NULL;
		}
	}
	*err = vsched_task_alloc(c ? c->id : VSCHED_CPU_NONE, &d, &ref);
	if (*err < 0) {
		if (stk)
			rt_stack_put(c, &st);
		return NULL;
	}
	rt_tsan_acquire(rt_rec(ref)); /* freed, maybe by another thread */
	t = rec_init(ref, stackless, attr ? attr->name : NULL, 2);
	t->preemptible = !stackless && attr && attr->preemptible;
	t->stk = stk;
#ifdef __SANITIZE_ADDRESS__
	t->stack_lo = st.lo;
	t->stack_len = len;
#endif
#ifdef __SANITIZE_THREAD__
	if (stk)
		t->tsan_fiber = rt_tsan_fiber_new();
#endif
	return t;
}

struct vs_task *rt_task_create_thread(bool boot, int *err)
{
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKFUL, .owner = rt_g->owner };
	struct vs_task *t;
	vsched_ref_t ref;
#ifdef __SANITIZE_ADDRESS__
	pthread_attr_t a;
	void *lo = NULL;
	size_t len = 0;
#endif

	/* the first task is the process's main thread: it stays on CPU 0,
	 * whose thread it is, so stop (and main's return) happen there */
	if (boot)
		d.affinity = 1;
	*err = vsched_task_alloc(VSCHED_CPU_NONE, &d, &ref);
	if (*err < 0)
		return NULL;
	rt_tsan_acquire(rt_rec(ref));
	t = rec_init(ref, false, boot ? "main" : "idle", 1);
	t->boot = boot;
	t->idle = !boot;
	t->started = true;
#ifdef __SANITIZE_THREAD__
	t->tsan_fiber = rt_tsan_fiber_self(); /* the thread's own */
#endif
#ifdef __SANITIZE_ADDRESS__
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &lo, &len) == 0) {
			t->stack_lo = lo;
			t->stack_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
		}
		pthread_attr_destroy(&a);
	}
#endif
	return t;
}

void rt_task_destroy(struct vs_task *t)
{
#ifdef __SANITIZE_THREAD__
	if (t->stk)
		rt_tsan_fiber_free(t->tsan_fiber);
#endif
	vsched_ref_t ref = rt_ref(t);

	stack_release(rt_self(), t);
	atomic_store_explicit(&t->refs, 0, memory_order_relaxed);
	rt_tsan_release(t);
	rt_must(vsched_task_free(rt_self() ? rt_self()->id : VSCHED_CPU_NONE, ref),
		"freeing a task never spawned");
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

	if (attr && attr->place == VS_PLACE_BALANCE)
		return least_loaded(aff);
	if (attr && attr->place == VS_PLACE_CPU)
		return attr->cpu;
	if (!allows(aff, (unsigned)self))
		return least_loaded(aff);
	return self;
}

static int task_start(struct vs_task *t, const struct vs_task_attr *attr, vs_task_t **out)
{
	struct rt_cpu *c = rt_self();
	int cpu = place(attr, c);
	vs_task_t *was = *out;
	int r;

	atomic_fetch_add_explicit(&rt_g->live, 1, memory_order_relaxed);
	if (rt_g->ttimes) {
		rt_tt_clear(t);
		rt_tt_ready(t);
	}
	*out = t; /* before spawn: the task may run (and look itself up) at once */
	rt_tsan_release(t);
	r = vsched_spawn((uint32_t)cpu, rt_ref(t));
	if (r < 0) {
		*out = was; /* as it was: a failed call changes nothing */
		atomic_fetch_sub_explicit(&rt_g->live, 1, memory_order_relaxed);
		rt_task_destroy(t);
		return r;
	}
	RT_STAT_ANY(spawns);
	RT_TRACE(RT_TE_SPAWN, rt_ref(t), 0, 0, t->name);
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

	/* a CPU given without VS_PLACE_CPU would be ignored: refused */
	if ((unsigned)attr->place > VS_PLACE_BALANCE ||
	    (attr->place == VS_PLACE_CPU ? attr->cpu < 0 || (unsigned)attr->cpu >= rt_g->ncpus
					 : attr->cpu != 0))
		return 0;
	if (attr->stack_size && attr->stack_size < 16384)
		return 0;
	/* the mask must name a CPU this runtime has, and the CPU asked for */
	if (attr->affinity && !(attr->affinity & usable))
		return 0;
	if (attr->place == VS_PLACE_CPU && !allows(attr->affinity, (unsigned)attr->cpu))
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
	if (rt_cancelled()) {
		*err = -ECANCELED;
		return NULL;
	}
	return rt_task_create(stackless, attr, task_entry, NULL, err);
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
	return rt_task_self_entry(); /* a call of its own: no switch follows */
}

int vs_cpu_self(void)
{
	struct rt_cpu *c = rt_self();

	return c ? (int)c->id : -1;
}

int vs_task_set_priority(vs_task_t *t, int priority)
{
	struct rt_cpu *c = rt_self();

	if (!rt_g)
		return -EPERM;
	if (!t || priority < -20 || priority > 19)
		return -EINVAL;
	return vsched_set_priority(c ? c->id : 0, rt_ref(t), priority);
}

const char *vs_task_name(const vs_task_t *t)
{
	return t ? t->name : "";
}

int vs_task_migrate(int cpu)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;

	if (!me || me->stackless || me->idle || me->boot)
		return -EPERM;
	if (cpu < 0 || (unsigned)cpu >= rt_g->ncpus)
		return -EINVAL;
	return rt_migrate(c, me, (uint32_t)cpu);
}

int vs_task_exit(int code)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;

	if (!me || me->stackless || me->idle || me->boot)
		return -EPERM;
	task_finish(me, code);
	rt_exit_cpu(c, me);
	return 0; /* not reached */
}

/* Takes the handle of @t for joiner @me; -EINVAL if it was given up. */
static int claim(struct vs_task *t, struct vs_task *me)
{
	if (t->handle == HANDLE_DETACHED || t->handle == HANDLE_JOINED ||
	    (t->handle == HANDLE_JOINING && t->joiner != me))
		return -EINVAL;
	t->handle = HANDLE_JOINING;
	t->joiner = me;
	return 0;
}

/* Gives the handle back after a join that gave up (jlock held). */
static void unclaim(struct vs_task *t)
{
	t->joiner = NULL;
	t->handle = HANDLE_HELD;
}

/* The checks both join forms share: 0 if @me may join @t. */
static int join_check(const struct vs_task *t, const struct vs_task *me, bool stackless)
{
	if (!t)
		return -EINVAL;
	if (!me || me->idle || me->stackless != stackless)
		return -EPERM;
	if (t == me)
		return -EDEADLK;
	if (t->boot)
		return -EINVAL;
	return 0;
}

/* Takes the exit code of @t, done (jlock held, released here). */
static int join_done(struct vs_task *t, int *code)
{
	if (code)
		*code = t->exit_code;
	t->handle = HANDLE_JOINED; /* a second join is refused */
	rt_unlock_flag(&t->jlock);
	rt_task_put(t);
	return 0;
}

int vs_task_join_until(vs_task_t *t, int *code, uint64_t deadline_ns)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r = join_check(t, me, false);

	if (r < 0)
		return r;
	rt_lock_flag(&t->jlock);
	r = claim(t, me);
	if (r < 0) {
		rt_unlock_flag(&t->jlock);
		return r;
	}
	while (!t->done) {
		r = rt_wait_begin(c, me, deadline_ns, true);
		if (r < 0) {
			unclaim(t); /* @t stays valid */
			rt_unlock_flag(&t->jlock);
			return r;
		}
		/* blocked under the lock task_finish claims us under,
		 * which is released once we are off the CPU */
		rt_wait_direct(me);
		c = rt_park(c, me, rt_unlock_flag_cb, &t->jlock);
		(void)rt_wait_end(me); /* done, timed out or cancelled: the loop decides */
		rt_lock_flag(&t->jlock);
	}
	return join_done(t, code);
}

int vs_task_join(vs_task_t *t, int *code)
{
	return vs_task_join_until(t, code, VS_NEVER);
}

int vs_task_join_until_poll(vs_task_t *t, int *code, uint64_t deadline_ns)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *me = c ? c->cur : NULL;
	int r = join_check(t, me, true);

	if (r < 0)
		return r;
	if (me->in_wait)
		return -EBUSY;
	rt_lock_flag(&t->jlock);
	r = claim(t, me);
	if (r < 0) {
		rt_unlock_flag(&t->jlock);
		return r;
	}
	if (t->done)
		return join_done(t, code);
	r = rt_wait_begin(c, me, deadline_ns, true);
	if (r == 0) {
		me->in_wait = RT_IN_WAIT;
		rt_wait_direct(me);
		rt_mark_blocked(c);
		r = -EAGAIN;
	} else {
		unclaim(t); /* @t stays valid */
	}
	rt_unlock_flag(&t->jlock);
	return r;
}

int vs_task_join_poll(vs_task_t *t, int *code)
{
	return vs_task_join_until_poll(t, code, VS_NEVER);
}

int vs_task_detach(vs_task_t *t)
{
	if (!t || t->boot)
		return -EINVAL;
	rt_lock_flag(&t->jlock);
	if (t->handle != HANDLE_HELD) {
		rt_unlock_flag(&t->jlock);
		return -EINVAL;
	}
	t->handle = HANDLE_DETACHED;
	rt_unlock_flag(&t->jlock);
	rt_task_put(t);
	return 0;
}

/* Polls stackless @t once; returns the core's verdict of the switch. */
static int poll_once(struct rt_cpu *c, struct vs_task *t)
{
	int code = 0;

	rt_tsan_acquire(t);
	if (rt_g->ttimes)
		rt_tt_arrive(c, t);
	if (__builtin_expect(rt_g->trace, 0))
		rt_trace_switch(c, t);
	/* this poll is the one the end of its wait brought: a plain wait's
	 * poll form reports how it ended (wq.c) */
	t->wended = t->in_wait;
	if (t->in_wait) {
		t->in_wait = 0;
		(void)rt_wait_end(t);
	}
	if (!t->started) {
		t->started = true;
		if (rt_cancelled()) {
			task_finish(t, -ECANCELED); /* never polled */
			return rt_poll_leave(c, t, true);
		}
	}
	if (t->poll(t->state, &code) == VS_READY) {
		if (rt_g->ttimes)
			rt_tt_leave(c, t, false);
		RT_TRACE(RT_TE_EXIT, rt_ref(t), 0, 0, NULL);
		task_finish(t, code);
		return rt_poll_leave(c, t, true);
	}
	/* pending: waiting if a wait call registered it, else yielding */
	if (rt_g->ttimes)
		rt_tt_leave(c, t, !t->in_wait);
	if (t->in_wait)
		RT_TRACE(RT_TE_BLOCK, rt_ref(t), 0, t->wkind, NULL);
	return rt_poll_leave(c, t, false);
}

/* Runs stackless tasks while one is current; returns when idle is. */
void rt_dispatch(struct rt_cpu *c)
{
	for (;;) {
		vsched_ref_t cur = VSCHED_REF_NONE;
		struct vs_task *t;

		rt_must(vsched_current(c->id, &cur), "current");
		if (rt_inner(cur)->flags & VSCHED_TF_IDLE)
			return;
		t = rt_rec(cur);
		__atomic_store_n(&c->cur, t, __ATOMIC_RELAXED);
		rt_must(poll_once(c, t), "stackless dispatch");
		c = rt_after_switch(c->idle);
	}
}

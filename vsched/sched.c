/* SPDX-License-Identifier: MIT */
/*
 * The state machine: init, spawn, yield, resched, switch_to, unblock and
 * migrate, and the context switch with its on_cpu handshake.
 *
 * Task states:  NEW --spawn--> READY --pick--> RUNNING --yield--> READY
 *               RUNNING --(runtime marks)--> BLOCKED --unblock--> READY
 *               RUNNING --(runtime marks)--> EXITED --take_prev+free--> FREE
 *
 * on_cpu: set by the CPU that switches to a task, cleared (release) once the
 * task's context has been saved by the switch away from it. A CPU about to
 * resume a task first waits (acquire) for on_cpu to be clear, so a task
 * woken or stolen while still leaving another CPU is never run twice.
 *
 * A stackless task has no context of its own: it runs on its CPU's idle
 * context ("holder"), so switching between two of them, or between one and
 * the idle task, moves no registers at all.
 */
#include "core.h"
#include "arch/switch.h"

struct vsched_cpu *cpu_get(struct vsched_vvar *h, uint32_t cpu_id)
{
	struct vsched_cpu *c;

	if (unlikely(cpu_id >= HDR.ncpus))
		return 0;
	c = core_cpus(h) + cpu_id;
	/* acquire: pairs with the release at the end of sched_init_cpu */
	if (unlikely(atomic_load_explicit(&core_pcpus(h)[cpu_id].online, memory_order_acquire) !=
		     2))
		return 0;
	return c;
}

/* The task @c runs, from its private record. */
static struct vsched_task *cur_of(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return task_at(h, VSCHED_REF_IDX(atomic_load_explicit(&cpu_priv(h, c)->current,
							      memory_order_relaxed)));
}

static struct vsched_task *idle_of(struct vsched_vvar *h, struct vsched_cpu *c)
{
	return task_at(h, VSCHED_REF_IDX(cpu_priv(h, c)->idle));
}

static bool is_idle(struct vsched_vvar *h, const struct vsched_task *t)
{
	return task_priv(h, t)->idle;
}

static bool is_stackless(struct vsched_vvar *h, const struct vsched_task *t)
{
	return task_priv(h, t)->kind == VSCHED_KIND_STACKLESS;
}

/* A stackful task with no context to resume (a thread not yet a task). */
static bool no_context(struct vsched_vvar *h, const struct vsched_task *t)
{
	return !is_stackless(h, t) && task_priv(h, t)->ctx_sp == 0;
}

/* The task whose stack a task runs on: itself, or its CPU's idle task. */
static struct vsched_task *holder(struct vsched_vvar *h, struct vsched_cpu *c,
				  struct vsched_task *t)
{
	return is_stackless(h, t) ? idle_of(h, c) : t;
}

/*
 * The state @t leaves its CPU in, as the runtime is told it: EXITED exactly
 * when its private record says it exited (the runtime frees what left
 * exited: a shared slot that claims it must not make it free a live task),
 * else the slot's state, or BLOCKED if the slot holds no state at all.
 */
static uint32_t leaving_state(struct vsched_vvar *h, const struct vsched_task *t)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);

	if (!atomic_load_explicit(&task_priv(h, t)->live, memory_order_relaxed))
		return VSCHED_TASK_EXITED;
	return st == VSCHED_TASK_READY || st == VSCHED_TASK_RUNNING ? st : VSCHED_TASK_BLOCKED;
}

/* Makes @ref current on @c: the private record, and the copy readers see. */
static void set_current(struct vsched_vvar *h, struct vsched_cpu *c, vsched_ref_t ref)
{
	atomic_store_explicit(&cpu_priv(h, c)->current, ref, memory_order_relaxed);
	atomic_store_explicit(&c->current, ref, memory_order_relaxed);
}

/*
 * STAY pins a queued task to the CPU in ->cpu (rq_may_run). Only the CPU
 * running the task sets it, before queuing it (the ring's release publishes
 * it), and only the CPU that switches to it clears it, after claiming it:
 * one writer at a time. Relaxed atomics: stealers read it concurrently.
 */
static void stay_set(struct vsched_task *t)
{
	__atomic_store_n(&t->flags, (uint8_t)(__atomic_load_n(&t->flags, __ATOMIC_RELAXED) |
					      VSCHED_TF_STAY), __ATOMIC_RELAXED);
}

static void stay_clear(struct vsched_task *t)
{
	uint8_t f = __atomic_load_n(&t->flags, __ATOMIC_RELAXED);

	if (unlikely(f & VSCHED_TF_STAY))
		__atomic_store_n(&t->flags, (uint8_t)(f & ~VSCHED_TF_STAY), __ATOMIC_RELAXED);
}

static void clear_on_cpu(struct vsched_vvar *h, vsched_ref_t ref)
{
	uint32_t idx = VSCHED_REF_IDX(ref);

	/* release: the saved context (stack and ctx_sp) is complete before
	 * anyone who sees on_cpu == 0 resumes the task */
	if (likely(idx < HDR.ntasks))
		atomic_store_explicit(&core_tpriv(h, idx)->on_cpu, 0, memory_order_release);
}

/* How long a picker waits for a task still leaving another CPU before
 * putting it back and looking further: the core cannot yield the thread,
 * and the other CPU's thread may have been preempted mid-switch. */
#define SETTLE_SPINS 512
#define PICK_TRIES 4
#define PICK_WAIT_ROUNDS 4096

/* Waits a little for no other CPU to be leaving @t; true once none is. */
static bool on_cpu_settled(struct vsched_vvar *h, struct vsched_task *t)
{
	struct vsched_task_priv *p = task_priv(h, t);

	for (int i = 0; i < SETTLE_SPINS; i++) {
		/* acquire: pairs with clear_on_cpu on the CPU that ran it last,
		 * so its saved context is complete before we load it */
		if (!atomic_load_explicit(&p->on_cpu, memory_order_acquire))
			return true;
		cpu_relax();
	}
	return false;
}

/* Waits until no other CPU is still leaving @t, then claims it. */
static void claim_on_cpu(struct vsched_vvar *h, struct vsched_task *t)
{
	while (!on_cpu_settled(h, t))
		;
	/* relaxed: only the CPU that popped or claimed @t writes 1 */
	atomic_store_explicit(&task_priv(h, t)->on_cpu, 1, memory_order_relaxed);
}

/*
 * The next task for @c, @cur included (it may have queued itself). A task
 * still being switched away from elsewhere goes back to the tail: the CPU
 * takes another, or its idle task, rather than spin.
 */
static struct vsched_task *pick_next(struct vsched_vvar *h, struct vsched_cpu *c,
				     struct vsched_task *cur)
{
	/* lent to another member of a domain: its idle context hands it over
	 * (a private line this switch touches anyway) */
	if (unlikely(cpu_priv(h, c)->foreign))
		return idle_of(h, c);
	for (int i = 0; i < PICK_TRIES; i++) {
		struct vsched_task *t = policy_pick(h, c);

		if (!t)
			break;
		if (t == cur || on_cpu_settled(h, t))
			return t;
		/* no room to put it back (the global ring holds the whole table,
		 * so only a corrupt shared part does that): wait for it a while
		 * longer instead, and drop it if it is still running then */
		if (policy_enqueue(h, c, t, 0) < 0) {
			for (int k = 0; k < PICK_WAIT_ROUNDS; k++)
				if (on_cpu_settled(h, t))
					return t;
			break;
		}
	}
	return idle_of(h, c);
}

/*
 * Makes @next current on @c in place of @prev and moves the CPU onto the
 * context of next's holder. Returns once prev's holder is resumed, which
 * may be on another CPU.
 */
/*
 * Clears the on_cpu of this CPU's last switched-away-from task, once: a
 * second clear could wipe the claim of another CPU that has taken the task
 * since (by stealing or a wake-up) and runs it. Owner thread only.
 */
static void settle_prev(struct vsched_vvar *h, struct vsched_cpu_priv *cp)
{
	vsched_ref_t p = atomic_load_explicit(&cp->prev, memory_order_relaxed);

	if (p && !cp->prev_settled) {
		clear_on_cpu(h, p);
		cp->prev_settled = 1;
	}
}

/*
 * Makes @next current on @c in place of @prev and moves the CPU onto the
 * context of next's holder. Returns once prev's holder is resumed, which
 * may be on another CPU.
 */
static void context_switch(struct vsched_vvar *h, struct vsched_cpu *c,
			   struct vsched_task *prev, struct vsched_task *next)
{
	struct vsched_task *from = holder(h, c, prev);
	struct vsched_task *to = holder(h, c, next);
	struct vsched_task_priv *fp = task_priv(h, from), *np = task_priv(h, next);
	uint32_t id = cpu_index(h, c);
	struct vsched_cpu_priv *cp = core_pcpus(h) + id;

	/* a prev the runtime did not take yet is long off this CPU */
	settle_prev(h, cp);
	claim_on_cpu(h, next);
	stay_clear(next);
	atomic_store_explicit(&next->cpu, id, memory_order_relaxed);
	atomic_store_explicit(&np->run_cpu, id, memory_order_relaxed);
	atomic_store_explicit(&next->need_resched, 0, memory_order_relaxed);
	atomic_store_explicit(&next->state, VSCHED_TASK_RUNNING, memory_order_relaxed);
	atomic_store_explicit(&cp->prev, task_ref(h, prev), memory_order_relaxed);
	cp->prev_settled = 0;
	/* whether it leaves exited is settled now: only a task itself makes
	 * itself EXITED, and nothing makes an exited task run again, so this
	 * is the only CPU that may reclaim it */
	cp->prev_state = leaving_state(h, prev);
	set_current(h, c, task_ref(h, next));
	/* one writer (this CPU's thread): a load and a store, not an RMW;
	 * readers elsewhere see some recent count */
	atomic_store_explicit(&c->nr_switches,
			      atomic_load_explicit(&c->nr_switches, memory_order_relaxed) + 1,
			      memory_order_relaxed);

	if (from == to) {
		/* stackless hand-off: nothing to save, prev is off the CPU now */
		settle_prev(h, cp);
		return;
	}
	vsched_arch_switch(&fp->ctx_sp, task_priv(h, to)->ctx_sp);

	/*
	 * Resumed in from's context (fp is from's, kept across the switch),
	 * on the CPU that switched to it: an idle task never leaves its CPU; a
	 * stackful task learns its CPU from the resumer, which stored it in
	 * its private run_cpu before switching (same thread, so program order
	 * suffices).
	 */
	if (!fp->idle)
		cp = core_pcpus(h) + atomic_load_explicit(&fp->run_cpu, memory_order_relaxed);
	settle_prev(h, cp);
}

/* Switches from the current task @cur to the next one picked. */
static void schedule(struct vsched_vvar *h, struct vsched_cpu *c, struct vsched_task *cur)
{
	struct vsched_task *next = pick_next(h, c, cur);

	if (next == cur) {
		/* woken (or re-queued) before it left: keep running */
		stay_clear(cur);
		atomic_store_explicit(&cur->cpu, cpu_index(h, c), memory_order_relaxed);
		atomic_store_explicit(&cur->state, VSCHED_TASK_RUNNING, memory_order_relaxed);
		return;
	}
	context_switch(h, c, cur, next);
}

int sched_init_cpu(struct vsched_vvar *h, uint32_t cpu_id, vsched_ref_t idle_ref,
		   vsched_ref_t boot_ref, bool primary)
{
	struct vsched_shared *g = glob(h);
	struct vsched_task *idle, *boot = 0;
	struct vsched_cpu_priv *cp;
	struct vsched_cpu *c;
	uint32_t zero = 0;

	if (!vvar_geometry_ok(h))
		return -VSCHED_ENODEV;
	if (cpu_id >= HDR.ncpus)
		return -VSCHED_EINVAL;
	idle = task_get(h, idle_ref);
	if (!idle)
		return -VSCHED_ESRCH;
	if (is_stackless(h, idle) ||
	    atomic_load_explicit(&idle->state, memory_order_relaxed) != VSCHED_TASK_NEW)
		return -VSCHED_EINVAL;
	if (primary) {
		boot = task_get(h, boot_ref);
		if (!boot)
			return -VSCHED_ESRCH;
		if (boot == idle || is_stackless(h, boot) ||
		    atomic_load_explicit(&boot->state, memory_order_relaxed) != VSCHED_TASK_NEW ||
		    no_context(h, idle))
			return -VSCHED_EINVAL;
	} else if (atomic_load_explicit(&g->formatted, memory_order_acquire) != 2) {
		return -VSCHED_EAGAIN; /* the primary comes first */
	}
	c = core_cpus(h) + cpu_id;
	cp = cpu_priv(h, c);
	if (primary && !atomic_compare_exchange_strong(&g->formatted, &zero, 1))
		return -VSCHED_EBUSY;
	zero = 0;
	if (!atomic_compare_exchange_strong(&cp->online, &zero, 1)) {
		if (primary)
			atomic_store(&g->formatted, 0);
		return -VSCHED_EBUSY;
	}

	c->cpu_id = cpu_id;
	cp->idle = idle_ref;
	c->schedtick = 0;
	if (HDR.policy != VSCHED_POLICY_FIFO)
		atomic_store_explicit(&c->exec_start, core_clock(h), memory_order_relaxed);
	atomic_store_explicit(&cp->prev, VSCHED_REF_NONE, memory_order_relaxed);
	cp->prev_settled = 1;
	task_priv(h, idle)->idle = 1;
	/* live: it leaves its CPU in any state but EXITED (it never exits) */
	atomic_store_explicit(&task_priv(h, idle)->live, 1, memory_order_relaxed);
	idle->flags |= VSCHED_TF_IDLE;
	atomic_store_explicit(&idle->cpu, cpu_id, memory_order_relaxed);
	atomic_store_explicit(&task_priv(h, idle)->run_cpu, cpu_id, memory_order_relaxed);
	if (primary) {
		/* the caller's own context becomes the boot task; idle waits */
		atomic_store_explicit(&idle->state, VSCHED_TASK_READY, memory_order_relaxed);
		atomic_store_explicit(&boot->cpu, cpu_id, memory_order_relaxed);
		atomic_store_explicit(&task_priv(h, boot)->run_cpu, cpu_id, memory_order_relaxed);
		atomic_store_explicit(&task_priv(h, boot)->on_cpu, 1, memory_order_relaxed);
		atomic_store_explicit(&task_priv(h, boot)->live, 1, memory_order_relaxed);
		atomic_store_explicit(&boot->state, VSCHED_TASK_RUNNING, memory_order_relaxed);
		set_current(h, c, boot_ref);
	} else {
		atomic_store_explicit(&task_priv(h, idle)->on_cpu, 1, memory_order_relaxed);
		atomic_store_explicit(&idle->state, VSCHED_TASK_RUNNING, memory_order_relaxed);
		set_current(h, c, idle_ref);
	}
	/* release: the CPU's fields are complete before anyone sees it online */
	atomic_store_explicit(&c->online, 2, memory_order_relaxed);
	atomic_store_explicit(&cp->online, 2, memory_order_release);
	if (primary)
		atomic_store_explicit(&g->formatted, 2, memory_order_release);
	return 0;
}

int sched_spawn(struct vsched_vvar *h, uint32_t cpu_id, vsched_ref_t ref)
{
	struct vsched_cpu *c = cpu_get(h, cpu_id);
	struct vsched_task *t = task_get(h, ref);
	uint32_t st = VSCHED_TASK_NEW;
	int r;

	if (!c)
		return -VSCHED_EINVAL;
	if (!t)
		return -VSCHED_ESRCH;
	if (is_idle(h, t) || no_context(h, t) ||
	    !vsched_affinity_allows(t->affinity, cpu_id))
		return -VSCHED_EINVAL;
	if (!atomic_compare_exchange_strong_explicit(&t->state, &st, VSCHED_TASK_READY,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return -VSCHED_EINVAL;
	atomic_store_explicit(&t->cpu, cpu_id, memory_order_relaxed);
	/* relaxed: the ring's release publishes it to the picker */
	atomic_store_explicit(&task_priv(h, t)->live, 1, memory_order_relaxed);
	r = policy_enqueue(h, c, t, 0);
	if (r < 0) {
		atomic_store_explicit(&task_priv(h, t)->live, 0, memory_order_relaxed);
		atomic_store_explicit(&t->state, VSCHED_TASK_NEW, memory_order_relaxed);
	}
	return r;
}

int sched_yield(struct vsched_vvar *h, struct vsched_cpu *c, bool stackless, bool preempt)
{
	struct vsched_task *cur = cur_of(h, c);
	int r;

	if (!cur)
		return -VSCHED_EINVAL;
	if (!is_idle(h, cur)) {
		if (is_stackless(h, cur) != stackless ||
		    atomic_load_explicit(&cur->state, memory_order_relaxed) != VSCHED_TASK_RUNNING)
			return -VSCHED_EINVAL;
		policy_account(h, c, cur);
		atomic_store_explicit(&cur->state, VSCHED_TASK_READY, memory_order_relaxed);
		/* preempted at any instruction: it resumes on this thread */
		if (preempt)
			stay_set(cur);
		r = policy_enqueue(h, c, cur, preempt ? ENQ_PREEMPT : 0);
		if (r < 0) {
			stay_clear(cur);
			atomic_store_explicit(&cur->state, VSCHED_TASK_RUNNING,
					      memory_order_relaxed);
			return r;
		}
	} else {
		policy_account(h, c, cur);
	}
	schedule(h, c, cur);
	return 0;
}

int sched_resched(struct vsched_vvar *h, struct vsched_cpu *c, bool stackless)
{
	struct vsched_task *cur = cur_of(h, c);

	if (!cur)
		return -VSCHED_EINVAL;
	if (!is_idle(h, cur)) {
		uint32_t st = atomic_load_explicit(&cur->state, memory_order_relaxed);

		if (is_stackless(h, cur) != stackless)
			return -VSCHED_EINVAL;
		/* the runtime marks it blocked or exited first; a concurrent
		 * unblock may already have made it ready again */
		if (st != VSCHED_TASK_BLOCKED && st != VSCHED_TASK_EXITED &&
		    st != VSCHED_TASK_READY)
			return -VSCHED_EINVAL;
	}
	policy_account(h, c, cur);
	schedule(h, c, cur);
	return 0;
}

int sched_switch_to(struct vsched_vvar *h, struct vsched_cpu *c, vsched_ref_t prev_ref,
		    vsched_ref_t next_ref)
{
	struct vsched_task *cur = cur_of(h, c);
	struct vsched_task *next = task_get(h, next_ref);
	uint32_t st;
	int r;

	if (!cur ||
	    prev_ref != atomic_load_explicit(&cpu_priv(h, c)->current, memory_order_relaxed))
		return -VSCHED_EINVAL;
	if (!next)
		return -VSCHED_ESRCH;
	if (next == cur || is_idle(h, next) || no_context(h, next))
		return -VSCHED_EINVAL;
	if (cpu_priv(h, c)->foreign)
		return -VSCHED_EBUSY; /* another member's CPU: nothing runs */
	/* only a task in no queue can be run directly: a new or blocked one,
	 * not still leaving another CPU */
	st = atomic_load_explicit(&next->state, memory_order_relaxed);
	if (st == VSCHED_TASK_BLOCKED && !atomic_load_explicit(&task_priv(h, next)->live,
							      memory_order_relaxed))
		return -VSCHED_EINVAL;
	if (!on_cpu_settled(h, next))
		return -VSCHED_EBUSY;
	if ((st != VSCHED_TASK_NEW && st != VSCHED_TASK_BLOCKED) ||
	    !atomic_compare_exchange_strong_explicit(&next->state, &st, VSCHED_TASK_RUNNING,
						     memory_order_acquire,
						     memory_order_relaxed))
		return -VSCHED_EINVAL;
	atomic_store_explicit(&task_priv(h, next)->live, 1, memory_order_relaxed);
	policy_account(h, c, cur);
	if (!is_idle(h, cur) &&
	    atomic_load_explicit(&cur->state, memory_order_relaxed) == VSCHED_TASK_RUNNING) {
		atomic_store_explicit(&cur->state, VSCHED_TASK_READY, memory_order_relaxed);
		r = policy_enqueue(h, c, cur, 0);
		if (r < 0) {
			atomic_store_explicit(&cur->state, VSCHED_TASK_RUNNING,
					      memory_order_relaxed);
			atomic_store_explicit(&next->state, st, memory_order_relaxed);
			if (st == VSCHED_TASK_NEW)
				atomic_store_explicit(&task_priv(h, next)->live, 0,
						      memory_order_relaxed);
			return r;
		}
	}
	context_switch(h, c, cur, next);
	return 0;
}

/* @want if @t may run there, else the first online CPU it may run on. */
static struct vsched_cpu *allowed_cpu(struct vsched_vvar *h, struct vsched_task *t,
				      struct vsched_cpu *want)
{
	if (vsched_affinity_allows(t->affinity, cpu_index(h, want)))
		return want;
	for (uint32_t i = 0; i < HDR.ncpus && i < 64; i++) {
		struct vsched_cpu *c = cpu_get(h, i);

		if (c && vsched_affinity_allows(t->affinity, i))
			return c;
	}
	return 0;
}

int sched_unblock(struct vsched_vvar *h, uint32_t dst, vsched_ref_t ref, uint32_t flags,
		  uint32_t src)
{
	struct vsched_cpu *dc = cpu_get(h, dst);
	struct vsched_task *t = task_get(h, ref);
	uint32_t st = VSCHED_TASK_BLOCKED;
	int r;

	if (!dc || (flags & ~(VSCHED_WAKE_RESCHED | VSCHED_WAKE_NEXT)) ||
	    (src != VSCHED_CPU_NONE && src >= HDR.ncpus))
		return -VSCHED_EINVAL;
	if (!t)
		return -VSCHED_ESRCH;
	/* the shared copy of the idle flag: a waker does not touch the task's
	 * private line, which its last CPU holds (an idle task is never
	 * BLOCKED anyway, and a pick checks the private flag) */
	if (__atomic_load_n(&t->flags, __ATOMIC_RELAXED) & VSCHED_TF_IDLE)
		return -VSCHED_EINVAL;
	/* a waker need not know the task's affinity: it lands where it may */
	dc = allowed_cpu(h, t, dc);
	if (!dc)
		return -VSCHED_EINVAL;
	/* acq_rel: whoever wins the wake-up sees the blocker's writes, and
	 * the pick that resumes it sees ours */
	if (!atomic_compare_exchange_strong_explicit(&t->state, &st, VSCHED_TASK_READY,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return 0; /* not blocked: woken already, or never slept */
	atomic_store_explicit(&t->cpu, cpu_index(h, dc), memory_order_relaxed);
	r = policy_enqueue(h, dc, t, (flags & VSCHED_WAKE_NEXT) ? ENQ_NEXT : 0);
	if (r < 0) {
		atomic_store_explicit(&t->state, VSCHED_TASK_BLOCKED, memory_order_relaxed);
		return r;
	}
	if ((flags & VSCHED_WAKE_RESCHED) && src == cpu_index(h, dc)) {
		struct vsched_task *cur = cur_of(h, dc);

		if (cur)
			atomic_store_explicit(&cur->need_resched, 1, memory_order_relaxed);
	}
	return 1;
}

int sched_migrate(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t dst)
{
	struct vsched_cpu *dc = cpu_get(h, dst);
	struct vsched_task *cur = cur_of(h, c);
	int r;

	if (!dc || !cur || is_idle(h, cur) || is_stackless(h, cur) ||
	    atomic_load_explicit(&cur->state, memory_order_relaxed) != VSCHED_TASK_RUNNING ||
	    !vsched_affinity_allows(cur->affinity, dst))
		return -VSCHED_EINVAL;
	if (dc == c)
		return 0;
	policy_account(h, c, cur);
	atomic_store_explicit(&cur->state, VSCHED_TASK_READY, memory_order_relaxed);
	atomic_store_explicit(&cur->cpu, dst, memory_order_relaxed);
	/* queued on dst right away: dst waits on on_cpu until we are off; never
	 * spilled to the global ring, and STAY, so that no other CPU (this
	 * one, idle once we leave, least of all) steals it before dst runs it */
	stay_set(cur);
	r = policy_enqueue(h, dc, cur, ENQ_LOCAL);
	if (r < 0) {
		stay_clear(cur);
		atomic_store_explicit(&cur->state, VSCHED_TASK_RUNNING, memory_order_relaxed);
		atomic_store_explicit(&cur->cpu, cpu_index(h, c), memory_order_relaxed);
		return r;
	}
	schedule(h, c, cur);
	return 0;
}

static int mark(struct vsched_vvar *h, struct vsched_task *cur, uint32_t state)
{
	if (!cur || is_idle(h, cur) ||
	    (state != VSCHED_TASK_BLOCKED && state != VSCHED_TASK_EXITED) ||
	    atomic_load_explicit(&cur->state, memory_order_relaxed) != VSCHED_TASK_RUNNING)
		return -VSCHED_EINVAL;
	/* an exited task is never run from a queue again, whatever a shared
	 * slot may say later */
	if (state == VSCHED_TASK_EXITED)
		atomic_store_explicit(&task_priv(h, cur)->live, 0, memory_order_relaxed);
	/* release: a waker that reads BLOCKED (acquire) sees what the task
	 * wrote before, such as where it waits */
	atomic_store_explicit(&cur->state, state, memory_order_release);
	return 0;
}

int sched_mark_current(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t state)
{
	return mark(h, cur_of(h, c), state);
}

int sched_park(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t state)
{
	struct vsched_task *cur = cur_of(h, c);
	int r;

	if (cur && is_stackless(h, cur))
		return -VSCHED_EINVAL;
	r = mark(h, cur, state);
	if (r < 0)
		return r;
	policy_account(h, c, cur);
	schedule(h, c, cur);
	return 0;
}

vsched_ref_t sched_take_prev(struct vsched_vvar *h, struct vsched_cpu *c, uint32_t *state)
{
	struct vsched_cpu_priv *cp = cpu_priv(h, c);
	vsched_ref_t p;

	settle_prev(h, cp); /* a new task's first resume: not settled yet */
	/* only this CPU's thread reads or writes prev: no RMW needed */
	p = atomic_load_explicit(&cp->prev, memory_order_relaxed);
	atomic_store_explicit(&cp->prev, VSCHED_REF_NONE, memory_order_relaxed);
	*state = p ? cp->prev_state : VSCHED_TASK_FREE;
	return p;
}

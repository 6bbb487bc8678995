/* SPDX-License-Identifier: MIT */
/*
 * Mutex (one atomic op uncontended, hand-off to the oldest waiter when
 * contended), condition variable (a sequence count) and semaphore, all
 * sleeping on wait queues so that they block tasks, not CPUs.
 */
#include <errno.h>
#include <limits.h>

#include "rt.h"
#include "vsched/sync.h"
#include "park.h"
#include "timer.h"
#include "wq.h"

#define MUTEX_WAITERS ((uintptr_t)1)
#define MUTEX_STARVING ((uintptr_t)4)
#define MUTEX_FLAGS (MUTEX_WAITERS | MUTEX_STARVING)
/* A waiter that has waited this long turns the mutex to hand-off. */
#define MUTEX_STARVE_NS 1000000u

/* The calling stackful task, or NULL from anything else; read before
 * any switch (rt_self_entry) */
static struct vs_task *stackful_self(void)
{
	struct vs_task *t = rt_task_self_entry();

	return t && !t->stackless ? t : NULL;
}

/*
 * Who holds a mutex, never 0 and with bits 0 and 2 clear (the flags). A
 * task (it may move between threads) by its generation-tagged reference,
 * which no later task reusing its slot and record has: gen << 32 |
 * index << 3 | 2 (the index is below 2^28). A plain thread by the address
 * of a thread-local word, 8-aligned, so bit 1 tells the two apart.
 */
#define HOLDER_TASK ((uintptr_t)2)

static uintptr_t holder_of(const struct vs_task *t)
{
	return (uintptr_t)(rt_ref(t) & ~(uint64_t)UINT32_MAX) |
	       ((uintptr_t)VSCHED_REF_IDX(rt_ref(t)) << 3) | HOLDER_TASK;
}

static uintptr_t holder_self(void)
{
	static __thread uint64_t thread_anchor;
	struct vs_task *t = rt_task_self_entry();

	return t ? holder_of(t) : (uintptr_t)&thread_anchor;
}

/* ------------------------------------------------------------- mutex */

/*
 * state: 0 free; else the holder, | MUTEX_WAITERS while tasks are queued,
 * | MUTEX_STARVING in hand-off mode. Both flags change only under the
 * wait queue's lock; WAITERS is set exactly while the queue is not empty
 * (a waiter that timed out may leave it set: the next unlock clears it).
 *
 * Normal mode, as Go's sync.Mutex: unlock frees the mutex and wakes the
 * oldest waiter, which competes for it with running tasks. Any task that
 * finds it free takes it, so a contended lock changes hands without a
 * switch; a waiter spins while the holder runs on another CPU. A woken
 * waiter that loses goes back to the head of the queue.
 *
 * Starvation mode: a woken waiter that has waited 1 ms or more sets
 * STARVING. Then unlock hands the mutex to the oldest waiter by writing
 * its identity (it is never free while somebody waits), and newcomers
 * queue. The mode ends when the queue empties or a waiter that waited
 * less than 1 ms gets the mutex. So a waiter that reaches the head gets
 * the mutex within about 1 ms plus one hold per waiter ahead of it.
 */

void vs_mutex_init(struct vs_mutex *m)
{
	m->state = 0;
	vs_wq_init(&m->wq);
}

struct mutex_take {
	struct vs_mutex *m;
	uintptr_t me;
	bool starve; /* a woken waiter that has waited 1 ms: hand-off */
	bool handed; /* it was handed over (starvation mode) */
};

/* Under m->wq's lock: true once the caller holds the mutex, else the
 * WAITERS bit (and STARVING, if asked) is set and the caller is about to
 * be queued. */
static bool mutex_take(struct mutex_take *mt)
{
	uintptr_t *s = &mt->m->state;
	uintptr_t v = __atomic_load_n(s, __ATOMIC_ACQUIRE);

	for (;;) {
		uintptr_t holder = v & ~MUTEX_FLAGS;
		uintptr_t want = v | MUTEX_WAITERS | (mt->starve ? MUTEX_STARVING : 0);

		if (holder == mt->me) {
			mt->handed = true; /* by the unlocker */
			return true;
		}
		if (holder == 0 && !(v & MUTEX_STARVING)) {
			if (__atomic_compare_exchange_n(s, &v, mt->me | (v & MUTEX_WAITERS), true,
							__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
				return true;
			continue;
		}
		if (v == want)
			return false;
		if (__atomic_compare_exchange_n(s, &v, want, true, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return false;
	}
}

/* A few looks, far apart, as Go's sync.Mutex (4 x 30 pauses): a spinner
 * that looks often keeps the mutex's line from its holder, and one that
 * spins long keeps the holder from running alone. Measured: 4 x 30
 * halved the contended cost against 1000 x 1, and cut the pinned one by
 * two thirds. */
#define MUTEX_SPINS 4
#define MUTEX_SPIN_PAUSES 30

/* Is the holder in @v a task now running on a CPU other than @cpu? */
static bool holder_running_elsewhere(uintptr_t v, uint32_t cpu)
{
	uint32_t idx = (uint32_t)(v & UINT32_MAX) >> 3;
	struct vsched_task *slot;

	if (!(v & HOLDER_TASK) || idx >= rt_g->cfg.max_tasks)
		return false; /* a plain thread: it may be anywhere */
	/* the table is never given back while the runtime runs: reading a
	 * slot reused since is safe, and only makes this guess wrong */
	slot = vsched_vvar_tasks(rt_g->vvar) + idx;
	return atomic_load_explicit(&slot->gen, memory_order_relaxed) == (uint32_t)(v >> 32) &&
	       atomic_load_explicit(&slot->state, memory_order_relaxed) == VSCHED_TASK_RUNNING &&
	       atomic_load_explicit(&slot->cpu, memory_order_relaxed) != cpu;
}

/*
 * Before sleeping: spin while the holder runs on another CPU, as Linux's
 * adaptive mutexes do, since it will let go soon; take the mutex when it
 * is free (in normal mode, waiters or not). Stops in starvation mode and
 * as soon as the holder stops running.
 */
static bool mutex_spin(struct vs_mutex *m, uintptr_t me, uint32_t cpu)
{
	for (int i = 0; i < MUTEX_SPINS; i++) {
		uintptr_t v = __atomic_load_n(&m->state, __ATOMIC_RELAXED);

		if (v & MUTEX_STARVING)
			return false;
		if (!(v & ~MUTEX_FLAGS)) {
			if (__atomic_compare_exchange_n(&m->state, &v, me | v, true,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return true;
			continue;
		}
		if (!holder_running_elsewhere(v, cpu))
			return false;
		for (int k = 0; k < MUTEX_SPIN_PAUSES; k++)
			rt_relax();
	}
	return false;
}

/* The contended lock: queue, sleep until woken, compete again (spinning
 * first), until it is ours or @deadline passes. */
static int mutex_wait(struct mutex_take *mt, uint64_t deadline)
{
	struct vs_wq *wq = &mt->m->wq;
	struct rt_cpu *c = rt_self();
	uint64_t since = rt_now();
	bool woken = false;
	int r;

	for (;;) {
		rt_wq_lock(wq);
		if (mutex_take(mt)) {
			rt_wq_unlock(wq);
			break;
		}
		/* a woken waiter that lost goes back to the head: its turn is
		 * kept, and so is its age */
		r = rt_wq_block_locked(wq, c, deadline, true, woken);
		if (r < 0) {
			bool held;

			/* handed over meanwhile, or free: the mutex decides */
			mt->starve = false;
			rt_wq_lock(wq);
			held = mutex_take(mt);
			rt_wq_unlock(wq);
			if (!held)
				return r;
			break;
		}
		c = rt_self();
		woken = true;
		mt->starve = rt_now() - since >= MUTEX_STARVE_NS;
		if (!mt->starve && mutex_spin(mt->m, mt->me, c->id))
			return 0;
	}
	/* handed over to a waiter that waited less than 1 ms: the
	 * starvation is over (one taken in normal mode says nothing of it) */
	if (mt->handed && (__atomic_load_n(&mt->m->state, __ATOMIC_RELAXED) & MUTEX_STARVING) &&
	    rt_now() - since < MUTEX_STARVE_NS) {
		rt_wq_lock(wq);
		__atomic_fetch_and(&mt->m->state, ~MUTEX_STARVING, __ATOMIC_RELAXED);
		rt_wq_unlock(wq);
	}
	return 0;
}

int vs_mutex_lock_until(struct vs_mutex *m, uint64_t deadline_ns)
{
	struct vs_task *me = stackful_self();
	struct mutex_take mt = { .m = m };
	uintptr_t v = 0;

	if (!m)
		return -EINVAL;
	if (!me)
		return -EPERM;
	mt.me = holder_of(me);
	if (__atomic_compare_exchange_n(&m->state, &v, mt.me, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return 0;
	if ((v & ~MUTEX_FLAGS) == mt.me)
		return -EDEADLK;
	if (deadline_ns != VS_NEVER && rt_now() >= deadline_ns)
		return -ETIMEDOUT; /* neither spin nor mark the mutex contended */
	if (mutex_spin(m, mt.me, rt_self()->id))
		return 0;
	return mutex_wait(&mt, deadline_ns);
}

int vs_mutex_lock(struct vs_mutex *m)
{
	return vs_mutex_lock_until(m, VS_NEVER);
}

int vs_mutex_try_lock(struct vs_mutex *m)
{
	uintptr_t me = holder_self(), v;

	if (!m)
		return -EINVAL;
	v = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	while (!(v & ~MUTEX_FLAGS) && !(v & MUTEX_STARVING))
		if (__atomic_compare_exchange_n(&m->state, &v, me | v, true, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 0;
	return -EAGAIN;
}

int vs_mutex_unlock(struct vs_mutex *m)
{
	uintptr_t me = holder_self(), v = me, next;
	struct vs_task *t = NULL;
	struct rt_waiter *w;

	if (!m)
		return -EINVAL;
	if (__atomic_compare_exchange_n(&m->state, &v, 0, false, __ATOMIC_RELEASE,
					__ATOMIC_RELAXED))
		return 0;
	if ((v & ~MUTEX_FLAGS) != me)
		return -EPERM;

	/* flags: only the queue's lock changes them now, and only we (the
	 * holder) change the holder, so a plain store will do. The oldest
	 * waiter comes off the queue here, under the lock that decided the
	 * flags, so they match what stays queued. */
	rt_wq_lock(&m->wq);
	/* the flags as they are now: a waiter may have asked for hand-off
	 * since the CAS above read them */
	v = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	w = m->wq.head;
	if (w) {
		t = rt_waiter_task(w);
		rt_wq_remove_locked(&m->wq, t);
	}
	next = m->wq.head ? MUTEX_WAITERS : 0;
	if (t && (v & MUTEX_STARVING))
		next |= holder_of(t) | (m->wq.head ? MUTEX_STARVING : 0); /* hand-off */
	__atomic_store_n(&m->state, next, __ATOMIC_RELEASE);
	rt_wq_unlock(&m->wq);
	if (t)
		rt_wake(t, true);
	return 0;
}

/* --------------------------------------------------------- condition */

/*
 * A waiter notes seq while holding the mutex and sleeps until it moves;
 * a signaller bumps seq then notifies. The queue's lock orders the two:
 * either the waiter was queued before the notify took the lock (and is
 * woken), or its check runs after and sees the bump.
 */

void vs_cond_init(struct vs_cond *cv)
{
	cv->seq = 0;
	vs_wq_init(&cv->wq);
}

struct cond_wait {
	struct vs_cond *cv;
	unsigned seq;
};

static bool cond_moved(void *arg)
{
	struct cond_wait *cw = arg;

	return __atomic_load_n(&cw->cv->seq, __ATOMIC_RELAXED) != cw->seq;
}

int vs_cond_wait_until(struct vs_cond *cv, struct vs_mutex *m, uint64_t deadline_ns)
{
	struct vs_task *me = stackful_self();
	struct cond_wait cw = { .cv = cv };
	int r, r2;

	if (!cv || !m)
		return -EINVAL;
	if (!me || (__atomic_load_n(&m->state, __ATOMIC_RELAXED) & ~MUTEX_FLAGS) !=
			   holder_of(me))
		return -EPERM;
	/* read before the unlock (release): a signal after it bumps past this */
	cw.seq = __atomic_load_n(&cv->seq, __ATOMIC_RELAXED);
	r = vs_mutex_unlock(m);
	if (r < 0)
		return r;
	r = vs_wq_wait_pred_until(&cv->wq, cond_moved, &cw, deadline_ns);
	/* as pthreads: back with the mutex held, whatever ended the wait;
	 * when cancelling, the lock cannot sleep, but its holder's blocking
	 * calls fail too, so it lets go soon */
	while ((r2 = vs_mutex_lock(m)) == -ECANCELED)
		if (vs_task_yield() < 0)
			break;
	return r2 < 0 ? r2 : r;
}

int vs_cond_wait(struct vs_cond *cv, struct vs_mutex *m)
{
	return vs_cond_wait_until(cv, m, VS_NEVER);
}

int vs_cond_signal(struct vs_cond *cv)
{
	if (!cv)
		return -EINVAL;
	__atomic_fetch_add(&cv->seq, 1, __ATOMIC_RELAXED);
	(void)vs_wq_notify_one(&cv->wq);
	return 0;
}

int vs_cond_broadcast(struct vs_cond *cv)
{
	if (!cv)
		return -EINVAL;
	__atomic_fetch_add(&cv->seq, 1, __ATOMIC_RELAXED);
	(void)vs_wq_notify_all(&cv->wq);
	return 0;
}

/* --------------------------------------------------------- semaphore */

/*
 * value and sleepers pair up Dekker-style (seq_cst on both sides): a
 * sleeper counts itself before it checks value under the queue lock, a
 * poster raises value before it reads sleepers, so either the poster sees
 * the sleeper and notifies or the sleeper sees the unit.
 */

int vs_sem_init(struct vs_sem *sem, int value)
{
	if (!sem || value < 0)
		return -EINVAL;
	sem->value = value;
	sem->sleepers = 0;
	vs_wq_init(&sem->wq);
	return 0;
}

static bool sem_take(void *arg)
{
	struct vs_sem *sem = arg;
	int v = __atomic_load_n(&sem->value, __ATOMIC_SEQ_CST);

	while (v > 0)
		if (__atomic_compare_exchange_n(&sem->value, &v, v - 1, true, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return true;
	return false;
}

int vs_sem_wait_until(struct vs_sem *sem, uint64_t deadline_ns)
{
	int r;

	if (!sem)
		return -EINVAL;
	if (!stackful_self())
		return -EPERM;
	if (sem_take(sem))
		return 0;
	if (deadline_ns != VS_NEVER && rt_now() >= deadline_ns)
		return -ETIMEDOUT;
	__atomic_fetch_add(&sem->sleepers, 1, __ATOMIC_SEQ_CST);
	r = vs_wq_wait_pred_until(&sem->wq, sem_take, sem, deadline_ns);
	__atomic_fetch_sub(&sem->sleepers, 1, __ATOMIC_SEQ_CST);
	return r;
}

int vs_sem_wait(struct vs_sem *sem)
{
	return vs_sem_wait_until(sem, VS_NEVER);
}

int vs_sem_try_wait(struct vs_sem *sem)
{
	if (!sem)
		return -EINVAL;
	return sem_take(sem) ? 0 : -EAGAIN;
}

int vs_sem_post(struct vs_sem *sem)
{
	int v;

	if (!sem)
		return -EINVAL;
	v = __atomic_load_n(&sem->value, __ATOMIC_SEQ_CST);
	do {
		if (v == INT_MAX)
			return -EOVERFLOW;
	} while (!__atomic_compare_exchange_n(&sem->value, &v, v + 1, true, __ATOMIC_SEQ_CST,
					     __ATOMIC_SEQ_CST));
	if (__atomic_load_n(&sem->sleepers, __ATOMIC_SEQ_CST))
		(void)vs_wq_notify_one(&sem->wq);
	return 0;
}

int vs_sem_value(struct vs_sem *sem)
{
	if (!sem)
		return -EINVAL;
	return __atomic_load_n(&sem->value, __ATOMIC_RELAXED);
}

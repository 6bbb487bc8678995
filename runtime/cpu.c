/* SPDX-License-Identifier: MIT */
/*
 * CPUs: the worker threads and their idle loop (run what is queued, poll
 * stackless tasks, fire late timers, park in the parker when there is
 * nothing to do, Dekker-style with the waker, so no wake-up is lost),
 * kicking idle CPUs, and the runtime's spinlocks, counted per CPU.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu.h"
#include "park.h"
#include "task.h"
#include "timer.h"
#include "wq.h"
#include "io.h"
#include "domain.h"

/* initial-exec: a load from the thread pointer, no call (the runtime is
 * linked into the program, or loaded with it) */
__thread struct rt_cpu *rt_tls_self __attribute__((tls_model("initial-exec")));

/* noinline: a task may move between threads across a switch, and the
 * compiler must not reuse one thread's TLS address on another */
__attribute__((noinline)) struct rt_cpu *rt_self(void)
{
	struct rt_cpu *c = rt_tls_self;

	__asm__ volatile("" ::: "memory");
	return c;
}

void rt_set_self(struct rt_cpu *c)
{
	rt_tls_self = c;
}

/* held for a few instructions; past a short spin the holder's thread was
 * likely preempted by the OS: let it run. Waits with plain loads and
 * tries again only once the lock looks free: a test-and-set per try
 * takes the line away from the holder every time, which slowed a
 * producer and a consumer sharing a channel threefold. */
__attribute__((noinline, cold)) static void lock_spin(unsigned char *f)
{
	unsigned n = 0;

	do {
		while (__atomic_load_n(f, __ATOMIC_RELAXED)) {
			if (n++ < 128)
				rt_relax();
			else
				sched_yield();
		}
	} while (__atomic_test_and_set(f, __ATOMIC_ACQUIRE));
}

/*
 * A CPU thread counts the runtime locks it holds or is taking (Go's
 * m.locks): the preemption signal never switches a task out while the
 * count is not 0, wherever its PC is (a predicate or a clock read under a
 * queue's lock), since the next task on this thread could spin on the lock
 * for good. Only this thread and its signal handler touch the count:
 * compiler fences order it against the lock word. A lock taken on a CPU is
 * released on it (at the latest by the next task, after a park).
 *
 * noinline, as rt_self: each call finds its own thread's CPU afresh.
 */
__attribute__((noinline)) void rt_lock_flag(unsigned char *f)
{
	struct rt_cpu *c = rt_tls_self;

	/* counted before trying: on the way to the lock is under it too */
	if (c) {
		__atomic_store_n(&c->locks, c->locks + 1, __ATOMIC_RELAXED);
		atomic_signal_fence(memory_order_seq_cst);
	}
	if (__atomic_test_and_set(f, __ATOMIC_ACQUIRE))
		lock_spin(f);
}

__attribute__((noinline)) void rt_unlock_flag(unsigned char *f)
{
	struct rt_cpu *c = rt_tls_self;

	__atomic_clear(f, __ATOMIC_RELEASE);
	if (c) {
		atomic_signal_fence(memory_order_seq_cst);
		__atomic_store_n(&c->locks, c->locks - 1, __ATOMIC_RELAXED);
	}
}

void rt_unlock_flag_cb(void *f)
{
	rt_unlock_flag(f);
}

uint64_t rt_cpu_load(uint32_t cpu)
{
	uint64_t n = 0;

	rt_must(vsched_queue_len(cpu, &n), "queue length");
	return n;
}

bool rt_cpu_has_work(uint32_t cpu)
{
	return rt_cpu_load(cpu) || rt_cpu_load(VSCHED_CPU_NONE);
}

/* Does this member's worker of @cpu hold its domain CPU? (A hint: one
 * load of the shared holder word.) */
static bool dom_holds(uint32_t cpu)
{
	struct rt_cpu *c = &rt_g->cpus[cpu];

	return !c->dcpu || atomic_load_explicit(&c->dcpu->holder, memory_order_relaxed) ==
				   (uint32_t)rt_g->cfg.domain->id + 1;
}

/* Work queued on some other CPU, which this one might steal: more than
 * that CPU's next task, or even that one if it waits for a domain CPU
 * another member holds. */
static bool others_have_work(uint32_t self)
{
	for (uint32_t i = 0; i < rt_g->ncpus; i++) {
		uint64_t n = i != self ? rt_cpu_load(i) : 0;

		if (n > 1 || (n == 1 && !dom_holds(i)))
			return true;
	}
	return false;
}

void rt_kick(uint32_t cpu)
{
	struct rt_cpu *d = &rt_g->cpus[cpu];

	/* seq_cst fence: our enqueue is ordered before the parked check, as
	 * the parker's flag store is before its queue check (Dekker) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&d->parked, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&d->wake_seq, 1, memory_order_release);
		rt_g->parker->kick(d);
		RT_STAT_ANY(kicks);
	}
}

void rt_drain_kicks_slow(struct rt_cpu *c)
{
	uint64_t m = 0;

	rt_must(vsched_take_kicks(c->id, &m), "taking kicks");
	for (uint32_t i = 0; i < rt_g->ncpus; i++)
		if ((m >> (i < 63 ? i : 63)) & 1)
			rt_kick(i);
}

void rt_wake_idle(uint32_t self)
{
	if (rt_g->ncpus == 1)
		return; /* no other CPU to wake: spare the fence */
	/* seq_cst fence: our enqueue before the parked check (Dekker with
	 * park(), which announces itself before looking at the rings) */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&rt_g->nr_parked, memory_order_relaxed))
		return;
	for (uint32_t i = 0; i < rt_g->ncpus; i++)
		if (i != self && atomic_load_explicit(&rt_g->cpus[i].parked, memory_order_relaxed)) {
			rt_kick(i);
			return;
		}
}

/*
 * Sleeps until kicked, unless work showed up meanwhile. With @look_around,
 * work queued on other CPUs also keeps it awake (to try stealing it once
 * more); without, only its own ring and the global one do, so a CPU that
 * cannot take what others hold (affinity) does not spin.
 */
static void park(struct rt_cpu *c, bool look_around, uint64_t deadline)
{
	uint32_t seq = atomic_load_explicit(&c->wake_seq, memory_order_acquire);

	atomic_store_explicit(&c->parked, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt_g->nr_parked, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	/* an idle CPU sleeps until the next timer of any CPU and no longer */
	if (!rt_cpu_has_work(c->id) && !(look_around && others_have_work(c->id)) &&
	    !atomic_load(&rt_g->stopping)) {
		rt_stat_inc(&c->st.parks);
		RT_TRACE(RT_TE_PARK, 0, 0, 0, NULL);
		rt_g->parker->park(c, seq, deadline);
		RT_TRACE(RT_TE_UNPARK, 0, 0, 0, NULL);
	}
	atomic_fetch_sub_explicit(&rt_g->nr_parked, 1, memory_order_relaxed);
	atomic_store_explicit(&c->parked, 0, memory_order_relaxed);
}

/*
 * A domain member's CPUs (domain.h): its worker of CPU n runs tasks only
 * while the member holds domain CPU n; otherwise the core picks nothing
 * on it (foreign) and the worker waits for the CPU, or rests if it has
 * nothing to run. It wants the CPU for work queued on it, and for work
 * it could steal from its member's other CPUs.
 */
static bool dom_has_work(struct rt_cpu *c)
{
	return rt_cpu_has_work(c->id) || others_have_work(c->id);
}

/* Gives the domain CPU up: to the member furthest behind, or free. */
static void dom_give(struct rt_cpu *c, bool still_want)
{
	struct vs_domain *d = rt_g->cfg.domain;

	rt_must(vsched_set_foreign(c->id, 1), "lending a CPU");
	c->dheld = c->ddue = false;
	vsd_cpu_want(d, c->id, still_want);
	vsd_cpu_release(d, c->id);
	RT_TRACE(RT_TE_HANDOFF, atomic_load_explicit(&c->dcpu->holder, memory_order_relaxed), 0,
		 c->id, NULL);
	/* those rung since: woken now, they find the CPU free (or handed on) */
	vsd_flush_kicks(d);
}

static void dom_got(struct rt_cpu *c)
{
	c->dheld = true;
	c->ddue = false;
	rt_must(vsched_set_foreign(c->id, 0), "taking a CPU back");
}

/*
 * Before the idle context looks for tasks: true if the worker may go on
 * (it holds the domain CPU, or has nothing to run, or is stopping), false
 * to come round again (it handed the CPU over, or is still waiting).
 */
static bool dom_turn(struct rt_cpu *c)
{
	struct vs_domain *d = rt_g->cfg.domain;

	if (c->dheld) {
		if (!c->ddue)
			return true;
		dom_give(c, dom_has_work(c));
		return false;
	}
	if (atomic_load(&rt_g->stopping) || !dom_has_work(c)) {
		vsd_cpu_want(d, c->id, false);
		return true; /* it rests in the idle path, picking nothing */
	}
	vsd_flush_kicks(d);
	vsd_cpu_want(d, c->id, true);
	if (!vsd_cpu_take(d, c->id) && !vsd_cpu_wait(d, c->id, d->g.member_slice_ns))
		return false;
	dom_got(c);
	return true;
}

void rt_dom_check(struct rt_cpu *c)
{
	if (vsd_cpu_due(rt_g->cfg.domain, c->id)) {
		c->ddue = true;
		rt_must(vsched_set_foreign(c->id, 1), "lending a CPU");
	}
}

void rt_dom_boot(struct rt_cpu *c)
{
	struct vs_domain *d = rt_g->cfg.domain;

	c->dcpu = vsd_cpu(d, c->id);
	rt_must(vsched_set_foreign(c->id, 1), "lending a CPU");
	vsd_cpu_want(d, c->id, true);
	while (!vsd_cpu_take(d, c->id) && !vsd_cpu_wait(d, c->id, d->g.member_slice_ns))
		;
	dom_got(c);
}

/*
 * A member's parker: its worker sleeps on its wake word in the domain,
 * where local kicks and other members' bells both reach it, unless the
 * I/O backend has something in flight; then in the backend, for at most
 * a member slice at a time, so a bell rung meanwhile waits that long.
 */
static void dom_park(struct rt_cpu *c, uint32_t seq, uint64_t deadline)
{
	const struct rt_parker *io = &rt_g->io->parker;
	struct vs_domain *d = rt_g->cfg.domain;

	vsd_flush_kicks(d);
	if (io->quiet && !io->quiet(c)) {
		uint64_t most = rt_now() + d->g.member_slice_ns;

		/* seq_cst: the flag before the backend looks at wake_seq
		 * (Dekker with dom_kick, which bumped it first) */
		atomic_store(&c->dio, 1);
		if (!vsd_rung(d))
			io->park(c, seq, deadline && deadline < most ? deadline : most);
		atomic_store_explicit(&c->dio, 0, memory_order_relaxed);
		return;
	}
	vsd_sleep(d, c->id, &c->wake_seq, seq, deadline);
}

static void dom_kick(struct rt_cpu *c)
{
	vsd_cpu_kick(rt_g->cfg.domain, c->id);
	if (atomic_load(&c->dio))
		rt_g->io->parker.kick(c);
}

static void dom_tick(struct rt_cpu *c)
{
	rt_g->io->parker.tick(c);
}

static int dom_poll(struct rt_cpu *c)
{
	return rt_g->io->parker.poll(c);
}

const struct rt_parker rt_parker_domain = {
	.name = "domain",
	.park = dom_park,
	.kick = dom_kick,
	.poll = dom_poll,
	.tick = dom_tick,
};

/*
 * A member's idle worker that keeps looking for work (spins) sees bells
 * at once: while one does, ringers need not wake a sleeping one (Go's
 * nmspinning). Cleared before the worker's last look before it sleeps.
 */
static void dom_spin(struct rt_cpu *c, bool on)
{
	if (!c->dcpu || c->dspin == on)
		return;
	c->dspin = on;
	vsd_spinning(rt_g->cfg.domain, on);
}

/* how long an idle CPU keeps looking for work before it parks: long
 * enough that work handed over soon after it ran out finds it still
 * looking, with no wake-up needed (Go's idle Ms spin too) */
#define IDLE_SPIN_NS 50000u
/* pauses between two full looks (which steal): a CPU that scans the
 * others' rings at once keeps taking their lines away from the CPUs that
 * use them (that cost a cross-CPU ping-pong half its speed). Between two,
 * it watches only what is handed to it, after every pause. */
#define IDLE_PAUSES 16
#define IDLE_LOOK_AROUND 3 /* parks that still wake for others' work */
#define IDLE_STUCK_ROUNDS 64 /* rounds of seeing work it cannot take yet */

void rt_idle_loop(struct rt_cpu *c)
{
	unsigned spins = 0, parks = 0, stuck = 0;
	uint64_t deadline, idle_since = 0;
	bool fired;

	for (;;) {
		c = rt_after_switch(c->idle);
		rt_dispatch(c);
		if (c->dcpu && !dom_turn(c))
			continue;
		/* its own ring, the global one, then stealing: all in the pick */
		if (rt_idle_switch(c)) {
			spins = parks = stuck = 0;
			dom_spin(c, false);
			continue;
		}
		if (rt_cpu_has_work(c->id)) {
			/* queued since the pick looked (look again), or not
			 * takeable yet: a task still leaving a CPU whose thread
			 * the OS preempted. Only the second lasts: after some
			 * rounds, let that thread run */
			if (++stuck >= IDLE_STUCK_ROUNDS) {
				stuck = 0;
				sched_yield();
			}
			continue;
		}
		stuck = 0;
		if (atomic_load(&rt_g->stopping) && c->id != 0) {
			dom_spin(c, false);
			if (c->dheld)
				dom_give(c, false);
			return;
		}
		/* out of work while another member waits for the CPU: its turn */
		if (c->dheld && vsd_cpu_contended(rt_g->cfg.domain, c->dcpu))
			dom_give(c, false);
		/* out of tasks: what they asked of the I/O backend goes to the
		 * kernel now, in one batch, and what completed is taken */
		if (!spins && c->io_flags && rt_g->parker->poll(c) > 0)
			continue;
		/* a member's worker spins only on a domain CPU it holds: the
		 * others' spins would take the machine's CPUs from holders */
		if (!spins++) {
			idle_since = rt_now();
			if (!c->dcpu || (c->dheld && rt_g->cfg.domain->spin))
				dom_spin(c, true);
			else
				idle_since -= IDLE_SPIN_NS;
		}
		/* with I/O in flight, the wait in the backend is where its
		 * completions come soonest (a spin would leave them there) */
		if (!c->io_flags && rt_now() - idle_since < IDLE_SPIN_NS) {
			/* its own ring, runnext and the global ring: lines its
			 * wakers write, only read here. A wake-up handed to it
			 * is seen a pause after, not a full round of pauses */
			for (int i = 0; i < IDLE_PAUSES && !rt_cpu_has_work(c->id); i++)
				rt_relax();
			continue;
		}
		spins = 0;
		/* events the parker holds, and timers other CPUs are late
		 * with: the tasks they wake are then run or stolen here */
		if (rt_g->parker->poll(c) > 0)
			continue;
		deadline = rt_timers_help(c, &fired);
		if (fired)
			continue;
		if (c->dheld)
			dom_give(c, false); /* no thread sleeps holding a CPU */
		dom_spin(c, false); /* before it looks at its bells a last time */
		park(c, parks++ < IDLE_LOOK_AROUND, deadline);
	}
}

__attribute__((noreturn)) static void idle_run(struct rt_cpu *c)
{
	rt_idle_loop(c);
	abort(); /* CPU 0's idle never stops: stop runs on the boot task */
}

/* CPU 0's idle task starts here (TSan: on its own fiber). */
RT_NO_TSAN void rt_idle_entry(void *arg)
{
	struct rt_cpu *c = arg;

	rt_tsan_resume(c->idle);
	idle_run(c);
	abort(); /* CPU 0's idle never stops: stop runs on the boot task */
}

unsigned rt_cpus_allowed(cpu_set_t *set)
{
	long n;

	if (sched_getaffinity(0, sizeof(*set), set) == 0 && CPU_COUNT(set) > 0)
		return (unsigned)CPU_COUNT(set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	CPU_ZERO(set);
	for (long i = 0; i < n && i < CPU_SETSIZE; i++)
		CPU_SET(i, set);
	return n <= 0 ? 1 : (unsigned)n;
}

void rt_cpu_pin(unsigned id)
{
	const cpu_set_t *all = &rt_g->allowed;
	unsigned n = (unsigned)CPU_COUNT(all), k;
	cpu_set_t set;

	if (!n)
		return;
	k = id % n;
	CPU_ZERO(&set);
	for (unsigned i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, all) && !k--) {
			CPU_SET(i, &set);
			break;
		}
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void *rt_cpu_thread(void *arg)
{
	struct rt_cpu *c = arg;
	int err = 0;

	rt_set_self(c);
	rt_stack_cpu_init(c);
#ifdef __SANITIZE_THREAD__
	c->tsan_transit = rt_tsan_fiber_new();
#endif
	if (rt_g->cfg.pin)
		rt_cpu_pin(c->id);
	c->idle = rt_task_create_thread(false, &err);
	if (c->idle && (err = vsched_init_secondary(c->id, rt_ref(c->idle))) < 0) {
		rt_task_destroy(c->idle);
		c->idle = NULL;
	}
	/* the CPU's ring is made on its own thread, its single issuer */
	if (c->idle && (err = rt_g->io->cpu_init(c)) < 0) {
		rt_task_destroy(c->idle);
		c->idle = NULL;
	}
	if (!c->idle) {
		/* the starter sees the error with the count and unwinds */
		atomic_store(&rt_g->up_err, err < 0 ? err : -ENOMEM);
		rt_stack_cpu_fini(c);
		atomic_fetch_add(&rt_g->online, 1);
		return NULL;
	}
	c->cur = c->idle;
	if (rt_g->cfg.domain) {
		/* a domain member's CPU starts as another's until it takes it */
		c->dcpu = vsd_cpu(rt_g->cfg.domain, c->id);
		rt_must(vsched_set_foreign(c->id, 1), "lending a CPU");
	}
	atomic_fetch_add(&rt_g->online, 1);
	rt_idle_loop(c);
	/* its I/O state stays until stop has joined it (io.h): a late kick
	 * must not write to an eventfd number closed and reused meanwhile */
	rt_stack_cpu_fini(c);
	return NULL;
}

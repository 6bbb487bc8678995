/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping the runtime, the CPU threads, and the idle loop:
 * run what is queued, poll stackless tasks, park on a futex when there is
 * nothing to do (Dekker-style with the waker, so no wake-up is lost).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctx.h"
#include "rt.h"

struct rt *rt_g;
static __thread struct rt_cpu *tls_self;

/* noinline: a task may move between threads across a switch, and the
 * compiler must not reuse one thread's TLS address on another */
RT_TEXT __attribute__((noinline)) struct rt_cpu *rt_self(void)
{
	struct rt_cpu *c = tls_self;

	__asm__ volatile("" ::: "memory");
	return c;
}

RT_TEXT void rt_set_self(struct rt_cpu *c)
{
	tls_self = c;
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
/* held for a few instructions; past a short spin the holder's thread was
 * likely preempted by the OS: let it run */
RT_TEXT __attribute__((noinline, cold)) static void lock_spin(atomic_flag *f)
{
	for (unsigned n = 0; atomic_flag_test_and_set_explicit(f, memory_order_acquire); n++) {
		if (n < 128)
			rt_relax();
		else
			sched_yield();
	}
}

RT_TEXT __attribute__((noinline)) void rt_lock_flag(atomic_flag *f)
{
	struct rt_cpu *c = tls_self;

	/* counted before trying: on the way to the lock is under it too */
	if (c) {
		__atomic_store_n(&c->locks, c->locks + 1, __ATOMIC_RELAXED);
		atomic_signal_fence(memory_order_seq_cst);
	}
	if (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
		lock_spin(f);
}

RT_TEXT __attribute__((noinline)) void rt_unlock_flag(atomic_flag *f)
{
	struct rt_cpu *c = tls_self;

	atomic_flag_clear_explicit(f, memory_order_release);
	if (c) {
		atomic_signal_fence(memory_order_seq_cst);
		__atomic_store_n(&c->locks, c->locks - 1, __ATOMIC_RELAXED);
	}
}

RT_TEXT void rt_must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "vsched: %s failed: %s\n", what, strerror(-r));
		abort();
	}
}

RT_TEXT static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, NULL, NULL, 0);
}

/* Sleeps on @uaddr while it holds @val, until @deadline (0: no limit). */
RT_TEXT static void futex_wait_until(_Atomic uint32_t *uaddr, uint32_t val, uint64_t deadline)
{
	struct timespec ts, *tp = NULL;

	if (deadline) {
		uint64_t now = rt_now();
		uint64_t left = deadline > now ? deadline - now : 0;

		if (!left)
			return;
		ts.tv_sec = (time_t)(left / 1000000000u);
		ts.tv_nsec = (long)(left % 1000000000u);
		tp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)uaddr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

RT_TEXT uint64_t rt_cpu_load(uint32_t cpu)
{
	uint64_t n = 0;

	rt_must(vsched_queue_len(cpu, &n), "queue length");
	return n;
}

RT_TEXT bool rt_cpu_has_work(uint32_t cpu)
{
	return rt_cpu_load(cpu) || rt_cpu_load(VSCHED_CPU_NONE);
}

/* Work queued on some other CPU, which this one might steal. */
RT_TEXT static bool others_have_work(uint32_t self)
{
	for (uint32_t i = 0; i < rt_g->ncpus; i++)
		if (i != self && rt_cpu_load(i) > 1)
			return true;
	return false;
}

RT_TEXT void rt_kick(uint32_t cpu)
{
	struct rt_cpu *d = &rt_g->cpus[cpu];

	/* seq_cst fence: our enqueue is ordered before the parked check, as
	 * the parker's flag store is before its queue check (Dekker) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&d->parked, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&d->futex, 1, memory_order_release);
		futex(&d->futex, FUTEX_WAKE_PRIVATE, 1);
	}
}

RT_TEXT void rt_drain_kicks_slow(struct rt_cpu *c)
{
	uint64_t m = 0;

	rt_must(vsched_take_kicks(c->id, &m), "taking kicks");
	for (uint32_t i = 0; i < rt_g->ncpus; i++)
		if ((m >> (i < 63 ? i : 63)) & 1)
			rt_kick(i);
}

RT_TEXT void rt_wake_idle(uint32_t self)
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
RT_TEXT static void park(struct rt_cpu *c, bool look_around, uint64_t deadline)
{
	uint32_t seq = atomic_load_explicit(&c->futex, memory_order_acquire);

	atomic_store_explicit(&c->parked, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt_g->nr_parked, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	/* an idle CPU sleeps until the next timer of any CPU and no longer */
	if (!rt_cpu_has_work(c->id) && !(look_around && others_have_work(c->id)) &&
	    !atomic_load(&rt_g->stopping))
		futex_wait_until(&c->futex, seq, deadline);
	atomic_fetch_sub_explicit(&rt_g->nr_parked, 1, memory_order_relaxed);
	atomic_store_explicit(&c->parked, 0, memory_order_relaxed);
}

/* rounds of looking for work before parking: long enough that work handed
 * over soon after a CPU ran out finds it still looking, with no futex wake
 * needed (Go's idle Ms spin too) */
#define IDLE_SPINS 1024
#define IDLE_LOOK_AROUND 3 /* parks that still wake for others' work */
#define IDLE_STUCK_ROUNDS 64 /* rounds of seeing work it cannot take yet */

RT_TEXT void rt_idle_loop(struct rt_cpu *c)
{
	unsigned spins = 0, parks = 0, stuck = 0;
	uint64_t deadline;
	bool fired;

	for (;;) {
		c = rt_after_switch(c->idle);
		rt_dispatch(c);
		/* its own ring, the global one, then stealing: all in the pick */
		if (rt_idle_switch(c)) {
			spins = parks = stuck = 0;
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
		if (atomic_load(&rt_g->stopping) && c->id != 0)
			return;
		if (spins++ < IDLE_SPINS) {
			__asm__ volatile("" ::: "memory");
			continue;
		}
		spins = 0;
		/* timers other CPUs are late with: the tasks they wake are
		 * then stolen here */
		deadline = rt_timers_help(c, &fired);
		if (fired)
			continue;
		park(c, parks++ < IDLE_LOOK_AROUND, deadline);
	}
}

RT_TEXT __attribute__((noreturn)) static void idle_run(struct rt_cpu *c)
{
	rt_idle_loop(c);
	abort(); /* CPU 0's idle never stops: stop runs on the boot task */
}

/* CPU 0's idle task starts here (TSan: on its own fiber). */
RT_TEXT RT_NO_TSAN static void idle_entry(void *arg)
{
	struct rt_cpu *c = arg;

	rt_tsan_resume(c->idle);
	idle_run(c);
	abort(); /* CPU 0's idle never stops: stop runs on the boot task */
}

RT_TEXT void vs_config_default(struct vs_config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = n > 0 ? (unsigned)n : 1;
	cfg->stack_size = 256 * 1024;
	cfg->queue_cap = 256;
	cfg->max_tasks = 1u << 20;
	cfg->policy = VS_POLICY_FIFO;
}

RT_TEXT static void pin(unsigned id)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	CPU_SET(id % (unsigned)(n > 0 ? n : 1), &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

RT_TEXT static void *cpu_thread(void *arg)
{
	struct rt_cpu *c = arg;
	int err = 0;

	rt_set_self(c);
	rt_stack_cpu_init(c);
#ifdef __SANITIZE_THREAD__
	c->tsan_transit = rt_tsan_fiber_new();
#endif
	if (rt_g->cfg.pin)
		pin(c->id);
	c->idle = rt_task_create_thread(false, &err);
	if (c->idle && (err = vsched_init_secondary(c->id, c->idle->ref)) < 0) {
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
	atomic_fetch_add(&rt_g->online, 1);
	rt_idle_loop(c);
	rt_stack_cpu_fini(c);
	return NULL;
}

RT_TEXT static void rt_free(struct rt *rt)
{
	if (rt->recs)
		munmap(rt->recs, rt->recs_len);
	vsa_image_unmap(&rt->img);
	free(rt->cpus);
	free(rt);
}

/* 1 from the moment a start claims the runtime until its stop (or its
 * failure) is over: two starts at once, exactly one proceeds. */
static atomic_int rt_claimed;

/*
 * Stops the CPU threads 1..@nthreads, which came up or failed to, and the
 * ticking thread, then frees all that start made, on CPU 0's thread (the
 * boot task's). Shared by stop and by a start that fails midway.
 */
RT_TEXT static void teardown(struct rt *rt, unsigned nthreads)
{
	struct rt_cpu *c0 = &rt->cpus[0];

	atomic_store(&rt->stopping, 1);
	rt_preempt_stop(); /* before the CPU threads it signals are gone */
	for (unsigned i = 1; i <= nthreads; i++)
		rt_kick(i);
	for (unsigned i = 1; i <= nthreads; i++)
		pthread_join(rt->cpus[i].thread, NULL);
	for (unsigned i = 0; i < rt->ncpus; i++) {
		rt_timers_fini(&rt->cpus[i]);
#ifdef __SANITIZE_THREAD__
		rt_tsan_fiber_free(rt->cpus[i].tsan_transit);
#endif
	}

	/* CPU 0's idle task is parked in its loop, off the CPU: drop it */
	rt_stack_cpu_fini(c0);
	{
		struct rt_stack st = *c0->idle->stk;

#ifdef __SANITIZE_THREAD__
		rt_tsan_fiber_free(c0->idle->tsan_fiber);
#endif
		rt_stack_put(NULL, &st);
	}
	rt_stack_fini();
	rt_set_self(NULL);
	rt_g = NULL;
	rt_free(rt);
	atomic_store(&rt_claimed, 0);
}

RT_TEXT int vs_runtime_start(const struct vs_config *cfg_in)
{
	struct vs_config cfg;
	struct vsa_map_opts mo = { .vvar_fd = -1 };
	struct rt *rt;
	struct rt_cpu *c0;
	int r = 0, zero = 0;
	unsigned up;

	if (cfg_in)
		cfg = *cfg_in;
	else
		vs_config_default(&cfg);
	if (cfg.ncpus == 0) {
		struct vs_config d;

		vs_config_default(&d);
		cfg.ncpus = d.ncpus;
	}
	if (cfg.ncpus > VSCHED_MAX_CPUS || cfg.stack_size < 16384 ||
	    cfg.queue_cap < VSCHED_MIN_QUEUE || cfg.queue_cap > VSCHED_MAX_QUEUE ||
	    cfg.max_tasks < cfg.ncpus + 2 || cfg.max_tasks > VSCHED_MAX_TASKS ||
	    (unsigned)cfg.policy > VS_POLICY_CFS)
		return -EINVAL;
	if (!cfg.slice_ns)
		cfg.slice_ns = 3000000;
	if (!atomic_compare_exchange_strong(&rt_claimed, &zero, 1))
		return -EBUSY;

	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		atomic_store(&rt_claimed, 0);
		return -ENOMEM;
	}
	rt->cfg = cfg;
	rt->ncpus = cfg.ncpus;
	rt->owner = (uint32_t)getpid();
	vs_wq_init(&rt->live_wq);
	rt->cpus = aligned_alloc(64, sizeof(*rt->cpus) * cfg.ncpus);
	if (!rt->cpus) {
		free(rt);
		atomic_store(&rt_claimed, 0);
		return -ENOMEM;
	}
	memset(rt->cpus, 0, sizeof(*rt->cpus) * cfg.ncpus);
	mo.geom = (struct vsched_geometry){ .ncpus = cfg.ncpus, .queue_cap = cfg.queue_cap,
					    .ntasks = cfg.max_tasks, .policy = cfg.policy };
	if (cfg.policy != VS_POLICY_FIFO) {
		/* slices in the core's own clock, measured against ours */
		rt->clk_per_ms = rt_clock_calibrate();
		mo.geom.slice = cfg.slice_ns / 1000 * rt->clk_per_ms / 1000;
		if (!mo.geom.slice)
			mo.geom.slice = 1;
	}
	r = vsa_image_map_embedded(&rt->img, &mo);
	if (r < 0) {
		fprintf(stderr, "vsched: %s\n", rt->img.err);
		free(rt->cpus);
		free(rt);
		atomic_store(&rt_claimed, 0);
		return r;
	}
	vsa_install(&rt->img);
	rt->vvar = rt->img.vvar;
	/* reserved, not committed: pages come as slots are first used */
	rt->recs_len = (size_t)cfg.max_tasks * sizeof(struct vs_task);
	rt->recs = mmap(NULL, rt->recs_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (rt->recs == MAP_FAILED) {
		rt->recs = NULL;
		rt_free(rt);
		atomic_store(&rt_claimed, 0);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cfg.ncpus; i++) {
		rt->cpus[i].id = i;
		rt->cpus[i].core = vsched_vvar_cpus(rt->vvar) + i;
		atomic_flag_clear(&rt->cpus[i].timers.lock);
	}
	rt_g = rt;

	/* CPU 0: this thread becomes the boot task; its idle gets a stack */
	c0 = &rt->cpus[0];
	rt->boot = rt_task_create_thread(true, &r);
	if (!rt->boot)
		goto fail;
	c0->idle = rt_task_create(false, NULL, idle_entry, c0, &r);
	if (!c0->idle)
		goto fail;
	c0->idle->idle = true;
	strcpy(c0->idle->name, "idle");
	atomic_store_explicit(&c0->idle->refs, 1, memory_order_relaxed);
	r = vsched_init(0, c0->idle->ref, rt->boot->ref);
	if (r < 0)
		goto fail;
	rt_set_self(c0);
	rt_stack_cpu_init(c0);
#ifdef __SANITIZE_THREAD__
	c0->tsan_transit = rt_tsan_fiber_new();
#endif
	c0->thread = pthread_self(); /* for the preemption signal */
	c0->cur = rt->boot;
	if (cfg.pin)
		pin(0);
	atomic_store(&rt->online, 1);

	for (up = 1; up < cfg.ncpus; up++) {
		r = -pthread_create(&rt->cpus[up].thread, NULL, cpu_thread, &rt->cpus[up]);
		if (r < 0)
			break;
	}
	/* every thread made comes up, or says it could not */
	while (atomic_load(&rt->online) < (int)up)
		sched_yield();
	if (r == 0)
		r = atomic_load(&rt->up_err);
	if (r == 0)
		r = rt_preempt_start();
	if (r < 0) {
		teardown(rt, up - 1);
		return r;
	}
	return 0;

fail:
	if (c0->idle)
		rt_task_destroy(c0->idle);
	rt_stack_fini();
	rt_set_self(NULL);
	rt_g = NULL;
	rt_free(rt);
	atomic_store(&rt_claimed, 0);
	return r;
}

/* Waits (on the boot task) until every spawned task has been reclaimed;
 * when cancelling, ends every blocked wait each millisecond meanwhile. */
RT_TEXT static void wait_for_tasks(struct rt *rt, bool cancel)
{
	struct rt_cpu *c = rt_self();

	for (;;) {
		if (cancel)
			rt_wait_cancel_all();
		rt_wq_lock(&rt->live_wq);
		if (atomic_load(&rt->live) == 0) {
			rt_wq_unlock(&rt->live_wq);
			return;
		}
		/* not cancelable: this is the canceller */
		(void)rt_wq_block_locked(&rt->live_wq, c, cancel ? rt_now() + 1000000 : 0, false);
		c = rt_self();
	}
}

RT_TEXT int vs_runtime_shutdown(enum vs_stop how)
{
	struct rt *rt = rt_g;
	struct rt_cpu *c = rt_self();

	if (!rt || !c || c->cur != rt->boot)
		return -EPERM;
	if (how != VS_STOP_WAIT && how != VS_STOP_CANCEL)
		return -EINVAL;
	if (how == VS_STOP_CANCEL)
		atomic_store(&rt->cancel, 1);
	wait_for_tasks(rt, how == VS_STOP_CANCEL);
	teardown(rt, rt->ncpus - 1);
	return 0;
}

RT_TEXT int vs_runtime_stop(void)
{
	return vs_runtime_shutdown(VS_STOP_WAIT);
}

RT_TEXT bool vs_runtime_cancelled(void)
{
	return rt_g && rt_cancelled();
}

/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping the runtime: the image mapped, the task records,
 * CPU 0 on the calling thread and the other CPUs' threads; stop waits for
 * (or cancels) every task, then takes it all down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "park.h"
#include "preempt.h"
#include "task.h"
#include "timer.h"
#include "wait.h"
#include "wq.h"
#include "parker.h"
#include "io.h"
#include "domain.h"

struct rt *rt_g;

void rt_must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "vsched: %s failed: %s\n", what, strerror(-r));
		abort();
	}
}

/* Gives each zero field of @cfg its default. */
static void fill_defaults(struct vs_config *cfg)
{
	cpu_set_t set;
	unsigned n = rt_cpus_allowed(&set);

	/* the CPUs the process may run on (taskset, a cpuset), as Go's
	 * GOMAXPROCS; as many as the core takes */
	if (!cfg->ncpus)
		cfg->ncpus = n > VSCHED_MAX_CPUS ? VSCHED_MAX_CPUS : n;
	if (!cfg->stack_size)
		cfg->stack_size = 256 * 1024;
	if (!cfg->queue_cap)
		cfg->queue_cap = 256;
	if (!cfg->max_tasks)
		cfg->max_tasks = 1u << 20;
	if (!cfg->slice_ns)
		cfg->slice_ns = 3000000;
}

unsigned vs_version(void)
{
	return VS_VERSION;
}

const char *vs_version_string(void)
{
	return VS_VERSION_STRING;
}

void vs_config_default(struct vs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	fill_defaults(cfg);
}

static void rt_free(struct rt *rt)
{
	rt_stats_end(rt);
	if (rt->trace_mem) { /* a start that failed: nothing to write */
		munmap(rt->trace_mem, rt->trace_len);
		free(rt->trace_path);
	}
	vsa_image_unmap(&rt->img);
	if (rt->cfg.domain)
		vsd_runtime_end(rt->cfg.domain); /* and the CPUs it held */
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
static void teardown(struct rt *rt, unsigned nthreads)
{
	struct rt_cpu *c0 = &rt->cpus[0];

	rt_schedtrace_stop();
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

	rt_offload_stop(); /* its threads, idle now that no task is left */
	rt_io_stop(); /* every CPU's I/O state, now that no kick can come */
	rt_trace_end(rt); /* every thread that wrote events is gone */
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
	if (rt->cfg.pin) /* the boot thread is the caller's again */
		(void)pthread_setaffinity_np(pthread_self(), sizeof(rt->allowed), &rt->allowed);
	rt_set_self(NULL);
	rt_g = NULL;
	rt_free(rt);
	atomic_store(&rt_claimed, 0);
}

int vs_runtime_start(const struct vs_config *cfg_in)
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
		memset(&cfg, 0, sizeof(cfg));
	if (cfg.domain) {
		/* a member's scheduler has the domain's shape */
		const struct vsd_geom *g = &cfg.domain->g;

		if (cfg.domain->pid != getpid())
			return -EPERM;
		if ((cfg.ncpus && cfg.ncpus != g->ncpus) ||
		    (cfg.queue_cap && cfg.queue_cap != g->queue_cap) ||
		    (cfg.max_tasks && cfg.max_tasks != g->max_tasks))
			return -EINVAL;
		cfg.ncpus = g->ncpus;
		cfg.queue_cap = g->queue_cap;
		cfg.max_tasks = g->max_tasks;
	}
	fill_defaults(&cfg);
	if (cfg.ncpus > VSCHED_MAX_CPUS || cfg.stack_size < 16384 ||
	    cfg.queue_cap < VSCHED_MIN_QUEUE || cfg.queue_cap > VSCHED_MAX_QUEUE ||
	    cfg.max_tasks < cfg.ncpus + 2 || cfg.max_tasks > VSCHED_MAX_TASKS ||
	    (unsigned)cfg.policy > VS_POLICY_CFS)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&rt_claimed, &zero, 1))
		return -EBUSY;

	rt = aligned_alloc(64, sizeof(*rt)); /* its "outside" lines are aligned */
	if (rt)
		memset(rt, 0, sizeof(*rt));
	if (!rt) {
		atomic_store(&rt_claimed, 0);
		return -ENOMEM;
	}
	rt->cfg = cfg;
	rt->ncpus = cfg.ncpus;
	(void)rt_cpus_allowed(&rt->allowed);
	rt->owner = (uint32_t)getpid();
	rt->parker = &rt_parker_futex;
	vs_wq_init(&rt->live_wq);
	rt->cpus = aligned_alloc(64, sizeof(*rt->cpus) * cfg.ncpus);
	if (!rt->cpus) {
		free(rt);
		atomic_store(&rt_claimed, 0);
		return -ENOMEM;
	}
	memset(rt->cpus, 0, sizeof(*rt->cpus) * cfg.ncpus);
	mo.geom = (struct vsched_geometry){ .ncpus = cfg.ncpus, .queue_cap = cfg.queue_cap,
					    .ntasks = cfg.max_tasks, .policy = cfg.policy,
					    .priv_size = sizeof(struct vs_task) };
	if (cfg.policy != VS_POLICY_FIFO) {
		/* slices in the core's own clock, measured against ours */
		rt->clk_per_ms = rt_clock_calibrate();
		mo.geom.slice = cfg.slice_ns / 1000 * rt->clk_per_ms / 1000;
		if (!mo.geom.slice)
			mo.geom.slice = 1;
	}
	if (cfg.domain) {
		/* the member's scheduler itself stays private (domain.h) */
		r = vsd_runtime_begin(cfg.domain);
		if (r < 0) {
			free(rt->cpus);
			free(rt);
			atomic_store(&rt_claimed, 0);
			return r;
		}
	}
	r = vsa_image_map_embedded(&rt->img, &mo);
	if (r < 0) {
		fprintf(stderr, "vsched: %s\n", rt->img.err);
		if (cfg.domain)
			vsd_runtime_end(cfg.domain);
		free(rt->cpus);
		free(rt);
		atomic_store(&rt_claimed, 0);
		return r;
	}
	vsa_install(&rt->img);
	rt->vvar = rt->img.vvar;
	/* the task records are the area's private task array (reserved, not
	 * committed: pages come as slots are first used) */
	rt->recs = (struct vs_task *)vsched_vvar_tpriv(rt->vvar, 0);
	for (unsigned i = 0; i < cfg.ncpus; i++) {
		rt->cpus[i].id = i;
		rt->cpus[i].core = vsched_vvar_cpus(rt->vvar) + i;
		rt->cpus[i].timers.lock = 0;
	}
	{
		const char *e = getenv("VSCHED_TASK_TIMES");

		r = rt_stats_start(rt, cfg.task_times || (e && *e && strcmp(e, "0") != 0));
	}
	if (r == 0)
		r = rt_trace_start(rt);
	if (r < 0) {
		rt_free(rt);
		atomic_store(&rt_claimed, 0);
		return r;
	}
	rt_g = rt;

	/* CPU 0: this thread becomes the boot task; its idle gets a stack */
	c0 = &rt->cpus[0];
	r = rt_io_start(); /* CPU 0's part on this thread, its own */
	if (r < 0) {
		rt_g = NULL;
		rt_free(rt);
		atomic_store(&rt_claimed, 0);
		return r;
	}
	if (cfg.domain)
		rt->parker = &rt_parker_domain;
	rt->boot = rt_task_create_thread(true, &r);
	if (!rt->boot)
		goto fail;
	c0->idle = rt_task_create(false, NULL, rt_idle_entry, c0, &r);
	if (!c0->idle)
		goto fail;
	c0->idle->idle = true;
	strcpy(c0->idle->name, "idle");
	atomic_store_explicit(&c0->idle->refs, 1, memory_order_relaxed);
	r = vsched_init(0, rt_ref(c0->idle), rt_ref(rt->boot));
	if (r < 0)
		goto fail;
	rt_set_self(c0);
	rt_stack_cpu_init(c0);
#ifdef __SANITIZE_THREAD__
	c0->tsan_transit = rt_tsan_fiber_new();
#endif
	c0->thread = pthread_self(); /* for the preemption signal */
	c0->cur = rt->boot;
	if (rt->ttimes)
		rt_tt_arrive(c0, rt->boot); /* it runs from now */
	if (cfg.domain)
		rt_dom_boot(c0); /* the boot task runs once CPU 0 is this member's */
	if (cfg.pin)
		rt_cpu_pin(0);
	atomic_store(&rt->online, 1);

	for (up = 1; up < cfg.ncpus; up++) {
		r = -pthread_create(&rt->cpus[up].thread, NULL, rt_cpu_thread, &rt->cpus[up]);
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
	rt_schedtrace_start();
	return 0;

fail:
	if (c0->idle)
		rt_task_destroy(c0->idle);
	rt_io_stop();
	rt_stack_fini();
	if (rt->cfg.pin) /* the boot thread is the caller's again */
		(void)pthread_setaffinity_np(pthread_self(), sizeof(rt->allowed), &rt->allowed);
	rt_set_self(NULL);
	rt_g = NULL;
	rt_free(rt);
	atomic_store(&rt_claimed, 0);
	return r;
}

/* Waits (on the boot task) until every spawned task has been reclaimed;
 * when cancelling, ends every blocked wait each millisecond meanwhile. */
static void wait_for_tasks(struct rt *rt, bool cancel)
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
		(void)rt_wq_block_locked(&rt->live_wq, c, cancel ? rt_now() + 1000000 : VS_NEVER,
					 false, false);
		c = rt_self();
	}
}

int vs_runtime_shutdown(enum vs_stop how)
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

int vs_runtime_stop(void)
{
	return vs_runtime_shutdown(VS_STOP_WAIT);
}

bool vs_runtime_cancelled(void)
{
	return rt_g && rt_cancelled();
}

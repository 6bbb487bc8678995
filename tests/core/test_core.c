/* SPDX-License-Identifier: MIT */
/*
 * The core through its exported API, on a freshly mapped image: bad input
 * on every entry point gets -errno and leaves the whole vvar area byte for
 * byte as it was; the state machine's basic transitions with real switches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "vsched_apis.h"

#define NCPUS 2
#define NTASKS 32
#define QCAP 8
#define STACK (64 * 1024)

struct fx {
	struct vsa_image img;
	const struct vsched_api *a;
	unsigned char *snap;
	vsched_ref_t boot, idle;
	void *stacks[4];
	int nstacks;
};

static struct fx *F; /* for the task bodies below */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vsa_map_opts o = {
		.geom = { .ncpus = NCPUS, .queue_cap = QCAP, .ntasks = NTASKS },
		.vvar_fd = -1,
	};

	assert_non_null(f);
	assert_int_equal(vsa_image_map_embedded(&f->img, &o), 0);
	f->a = &f->img.api;
	f->snap = malloc(f->img.area_size);
	assert_non_null(f->snap);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vsa_image_unmap(&f->img);
	while (f->nstacks)
		free(f->stacks[--f->nstacks]);
	free(f->snap);
	free(f);
	return 0;
}

static void *area(struct fx *f)
{
	return (char *)f->img.vvar + VSCHED_VVAR_HDR_SIZE - f->img.area_size;
}

static void snap(struct fx *f)
{
	memcpy(f->snap, area(f), f->img.area_size);
}

/* The whole vvar area is as it was at the last snap(). */
static void unchanged(struct fx *f, int line)
{
	const unsigned char *now = area(f);

	for (size_t i = 0; i < f->img.area_size; i++)
		if (now[i] != f->snap[i])
			fail_msg("line %d: vvar byte %zu changed (%u -> %u)", line, i,
				 f->snap[i], now[i]);
}
#define UNCHANGED(f) unchanged(f, __LINE__)

static vsched_ref_t alloc(struct fx *f, uint32_t kind, uint64_t sp)
{
	struct vsched_task_desc d = { .kind = kind, .owner = 1, .ctx_sp = sp };
	vsched_ref_t r = 0;

	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), 0);
	assert_int_not_equal(r, 0);
	return r;
}

static struct vsched_task *slot(struct fx *f, vsched_ref_t r)
{
	return vsched_vvar_tasks(f->img.vvar) + VSCHED_REF_IDX(r);
}

/* The core's private record of @r's task. */
static struct vsched_task_priv *tpriv(struct fx *f, vsched_ref_t r)
{
	return vsched_vvar_tpriv(f->img.vvar, VSCHED_REF_IDX(r));
}

static struct vsched_task *slot(struct fx *f, vsched_ref_t r);
static vsched_ref_t order[16];
static int norder;

/* the take_prev-after-claim check, armed by test_prev_cleared_once */
static bool claim_check, claim_seen, claim_kept;
static int claim_state;

/* chain[i] is woken (to runnext) when chain[i - 1] is polled */
static vsched_ref_t chain[16];
static int nchain;

static vsched_ref_t chain_next(vsched_ref_t cur)
{
	for (int i = 0; i + 1 < nchain; i++)
		if (chain[i] == cur)
			return chain[i + 1];
	return 0;
}

/*
 * The idle context of CPU 0 in these tests, a minimal dispatcher: each
 * stackless task made current is logged, marked exited and switched away
 * from with resched_f; with none current, it runs whatever is queued.
 */
static void idle_body(void *arg)
{
	(void)arg;
	for (;;) {
		vsched_ref_t cur = 0;

		if (claim_check) {
			/* resumed by a real switch: the task switched away from
			 * is already clear; another CPU may claim it at once */
			vsched_ref_t p = vsched_vvar_pcpus(F->img.vvar)[0].prev;

			uint32_t left = atomic_load(&slot(F, p)->state);

			claim_seen = tpriv(F, p)->on_cpu == 0;
			atomic_store(&tpriv(F, p)->on_cpu, 1);
			/* ...and even runs it to its end before we take it */
			atomic_store(&slot(F, p)->state, VSCHED_TASK_EXITED);
			claim_state = F->a->vsched_take_prev_task(0, NULL);
			claim_kept = tpriv(F, p)->on_cpu == 1;
			atomic_store(&slot(F, p)->state, left);
			atomic_store(&tpriv(F, p)->on_cpu, 0);
			claim_check = false;
		}
		(void)F->a->vsched_take_prev_task(0, NULL);
		assert_int_equal(F->a->vsched_current(0, &cur), 0);
		if (tpriv(F, cur)->kind == VSCHED_KIND_STACKLESS) {
			vsched_ref_t chain = chain_next(cur);

			if (chain)
				assert_int_equal(F->a->vsched_unblock_task(0, chain, VSCHED_WAKE_NEXT, 0), 1);
			order[norder++] = cur;
			assert_int_equal(F->a->vsched_mark_current(0, VSCHED_TASK_EXITED), 0);
			assert_int_equal(F->a->vsched_resched_f(0), 0);
		} else {
			/* nothing to run: a test's boot task that blocked itself
			 * to let the CPU look for work gets the CPU back */
			if (atomic_load(&slot(F, F->boot)->state) == VSCHED_TASK_BLOCKED)
				assert_int_equal(F->a->vsched_unblock_task(0, F->boot, 0, 0), 1);
			assert_int_equal(F->a->vsched_yield_now(0), 0);
		}
	}
}

static void *stack(struct fx *f)
{
	void *p = malloc(STACK);

	assert_non_null(p);
	assert_true(f->nstacks < 4);
	f->stacks[f->nstacks++] = p;
	return p;
}

/* Brings CPU 0 up with this thread as its boot task. */
static void up(struct fx *f)
{
	f->idle = alloc(f, VSCHED_KIND_STACKFUL, vs_ctx_init(stack(f), STACK, idle_body, NULL));
	f->boot = alloc(f, VSCHED_KIND_STACKFUL, 0);
	assert_int_equal(f->a->vsched_init(0, f->idle, f->boot), 0);
}

static void test_before_init(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t r = 0, t = alloc(f, VSCHED_KIND_STACKLESS, 0);
	uint64_t n = 7;

	snap(f);
	/* no CPU is up: every per-CPU call refuses (but a CPU in range that is
	 * not up has nothing queued) */
	assert_int_equal(a->vsched_queue_len(0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(a->vsched_current(0, &r), -EINVAL);
	assert_int_equal(a->vsched_take_prev_task(0, &r), -EINVAL);
	assert_int_equal(a->vsched_yield_now(0), -EINVAL);
	assert_int_equal(a->vsched_preempt_current(0), -EINVAL);
	assert_int_equal(a->vsched_resched(0), -EINVAL);
	assert_int_equal(a->vsched_resched_f(0), -EINVAL);
	assert_int_equal(a->vsched_yield_f(0), -EINVAL);
	assert_int_equal(a->vsched_switch_to(0, t, t), -EINVAL);
	assert_int_equal(a->vsched_spawn(0, t), -EINVAL);
	assert_int_equal(a->vsched_unblock_task(0, t, 0, VSCHED_CPU_NONE), -EINVAL);
	assert_int_equal(a->vsched_set_priority(0, t, 0), -EINVAL);
	assert_int_equal(a->vsched_task_tick(0, 1), -EINVAL);
	assert_int_equal(a->vsched_migrate_entry(0, 1), -EINVAL);
	assert_int_equal(a->vsched_mark_current(0, VSCHED_TASK_BLOCKED), -EINVAL);
	assert_int_equal(a->vsched_park(0, VSCHED_TASK_BLOCKED), -EINVAL);
	assert_int_equal(a->vsched_take_kicks(0, &n), -EINVAL);
	assert_int_equal(a->vsched_queue_len(NCPUS, &n), -EINVAL);
	assert_int_equal(a->vsched_queue_len(0, NULL), -EINVAL);
	/* a secondary before the primary */
	assert_int_equal(a->vsched_init_secondary(1, t), -EINVAL); /* stackless */
	UNCHANGED(f);
}

static void test_alloc_free(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKLESS };
	vsched_ref_t refs[NTASKS], r = 0, stale;

	snap(f);
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, NULL, &r), -EINVAL);
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, NULL), -EINVAL);
	assert_int_equal(a->vsched_task_alloc(NCPUS, &d, &r), -EINVAL);
	d.kind = 7;
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), -EINVAL);
	d.kind = VSCHED_KIND_STACKLESS;
	d.prio = 20;
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), -EINVAL);
	d.prio = 0;
	d.flags = VSCHED_TF_IDLE; /* only init makes an idle task */
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), -EINVAL);
	d.flags = 0;
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, 0), -ESRCH);
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, VSCHED_REF(1, NTASKS)), -ESRCH);
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, VSCHED_REF(1, 3)), -ESRCH);
	assert_int_equal(a->vsched_task_free(NCPUS + 5, VSCHED_REF(1, 0)), -EINVAL);
	UNCHANGED(f);

	/* exhaust the table: -EAGAIN, nothing changed; free one, reuse it */
	for (int i = 0; i < NTASKS; i++)
		assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &refs[i]), 0);
	snap(f);
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), -EAGAIN);
	UNCHANGED(f);
	for (int i = 0; i < NTASKS; i++)
		for (int j = 0; j < i; j++)
			assert_int_not_equal(VSCHED_REF_IDX(refs[i]), VSCHED_REF_IDX(refs[j]));
	stale = refs[5];
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, stale), 0);
	snap(f);
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, stale), -ESRCH);
	UNCHANGED(f);
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), 0);
	assert_int_equal(VSCHED_REF_IDX(r), VSCHED_REF_IDX(stale)); /* reused slot */
	assert_int_not_equal(r, stale);				 /* new generation */
	snap(f);
	assert_int_equal(a->vsched_task_free(VSCHED_CPU_NONE, stale), -ESRCH);
	UNCHANGED(f);
}

static void test_init(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t idle = alloc(f, VSCHED_KIND_STACKFUL,
				  vs_ctx_init(stack(f), STACK, idle_body, NULL));
	vsched_ref_t boot = alloc(f, VSCHED_KIND_STACKFUL, 0);
	vsched_ref_t co = alloc(f, VSCHED_KIND_STACKLESS, 0);
	vsched_ref_t noframe = alloc(f, VSCHED_KIND_STACKFUL, 0);
	vsched_ref_t cur = 0, sec;

	snap(f);
	assert_int_equal(a->vsched_init(NCPUS, idle, boot), -EINVAL);
	assert_int_equal(a->vsched_init(0, idle, idle), -EINVAL);
	assert_int_equal(a->vsched_init(0, co, boot), -EINVAL);	   /* idle stackless */
	assert_int_equal(a->vsched_init(0, idle, co), -EINVAL);	   /* boot stackless */
	assert_int_equal(a->vsched_init(0, noframe, boot), -EINVAL); /* idle can't start */
	assert_int_equal(a->vsched_init(0, VSCHED_REF(9, 1), boot), -ESRCH);
	assert_int_equal(a->vsched_init(0, idle, VSCHED_REF(1, NTASKS + 1)), -ESRCH);
	assert_int_equal(a->vsched_init_secondary(1, noframe), -EAGAIN);
	UNCHANGED(f);

	assert_int_equal(a->vsched_init(0, idle, boot), 0);
	assert_int_equal(a->vsched_current(0, &cur), 0);
	assert_int_equal(cur, boot);
	assert_int_equal(slot(f, boot)->state, VSCHED_TASK_RUNNING);
	snap(f);
	assert_int_equal(a->vsched_init(1, idle, boot), -EINVAL); /* not new */
	assert_int_equal(a->vsched_current(0, NULL), -EINVAL);
	assert_int_equal(a->vsched_current(1, &cur), -EINVAL);	    /* CPU 1 down */
	assert_int_equal(a->vsched_init_secondary(0, noframe), -EBUSY); /* CPU 0 up */
	UNCHANGED(f);
	sec = alloc(f, VSCHED_KIND_STACKFUL, 0);
	assert_int_equal(a->vsched_init_secondary(1, sec), 0);
	assert_int_equal(a->vsched_current(1, &cur), 0);
	assert_int_equal(cur, sec);
	snap(f);
	assert_int_equal(a->vsched_task_free(0, sec), -EBUSY);  /* an idle task */
	assert_int_equal(a->vsched_task_free(0, boot), -EBUSY); /* running */
	UNCHANGED(f);
}

static void test_wrong_state(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t co, co2, q;
	uint64_t len = 9, kicks = 9;

	up(f);
	co = alloc(f, VSCHED_KIND_STACKLESS, 0);
	co2 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	q = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, q), 0); /* one queued task */
	assert_int_equal(slot(f, q)->state, VSCHED_TASK_READY);

	snap(f);
	assert_int_equal(a->vsched_spawn(0, q), -EINVAL);	   /* already queued */
	assert_int_equal(a->vsched_spawn(0, f->boot), -EINVAL);	   /* running */
	assert_int_equal(a->vsched_spawn(0, f->idle), -EINVAL);	   /* idle */
	assert_int_equal(a->vsched_spawn(1, co), -EINVAL);	   /* CPU 1 down */
	assert_int_equal(a->vsched_spawn(0, VSCHED_REF(77, 2)), -ESRCH);
	assert_int_equal(a->vsched_resched(0), -EINVAL);   /* boot still running */
	assert_int_equal(a->vsched_resched_f(0), -EINVAL); /* boot is stackful */
	assert_int_equal(a->vsched_yield_f(0), -EINVAL);   /* likewise */
	assert_int_equal(a->vsched_switch_to(0, co, co2), -EINVAL); /* prev not current */
	assert_int_equal(a->vsched_switch_to(0, f->boot, f->boot), -EINVAL);
	assert_int_equal(a->vsched_switch_to(0, f->boot, q), -EINVAL); /* queued */
	assert_int_equal(a->vsched_switch_to(0, f->boot, f->idle), -EINVAL);
	assert_int_equal(a->vsched_switch_to(0, f->boot, VSCHED_REF(3, 1)), -ESRCH);
	assert_int_equal(a->vsched_unblock_task(0, co, 0, VSCHED_CPU_NONE), 0); /* not blocked */
	assert_int_equal(a->vsched_unblock_task(0, q, 0, 0), 0);
	assert_int_equal(a->vsched_unblock_task(0, co, 0x80, 0), -EINVAL);  /* flags */
	assert_int_equal(a->vsched_unblock_task(0, co, 0, NCPUS), -EINVAL); /* src */
	assert_int_equal(a->vsched_unblock_task(NCPUS, co, 0, 0), -EINVAL); /* dst */
	assert_int_equal(a->vsched_unblock_task(0, f->idle, 0, 0), -EINVAL); /* idle never blocks */
	assert_int_equal(a->vsched_set_priority(0, co, 20), -EINVAL);
	assert_int_equal(a->vsched_set_priority(0, co, -21), -EINVAL);
	assert_int_equal(a->vsched_set_priority(0, VSCHED_REF(5, 5), 0), -ESRCH);
	assert_int_equal(a->vsched_migrate_entry(0, NCPUS), -EINVAL);
	assert_int_equal(a->vsched_migrate_entry(0, 1), -EINVAL); /* CPU 1 down */
	assert_int_equal(a->vsched_task_free(0, q), -EBUSY);	  /* queued */
	assert_int_equal(a->vsched_task_free(0, f->boot), -EBUSY);
	/* states the runtime may set on its running task: blocked, exited */
	assert_int_equal(a->vsched_mark_current(0, VSCHED_TASK_READY), -EINVAL);
	assert_int_equal(a->vsched_mark_current(0, VSCHED_TASK_RUNNING), -EINVAL);
	assert_int_equal(a->vsched_mark_current(0, 42), -EINVAL);
	assert_int_equal(a->vsched_mark_current(1, VSCHED_TASK_BLOCKED), -EINVAL); /* down */
	assert_int_equal(a->vsched_park(0, VSCHED_TASK_READY), -EINVAL);
	assert_int_equal(a->vsched_park(0, 42), -EINVAL);
	assert_int_equal(a->vsched_park(NCPUS, VSCHED_TASK_BLOCKED), -EINVAL);
	assert_int_equal(a->vsched_take_kicks(0, NULL), -EINVAL);
	assert_int_equal(a->vsched_take_kicks(1, &kicks), -EINVAL); /* down */
	assert_int_equal(a->vsched_queue_len(NCPUS, &len), -EINVAL);
	assert_int_equal(a->vsched_queue_len(0, NULL), -EINVAL);
	UNCHANGED(f);
	/* the queries: q waits on CPU 0, nothing on the global ring, no kick */
	assert_int_equal(a->vsched_queue_len(0, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(a->vsched_queue_len(VSCHED_CPU_NONE, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(a->vsched_take_kicks(0, &kicks), 0);
	assert_int_equal(kicks, 0);
	UNCHANGED(f);
	/* the running boot task marked blocked: once, not twice */
	assert_int_equal(a->vsched_mark_current(0, VSCHED_TASK_BLOCKED), 0);
	assert_int_equal(slot(f, f->boot)->state, VSCHED_TASK_BLOCKED);
	snap(f);
	assert_int_equal(a->vsched_mark_current(0, VSCHED_TASK_EXITED), -EINVAL);
	assert_int_equal(a->vsched_park(0, VSCHED_TASK_BLOCKED), -EINVAL);
	UNCHANGED(f);
	atomic_store(&slot(f, f->boot)->state, VSCHED_TASK_RUNNING); /* as it was */

	/* a blocked task: the boot task cannot be a stale blocked one, so make
	 * a stackless task blocked through the shared slot, as a runtime does */
	atomic_store(&slot(f, co)->state, VSCHED_TASK_BLOCKED);
	assert_int_equal(a->vsched_unblock_task(0, co, 0, VSCHED_CPU_NONE), 1);
	assert_int_equal(slot(f, co)->state, VSCHED_TASK_READY);
	snap(f);
	assert_int_equal(a->vsched_unblock_task(0, co, 0, VSCHED_CPU_NONE), 0); /* twice */
	UNCHANGED(f);
	assert_int_equal(a->vsched_set_priority(0, co, 5), 0);
	assert_int_equal(slot(f, co)->prio, 5);
}

/*
 * Boot yields behind three stackless tasks: the first becomes current on
 * the idle context (a real switch), the next two are handed over with no
 * switch, then boot is switched back to. FIFO order, each exactly once.
 */
static void test_fifo_switches(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t t[3], cur = 0, prev = 0;
	uint64_t sw;

	up(f);
	norder = 0;
	for (int i = 0; i < 3; i++) {
		t[i] = alloc(f, VSCHED_KIND_STACKLESS, 0);
		assert_int_equal(a->vsched_spawn(0, t[i]), 0);
	}
	sw = vsched_vvar_cpus(f->img.vvar)[0].nr_switches;
	assert_int_equal(a->vsched_yield_now(0), 0);
	assert_int_equal(a->vsched_current(0, &cur), 0);
	assert_int_equal(cur, f->boot);
	assert_int_equal(slot(f, f->boot)->state, VSCHED_TASK_RUNNING);
	assert_int_equal(norder, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(order[i], t[i]);
		assert_int_equal(slot(f, t[i])->state, VSCHED_TASK_EXITED);
	}
	/* boot->t0, t0->t1, t1->t2, t2->boot: four changes of current */
	assert_int_equal(vsched_vvar_cpus(f->img.vvar)[0].nr_switches - sw, 4);
	assert_int_equal(a->vsched_take_prev_task(0, &prev), VSCHED_TASK_EXITED);
	assert_int_equal(prev, t[2]);
	assert_int_equal(tpriv(f, prev)->on_cpu, 0);
	assert_int_equal(a->vsched_take_prev_task(0, &prev), 0);
	assert_int_equal(prev, 0); /* taken once */
	for (int i = 0; i < 3; i++)
		assert_int_equal(a->vsched_task_free(0, t[i]), 0);
	/* nothing queued now: a yield keeps the CPU */
	assert_int_equal(a->vsched_yield_now(0), 0);
	assert_int_equal(vsched_vvar_cpus(f->img.vvar)[0].nr_switches - sw, 4);
}

/*
 * The on_cpu handshake, deterministically: a queued task whose on_cpu is
 * still set (another CPU has not finished switching away from it) is not
 * run; the CPU takes the next one, and runs the first once it is clear.
 */
static void test_on_cpu_handshake(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t ta, tb, cur = 0;

	up(f);
	norder = 0;
	ta = alloc(f, VSCHED_KIND_STACKLESS, 0);
	tb = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, ta), 0);
	assert_int_equal(a->vsched_spawn(0, tb), 0);
	atomic_store(&tpriv(f, ta)->on_cpu, 1); /* "still leaving CPU 1" */

	assert_int_equal(a->vsched_yield_now(0), 0);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], tb); /* ta was passed over */
	assert_int_equal(slot(f, ta)->state, VSCHED_TASK_READY);
	assert_int_equal(a->vsched_current(0, &cur), 0);
	assert_int_equal(cur, f->boot);

	atomic_store_explicit(&tpriv(f, ta)->on_cpu, 0, memory_order_release);
	assert_int_equal(a->vsched_yield_now(0), 0);
	assert_int_equal(norder, 2);
	assert_int_equal(order[1], ta); /* and run once it is clear */
	assert_int_equal(slot(f, ta)->state, VSCHED_TASK_EXITED);
}

/* As if @t had been spawned, run, and blocked: the core's private record
 * says it is live (a task never spawned is never run from a queue). */
static void block(struct fx *f, vsched_ref_t t)
{
	atomic_store(&tpriv(f, t)->live, 1);
	atomic_store(&slot(f, t)->state, VSCHED_TASK_BLOCKED);
}

static void expect_order(const vsched_ref_t *want, int n)
{
	assert_int_equal(norder, n);
	for (int i = 0; i < n; i++)
		if (order[i] != want[i])
			fail_msg("run %d: got task %u, want task %u", i,
				 VSCHED_REF_IDX(order[i]), VSCHED_REF_IDX(want[i]));
}

/* A task woken with VSCHED_WAKE_NEXT runs before the queue; a second one
 * woken the same way displaces the first to the tail. */
static void test_runnext(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t q0, q1, w0, w1;

	up(f);
	norder = nchain = 0;
	q0 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	q1 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	w0 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	w1 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, q0), 0);
	assert_int_equal(a->vsched_spawn(0, q1), 0);
	block(f, w0);
	block(f, w1);
	assert_int_equal(a->vsched_unblock_task(0, w0, VSCHED_WAKE_NEXT, 0), 1);
	assert_int_equal(vsched_vvar_cpus(f->img.vvar)[0].runnext, VSCHED_REF_IDX(w0) + 1);
	assert_int_equal(a->vsched_unblock_task(0, w1, VSCHED_WAKE_NEXT, 0), 1);
	assert_int_equal(a->vsched_yield_now(0), 0);
	expect_order((vsched_ref_t[]){ w1, q0, q1, w0 }, 4);
}

/* Tasks waking each other through runnext get 8 turns in a row, then the
 * queue gets one: the hand-off chain cannot starve it. */
static void test_runnext_streak(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t q, want[11];

	up(f);
	norder = 0;
	nchain = 10;
	q = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, q), 0);
	for (int i = 0; i < nchain; i++) {
		chain[i] = alloc(f, VSCHED_KIND_STACKLESS, 0);
		block(f, chain[i]);
	}
	assert_int_equal(a->vsched_unblock_task(0, chain[0], VSCHED_WAKE_NEXT, 0), 1);
	assert_int_equal(a->vsched_yield_now(0), 0);
	for (int i = 0; i < 8; i++)
		want[i] = chain[i];
	want[8] = q;
	want[9] = chain[8];
	want[10] = chain[9];
	expect_order(want, 11);
	nchain = 0;
}

/* Brings CPU 1 up as a CPU that never runs (its thread is this one, busy
 * elsewhere): its queue is only ever emptied by CPU 0 stealing. */
static void up_second(struct fx *f)
{
	assert_int_equal(f->a->vsched_init_secondary(1, alloc(f, VSCHED_KIND_STACKFUL, 0)), 0);
}

static vsched_ref_t alloc_aff(struct fx *f, uint64_t affinity)
{
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKLESS, .owner = 1,
				      .affinity = affinity };
	vsched_ref_t r = 0;

	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), 0);
	return r;
}

/* An empty CPU steals half of another's queue each time it runs dry. */
static void test_steal_half(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	struct vsched_cpu *cpus = vsched_vvar_cpus(f->img.vvar);
	vsched_ref_t s[4];

	up(f);
	up_second(f);
	norder = nchain = 0;
	for (int i = 0; i < 4; i++) {
		s[i] = alloc(f, VSCHED_KIND_STACKLESS, 0);
		assert_int_equal(a->vsched_spawn(1, s[i]), 0);
	}
	/* boot blocks: CPU 0 has nothing, so it steals */
	block(f, f->boot);
	assert_int_equal(a->vsched_resched(0), 0);
	expect_order(s, 4);
	/* half of 4, then half of 2, then the last one */
	assert_int_equal(cpus[0].nr_steals, 4);
	assert_int_equal(cpus[1].rq_enq - cpus[1].rq_deq, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(slot(f, s[i])->cpu, 0);
}

/* Affinity holds everywhere: spawn, unblock, migrate and stealing. */
static void test_affinity(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	struct vsched_cpu *cpus = vsched_vvar_cpus(f->img.vvar);
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKLESS, .affinity = 1ull << 5 };
	vsched_ref_t pin1, free0, w, r = 0;

	up(f);
	up_second(f);
	norder = nchain = 0;
	snap(f);
	/* a mask naming no CPU of this domain */
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), -EINVAL);
	UNCHANGED(f);
	pin1 = alloc_aff(f, 1ull << 1);
	free0 = alloc_aff(f, 0);
	w = alloc_aff(f, 1ull << 1);
	snap(f);
	assert_int_equal(a->vsched_spawn(0, pin1), -EINVAL); /* not allowed on 0 */
	UNCHANGED(f);
	assert_int_equal(a->vsched_spawn(1, pin1), 0);
	assert_int_equal(a->vsched_spawn(1, free0), 0);
	/* a waker asking for CPU 0 gets the task put where it may run */
	block(f, w);
	assert_int_equal(a->vsched_unblock_task(0, w, VSCHED_WAKE_NEXT, 0), 1);
	assert_int_equal(slot(f, w)->cpu, 1);
	assert_int_equal(cpus[0].runnext, 0);
	/* CPU 0 steals past the pinned tasks: only free0 moves */
	block(f, f->boot);
	assert_int_equal(a->vsched_resched(0), 0);
	expect_order((vsched_ref_t[]){ free0 }, 1);
	/* pin1 went back to CPU 1's queue: CPU 1 must be woken for it */
	assert_int_equal(cpus[0].kick, 1ull << 1);
	assert_int_equal(slot(f, pin1)->state, VSCHED_TASK_READY);
	assert_int_equal(slot(f, pin1)->cpu, 1);
	assert_int_equal(slot(f, w)->state, VSCHED_TASK_READY);
	assert_int_equal(cpus[1].rq_enq - cpus[1].rq_deq, 1);
	assert_int_equal(cpus[1].runnext, VSCHED_REF_IDX(w) + 1);
}

/*
 * A task that must run on CPU 1 (STAY, as a spawn with a CPU makes it)
 * spilled to the global ring: a CPU that takes it from there and may not
 * run it puts it back and asks for CPU 1 to be woken, not for a CPU its
 * (empty) affinity names. CPU 1 may be asleep, and nobody else would.
 */
static void test_global_stay(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	struct vsched_cpu *cpus = vsched_vvar_cpus(f->img.vvar);
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKLESS, .flags = VSCHED_TF_STAY };
	vsched_ref_t s[QCAP], stay = 0;
	uint64_t len = 0;

	up(f);
	up_second(f);
	norder = nchain = 0;
	/* CPU 1's ring full of tasks anyone may run, then one for CPU 1 only,
	 * which goes to the global ring */
	for (int i = 0; i < QCAP; i++) {
		s[i] = alloc(f, VSCHED_KIND_STACKLESS, 0);
		assert_int_equal(a->vsched_spawn(1, s[i]), 0);
	}
	assert_int_equal(a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &stay), 0);
	assert_int_equal(a->vsched_spawn(1, stay), 0);
	assert_int_equal(a->vsched_queue_len(VSCHED_CPU_NONE, &len), 0);
	assert_int_equal(len, 1);
	/* CPU 0, out of work, looks at the global ring before stealing */
	block(f, f->boot);
	assert_int_equal(a->vsched_resched(0), 0);
	expect_order(s, QCAP);
	assert_int_equal(slot(f, stay)->state, VSCHED_TASK_READY);
	assert_int_equal(a->vsched_queue_len(VSCHED_CPU_NONE, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(cpus[0].kick, 1ull << 1);
}

/*
 * A task's on_cpu is cleared once per switch away from it. Here, after the
 * idle context is resumed by a real switch, boot's on_cpu is already clear;
 * "another CPU" then claims boot (as a thief would) and even runs it to
 * its exit: take_prev must neither clear that claim nor report the exit
 * (which would make two CPUs reclaim one task).
 */
static void test_prev_cleared_once(void **state)
{
	struct fx *f = *state;
	const struct vsched_api *a = f->a;
	vsched_ref_t s1, s2;

	up(f);
	norder = nchain = 0;
	s1 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, s1), 0);
	assert_int_equal(a->vsched_yield_now(0), 0); /* idle starts fresh */
	s2 = alloc(f, VSCHED_KIND_STACKLESS, 0);
	assert_int_equal(a->vsched_spawn(0, s2), 0);
	claim_check = true;
	assert_int_equal(a->vsched_yield_now(0), 0); /* idle is resumed */
	assert_false(claim_check);
	assert_true(claim_seen);
	assert_true(claim_kept);
	/* the state it left in (it yielded), not the exit it reached since:
	 * the other CPU reclaims it, not this one */
	assert_int_equal(claim_state, VSCHED_TASK_READY);
	expect_order((vsched_ref_t[]){ s1, s2 }, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_before_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_switches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_cpu_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runnext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runnext_streak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steal_half, setup, teardown),
		cmocka_unit_test_setup_teardown(test_affinity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prev_cleared_once, setup, teardown),
	};

	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}

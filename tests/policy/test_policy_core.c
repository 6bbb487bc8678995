/* SPDX-License-Identifier: MIT */
/*
 * The policies in the core, on a clock the test turns by hand: FIFO order,
 * RR rotation and slice accounting, CFS pick order, weights and a
 * min_vruntime that only grows, set_priority moving a queued task, and the
 * tick. Stackless tasks on CPU 1, whose idle context is this thread, so
 * every switch is a hand-off that moves no registers.
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

#define NTASKS 32
#define U 1000ull		/* a unit of the test clock */
#define SLICE (1000 * U) /* core clock units */
#define STACK (64 * 1024)
#define CPU 1

struct fx {
	struct vsa_image img;
	const struct vsched_api *a;
	struct vsched_vvar *h;
	void *stack;
};

static void never(void *arg)
{
	(void)arg;
	abort(); /* CPU 0's idle: this test never blocks CPU 0 */
}

static struct fx *fx_new(uint32_t policy)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vsa_map_opts o = {
		.geom = { .ncpus = 2, .queue_cap = 16, .ntasks = NTASKS, .policy = policy,
			  .slice = SLICE },
		.vvar_fd = -1,
	};
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKFUL, .owner = 1 };
	vsched_ref_t idle0, boot, idle1;

	assert_non_null(f);
	assert_int_equal(vsa_image_map_embedded(&f->img, &o), 0);
	f->a = &f->img.api;
	f->h = f->img.vvar;
	atomic_store(&vsched_vvar_glob(f->h)->clock_override, 1);
	f->stack = malloc(STACK);
	assert_non_null(f->stack);
	d.ctx_sp = vs_ctx_init(f->stack, STACK, never, NULL);
	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &idle0), 0);
	d.ctx_sp = 0;
	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &boot), 0);
	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &idle1), 0);
	assert_int_equal(f->a->vsched_init(0, idle0, boot), 0);
	assert_int_equal(f->a->vsched_init_secondary(CPU, idle1), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	vsa_image_unmap(&f->img);
	free(f->stack);
	free(f);
}

static void advance(struct fx *f, uint64_t d)
{
	atomic_fetch_add(&vsched_vvar_glob(f->h)->clock_override, d);
}

static vsched_ref_t spawn(struct fx *f, int prio)
{
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKLESS, .owner = 1, .prio = prio };
	vsched_ref_t r;

	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r), 0);
	assert_int_equal(f->a->vsched_spawn(CPU, r), 0);
	return r;
}

static vsched_ref_t current(struct fx *f)
{
	vsched_ref_t r = 0;

	assert_int_equal(f->a->vsched_current(CPU, &r), 0);
	return r;
}

static struct vsched_task *slot(struct fx *f, vsched_ref_t r)
{
	return vsched_vvar_tasks(f->h) + VSCHED_REF_IDX(r);
}

static struct vsched_cpu *cpu(struct fx *f)
{
	return vsched_vvar_cpus(f->h) + CPU;
}

/* From idle: run the first queued task. */
static vsched_ref_t first(struct fx *f)
{
	assert_int_equal(f->a->vsched_yield_now(CPU), 0);
	return current(f);
}

/* The current task runs for @d, then yields: returns the next one. */
static vsched_ref_t run_yield(struct fx *f, uint64_t d)
{
	advance(f, d);
	assert_int_equal(f->a->vsched_yield_f(CPU), 0);
	return current(f);
}

/* ------------------------------------------------------------- FIFO */

static void test_fifo_order(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_FIFO);
	vsched_ref_t t[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		t[i] = spawn(f, 19 - 10 * i); /* priorities do not reorder FIFO */
	assert_int_equal(first(f), t[0]);
	for (int lap = 0; lap < 3; lap++)
		for (int i = 0; i < 3; i++)
			assert_int_equal(run_yield(f, 5 * SLICE), t[(i + 1) % 3]);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 0); /* FIFO never preempts */
	fx_free(f);
}

/* --------------------------------------------------------------- RR */

static void test_rr_slices(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_RR);
	vsched_ref_t a, b, c;

	(void)state;
	a = spawn(f, 0);
	b = spawn(f, 0);
	c = spawn(f, 0);
	assert_int_equal(first(f), a);
	assert_int_equal(slot(f, a)->pol_aux, SLICE); /* a full slice at the start */
	advance(f, 400 * U);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 0); /* 400 of 1000 */
	assert_int_equal(slot(f, a)->need_resched, 0);
	advance(f, 600 * U);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 1); /* used up */
	assert_int_equal(slot(f, a)->need_resched, 1);
	/* to the back with a new slice: b, c, then a */
	assert_int_equal(run_yield(f, 0), b);
	assert_int_equal(slot(f, a)->pol_aux, SLICE);
	/* b yields with slice left: it keeps what is left, at the back */
	assert_int_equal(run_yield(f, 300 * U), c);
	assert_int_equal(slot(f, b)->pol_aux, SLICE - 300 * U);
	assert_int_equal(run_yield(f, 100 * U), a);
	assert_int_equal(run_yield(f, 100 * U), b);
	/* b has 700 left: the tick waits for them */
	advance(f, 700 * U - 1);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 0);
	advance(f, 1);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 1);
	assert_int_equal(run_yield(f, 0), c);
	assert_int_equal(slot(f, b)->pol_aux, SLICE); /* spent, refilled */
	fx_free(f);
}

/*
 * RR's front: a stackful task preempted with slice left stays first (it
 * keeps running); preempted with its slice spent, it goes to the back. It
 * runs on its own stack, on this thread; its records are checked here.
 */
static vsched_ref_t rr_t, rr_cur_after_front;
static uint32_t rr_left_after_front;
static int rr_resumed;

static void rr_body(void *arg)
{
	struct fx *f = arg;
	vsched_ref_t cur = 0;

	(void)!f->a->vsched_current(CPU, &cur);
	rr_t = cur;
	advance(f, 100 * U);
	(void)!f->a->vsched_preempt_current(CPU); /* 900 left: to the front */
	(void)!f->a->vsched_current(CPU, &rr_cur_after_front);
	rr_left_after_front = slot(f, rr_t)->pol_aux;
	advance(f, SLICE);
	(void)!f->a->vsched_preempt_current(CPU); /* spent: to the back */
	rr_resumed = 1;
	atomic_store(&slot(f, rr_t)->state, VSCHED_TASK_BLOCKED);
	(void)!f->a->vsched_resched(CPU); /* never resumed again */
	abort();
}

static void test_rr_front(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_RR);
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKFUL, .owner = 1 };
	void *stack = malloc(STACK);
	vsched_ref_t t, a, b;

	(void)state;
	assert_non_null(stack);
	rr_resumed = 0;
	d.ctx_sp = vs_ctx_init(stack, STACK, rr_body, f);
	assert_int_equal(f->a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &t), 0);
	assert_int_equal(f->a->vsched_spawn(CPU, t), 0);
	a = spawn(f, 0);
	b = spawn(f, 0);
	/* runs t on its stack until it is switched out for a */
	assert_int_equal(first(f), a);
	assert_int_equal(rr_t, t);
	assert_int_equal(rr_cur_after_front, t); /* kept the CPU: first in line */
	assert_int_equal(rr_left_after_front, SLICE - 100 * U);
	assert_int_equal(rr_resumed, 0);
	/* t went to the back, behind b: a, b, then t (which blocks) */
	assert_int_equal(run_yield(f, 0), b);
	assert_int_equal(rr_resumed, 0);
	assert_int_equal(run_yield(f, 0), a);
	assert_int_equal(rr_resumed, 1);
	fx_free(f);
	free(stack);
}

/* -------------------------------------------------------------- CFS */

static uint64_t min_vrt(struct fx *f)
{
	return atomic_load(&cpu(f)->min_vruntime);
}

static void test_cfs_order_and_weights(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_CFS);
	vsched_ref_t n0, n5, cur;
	uint64_t last_min = 0;
	int turns0 = 0, turns5 = 0;

	(void)state;
	n0 = spawn(f, 0);
	n5 = spawn(f, 5);
	/* new tasks start one weighted slice ahead: nice 0 first */
	cur = first(f);
	assert_int_equal(cur, n0);
	assert_int_equal(slot(f, n5)->vruntime, (SLICE * 1024 + 334) / 335);
	/* equal turns of real time: the one least ahead in virtual time runs */
	for (int i = 0; i < 4000; i++) {
		if (cur == n0)
			turns0++;
		else
			turns5++;
		cur = run_yield(f, SLICE / 4);
		assert_true(min_vrt(f) >= last_min);
		last_min = min_vrt(f);
	}
	print_message("turns: nice0 %d, nice5 %d (%.3f; weights 1024:335 = %.3f)\n", turns0,
		      turns5, (double)turns0 / turns5, 1024.0 / 335);
	assert_true(turns0 * 335 >= turns5 * 1024 * 98 / 100);
	assert_true(turns0 * 335 <= turns5 * 1024 * 102 / 100);
	/* the floor follows the least of what runs and waits */
	assert_true(last_min <= slot(f, n0)->vruntime || last_min <= slot(f, n5)->vruntime);
	fx_free(f);
}

static void test_cfs_set_priority_moves(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_CFS);
	vsched_ref_t t[4], cur;

	(void)state;
	for (int i = 0; i < 4; i++)
		t[i] = spawn(f, 0);
	/* each runs 100 units more than the one before it: a b c d */
	cur = first(f);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cur, t[i]);
		cur = run_yield(f, 100 * U * (i + 1));
	}
	assert_int_equal(cur, t[0]);
	/* as things stand d runs last; at nice -20 its lead on the floor
	 * shrinks 87-fold, so it runs as soon as a has caught up with it */
	assert_int_equal(f->a->vsched_set_priority(0, t[3], -20), 0);
	assert_int_equal(run_yield(f, 50 * U), t[0]);
	assert_int_equal(run_yield(f, 10 * U), t[3]); /* before b and c */
	/* b is ahead of c; at nice 19 its lead grows 68-fold: behind c */
	assert_true(slot(f, t[1])->vruntime < slot(f, t[2])->vruntime);
	assert_int_equal(f->a->vsched_set_priority(0, t[1], 19), 0);
	assert_int_equal(run_yield(f, 50 * U), t[3]); /* d still least */
	assert_true(slot(f, t[1])->vruntime > slot(f, t[2])->vruntime);
	assert_int_equal(slot(f, t[1])->prio, 19);
	fx_free(f);
}

static void test_cfs_tick(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_CFS);
	vsched_ref_t a, b;

	(void)state;
	a = spawn(f, 0);
	assert_int_equal(first(f), a);
	advance(f, 10 * SLICE);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 0); /* alone: runs on */
	b = spawn(f, 0);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 1); /* someone waits */
	assert_int_equal(slot(f, a)->need_resched, 1);
	/* b starts a weighted slice ahead of the floor: a first catches up */
	assert_int_equal(run_yield(f, 0), a);
	assert_int_equal(run_yield(f, SLICE + 1), b);
	advance(f, SLICE - 1);
	assert_int_equal(f->a->vsched_task_tick(CPU, 0), 0); /* b's turn is not over */
	fx_free(f);
}

/* -------------------------------------------------------- bad input */

static void test_bad_input(void **state)
{
	struct fx *f = fx_new(VSCHED_POLICY_CFS);
	vsched_ref_t a = spawn(f, 3);
	unsigned char *before = malloc(f->img.area_size);
	unsigned char *area = (unsigned char *)f->h + VSCHED_VVAR_HDR_SIZE - f->img.area_size;

	(void)state;
	assert_non_null(before);
	memcpy(before, area, f->img.area_size);
	assert_int_equal(f->a->vsched_set_priority(0, a, -21), -EINVAL);
	assert_int_equal(f->a->vsched_set_priority(0, a, 20), -EINVAL);
	assert_int_equal(f->a->vsched_set_priority(0, a + 1, 0), -ESRCH);
	assert_int_equal(f->a->vsched_set_priority(7, a, 0), -EINVAL);
	assert_int_equal(f->a->vsched_task_tick(2, 0), -EINVAL);
	assert_memory_equal(before, area, f->img.area_size);
	assert_int_equal(slot(f, a)->prio, 3);
	free(before);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_order),
		cmocka_unit_test(test_rr_slices),
		cmocka_unit_test(test_rr_front),
		cmocka_unit_test(test_cfs_order_and_weights),
		cmocka_unit_test(test_cfs_set_priority_moves),
		cmocka_unit_test(test_cfs_tick),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* What the sync tests share: the error count kept by tasks, and starting,
 * stopping, spawning on a CPU and joining with the runtime. */
#ifndef TESTS_SYNC_SYNC_COMMON_H
#define TESTS_SYNC_SYNC_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "vsched/sync.h"

/* Tasks contending in the mutex and semaphore tests. */
#define LOCKERS 8

/* Tasks cannot use cmocka's asserts (they longjmp across stacks): they
 * count what went wrong here, and the test checks it is still 0. */
static atomic_int errors;

#define EXPECT(cond)                                 \
	do {                                         \
		if (!(cond))                         \
			atomic_fetch_add(&errors, 1); \
	} while (0)

static inline bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static inline int scaled(int native, int under_qemu)
{
	return emulated() ? under_qemu : native;
}

static inline void start(unsigned ncpus)
{
	struct vs_config cfg = { .ncpus = ncpus }; /* the rest: defaults */

	atomic_store(&errors, 0);
	assert_int_equal(vs_runtime_start(&cfg), 0);
}

static inline void stop(void)
{
	assert_int_equal(atomic_load(&errors), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

static inline vs_task_t *spawn_on(vs_task_fn fn, void *arg, int cpu)
{
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = cpu };
	vs_task_t *t = NULL;

	assert_int_equal(vs_task_spawn(fn, arg, &a, &t), 0);
	return t;
}

static inline vs_task_t *spawn_poll_on(vs_poll_fn fn, void *state, int cpu)
{
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = cpu };
	vs_task_t *t = NULL;

	assert_int_equal(vs_task_spawn_poll(fn, state, &a, &t), 0);
	return t;
}

static inline void join_expect(vs_task_t *t, int expect)
{
	int code = -1;

	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, expect);
}

static inline void yield_n(int n)
{
	while (n--)
		assert_int_equal(vs_task_yield(), 0);
}

#endif

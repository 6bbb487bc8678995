/* SPDX-License-Identifier: MIT */
/*
 * Starting the runtime in a test: the defaults with @ncpus CPUs, asserted
 * to succeed (include cmocka.h first); and a teardown that stops what a
 * failed test left running, so the next test can start.
 */
#ifndef VS_TEST_START_H
#define VS_TEST_START_H

#include "vsched/vs.h"

static inline void start(unsigned ncpus)
{
	struct vs_config cfg = { .ncpus = ncpus }; /* the rest: defaults */

	assert_int_equal(vs_runtime_start(&cfg), 0);
}

static inline int stop_left(void **state)
{
	(void)state;
	if (vs_task_self())
		(void)vs_runtime_shutdown(VS_STOP_CANCEL);
	return 0;
}

#endif

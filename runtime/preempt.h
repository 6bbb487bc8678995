/* SPDX-License-Identifier: MIT */
/*
 * Time slices and preemption (preempt.c): the ticking thread and the
 * preemption signal.
 */
#ifndef VS_RUNTIME_PREEMPT_H
#define VS_RUNTIME_PREEMPT_H

#include "rt.h"

/* The core clock's units in a millisecond, measured (policies with time). */
uint64_t rt_clock_calibrate(void);
/* Starts the ticking thread and the preemption signal; stops them. */
int rt_preempt_start(void);
void rt_preempt_stop(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer's view of task switches, empty in other builds. Every
 * stackful task is a TSan fiber; the core (uninstrumented) switches stacks,
 * so the code resumed after a switch tells TSan which fiber it is before
 * any instrumented code runs (rt_tsan_resume, from park.c, or an entry
 * function built without instrumentation). The core's queues and its free
 * list of slots are invisible to TSan too: hand-offs through them are
 * annotated as a release and an acquire on the task's record.
 */
#ifndef VS_RUNTIME_TSAN_H
#define VS_RUNTIME_TSAN_H

#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>

/* Not instrumented: code that runs before TSan knows the fiber is ours. */
#define RT_NO_TSAN __attribute__((no_sanitize_thread, noinline))

static inline void *rt_tsan_fiber_new(void)
{
	return __tsan_create_fiber(0);
}

static inline void *rt_tsan_fiber_self(void)
{
	return __tsan_get_current_fiber();
}

static inline void rt_tsan_fiber_free(void *fiber)
{
	if (fiber)
		__tsan_destroy_fiber(fiber);
}

/*
 * A hand-off through the core, which TSan cannot see: a release on the
 * task's record before the core may give it to another thread (made
 * runnable, its slot freed), an acquire once it is taken there (resumed,
 * polled, its slot allocated again).
 */
static inline void rt_tsan_release(void *rec)
{
	__tsan_release(rec);
}

static inline void rt_tsan_acquire(void *rec)
{
	__tsan_acquire(rec);
}

#else

#define RT_NO_TSAN

static inline void *rt_tsan_fiber_new(void)
{
	return 0;
}

static inline void *rt_tsan_fiber_self(void)
{
	return 0;
}

static inline void rt_tsan_fiber_free(void *fiber)
{
	(void)fiber;
}

static inline void rt_tsan_release(void *rec)
{
	(void)rec;
}

static inline void rt_tsan_acquire(void *rec)
{
	(void)rec;
}

#endif
#endif

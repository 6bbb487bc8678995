/* SPDX-License-Identifier: MIT */
/*
 * The core is compiled as this one translation unit, so the compiler sees
 * every file at once and inlines the hot path (yield, pick, enqueue, the
 * task table's lookups) across them, as link-time optimisation would,
 * without its flags or its plugin in the image's build.
 */
#include "api.c"
#include "lib.c"
#include "task.c"
#include "rq.c"
#include "fifo.c"
#include "cfs.c"
#include "policy.c"
#include "sched.c"

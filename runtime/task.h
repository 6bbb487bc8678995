/* SPDX-License-Identifier: MIT */
/*
 * Tasks (task.c): creating and freeing records, references, reclaim, and
 * the dispatcher that polls stackless tasks.
 */
#ifndef VS_RUNTIME_TASK_H
#define VS_RUNTIME_TASK_H

#include "rt.h"

/* Frees what an exited task held, once it is off every CPU. */
void rt_task_reclaim(struct rt_cpu *c, struct vs_task *t);
/* A new task, not yet spawned: its slot, its record and (stackful) its
 * stack with a context entering entry(arg). NULL with *err set. */
struct vs_task *rt_task_create(bool stackless, const struct vs_task_attr *attr,
			       void (*entry)(void *), void *arg, int *err);
/* The record of a task standing for a thread's own stack. */
struct vs_task *rt_task_create_thread(bool boot, int *err);
/* Undoes rt_task_create of a task never spawned. */
void rt_task_destroy(struct vs_task *t);
/* Drops a reference; the last one frees the slot (and so the record). */
void rt_task_put(struct vs_task *t);
/* Takes a reference on a record that may be free: false if it was. */
bool rt_task_tryget(struct vs_task *t);
void rt_dispatch(struct rt_cpu *c);

#endif

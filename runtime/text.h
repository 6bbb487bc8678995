/* SPDX-License-Identifier: MIT */
/*
 * Where the runtime's code lives: one section, vsrt_text, so that the
 * preemption signal can tell (as Linux's __sched does for wchan) whether
 * it interrupted the runtime, which it must never switch out of.
 */
#ifndef VS_RUNTIME_TEXT_H
#define VS_RUNTIME_TEXT_H

#define RT_TEXT __attribute__((section("vsrt_text")))

/* The linker's bounds of the section. */
extern const char __start_vsrt_text[], __stop_vsrt_text[];

#endif

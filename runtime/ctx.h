/* SPDX-License-Identifier: MIT */
/*
 * The first frame of a new task: a stack that vsched_arch_switch can switch
 * into, and that starts entry(arg) when it does.
 */
#ifndef VS_RUNTIME_CTX_H
#define VS_RUNTIME_CTX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Builds, at the 16-byte aligned top of [stack_lo, stack_lo + stack_size),
 * the frame vsched_arch_switch pops, so that switching to the returned stack
 * pointer runs entry(arg) on that stack with the ABI's initial register
 * state. entry must never return: the task traps if it does. Returns the
 * stack pointer to pass as next_sp, or 0 (nothing written) if stack_lo or
 * entry is NULL or the stack cannot hold the frame.
 */
uint64_t vs_ctx_init(void *stack_lo, size_t stack_size, void (*entry)(void *),
		     void *arg);

#endif

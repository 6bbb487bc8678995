/* SPDX-License-Identifier: MIT */
/*
 * The context switch each arch provides in vsched/arch/<arch>/switch.S, and
 * the layout of the frame it leaves on a suspended stack (frame.h), which the
 * runtime also uses to build the first frame of a new task.
 */
#ifndef VSCHED_ARCH_SWITCH_H
#define VSCHED_ARCH_SWITCH_H

#include <stdint.h>

/*
 * Pushes every callee-saved register of the ABI (floating-point state
 * included) onto the running stack, stores the stack pointer in *save_sp,
 * loads next_sp and pops the frame found there. Returns in the suspended
 * context when some later call switches back to it.
 */
void vsched_arch_switch(uint64_t *save_sp, uint64_t next_sp)
	__attribute__((visibility("hidden")));

#endif

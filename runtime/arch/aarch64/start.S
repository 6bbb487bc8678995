/* SPDX-License-Identifier: MIT */
/*
 * aarch64: where a new task's first switch "returns" to. Calls entry(arg)
 * from the registers vs_ctx_init's frame loads, and traps if it returns.
 */
#include "frame.h"

/*
 * Entered by the ret of vsched_arch_switch with sp at the 16-byte aligned
 * top of the task's stack. x29 is 0 from the first frame, which ends
 * frame-record walks; .cfi_undefined ends CFI walks.
 */
	.text
	.p2align 4
	.globl	vs_arch_task_start
	.hidden	vs_arch_task_start
	.type	vs_arch_task_start, %function
vs_arch_task_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, VS_FRAME_ARG_REG
	blr	VS_FRAME_ENTRY_REG
	brk	#0
	.cfi_endproc
	.size	vs_arch_task_start, . - vs_arch_task_start

	.section .note.GNU-stack, "", %progbits

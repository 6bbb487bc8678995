/* SPDX-License-Identifier: MIT */
/*
 * x86_64: where a new task's first switch "returns" to. Calls entry(arg)
 * from the registers vs_ctx_init's frame loads, and traps if it returns.
 */
#include "frame.h"

/*
 * Entered by the ret of vsched_arch_switch with rsp at the 16-byte aligned
 * top of the task's stack, so the call below leaves rsp + 8 aligned at the
 * entry function, as the psABI wants. rbp is 0 from the first frame, which
 * ends frame-pointer walks; .cfi_undefined ends CFI walks.
 */
	.text
	.p2align 4
	.globl	vs_arch_task_start
	.hidden	vs_arch_task_start
	.type	vs_arch_task_start, @function
vs_arch_task_start:
	.cfi_startproc
	.cfi_undefined %rip
	mov	VS_FRAME_ARG_REG, %rdi
	call	*VS_FRAME_ENTRY_REG
	ud2
	.cfi_endproc
	.size	vs_arch_task_start, . - vs_arch_task_start

	.section .note.GNU-stack, "", @progbits

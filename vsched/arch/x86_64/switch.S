/* SPDX-License-Identifier: MIT */
/*
 * x86_64 context switch: saves the SysV callee-saved state on the running
 * stack, parks the stack pointer, and resumes the context parked at next_sp.
 */
#include "frame.h"

/*
 * void vsched_arch_switch(uint64_t *save_sp, uint64_t next_sp)
 *                                  rdi               rsi
 *
 * The frame a suspended context leaves (offsets from the parked rsp, which
 * is 16-byte aligned because the caller's rsp was before its call):
 *
 *   +--------+-------------------------------------------+
 *   | offset | saved                                     |
 *   +--------+-------------------------------------------+
 *   |     0  | MXCSR (32 bits)                           |
 *   |     4  | x87 control word (16 bits), 6..7 unused   |
 *   |     8  | r15                                       |
 *   |    16  | r14                                       |
 *   |    24  | r13   (new task: argument)                |
 *   |    32  | r12   (new task: entry function)          |
 *   |    40  | rbx                                       |
 *   |    48  | rbp                                       |
 *   |    56  | return address (pushed by the call)       |
 *   |    64  | caller's frame                            |
 *   +--------+-------------------------------------------+
 *
 * Only the control bits matter in MXCSR and the x87 control word, but the
 * whole words are kept: that is what a saved context saw. The fs base is
 * never touched, so a context may resume on any OS thread.
 */
	.text
	.p2align 4
	.globl	vsched_arch_switch
	.hidden	vsched_arch_switch
	.type	vsched_arch_switch, @function
vsched_arch_switch:
	.cfi_startproc
	sub	$VS_FRAME_PUSHED, %rsp
	.cfi_adjust_cfa_offset VS_FRAME_PUSHED
	mov	%rbp, VS_FRAME_RBP(%rsp)
	.cfi_rel_offset %rbp, VS_FRAME_RBP
	mov	%rbx, VS_FRAME_RBX(%rsp)
	.cfi_rel_offset %rbx, VS_FRAME_RBX
	mov	%r12, VS_FRAME_R12(%rsp)
	.cfi_rel_offset %r12, VS_FRAME_R12
	mov	%r13, VS_FRAME_R13(%rsp)
	.cfi_rel_offset %r13, VS_FRAME_R13
	mov	%r14, VS_FRAME_R14(%rsp)
	.cfi_rel_offset %r14, VS_FRAME_R14
	mov	%r15, VS_FRAME_R15(%rsp)
	.cfi_rel_offset %r15, VS_FRAME_R15
	stmxcsr	VS_FRAME_MXCSR(%rsp)
	fnstcw	VS_FRAME_FPUCW(%rsp)

	/*
	 * From here rsp is the other context's, whose frame has the same
	 * layout: the CFI above now describes how to unwind into it.
	 */
	mov	%rsp, (%rdi)
	mov	%rsi, %rsp

	ldmxcsr	VS_FRAME_MXCSR(%rsp)
	fldcw	VS_FRAME_FPUCW(%rsp)
	mov	VS_FRAME_R15(%rsp), %r15
	.cfi_restore %r15
	mov	VS_FRAME_R14(%rsp), %r14
	.cfi_restore %r14
	mov	VS_FRAME_R13(%rsp), %r13
	.cfi_restore %r13
	mov	VS_FRAME_R12(%rsp), %r12
	.cfi_restore %r12
	mov	VS_FRAME_RBX(%rsp), %rbx
	.cfi_restore %rbx
	mov	VS_FRAME_RBP(%rsp), %rbp
	.cfi_restore %rbp
	add	$VS_FRAME_PUSHED, %rsp
	.cfi_adjust_cfa_offset -VS_FRAME_PUSHED
	ret
	.cfi_endproc
	.size	vsched_arch_switch, . - vsched_arch_switch

	.section .note.GNU-stack, "", @progbits

/* SPDX-License-Identifier: MIT */
/*
 * aarch64 context switch: saves the AAPCS64 callee-saved state on the
 * running stack, parks sp, and resumes the context parked at next_sp.
 */
#include "frame.h"

/*
 * void vsched_arch_switch(uint64_t *save_sp, uint64_t next_sp)
 *                                  x0                x1
 *
 * The frame a suspended context leaves (offsets from the parked sp):
 *
 *   +--------+-----------------------------------------+
 *   | offset | saved                                   |
 *   +--------+-----------------------------------------+
 *   |     0  | x29 (frame pointer)                     |
 *   |     8  | x30 (resume address)                    |
 *   |    16  | x19   (new task: entry function)        |
 *   |    24  | x20   (new task: argument)              |
 *   |    32  | x21                                     |
 *   |    40  | x22                                     |
 *   |    48  | x23                                     |
 *   |    56  | x24                                     |
 *   |    64  | x25                                     |
 *   |    72  | x26                                     |
 *   |    80  | x27                                     |
 *   |    88  | x28                                     |
 *   |    96  | d8                                      |
 *   |   104  | d9                                      |
 *   |   112  | d10                                     |
 *   |   120  | d11                                     |
 *   |   128  | d12                                     |
 *   |   136  | d13                                     |
 *   |   144  | d14                                     |
 *   |   152  | d15                                     |
 *   |   160  | caller's frame                          |
 *   +--------+-----------------------------------------+
 *
 * Only the low 64 bits of v8-v15 are callee-saved. tpidr_el0 is never
 * touched, so a context may resume on any OS thread.
 */
	.text
	.p2align 4
	.globl	vsched_arch_switch
	.hidden	vsched_arch_switch
	.type	vsched_arch_switch, %function
vsched_arch_switch:
	.cfi_startproc
	sub	sp, sp, #VS_FRAME_SIZE
	.cfi_adjust_cfa_offset VS_FRAME_SIZE
	stp	x29, x30, [sp, #VS_FRAME_X29]
	.cfi_rel_offset x29, VS_FRAME_X29
	.cfi_rel_offset x30, VS_FRAME_X30
	stp	x19, x20, [sp, #VS_FRAME_X19]
	.cfi_rel_offset x19, VS_FRAME_X19
	.cfi_rel_offset x20, VS_FRAME_X20
	stp	x21, x22, [sp, #VS_FRAME_X21]
	.cfi_rel_offset x21, VS_FRAME_X21
	.cfi_rel_offset x22, VS_FRAME_X22
	stp	x23, x24, [sp, #VS_FRAME_X23]
	.cfi_rel_offset x23, VS_FRAME_X23
	.cfi_rel_offset x24, VS_FRAME_X24
	stp	x25, x26, [sp, #VS_FRAME_X25]
	.cfi_rel_offset x25, VS_FRAME_X25
	.cfi_rel_offset x26, VS_FRAME_X26
	stp	x27, x28, [sp, #VS_FRAME_X27]
	.cfi_rel_offset x27, VS_FRAME_X27
	.cfi_rel_offset x28, VS_FRAME_X28
	stp	d8, d9, [sp, #VS_FRAME_D8]
	.cfi_rel_offset d8, VS_FRAME_D8
	.cfi_rel_offset d9, VS_FRAME_D9
	stp	d10, d11, [sp, #VS_FRAME_D10]
	.cfi_rel_offset d10, VS_FRAME_D10
	.cfi_rel_offset d11, VS_FRAME_D11
	stp	d12, d13, [sp, #VS_FRAME_D12]
	.cfi_rel_offset d12, VS_FRAME_D12
	.cfi_rel_offset d13, VS_FRAME_D13
	stp	d14, d15, [sp, #VS_FRAME_D14]
	.cfi_rel_offset d14, VS_FRAME_D14
	.cfi_rel_offset d15, VS_FRAME_D15

	/*
	 * From here sp is the other context's, whose frame has the same
	 * layout: the CFI above now describes how to unwind into it.
	 */
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1

	ldp	d14, d15, [sp, #VS_FRAME_D14]
	.cfi_restore d14
	.cfi_restore d15
	ldp	d12, d13, [sp, #VS_FRAME_D12]
	.cfi_restore d12
	.cfi_restore d13
	ldp	d10, d11, [sp, #VS_FRAME_D10]
	.cfi_restore d10
	.cfi_restore d11
	ldp	d8, d9, [sp, #VS_FRAME_D8]
	.cfi_restore d8
	.cfi_restore d9
	ldp	x27, x28, [sp, #VS_FRAME_X27]
	.cfi_restore x27
	.cfi_restore x28
	ldp	x25, x26, [sp, #VS_FRAME_X25]
	.cfi_restore x25
	.cfi_restore x26
	ldp	x23, x24, [sp, #VS_FRAME_X23]
	.cfi_restore x23
	.cfi_restore x24
	ldp	x21, x22, [sp, #VS_FRAME_X21]
	.cfi_restore x21
	.cfi_restore x22
	ldp	x19, x20, [sp, #VS_FRAME_X19]
	.cfi_restore x19
	.cfi_restore x20
	ldp	x29, x30, [sp, #VS_FRAME_X29]
	.cfi_restore x29
	.cfi_restore x30
	add	sp, sp, #VS_FRAME_SIZE
	.cfi_adjust_cfa_offset -VS_FRAME_SIZE
	ret
	.cfi_endproc
	.size	vsched_arch_switch, . - vsched_arch_switch

	.section .note.GNU-stack, "", %progbits

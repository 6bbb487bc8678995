/* SPDX-License-Identifier: MIT */
/*
 * riscv64 (lp64d) context switch: saves the psABI callee-saved state on the
 * running stack, parks sp, and resumes the context parked at next_sp.
 */
#include "frame.h"

#if !defined(__riscv_flen) || __riscv_flen < 64
#error "riscv64 switch needs the D extension (lp64d: fs0-fs11 are callee-saved)"
#endif

/*
 * void vsched_arch_switch(uint64_t *save_sp, uint64_t next_sp)
 *                                  a0                a1
 *
 * The frame a suspended context leaves (offsets from the parked sp):
 *
 *   +--------+-----------------------------------------+
 *   | offset | saved                                   |
 *   +--------+-----------------------------------------+
 *   |     0  | ra (resume address)                     |
 *   |     8  | s0 / fp                                 |
 *   |    16  | s1    (new task: entry function)        |
 *   |    24  | s2    (new task: argument)              |
 *   |    32  | s3                                      |
 *   |    40  | s4                                      |
 *   |    48  | s5                                      |
 *   |    56  | s6                                      |
 *   |    64  | s7                                      |
 *   |    72  | s8                                      |
 *   |    80  | s9                                      |
 *   |    88  | s10                                     |
 *   |    96  | s11                                     |
 *   |   104  | fs0                                     |
 *   |   112  | fs1                                     |
 *   |   120  | fs2                                     |
 *   |   128  | fs3                                     |
 *   |   136  | fs4                                     |
 *   |   144  | fs5                                     |
 *   |   152  | fs6                                     |
 *   |   160  | fs7                                     |
 *   |   168  | fs8                                     |
 *   |   176  | fs9                                     |
 *   |   184  | fs10                                    |
 *   |   192  | fs11                                    |
 *   |   200  | padding                                 |
 *   |   208  | caller's frame                          |
 *   +--------+-----------------------------------------+
 *
 * fcsr has thread storage duration in the psABI, not callee-saved, so it
 * is not part of the frame. tp (and gp) are never touched, so a context
 * may resume on any OS thread.
 */
	.text
	.p2align 2
	.globl	vsched_arch_switch
	.hidden	vsched_arch_switch
	.type	vsched_arch_switch, @function
vsched_arch_switch:
	.cfi_startproc
	addi	sp, sp, -VS_FRAME_SIZE
	.cfi_adjust_cfa_offset VS_FRAME_SIZE
	sd	ra, VS_FRAME_RA(sp)
	.cfi_rel_offset ra, VS_FRAME_RA
	sd	s0, VS_FRAME_S0(sp)
	.cfi_rel_offset s0, VS_FRAME_S0
	sd	s1, VS_FRAME_S1(sp)
	.cfi_rel_offset s1, VS_FRAME_S1
	sd	s2, VS_FRAME_S2(sp)
	.cfi_rel_offset s2, VS_FRAME_S2
	sd	s3, VS_FRAME_S3(sp)
	.cfi_rel_offset s3, VS_FRAME_S3
	sd	s4, VS_FRAME_S4(sp)
	.cfi_rel_offset s4, VS_FRAME_S4
	sd	s5, VS_FRAME_S5(sp)
	.cfi_rel_offset s5, VS_FRAME_S5
	sd	s6, VS_FRAME_S6(sp)
	.cfi_rel_offset s6, VS_FRAME_S6
	sd	s7, VS_FRAME_S7(sp)
	.cfi_rel_offset s7, VS_FRAME_S7
	sd	s8, VS_FRAME_S8(sp)
	.cfi_rel_offset s8, VS_FRAME_S8
	sd	s9, VS_FRAME_S9(sp)
	.cfi_rel_offset s9, VS_FRAME_S9
	sd	s10, VS_FRAME_S10(sp)
	.cfi_rel_offset s10, VS_FRAME_S10
	sd	s11, VS_FRAME_S11(sp)
	.cfi_rel_offset s11, VS_FRAME_S11
	fsd	fs0, VS_FRAME_FS0(sp)
	.cfi_rel_offset fs0, VS_FRAME_FS0
	fsd	fs1, VS_FRAME_FS1(sp)
	.cfi_rel_offset fs1, VS_FRAME_FS1
	fsd	fs2, VS_FRAME_FS2(sp)
	.cfi_rel_offset fs2, VS_FRAME_FS2
	fsd	fs3, VS_FRAME_FS3(sp)
	.cfi_rel_offset fs3, VS_FRAME_FS3
	fsd	fs4, VS_FRAME_FS4(sp)
	.cfi_rel_offset fs4, VS_FRAME_FS4
	fsd	fs5, VS_FRAME_FS5(sp)
	.cfi_rel_offset fs5, VS_FRAME_FS5
	fsd	fs6, VS_FRAME_FS6(sp)
	.cfi_rel_offset fs6, VS_FRAME_FS6
	fsd	fs7, VS_FRAME_FS7(sp)
	.cfi_rel_offset fs7, VS_FRAME_FS7
	fsd	fs8, VS_FRAME_FS8(sp)
	.cfi_rel_offset fs8, VS_FRAME_FS8
	fsd	fs9, VS_FRAME_FS9(sp)
	.cfi_rel_offset fs9, VS_FRAME_FS9
	fsd	fs10, VS_FRAME_FS10(sp)
	.cfi_rel_offset fs10, VS_FRAME_FS10
	fsd	fs11, VS_FRAME_FS11(sp)
	.cfi_rel_offset fs11, VS_FRAME_FS11

	/*
	 * From here sp is the other context's, whose frame has the same
	 * layout: the CFI above now describes how to unwind into it.
	 */
	sd	sp, 0(a0)
	mv	sp, a1

	fld	fs11, VS_FRAME_FS11(sp)
	.cfi_restore fs11
	fld	fs10, VS_FRAME_FS10(sp)
	.cfi_restore fs10
	fld	fs9, VS_FRAME_FS9(sp)
	.cfi_restore fs9
	fld	fs8, VS_FRAME_FS8(sp)
	.cfi_restore fs8
	fld	fs7, VS_FRAME_FS7(sp)
	.cfi_restore fs7
	fld	fs6, VS_FRAME_FS6(sp)
	.cfi_restore fs6
	fld	fs5, VS_FRAME_FS5(sp)
	.cfi_restore fs5
	fld	fs4, VS_FRAME_FS4(sp)
	.cfi_restore fs4
	fld	fs3, VS_FRAME_FS3(sp)
	.cfi_restore fs3
	fld	fs2, VS_FRAME_FS2(sp)
	.cfi_restore fs2
	fld	fs1, VS_FRAME_FS1(sp)
	.cfi_restore fs1
	fld	fs0, VS_FRAME_FS0(sp)
	.cfi_restore fs0
	ld	s11, VS_FRAME_S11(sp)
	.cfi_restore s11
	ld	s10, VS_FRAME_S10(sp)
	.cfi_restore s10
	ld	s9, VS_FRAME_S9(sp)
	.cfi_restore s9
	ld	s8, VS_FRAME_S8(sp)
	.cfi_restore s8
	ld	s7, VS_FRAME_S7(sp)
	.cfi_restore s7
	ld	s6, VS_FRAME_S6(sp)
	.cfi_restore s6
	ld	s5, VS_FRAME_S5(sp)
	.cfi_restore s5
	ld	s4, VS_FRAME_S4(sp)
	.cfi_restore s4
	ld	s3, VS_FRAME_S3(sp)
	.cfi_restore s3
	ld	s2, VS_FRAME_S2(sp)
	.cfi_restore s2
	ld	s1, VS_FRAME_S1(sp)
	.cfi_restore s1
	ld	s0, VS_FRAME_S0(sp)
	.cfi_restore s0
	ld	ra, VS_FRAME_RA(sp)
	.cfi_restore ra
	addi	sp, sp, VS_FRAME_SIZE
	.cfi_adjust_cfa_offset -VS_FRAME_SIZE
	ret
	.cfi_endproc
	.size	vsched_arch_switch, . - vsched_arch_switch

	.section .note.GNU-stack, "", @progbits

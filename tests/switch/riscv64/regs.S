/* SPDX-License-Identifier: MIT */
/*
 * riscv64 helpers for test_switch.c: seed every callee-saved register, switch
 * away and back, and report what came back; the other side clobbers them.
 */

/*
 * A register vector is uint64_t[25]: ra s0..s11 fs0..fs11. ra cannot be
 * seeded (the call into the switch sets it), so its entry reports ra XOR
 * the address the switch should have returned to: 0 when right.
 * struct peer in test_switch.c:
 *   0: const uint64_t *garbage   8: uint64_t *out
 *  16: uint64_t sp (the peer's)  24: uint64_t main_sp
 */
#define PEER_GARBAGE 0
#define PEER_OUT 8
#define PEER_SP 16
#define PEER_MAIN_SP 24

	.macro	load_regs base
	ld	s0, 8(\base)
	ld	s1, 16(\base)
	ld	s2, 24(\base)
	ld	s3, 32(\base)
	ld	s4, 40(\base)
	ld	s5, 48(\base)
	ld	s6, 56(\base)
	ld	s7, 64(\base)
	ld	s8, 72(\base)
	ld	s9, 80(\base)
	ld	s10, 88(\base)
	ld	s11, 96(\base)
	fld	fs0, 104(\base)
	fld	fs1, 112(\base)
	fld	fs2, 120(\base)
	fld	fs3, 128(\base)
	fld	fs4, 136(\base)
	fld	fs5, 144(\base)
	fld	fs6, 152(\base)
	fld	fs7, 160(\base)
	fld	fs8, 168(\base)
	fld	fs9, 176(\base)
	fld	fs10, 184(\base)
	fld	fs11, 192(\base)
	.endm

	.macro	store_regs base, back
	lla	t1, \back
	xor	t1, t1, ra
	sd	t1, 0(\base)
	sd	s0, 8(\base)
	sd	s1, 16(\base)
	sd	s2, 24(\base)
	sd	s3, 32(\base)
	sd	s4, 40(\base)
	sd	s5, 48(\base)
	sd	s6, 56(\base)
	sd	s7, 64(\base)
	sd	s8, 72(\base)
	sd	s9, 80(\base)
	sd	s10, 88(\base)
	sd	s11, 96(\base)
	fsd	fs0, 104(\base)
	fsd	fs1, 112(\base)
	fsd	fs2, 120(\base)
	fsd	fs3, 128(\base)
	fsd	fs4, 136(\base)
	fsd	fs5, 144(\base)
	fsd	fs6, 152(\base)
	fsd	fs7, 160(\base)
	fsd	fs8, 168(\base)
	fsd	fs9, 176(\base)
	fsd	fs10, 184(\base)
	fsd	fs11, 192(\base)
	.endm

	.text

/*
 * void regs_probe(const uint64_t *seed, uint64_t *out, struct peer *peer)
 * Loads seed[] into the callee-saved set, switches to peer->sp (parking in
 * peer->main_sp), and stores the set into out[] once switched back. Its
 * own caller's callee-saved state is kept on the stack and restored.
 *
 *   0: ra  8..96: s0..s11  104..192: fs0..fs11  200: out
 */
	.p2align 2
	.globl	regs_probe
	.type	regs_probe, @function
regs_probe:
	.cfi_startproc
	addi	sp, sp, -208
	.cfi_adjust_cfa_offset 208
	sd	ra, 0(sp)
	.cfi_rel_offset ra, 0
	sd	s0, 8(sp)
	.cfi_rel_offset s0, 8
	sd	s1, 16(sp)
	.cfi_rel_offset s1, 16
	sd	s2, 24(sp)
	.cfi_rel_offset s2, 24
	sd	s3, 32(sp)
	.cfi_rel_offset s3, 32
	sd	s4, 40(sp)
	.cfi_rel_offset s4, 40
	sd	s5, 48(sp)
	.cfi_rel_offset s5, 48
	sd	s6, 56(sp)
	.cfi_rel_offset s6, 56
	sd	s7, 64(sp)
	.cfi_rel_offset s7, 64
	sd	s8, 72(sp)
	.cfi_rel_offset s8, 72
	sd	s9, 80(sp)
	.cfi_rel_offset s9, 80
	sd	s10, 88(sp)
	.cfi_rel_offset s10, 88
	sd	s11, 96(sp)
	.cfi_rel_offset s11, 96
	fsd	fs0, 104(sp)
	.cfi_rel_offset fs0, 104
	fsd	fs1, 112(sp)
	.cfi_rel_offset fs1, 112
	fsd	fs2, 120(sp)
	.cfi_rel_offset fs2, 120
	fsd	fs3, 128(sp)
	.cfi_rel_offset fs3, 128
	fsd	fs4, 136(sp)
	.cfi_rel_offset fs4, 136
	fsd	fs5, 144(sp)
	.cfi_rel_offset fs5, 144
	fsd	fs6, 152(sp)
	.cfi_rel_offset fs6, 152
	fsd	fs7, 160(sp)
	.cfi_rel_offset fs7, 160
	fsd	fs8, 168(sp)
	.cfi_rel_offset fs8, 168
	fsd	fs9, 176(sp)
	.cfi_rel_offset fs9, 176
	fsd	fs10, 184(sp)
	.cfi_rel_offset fs10, 184
	fsd	fs11, 192(sp)
	.cfi_rel_offset fs11, 192
	sd	a1, 200(sp)

	mv	t0, a0
	addi	a0, a2, PEER_MAIN_SP
	ld	a1, PEER_SP(a2)
	load_regs t0
	call	vsched_arch_switch
1:	ld	t0, 200(sp)
	store_regs t0, 1b

	fld	fs0, 104(sp)
	.cfi_restore fs0
	fld	fs1, 112(sp)
	.cfi_restore fs1
	fld	fs2, 120(sp)
	.cfi_restore fs2
	fld	fs3, 128(sp)
	.cfi_restore fs3
	fld	fs4, 136(sp)
	.cfi_restore fs4
	fld	fs5, 144(sp)
	.cfi_restore fs5
	fld	fs6, 152(sp)
	.cfi_restore fs6
	fld	fs7, 160(sp)
	.cfi_restore fs7
	fld	fs8, 168(sp)
	.cfi_restore fs8
	fld	fs9, 176(sp)
	.cfi_restore fs9
	fld	fs10, 184(sp)
	.cfi_restore fs10
	fld	fs11, 192(sp)
	.cfi_restore fs11
	ld	s0, 8(sp)
	.cfi_restore s0
	ld	s1, 16(sp)
	.cfi_restore s1
	ld	s2, 24(sp)
	.cfi_restore s2
	ld	s3, 32(sp)
	.cfi_restore s3
	ld	s4, 40(sp)
	.cfi_restore s4
	ld	s5, 48(sp)
	.cfi_restore s5
	ld	s6, 56(sp)
	.cfi_restore s6
	ld	s7, 64(sp)
	.cfi_restore s7
	ld	s8, 72(sp)
	.cfi_restore s8
	ld	s9, 80(sp)
	.cfi_restore s9
	ld	s10, 88(sp)
	.cfi_restore s10
	ld	s11, 96(sp)
	.cfi_restore s11
	ld	ra, 0(sp)
	.cfi_restore ra
	addi	sp, sp, 208
	.cfi_adjust_cfa_offset -208
	ret
	.cfi_endproc
	.size	regs_probe, . - regs_probe

/*
 * void regs_clobber(void *peer): a task entry. Loads peer->garbage[] into
 * the callee-saved set and switches back to peer->main_sp; each time it is
 * resumed it stores the set into peer->out[] and does it again.
 */
	.p2align 2
	.globl	regs_clobber
	.type	regs_clobber, @function
regs_clobber:
	.cfi_startproc
	addi	sp, sp, -16
	.cfi_adjust_cfa_offset 16
	sd	a0, 0(sp)
1:	ld	t2, 0(sp)
	ld	t0, PEER_GARBAGE(t2)
	addi	a0, t2, PEER_SP
	ld	a1, PEER_MAIN_SP(t2)
	load_regs t0
	call	vsched_arch_switch
2:	ld	t2, 0(sp)
	ld	t0, PEER_OUT(t2)
	store_regs t0, 2b
	j	1b
	.cfi_endproc
	.size	regs_clobber, . - regs_clobber

/*
 * void regs_entry_sp(void *probe): a task entry. Stores the stack pointer
 * it was entered with in probe[0] and tail-calls probe[1](probe), which so
 * starts with the same stack a direct entry would.
 */
	.p2align 2
	.globl	regs_entry_sp
	.type	regs_entry_sp, @function
regs_entry_sp:
	.cfi_startproc
	sd	sp, 0(a0)
	ld	t0, 8(a0)
	jr	t0
	.cfi_endproc
	.size	regs_entry_sp, . - regs_entry_sp

	.section .note.GNU-stack, "", @progbits

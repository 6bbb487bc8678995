/* SPDX-License-Identifier: MIT */
/*
 * aarch64 helpers for test_switch.c: seed every callee-saved register, switch
 * away and back, and report what came back; the other side clobbers them.
 */

/*
 * A register vector is uint64_t[20]: x19..x28 x29 x30 d8..d15. x30 cannot
 * be seeded (the bl into the switch sets it), so its entry reports x30 XOR
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
	ldp	x19, x20, [\base, #0]
	ldp	x21, x22, [\base, #16]
	ldp	x23, x24, [\base, #32]
	ldp	x25, x26, [\base, #48]
	ldp	x27, x28, [\base, #64]
	ldr	x29, [\base, #80]
	ldp	d8, d9, [\base, #96]
	ldp	d10, d11, [\base, #112]
	ldp	d12, d13, [\base, #128]
	ldp	d14, d15, [\base, #144]
	.endm

	.macro	store_regs base, back
	stp	x19, x20, [\base, #0]
	stp	x21, x22, [\base, #16]
	stp	x23, x24, [\base, #32]
	stp	x25, x26, [\base, #48]
	stp	x27, x28, [\base, #64]
	str	x29, [\base, #80]
	adr	x10, \back
	eor	x10, x10, x30
	str	x10, [\base, #88]
	stp	d8, d9, [\base, #96]
	stp	d10, d11, [\base, #112]
	stp	d12, d13, [\base, #128]
	stp	d14, d15, [\base, #144]
	.endm

	.text

/*
 * void regs_probe(const uint64_t *seed, uint64_t *out, struct peer *peer)
 * Loads seed[] into the callee-saved set, switches to peer->sp (parking in
 * peer->main_sp), and stores the set into out[] once switched back. Its
 * own caller's callee-saved state is kept on the stack and restored.
 *
 *   0: x29  8: x30  16..88: x19..x28  96..152: d8..d15  160: out  168: pad
 */
	.p2align 4
	.globl	regs_probe
	.type	regs_probe, %function
regs_probe:
	.cfi_startproc
	stp	x29, x30, [sp, #-176]!
	.cfi_adjust_cfa_offset 176
	.cfi_rel_offset x29, 0
	.cfi_rel_offset x30, 8
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	.cfi_rel_offset x19, 16
	.cfi_rel_offset x20, 24
	.cfi_rel_offset x21, 32
	.cfi_rel_offset x22, 40
	.cfi_rel_offset x23, 48
	.cfi_rel_offset x24, 56
	.cfi_rel_offset x25, 64
	.cfi_rel_offset x26, 72
	.cfi_rel_offset x27, 80
	.cfi_rel_offset x28, 88
	.cfi_rel_offset d8, 96
	.cfi_rel_offset d9, 104
	.cfi_rel_offset d10, 112
	.cfi_rel_offset d11, 120
	.cfi_rel_offset d12, 128
	.cfi_rel_offset d13, 136
	.cfi_rel_offset d14, 144
	.cfi_rel_offset d15, 152
	str	x1, [sp, #160]

	mov	x9, x0
	add	x0, x2, #PEER_MAIN_SP
	ldr	x1, [x2, #PEER_SP]
	load_regs x9
	bl	vsched_arch_switch
1:	ldr	x9, [sp, #160]
	store_regs x9, 1b

	ldp	d14, d15, [sp, #144]
	ldp	d12, d13, [sp, #128]
	ldp	d10, d11, [sp, #112]
	ldp	d8, d9, [sp, #96]
	ldp	x27, x28, [sp, #80]
	ldp	x25, x26, [sp, #64]
	ldp	x23, x24, [sp, #48]
	ldp	x21, x22, [sp, #32]
	ldp	x19, x20, [sp, #16]
	ldp	x29, x30, [sp], #176
	.cfi_adjust_cfa_offset -176
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	ret
	.cfi_endproc
	.size	regs_probe, . - regs_probe

/*
 * void regs_clobber(void *peer): a task entry. Loads peer->garbage[] into
 * the callee-saved set and switches back to peer->main_sp; each time it is
 * resumed it stores the set into peer->out[] and does it again.
 */
	.p2align 4
	.globl	regs_clobber
	.type	regs_clobber, %function
regs_clobber:
	.cfi_startproc
	str	x0, [sp, #-16]!
	.cfi_adjust_cfa_offset 16
1:	ldr	x11, [sp]
	ldr	x9, [x11, #PEER_GARBAGE]
	add	x0, x11, #PEER_SP
	ldr	x1, [x11, #PEER_MAIN_SP]
	load_regs x9
	bl	vsched_arch_switch
2:	ldr	x11, [sp]
	ldr	x9, [x11, #PEER_OUT]
	store_regs x9, 2b
	b	1b
	.cfi_endproc
	.size	regs_clobber, . - regs_clobber

/*
 * void regs_entry_sp(void *probe): a task entry. Stores the stack pointer
 * it was entered with in probe[0] and tail-calls probe[1](probe), which so
 * starts with the same stack a direct entry would.
 */
	.p2align 4
	.globl	regs_entry_sp
	.type	regs_entry_sp, %function
regs_entry_sp:
	.cfi_startproc
	mov	x9, sp
	str	x9, [x0]
	ldr	x16, [x0, #8]
	br	x16
	.cfi_endproc
	.size	regs_entry_sp, . - regs_entry_sp

	.section .note.GNU-stack, "", %progbits

/* SPDX-License-Identifier: MIT */
/*
 * x86_64 helpers for test_switch.c: seed every callee-saved register, switch
 * away and back, and report what came back; the other side clobbers them.
 */

/*
 * A register vector is uint64_t[8]: rbx rbp r12 r13 r14 r15 mxcsr x87cw
 * (the control words zero-extended). struct peer in test_switch.c:
 *   0: const uint64_t *garbage   8: uint64_t *out
 *  16: uint64_t sp (the peer's)  24: uint64_t main_sp
 */
#define PEER_GARBAGE 0
#define PEER_OUT 8
#define PEER_SP 16
#define PEER_MAIN_SP 24

	.macro	load_regs base
	mov	0(\base), %rbx
	mov	8(\base), %rbp
	mov	16(\base), %r12
	mov	24(\base), %r13
	mov	32(\base), %r14
	mov	40(\base), %r15
	ldmxcsr	48(\base)
	fldcw	56(\base)
	.endm

	.macro	store_regs base
	mov	%rbx, 0(\base)
	mov	%rbp, 8(\base)
	mov	%r12, 16(\base)
	mov	%r13, 24(\base)
	mov	%r14, 32(\base)
	mov	%r15, 40(\base)
	movq	$0, 48(\base)
	stmxcsr	48(\base)
	movq	$0, 56(\base)
	fnstcw	56(\base)
	.endm

	.text

/*
 * void regs_probe(const uint64_t *seed, uint64_t *out, struct peer *peer)
 * Loads seed[] into the callee-saved set, switches to peer->sp (parking in
 * peer->main_sp), and stores the set into out[] once switched back. Its
 * own caller's callee-saved state is kept on the stack and restored.
 *
 *   0: caller's MXCSR   4: caller's x87 CW   8: out   16: pad
 *  24: r15  32: r14  40: r13  48: r12  56: rbx  64: rbp  72: return address
 */
	.p2align 4
	.globl	regs_probe
	.type	regs_probe, @function
regs_probe:
	.cfi_startproc
	push	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	push	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	push	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	push	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	push	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	sub	$24, %rsp
	.cfi_adjust_cfa_offset 24
	stmxcsr	0(%rsp)
	fnstcw	4(%rsp)
	mov	%rsi, 8(%rsp)

	mov	%rdi, %rax
	lea	PEER_MAIN_SP(%rdx), %rdi
	mov	PEER_SP(%rdx), %rsi
	load_regs %rax
	call	vsched_arch_switch
	mov	8(%rsp), %rax
	store_regs %rax

	ldmxcsr	0(%rsp)
	fldcw	4(%rsp)
	add	$24, %rsp
	.cfi_adjust_cfa_offset -24
	pop	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	pop	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	pop	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	pop	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	pop	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
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
	.type	regs_clobber, @function
regs_clobber:
	.cfi_startproc
	push	%rdi
	.cfi_adjust_cfa_offset 8
1:	mov	(%rsp), %rax
	mov	PEER_GARBAGE(%rax), %rcx
	lea	PEER_SP(%rax), %rdi
	mov	PEER_MAIN_SP(%rax), %rsi
	load_regs %rcx
	call	vsched_arch_switch
	mov	(%rsp), %rax
	mov	PEER_OUT(%rax), %rcx
	store_regs %rcx
	jmp	1b
	.cfi_endproc
	.size	regs_clobber, . - regs_clobber

/*
 * void regs_entry_sp(void *probe): a task entry. Stores the stack pointer
 * it was entered with in probe[0] and tail-calls probe[1](probe), which so
 * starts with the same stack a direct entry would.
 */
	.p2align 4
	.globl	regs_entry_sp
	.type	regs_entry_sp, @function
regs_entry_sp:
	.cfi_startproc
	mov	%rsp, 0(%rdi)
	jmp	*8(%rdi)
	.cfi_endproc
	.size	regs_entry_sp, . - regs_entry_sp

	.section .note.GNU-stack, "", @progbits

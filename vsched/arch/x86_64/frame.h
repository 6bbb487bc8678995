/* SPDX-License-Identifier: MIT */
/*
 * x86_64: layout of the frame vsched_arch_switch leaves on a suspended stack.
 * switch.S, the task trampoline and vs_ctx_init all take it from here.
 */
#ifndef VSCHED_ARCH_X86_64_FRAME_H
#define VSCHED_ARCH_X86_64_FRAME_H

/* Byte offsets from the saved stack pointer. */
#define VS_FRAME_MXCSR 0  /* 32 bits */
#define VS_FRAME_FPUCW 4  /* 16 bits; 6..7 unused */
#define VS_FRAME_R15 8
#define VS_FRAME_R14 16
#define VS_FRAME_R13 24
#define VS_FRAME_R12 32
#define VS_FRAME_RBX 40
#define VS_FRAME_RBP 48
#define VS_FRAME_RIP 56   /* pushed by the call into the switch */
#define VS_FRAME_SIZE 64  /* bytes popped, the return address included */

/* Bytes the switch itself pushes: the frame less the return address. */
#define VS_FRAME_PUSHED (VS_FRAME_SIZE - 8)

/* Where a new task finds its resume address, entry function and argument. */
#define VS_FRAME_RESUME VS_FRAME_RIP
#define VS_FRAME_ENTRY VS_FRAME_R12
#define VS_FRAME_ARG VS_FRAME_R13

#ifdef __ASSEMBLER__
/* The registers those two slots are loaded into. */
#define VS_FRAME_ENTRY_REG %r12
#define VS_FRAME_ARG_REG %r13
#endif

/* Control words a new task starts with: the psABI's initial values. */
#define VS_MXCSR_INIT 0x1f80
#define VS_FPUCW_INIT 0x037f

#ifndef __ASSEMBLER__
_Static_assert(VS_FRAME_SIZE % 16 == 0,
	       "the saved stack pointer must stay 16-byte aligned");
_Static_assert(VS_FRAME_RESUME == VS_FRAME_SIZE - 8,
	       "ret pops the return address last");
#endif

#endif

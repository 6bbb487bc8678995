/* SPDX-License-Identifier: MIT */
/*
 * riscv64 (lp64d): layout of the frame vsched_arch_switch leaves on a
 * suspended stack. switch.S, the task trampoline and vs_ctx_init take it here.
 */
#ifndef VSCHED_ARCH_RISCV64_FRAME_H
#define VSCHED_ARCH_RISCV64_FRAME_H

/* Byte offsets from the saved stack pointer. */
#define VS_FRAME_RA 0
#define VS_FRAME_S0 8
#define VS_FRAME_S1 16
#define VS_FRAME_S2 24
#define VS_FRAME_S3 32
#define VS_FRAME_S4 40
#define VS_FRAME_S5 48
#define VS_FRAME_S6 56
#define VS_FRAME_S7 64
#define VS_FRAME_S8 72
#define VS_FRAME_S9 80
#define VS_FRAME_S10 88
#define VS_FRAME_S11 96
#define VS_FRAME_FS0 104
#define VS_FRAME_FS1 112
#define VS_FRAME_FS2 120
#define VS_FRAME_FS3 128
#define VS_FRAME_FS4 136
#define VS_FRAME_FS5 144
#define VS_FRAME_FS6 152
#define VS_FRAME_FS7 160
#define VS_FRAME_FS8 168
#define VS_FRAME_FS9 176
#define VS_FRAME_FS10 184
#define VS_FRAME_FS11 192
/* 200..207: padding to keep sp 16-byte aligned */
#define VS_FRAME_SIZE 208

/* Where a new task finds its resume address, entry function and argument. */
#define VS_FRAME_RESUME VS_FRAME_RA
#define VS_FRAME_ENTRY VS_FRAME_S1
#define VS_FRAME_ARG VS_FRAME_S2

#ifdef __ASSEMBLER__
/* The registers those two slots are loaded into. */
#define VS_FRAME_ENTRY_REG s1
#define VS_FRAME_ARG_REG s2
#endif

#ifndef __ASSEMBLER__
_Static_assert(VS_FRAME_SIZE % 16 == 0, "sp must stay 16-byte aligned");
_Static_assert(VS_FRAME_FS11 + 8 <= VS_FRAME_SIZE, "frame too small");
#endif

#endif

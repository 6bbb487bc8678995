/* SPDX-License-Identifier: MIT */
/*
 * aarch64: layout of the frame vsched_arch_switch leaves on a suspended
 * stack. switch.S, the task trampoline and vs_ctx_init all take it from here.
 */
#ifndef VSCHED_ARCH_AARCH64_FRAME_H
#define VSCHED_ARCH_AARCH64_FRAME_H

/*
 * Byte offsets from the saved stack pointer. Registers are stored in pairs
 * (stp/ldp), so each odd slot of a pair must follow its even one by 8.
 */
#define VS_FRAME_X29 0
#define VS_FRAME_X30 8
#define VS_FRAME_X19 16
#define VS_FRAME_X20 24
#define VS_FRAME_X21 32
#define VS_FRAME_X22 40
#define VS_FRAME_X23 48
#define VS_FRAME_X24 56
#define VS_FRAME_X25 64
#define VS_FRAME_X26 72
#define VS_FRAME_X27 80
#define VS_FRAME_X28 88
#define VS_FRAME_D8 96
#define VS_FRAME_D9 104
#define VS_FRAME_D10 112
#define VS_FRAME_D11 120
#define VS_FRAME_D12 128
#define VS_FRAME_D13 136
#define VS_FRAME_D14 144
#define VS_FRAME_D15 152
#define VS_FRAME_SIZE 160

/* Where a new task finds its resume address, entry function and argument. */
#define VS_FRAME_RESUME VS_FRAME_X30
#define VS_FRAME_ENTRY VS_FRAME_X19
#define VS_FRAME_ARG VS_FRAME_X20

#ifdef __ASSEMBLER__
/* The registers those two slots are loaded into. */
#define VS_FRAME_ENTRY_REG x19
#define VS_FRAME_ARG_REG x20
#endif

#ifndef __ASSEMBLER__
_Static_assert(VS_FRAME_SIZE % 16 == 0, "sp must stay 16-byte aligned");
_Static_assert(VS_FRAME_X30 == VS_FRAME_X29 + 8 &&
		       VS_FRAME_X20 == VS_FRAME_X19 + 8 &&
		       VS_FRAME_X22 == VS_FRAME_X21 + 8 &&
		       VS_FRAME_X24 == VS_FRAME_X23 + 8 &&
		       VS_FRAME_X26 == VS_FRAME_X25 + 8 &&
		       VS_FRAME_X28 == VS_FRAME_X27 + 8 &&
		       VS_FRAME_D9 == VS_FRAME_D8 + 8 &&
		       VS_FRAME_D11 == VS_FRAME_D10 + 8 &&
		       VS_FRAME_D13 == VS_FRAME_D12 + 8 &&
		       VS_FRAME_D15 == VS_FRAME_D14 + 8,
	       "stp/ldp pairs must be adjacent");
#endif

#endif

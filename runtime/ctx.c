/* SPDX-License-Identifier: MIT */
/*
 * Lays out the first frame of a new task in the per-arch format of frame.h,
 * whose resume address is vs_arch_task_start (runtime/arch/<arch>/start.S).
 */
#include "ctx.h"

#include <string.h>

#include "frame.h"

#if defined(__x86_64__)
_Static_assert(VS_FRAME_RESUME == VS_FRAME_SIZE - 8,
	       "x86_64: ret pops the resume address from the frame's top");
_Static_assert(VS_FRAME_MXCSR % 4 == 0 && VS_FRAME_FPUCW % 2 == 0,
	       "x86_64: control words must be naturally aligned");
#elif defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
_Static_assert(VS_FRAME_RESUME % 8 == 0, "resume slot must be 8-aligned");
#else
#error "vs_ctx_init: unsupported architecture"
#endif

_Static_assert(VS_FRAME_SIZE % 16 == 0, "frame must keep sp 16-byte aligned");
_Static_assert(VS_FRAME_ENTRY % 8 == 0 && VS_FRAME_ARG % 8 == 0 &&
		       VS_FRAME_ENTRY + 8 <= VS_FRAME_SIZE &&
		       VS_FRAME_ARG + 8 <= VS_FRAME_SIZE &&
		       VS_FRAME_RESUME + 8 <= VS_FRAME_SIZE,
	       "entry/arg/resume slots must be aligned words inside the frame");
_Static_assert(VS_FRAME_ENTRY != VS_FRAME_ARG &&
		       VS_FRAME_ENTRY != VS_FRAME_RESUME &&
		       VS_FRAME_ARG != VS_FRAME_RESUME,
	       "entry/arg/resume slots must be distinct");

void vs_arch_task_start(void) __attribute__((visibility("hidden")));

/* The stack may be any object, so slots are written bytewise. */
static void slot_put64(unsigned char *frame, unsigned off, uint64_t v)
{
	memcpy(frame + off, &v, sizeof(v));
}

uint64_t vs_ctx_init(void *stack_lo, size_t stack_size, void (*entry)(void *),
		     void *arg)
{
	uintptr_t lo = (uintptr_t)stack_lo;
	uintptr_t top;
	unsigned char *frame;

	if (!stack_lo || !entry || stack_size > UINTPTR_MAX - lo)
		return 0;
	top = (lo + stack_size) & ~(uintptr_t)15;
	if (top < lo + VS_FRAME_SIZE)
		return 0;
	frame = (unsigned char *)(top - VS_FRAME_SIZE);

	/* Registers not set below, the frame pointer included, start at 0. */
	memset(frame, 0, VS_FRAME_SIZE);
	slot_put64(frame, VS_FRAME_RESUME,
		   (uint64_t)(uintptr_t)vs_arch_task_start);
	slot_put64(frame, VS_FRAME_ENTRY, (uint64_t)(uintptr_t)entry);
	slot_put64(frame, VS_FRAME_ARG, (uint64_t)(uintptr_t)arg);
#if defined(__x86_64__)
	uint32_t mxcsr = VS_MXCSR_INIT;
	uint16_t fpucw = VS_FPUCW_INIT;

	memcpy(frame + VS_FRAME_MXCSR, &mxcsr, sizeof(mxcsr));
	memcpy(frame + VS_FRAME_FPUCW, &fpucw, sizeof(fpucw));
#endif
	return (uint64_t)(uintptr_t)frame;
}

/* SPDX-License-Identifier: MIT */
/* riscv64: the spin-wait hint and the clock, for the core and the runtime. */
#ifndef VSCHED_ARCH_RISCV64_CPU_H
#define VSCHED_ARCH_RISCV64_CPU_H

#include <stdint.h>

static inline void vsched_cpu_relax(void)
{
	/* Zihintpause "pause"; a harmless fence on cores without it */
	__asm__ volatile(".insn i 0x0f, 0, x0, x0, 0x010" ::: "memory");
}

/* The time CSR. */
static inline uint64_t vsched_clock_read(void)
{
	uint64_t v;

	__asm__ volatile("rdtime %0" : "=r"(v));
	return v;
}

#endif

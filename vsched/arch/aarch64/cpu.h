/* SPDX-License-Identifier: MIT */
/* aarch64: the spin-wait hint and the clock, for the core and the runtime. */
#ifndef VSCHED_ARCH_AARCH64_CPU_H
#define VSCHED_ARCH_AARCH64_CPU_H

#include <stdint.h>

static inline void vsched_cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}

/* The generic timer's virtual count (isb: not read ahead of what precedes). */
static inline uint64_t vsched_clock_read(void)
{
	uint64_t v;

	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) :: "memory");
	return v;
}

#endif

/* SPDX-License-Identifier: MIT */
/* x86_64: the spin-wait hint and the clock, for the core and the runtime. */
#ifndef VSCHED_ARCH_X86_64_CPU_H
#define VSCHED_ARCH_X86_64_CPU_H

#include <stdint.h>

static inline void vsched_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* The time-stamp counter. */
static inline uint64_t vsched_clock_read(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#endif

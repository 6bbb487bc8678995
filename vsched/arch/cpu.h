/* SPDX-License-Identifier: MIT */
/*
 * The per-arch hooks the core and the runtime share (freestanding):
 * vsched_cpu_relax(), a spin-wait hint, and vsched_clock_read(), the
 * CPU's own counter read without a system call, in the counter's units
 * (the runtime measures them against CLOCK_MONOTONIC).
 */
#ifndef VSCHED_ARCH_CPU_H
#define VSCHED_ARCH_CPU_H

#if defined(__x86_64__)
#include "x86_64/cpu.h"
#elif defined(__aarch64__)
#include "aarch64/cpu.h"
#elif defined(__riscv)
#include "riscv64/cpu.h"
#else
#error "libvsched supports x86_64, aarch64 and riscv64"
#endif

#endif

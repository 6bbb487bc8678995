/* SPDX-License-Identifier: MIT */
/*
 * How an idle CPU sleeps: park until a deadline, kick a CPU, poll for
 * events. The idle loop (runtime.c) keeps the protocol that loses no
 * wake-up: a CPU announces itself parked, then looks at the queues once
 * more, then sleeps only while its wake sequence has not moved; a waker
 * queues, then bumps the sequence of a parked CPU and kicks it. A parker
 * only sleeps and wakes. The futex is the first; an I/O backend brings
 * its own (sleeping in its ring or epoll, so completions also wake it).
 */
#ifndef VS_RUNTIME_PARKER_H
#define VS_RUNTIME_PARKER_H

#include <stdbool.h>
#include <stdint.h>

struct rt_cpu;

struct rt_parker {
	const char *name;
	/* Sleeps on the CPU's own thread while c->wake_seq is @seq, until
	 * @deadline (CLOCK_MONOTONIC ns; 0: none) or until events arrive.
	 * May return early (spuriously). */
	void (*park)(struct rt_cpu *c, uint32_t seq, uint64_t deadline);
	/* From any thread: wakes @c, parked or about to be (wake_seq was
	 * bumped first). */
	void (*kick)(struct rt_cpu *c);
	/* On the CPU's own thread, without sleeping: hands over whatever
	 * arrived (waking the tasks it completes); how many it woke. */
	int (*poll)(struct rt_cpu *c);
	/* On the CPU's own thread at every switch while c->io_flags is not 0
	 * (never otherwise): a chance to submit and reap. */
	void (*tick)(struct rt_cpu *c);
	/* On the CPU's own thread: nothing is in flight that only a sleep in
	 * this parker would see complete, so the CPU may sleep elsewhere (a
	 * domain member's wake word). NULL: always. */
	bool (*quiet)(struct rt_cpu *c);
};

extern const struct rt_parker rt_parker_futex;
/* A domain member's: its I/O backend's, sleeping on the member's shared
 * wake word while that is quiet (cpu.c). */
extern const struct rt_parker rt_parker_domain;

#endif

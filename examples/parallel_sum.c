/* SPDX-License-Identifier: MIT */
/*
 * Fan-out and join: the sum of 1..N in 10,000 small tasks placed on the
 * least-loaded of two CPUs; the joined total must be N(N+1)/2, and both
 * CPUs must have run some of the chunks.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "vsched/vs.h"

#define CHUNKS 10000
#define PER 5000ull /* numbers per chunk */
#define N (CHUNKS * PER)

static uint64_t part[CHUNKS];
static int cpu_of[CHUNKS];
static atomic_int runs[CHUNKS];

/* One by one: the volatile keeps the compiler from folding the loop into
 * the closed form the total is checked against, so each chunk is real
 * work (microseconds), more than one CPU alone keeps up with. */
static uint64_t add_range(uint64_t lo, uint64_t hi)
{
	volatile uint64_t s = 0;

	for (uint64_t k = lo; k <= hi; k++)
		s += k;
	return s;
}

static int chunk(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	uint64_t s = add_range(i * PER + 1, (i + 1) * PER);

	part[i] = s;
	cpu_of[i] = vs_cpu_self();
	atomic_fetch_add(&runs[i], 1);
	return (int)(s & 0x7fffffff); /* the low bits, to check the join */
}

int main(void)
{
	static vs_task_t *t[CHUNKS];
	struct vs_config cfg;
	unsigned ran_on[2] = { 0, 0 };
	uint64_t total = 0;

	vs_config_default(&cfg);
	cfg.ncpus = 2;
	cfg.stack_size = 32 * 1024; /* thousands wait at once: keep them small */
	CHECK(vs_runtime_start(&cfg) == 0);
	for (uintptr_t i = 0; i < CHUNKS; i++) {
		/* the least-loaded CPU, rather than this one */
		struct vs_task_attr a = { .place = VS_PLACE_BALANCE };

		CHECK(vs_task_spawn(chunk, (void *)i, &a, &t[i]) == 0);
		/* cooperative: now and then let this CPU run its share too */
		if (i % 100 == 99)
			CHECK(vs_task_yield() == 0);
	}
	for (int i = 0; i < CHUNKS; i++) {
		int code = -1;

		CHECK(vs_task_join(t[i], &code) == 0);
		CHECK(atomic_load(&runs[i]) == 1);
		CHECK(code == (int)(part[i] & 0x7fffffff));
		CHECK(cpu_of[i] == 0 || cpu_of[i] == 1);
		ran_on[cpu_of[i]]++;
		total += part[i];
	}
	CHECK(vs_runtime_stop() == 0);
	CHECK(total == N * (N + 1) / 2);
	CHECK(ran_on[0] > 0 && ran_on[1] > 0);
	printf("parallel_sum: 1..%llu = %llu from %d tasks, CPU 0 ran %u, CPU 1 ran %u\n",
	       (unsigned long long)N, (unsigned long long)total, CHUNKS, ran_on[0], ran_on[1]);
	return 0;
}

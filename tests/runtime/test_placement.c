/* SPDX-License-Identifier: MIT */
/*
 * Where tasks run: a task spawned with a CPU first runs on that CPU, with
 * or without an affinity mask, however idle the others are; vs_task_migrate
 * returns running on the CPU asked for, by vs_cpu_self() and by the OS
 * thread it is on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "start.h"

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static atomic_int wrong_cpu;

static int note_cpu(void *arg)
{
	if (vs_cpu_self() != (int)(intptr_t)arg)
		atomic_fetch_add(&wrong_cpu, 1);
	return vs_cpu_self();
}

/* Spawns @n tasks asking for CPU @cpu (no affinity), joins them all, and
 * counts those whose first run was elsewhere. */
static void spawn_on(int cpu, unsigned n)
{
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = cpu };
	vs_task_t *t[64];

	atomic_store(&wrong_cpu, 0);
	for (unsigned i = 0; i < n; i += 64) {
		unsigned k = n - i < 64 ? n - i : 64;
		int code;

		for (unsigned j = 0; j < k; j++)
			assert_int_equal(vs_task_spawn(note_cpu, (void *)(intptr_t)cpu, &a, &t[j]), 0);
		for (unsigned j = 0; j < k; j++)
			assert_int_equal(vs_task_join(t[j], &code), 0);
	}
	assert_int_equal(atomic_load(&wrong_cpu), 0);
}

static void test_spawn_cpu_two(void **state)
{
	(void)state;
	start(2);
	spawn_on(1, emulated() ? 300 : 1000);
	spawn_on(0, emulated() ? 300 : 1000);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* Beyond the 64 CPUs an affinity mask can name. */
static void test_spawn_cpu_many(void **state)
{
	(void)state;
	start(100);
	spawn_on(99, 200);
	spawn_on(64, 200);
	assert_int_equal(vs_runtime_stop(), 0);
}

static pid_t cpu_tid[4];

static int note_tid(void *arg)
{
	cpu_tid[(intptr_t)arg] = gettid();
	return 0;
}

struct mig {
	unsigned ncpus, rounds;
	int bad_self, bad_tid;
};

static int migrator(void *arg)
{
	struct mig *m = arg;
	unsigned seed = 12345;

	for (unsigned i = 0; i < m->rounds; i++) {
		int to = (int)(rand_r(&seed) % m->ncpus);
		int r = vs_task_migrate(to);

		if (r != 0)
			return r;
		if (vs_cpu_self() != to)
			m->bad_self++;
		if (gettid() != cpu_tid[to])
			m->bad_tid++;
	}
	return 0;
}

static void test_migrate(void **state)
{
	struct mig m = { .ncpus = 2, .rounds = emulated() ? 300 : 1000 };
	vs_task_t *t;
	int code;

	(void)state;
	start(m.ncpus);
	for (unsigned i = 0; i < m.ncpus; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)i, .affinity = 1ull << i };

		assert_int_equal(vs_task_spawn(note_tid, (void *)(intptr_t)i, &a, &t), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
	}
	assert_true(cpu_tid[0] != cpu_tid[1]);
	assert_int_equal(vs_task_spawn(migrator, &m, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(m.bad_self, 0);
	assert_int_equal(m.bad_tid, 0);
	/* bad input changes nothing */
	assert_int_equal(vs_task_migrate(0), -EPERM); /* the first task */
	assert_int_equal(vs_runtime_stop(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_spawn_cpu_two, stop_left),
		cmocka_unit_test_teardown(test_spawn_cpu_many, stop_left),
		cmocka_unit_test_teardown(test_migrate, stop_left),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

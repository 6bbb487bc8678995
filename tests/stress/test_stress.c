/* SPDX-License-Identifier: MIT */
/*
 * Stress: stackful and stackless tasks on two CPUs spawn, yield, sleep,
 * wait, notify, join, detach, migrate, lock and pass items through a
 * channel at random for a bounded time. Checked: each task runs to the end
 * once and never on two CPUs at once, joins give the right codes, nothing
 * goes through the mutex or the channel twice or not at all, and no
 * wake-up is lost (a watchdog names the tasks still waiting).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"
#include "vsched/stats.h"

/* VSCHED_STRESS_SECONDS: how long (default 10 s, 3 s under emulation);
 * VSCHED_STRESS_SEED: the seed of a run to repeat; VSCHED_STRESS_POLICY:
 * fifo (default), rr or cfs (both with preemption on). */
static void params(void)
{
	const char *s = getenv("VSCHED_STRESS_SECONDS"), *seed = getenv("VSCHED_STRESS_SEED");
	const char *pol = getenv("VSCHED_STRESS_POLICY");
	bool emu = getenv("VSCHED_EMULATED") != NULL;
	char *end;

	P.seconds = emu ? 3.0 : 10.0;
	if (s) {
		double d = strtod(s, &end);

		if (end != s && d >= 0 && d <= 3600)
			P.seconds = d;
	}
	P.seed = seed ? strtoull(seed, NULL, 0) : mix(vs_now() ^ ((uint64_t)getpid() << 40));
	P.roots = emu ? 6 : 16;
	P.live_cap = emu ? 20 : 56;
	P.kid_ops = 64;
	P.grace = (emu ? 90 : 30) * 1000000000ull;
	P.policy = VS_POLICY_FIFO;
	if (pol && !strcmp(pol, "rr"))
		P.policy = VS_POLICY_RR;
	else if (pol && !strcmp(pol, "cfs"))
		P.policy = VS_POLICY_CFS;
}

static void reset(void)
{
	memset(kind, 0, sizeof(kind));
	memset(started, 0, sizeof(started));
	memset(done, 0, sizeof(done));
	memset(running, 0, sizeof(running));
	memset(at, 0, sizeof(at));
	memset(at_arg, 0, sizeof(at_arg));
	memset(tally, 0, sizeof(tally));
	atomic_store(&next_id, 0);
	atomic_store(&nspawned, 0);
	atomic_store(&nfinished, 0);
	atomic_store(&wlive, 0);
	atomic_store(&nerr, 0);
	atomic_store(&last_finish, 0);
	for (int op = 0; op < NOPS; op++)
		atomic_store(&nops[op], 0);
	atomic_store(&n_stackless, 0);
	atomic_store(&n_slept, 0);
	atomic_store(&n_woken, 0);
	atomic_store(&n_timed_out, 0);
	atomic_store(&n_busy, 0);
	vs_wq_init(&done_wq);
	for (int q = 0; q < NQ; q++) {
		vs_wq_init(&dq[q]);
		vs_wq_init(&pq[q]);
		atomic_store(&owed[q], 0);
		atomic_store(&bank[q], 0);
		atomic_store(&posted[q], 0);
		atomic_store(&taken[q], 0);
		atomic_store(&gen[q], 0);
	}
	vs_mutex_init(&mx);
	mx_count = 0;
	atomic_store(&mx_incs, 0);
	atomic_store(&chan_next, 0);
	atomic_store(&credits, 0);
	atomic_store(&chan_sent, 0);
	atomic_store(&chan_recvd, 0);
}

static bool all_done(void *arg)
{
	(void)arg;
	return atomic_load(&nfinished) == atomic_load(&nspawned);
}

/*
 * The statistics under the load, read by a thread that is no CPU: no
 * counter of a CPU ever runs backwards, each total is the CPUs' sum plus
 * the outside's, and the tasks counted by state never exceed the table.
 */
static _Atomic int sampling;
static long samples;
static char stats_bad[256];

#define NCTR (9 + VS_IO_KINDS)
static void counters(const struct vs_cpu_stats *c, uint64_t *f)
{
	const uint64_t v[9] = { c->switches, c->yields, c->parks, c->kicks, c->steals,
				c->wakes_local, c->wakes_remote, c->timers, c->preempts };

	memcpy(f, v, sizeof(v));
	memcpy(f + 9, c->io, sizeof(c->io));
}

static void *sampler(void *arg)
{
	static uint64_t last[NCPUS][NCTR];
	uint64_t last_spawned = 0;
	unsigned max_tasks = (unsigned)(uintptr_t)arg;

	memset(last, 0, sizeof(last));
	while (atomic_load(&sampling) && !stats_bad[0]) {
		struct vs_cpu_stats cs[NCPUS];
		uint64_t f[NCTR], o[NCTR], tot[NCTR], sum[NCTR] = { 0 }, tasks = 0;
		struct vs_stats s;

		if (vs_stats_get(&s, cs, NCPUS) != NCPUS) {
			snprintf(stats_bad, sizeof(stats_bad), "vs_stats_get failed");
			break;
		}
		for (int c = 0; c < NCPUS; c++) {
			counters(&cs[c], f);
			for (int k = 0; k < NCTR; k++) {
				if (f[k] < last[c][k])
					snprintf(stats_bad, sizeof(stats_bad),
						 "CPU %d counter %d ran back from %llu to %llu", c, k,
						 (unsigned long long)last[c][k], (unsigned long long)f[k]);
				last[c][k] = f[k];
				sum[k] += f[k];
			}
		}
		counters(&s.outside, o);
		counters(&s.total, tot);
		for (int k = 0; k < NCTR; k++)
			if (tot[k] != sum[k] + o[k])
				snprintf(stats_bad, sizeof(stats_bad), "total %d is not the sum", k);
		for (int k = 0; k < VS_TASK_STATES; k++)
			tasks += s.tasks[k];
		if (tasks > max_tasks || s.spawned < last_spawned)
			snprintf(stats_bad, sizeof(stats_bad), "%llu tasks, spawned %llu after %llu",
				 (unsigned long long)tasks, (unsigned long long)s.spawned,
				 (unsigned long long)last_spawned);
		last_spawned = s.spawned;
		samples++;
		usleep(200);
	}
	return NULL;
}

static void test_stress(void **state)
{
	pthread_t sampler_th;
	struct vs_config cfg;
	vs_task_t *top[64];
	uint32_t top_id[64], ntop = 0;
	uint64_t now;
	uint32_t v;
	int r, code = 0;

	(void)state;
	params();
	reset();
	print_message("stress: seed %#" PRIx64 " (VSCHED_STRESS_SEED repeats its choices), "
		      "%.1f s, %u roots on %d CPUs, policy %d\n",
		      P.seed, P.seconds, P.roots, NCPUS, (int)P.policy);
	vs_config_default(&cfg);
	cfg.ncpus = NCPUS;
	cfg.stack_size = 64 * 1024;
	cfg.max_tasks = 1024;
	cfg.policy = P.policy;
	cfg.preempt = 1;
	assert_int_equal(vs_runtime_start(&cfg), 0);
	atomic_store(&sampling, 1);
	stats_bad[0] = 0;
	samples = 0;
	assert_int_equal(pthread_create(&sampler_th, NULL, sampler,
					(void *)(uintptr_t)cfg.max_tasks), 0);
	assert_int_equal(vs_chan_create(sizeof(uint32_t), CHAN_CAP, &ch), 0);
	P.t0 = vs_now();
	P.deadline = P.t0 + (uint64_t)(P.seconds * 1e9);
	for (uint32_t i = 0; i < NCPUS + P.roots; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)(i % NCPUS) };
		uint8_t k = i < NCPUS ? K_DEALER : K_ROOT;

		if (i >= NCPUS && i % 2)
			k |= K_STACKLESS;
		if (i < NCPUS || i % 5 == 4) {
			a.affinity = 1ull << a.cpu;
			k |= (uint8_t)(K_PIN0 << a.cpu);
		}
		top_id[ntop] = atomic_fetch_add(&next_id, 1);
		assert_true(spawn_task(top_id[ntop], k, &a, &top[ntop]));
		ntop++;
	}

	/* the watchdog: a lost wake-up shows as tasks that never finish */
	r = vs_wq_wait_pred_until(&done_wq, all_done, NULL,
				     vs_deadline_in(P.deadline - vs_now() + P.grace));
	now = vs_now();
	if (r != 0) {
		static char buf[4096];

		describe_stuck(buf, sizeof(buf));
		fail_msg("seed %#" PRIx64 ": watchdog: not done %.1f s after the end:%s", P.seed,
			 (double)(now - P.deadline) / 1e9, buf);
	}
	EXPECT(now - atomic_load(&last_finish) < P.grace / 2,
	       "the watchdog was woken %.1f s after the last task finished",
	       (double)(now - atomic_load(&last_finish)) / 1e9);
	for (uint32_t i = 0; i < ntop; i++) {
		r = vs_task_join(top[i], &code);
		EXPECT(r == 0 && code == code_of(top_id[i]), "task %u: join gave %d, code %d, not %d",
		       top_id[i], r, code, code_of(top_id[i]));
	}
	EXPECT(vs_chan_try_recv(ch, &v) == -EAGAIN, "item %u left in the channel", v);
	vs_chan_destroy(ch);
	atomic_store(&sampling, 0);
	pthread_join(sampler_th, NULL);
	{
		struct vs_stats st;

		assert_true(vs_stats_get(&st, NULL, 0) > 0);
		print_message("stress: statistics sampled %ld times; %llu spawned (%ld counted "
			      "here), %llu switches\n", samples, (unsigned long long)st.spawned,
			      atomic_load(&nspawned), (unsigned long long)st.total.switches);
		EXPECT(!stats_bad[0], "statistics: %s", stats_bad);
		EXPECT(st.spawned == (uint64_t)atomic_load(&nspawned),
		       "%llu spawns counted, %ld made", (unsigned long long)st.spawned,
		       atomic_load(&nspawned));
	}
	assert_int_equal(vs_runtime_stop(), 0);
	summary((double)(now - P.t0) / 1e9);
	check_invariants();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}

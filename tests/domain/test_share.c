/* SPDX-License-Identifier: MIT */
/*
 * Members sharing the domain's CPUs: at any moment one member's worker
 * runs on a domain CPU (checked by a counter every task raises while it
 * works and that must never be found raised), CPU time splits by weight,
 * a member with one task and one with eight split two CPUs evenly, hand-
 * offs happen per member slice and not per switch, and a member killed or
 * stopped while it holds a CPU does not keep it from the others.
 *
 * The parent creates the domain and runs no runtime; each member is a
 * child made with fork that opens the inherited fds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#define MAXM 4
#define MS 1000000ull

/* What the members and the parent share (an anonymous shared mapping). */
struct board {
	_Atomic int inside[8];	 /* per domain CPU... of the whole domain: one */
	_Atomic long overlap;	 /* times a task found another member working */
	_Atomic long iters[MAXM];
	_Atomic int ready;
	_Atomic int go;
	_Atomic int stop;
	long nvcsw[MAXM];	 /* each member's voluntary kernel switches */
	uint64_t ran_ns[MAXM];	 /* each member's measured run (its wall time) */
};

struct plan {
	int ntasks;
	unsigned weight;
	bool check_inside; /* one domain CPU: no two members work at once */
	int work_us;	   /* busy time between two yields */
};

static struct board *B;
static int G, S; /* the domain's fds, inherited */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct task_arg {
	int member;
	const struct plan *p;
};

static int busy(void *arg)
{
	struct task_arg *a = arg;

	while (!atomic_load(&B->stop)) {
		uint64_t end = now_ns() + (uint64_t)a->p->work_us * 1000;

		if (a->p->check_inside && atomic_fetch_add(&B->inside[0], 1) != 0)
			atomic_fetch_add(&B->overlap, 1);
		while (now_ns() < end)
			;
		if (a->p->check_inside)
			atomic_fetch_sub(&B->inside[0], 1);
		atomic_fetch_add(&B->iters[a->member], 1);
		if (vs_task_yield() != 0)
			return 1;
	}
	return 0;
}

/* A member: joins, runs its tasks from go to stop, reports; 0 if fine. */
static int member_main(int idx, const struct plan *p)
{
	struct task_arg a = { .member = idx, .p = p };
	struct vs_config cfg = { 0 };
	vs_domain_t *d = NULL;
	vs_task_t *t[16];
	struct rusage ru0, ru1;
	uint64_t t0;
	int code;

	if (vs_domain_open(G, S, &d) != 0)
		return 70;
	if (vs_domain_set_weight(d, p->weight) != 0)
		return 71;
	cfg.domain = d;
	/* the runtime starts at go: a boot task that sleeps in the kernel
	 * would hold CPU 0 from the others until its lease ran out */
	atomic_fetch_add(&B->ready, 1);
	while (!atomic_load(&B->go))
		usleep(100);
	if (vs_runtime_start(&cfg) != 0)
		return 72;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	for (int i = 0; i < p->ntasks; i++)
		if (vs_task_spawn(busy, &a, NULL, &t[i]) != 0)
			return 73;
	for (int i = 0; i < p->ntasks; i++)
		if (vs_task_join(t[i], &code) != 0 || code != 0)
			return 74;
	B->ran_ns[idx] = now_ns() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	B->nvcsw[idx] = ru1.ru_nvcsw - ru0.ru_nvcsw;
	if (vs_runtime_stop() != 0)
		return 75;
	return vs_domain_close(d) == 0 ? 0 : 76;
}

static pid_t start_member(int idx, const struct plan *p)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		_exit(member_main(idx, p));
	}
	return pid;
}

static int reap(pid_t p)
{
	int st;

	assert_int_equal(waitpid(p, &st, 0), p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static vs_domain_t *setup_domain(unsigned ncpus)
{
	struct vs_domain_attr a = { .ncpus = ncpus, .max_members = MAXM + 1, .max_tasks = 64,
				    .queue_cap = 64 };
	vs_domain_t *d = NULL;

	memset(B, 0, sizeof(*B));
	assert_int_equal(vs_domain_create(&a, &d), 0);
	assert_int_equal(vs_domain_fds(d, &G, &S), 0);
	return d;
}

static void wait_ready(int n)
{
	for (int i = 0; i < 20000 && atomic_load(&B->ready) < n; i++)
		usleep(500);
	assert_int_equal(atomic_load(&B->ready), n);
}

/* Domain CPU time of each member (by pid order of @pids) into @ns. */
static void sample(vs_domain_t *d, const pid_t *pids, int n, uint64_t *ns)
{
	struct vs_domain_member m[MAXM + 1];
	int k = vs_domain_members(d, m, MAXM + 1);

	assert_true(k >= 1);
	for (int i = 0; i < n; i++) {
		ns[i] = 0;
		for (int j = 0; j < k; j++)
			if (m[j].pid == pids[i])
				ns[i] = m[j].cpu_ns;
	}
}

/* Lets @n ready members run, samples their CPU time 200 ms and 1.2 s
 * after they start into @a and @b, stops them and checks they ended well. */
static void measure(vs_domain_t *d, const pid_t *pid, int n, uint64_t *a, uint64_t *b)
{
	atomic_store(&B->go, 1);
	usleep(200000);
	sample(d, pid, n, a);
	usleep(1000000);
	sample(d, pid, n, b);
	atomic_store(&B->stop, 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(reap(pid[i]), 0);
}

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

/* Under a sanitizer every hand-off costs several times its time: how busy
 * the CPUs were is not judged there (shares still are). */
static bool sanitized(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return false;
#endif
}

/* Two members on one domain CPU: never both at work, both progress, even
 * shares, and few kernel switches: a hand-off per member slice. */
static void test_one_cpu(void **state)
{
	struct plan p = { .ntasks = 4, .weight = 1, .check_inside = true, .work_us = 5 };
	vs_domain_t *d = setup_domain(1);
	pid_t pid[2];
	uint64_t a[2], b[2], run = 600 * MS;
	long slices;

	(void)state;
	for (int i = 0; i < 2; i++)
		pid[i] = start_member(i, &p);
	wait_ready(2);
	atomic_store(&B->go, 1);
	usleep(100000);
	sample(d, pid, 2, a);
	usleep((useconds_t)(run / 1000));
	sample(d, pid, 2, b);
	atomic_store(&B->stop, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(reap(pid[i]), 0);
	print_message("    iterations %ld %ld, overlaps %ld, cpu ms %.1f %.1f, "
		      "kernel switches %ld %ld\n",
		      atomic_load(&B->iters[0]), atomic_load(&B->iters[1]),
		      atomic_load(&B->overlap), (double)(b[0] - a[0]) / 1e6,
		      (double)(b[1] - a[1]) / 1e6, B->nvcsw[0], B->nvcsw[1]);
	assert_int_equal(atomic_load(&B->overlap), 0);
	assert_true(atomic_load(&B->iters[0]) > 0 && atomic_load(&B->iters[1]) > 0);
	if (!emulated()) {
		double s0 = (double)(b[0] - a[0]) / (double)(b[0] - a[0] + b[1] - a[1]);

		assert_true(s0 > 0.4 && s0 < 0.6);
		/* a hand-off per slice (1 ms) at most, per member: a kernel
		 * switch each, plus a few for start and stop */
		slices = (long)(B->ran_ns[0] / MS) + 1;
		assert_true(B->nvcsw[0] <= slices + 50);
		assert_true(B->nvcsw[1] <= (long)(B->ran_ns[1] / MS) + 51);
	}
	assert_int_equal(vs_domain_close(d), 0);
}

/* Weights 1:2:4 on two CPUs: each member's share of the domain's CPU
 * time within 5% (relative) of w / 7 over a second. */
static void test_weights(void **state)
{
	static const unsigned w[3] = { 1, 2, 4 };
	struct plan p[3];
	vs_domain_t *d = setup_domain(2);
	pid_t pid[3];
	uint64_t a[3], b[3], tot = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		p[i] = (struct plan){ .ntasks = 4, .weight = w[i], .work_us = 20 };
		pid[i] = start_member(i, &p[i]);
	}
	wait_ready(3);
	measure(d, pid, 3, a, b);
	for (int i = 0; i < 3; i++)
		tot += b[i] - a[i];
	for (int i = 0; i < 3; i++) {
		double share = (double)(b[i] - a[i]) / (double)tot, want = w[i] / 7.0;

		print_message("    weight %u: %.3f of the CPU time (%.3f wanted)\n", w[i], share,
			      want);
		if (!emulated())
			assert_true(share > want * 0.95 && share < want * 1.05);
		assert_true(b[i] > a[i]);
	}
	/* both CPUs were in use the whole time */
	print_message("    the CPUs were held %.0f%% of the time\n", 100.0 * (double)tot / (2e9));
	if (!emulated() && !sanitized())
		assert_true(tot > 2 * 1000 * MS * 9 / 10);
	assert_int_equal(vs_domain_close(d), 0);
}

/* One task against eight, equal weights, two CPUs: half each. */
static void test_one_vs_eight(void **state)
{
	struct plan p1 = { .ntasks = 1, .weight = 1, .work_us = 20 };
	struct plan p8 = { .ntasks = 8, .weight = 1, .work_us = 20 };
	vs_domain_t *d = setup_domain(2);
	pid_t pid[2];
	uint64_t a[2], b[2];
	double s0;

	(void)state;
	pid[0] = start_member(0, &p1);
	pid[1] = start_member(1, &p8);
	wait_ready(2);
	measure(d, pid, 2, a, b);
	s0 = (double)(b[0] - a[0]) / (double)(b[0] - a[0] + b[1] - a[1]);
	print_message("    one task: %.3f, eight tasks: %.3f\n", s0, 1 - s0);
	if (!emulated())
		assert_true(s0 > 0.475 && s0 < 0.525);
	assert_int_equal(vs_domain_close(d), 0);
}

/* A member killed (or stopped) while the others wait for its CPU: they go
 * on, at once when it died, at the lease when it is stopped. */
static void holder_gone(int sig)
{
	struct plan p = { .ntasks = 2, .weight = 1, .work_us = 50 };
	vs_domain_t *d = setup_domain(1);
	pid_t pid[2];
	long before, after;

	for (int i = 0; i < 2; i++)
		pid[i] = start_member(i, &p);
	wait_ready(2);
	atomic_store(&B->go, 1);
	usleep(100000);
	assert_int_equal(kill(pid[0], sig), 0);
	usleep(300000); /* past the lease (50 member slices) */
	before = atomic_load(&B->iters[1]);
	usleep(300000);
	after = atomic_load(&B->iters[1]);
	print_message("    the other member: %ld iterations in 300 ms after\n", after - before);
	assert_true(after - before > 100);
	if (sig == SIGSTOP) {
		assert_int_equal(kill(pid[0], SIGCONT), 0);
		usleep(100000);
		before = atomic_load(&B->iters[0]);
		usleep(200000);
		/* back: it gets its turns again */
		assert_true(atomic_load(&B->iters[0]) > before);
	}
	atomic_store(&B->stop, 1);
	assert_int_equal(reap(pid[0]), sig == SIGKILL ? 128 + SIGKILL : 0);
	assert_int_equal(reap(pid[1]), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

static void test_holder_killed(void **state)
{
	(void)state;
	holder_gone(SIGKILL);
}

static void test_holder_stopped(void **state)
{
	(void)state;
	holder_gone(SIGSTOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_one_vs_eight),
		cmocka_unit_test(test_holder_killed),
		cmocka_unit_test(test_holder_stopped),
	};

	B = mmap(NULL, sizeof(*B), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (B == MAP_FAILED)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

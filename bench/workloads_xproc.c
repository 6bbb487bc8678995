/* SPDX-License-Identifier: MIT */
/*
 * Between processes: a round trip between tasks of two members of one
 * domain (xproc_wake: a domain of one CPU; xproc_wake_spin: two CPUs,
 * where the other member's worker still spins when the message comes),
 * against two plain processes that ping-pong through a shared futex word
 * (on one CPU, and across two) or a pair of pipes (on one CPU). Every
 * process is a child of vsbench made with fork; the figure is ns per
 * round trip, timed by the first process.
 *
 * xproc_cpu: two CPU-bound members on a domain of one CPU, against two
 * busy plain processes pinned to one machine CPU; the figure is kernel
 * context switches per second, both processes' together (a member gives
 * the CPU up once per member slice, 1 ms: about 1000 a second is one
 * switch a slice).
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#include "bench.h"

struct xboard {
	_Atomic uint32_t word; /* the futex ping-pong's */
	_Atomic int ready;
	uint32_t ch, back;
	int gfd, sfd;
	long n;
	double ns; /* per round trip, from the first process */
	int spin;  /* members on CPUs of their own */
	int busy;  /* members run busy_task */
	_Atomic int bad;
	_Atomic int done;	   /* xproc_cpu: processes that counted */
	_Atomic long switches; /* their kernel switches */
};

static struct xboard *board_new(void)
{
	struct xboard *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	memset(b, 0, sizeof(*b));
	return b;
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Runs @fn(b, 0) and @fn(b, 1) in two children; b->ns, or -errno. */
static double two(struct xboard *b, void (*fn)(struct xboard *, int))
{
	pid_t p[2];
	double ns;
	int st, bad = 0;

	for (int i = 0; i < 2; i++) {
		p[i] = fork();
		if (p[i] < 0)
			return -errno;
		if (p[i] == 0) {
			fn(b, i);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++)
		if (waitpid(p[i], &st, 0) != p[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	ns = bad || atomic_load(&b->bad) ? -EIO : b->ns;
	munmap(b, sizeof(*b));
	return ns;
}

/* ------------------------------------------------- plain processes */

static int fcpu[2];

static void futex_side(struct xboard *b, int me)
{
	uint64_t t0 = bench_now();

	pin_to(fcpu[me]);
	for (long i = 0; i < b->n; i++) {
		uint32_t mine = (uint32_t)me, theirs = (uint32_t)!me;

		while (atomic_load(&b->word) != mine)
			syscall(SYS_futex, (uint32_t *)&b->word, FUTEX_WAIT, theirs, NULL, NULL, 0);
		atomic_store(&b->word, theirs);
		syscall(SYS_futex, (uint32_t *)&b->word, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
	if (me == 0)
		b->ns = (double)(bench_now() - t0) / (double)b->n;
}

static double futex_pp(long n, int c0, int c1)
{
	struct xboard *b = board_new();

	if (!b)
		return -ENOMEM;
	b->n = n;
	fcpu[0] = c0;
	fcpu[1] = c1;
	return two(b, futex_side);
}

double pt_xproc_wake(long n)
{
	return futex_pp(n, 0, 0);
}

double pt_xproc_wake_spin(long n)
{
	return futex_pp(n, 0, 1);
}

static int to1[2], to0[2]; /* pipes: to process 1, to process 0 */

static void pipe_side(struct xboard *b, int me)
{
	uint64_t t0 = bench_now();
	char c = 0;

	pin_to(0);
	for (long i = 0; i < b->n; i++) {
		bool ok = me == 0 ? write(to1[1], &c, 1) == 1 && read(to0[0], &c, 1) == 1 :
				    read(to1[0], &c, 1) == 1 && write(to0[1], &c, 1) == 1;

		if (!ok)
			atomic_store(&b->bad, 1);
	}
	if (me == 0)
		b->ns = (double)(bench_now() - t0) / (double)b->n;
}

double pt_xproc_pipe(long n)
{
	struct xboard *b = board_new();
	double r;

	if (!b)
		return -ENOMEM;
	b->n = n;
	if (pipe(to1) || pipe(to0))
		return -errno;
	r = two(b, pipe_side);
	close(to1[0]);
	close(to1[1]);
	close(to0[0]);
	close(to0[1]);
	return r;
}

/* Both processes' kernel switches per second over their common run: the
 * first waits for the second's count (@rest: its way of waiting). */
static void cpu_report(struct xboard *b, int me, const struct rusage *r0, uint64_t t0,
		       void (*rest)(void))
{
	struct rusage r1;

	getrusage(RUSAGE_SELF, &r1);
	atomic_fetch_add(&b->switches, (r1.ru_nvcsw - r0->ru_nvcsw) +
					       (r1.ru_nivcsw - r0->ru_nivcsw));
	atomic_fetch_add(&b->done, 1);
	if (me != 0)
		return;
	while (atomic_load(&b->done) < 2)
		rest();
	b->ns = (double)atomic_load(&b->switches) * 1e9 / (double)(bench_now() - t0);
}

static void plain_rest(void)
{
	usleep(100);
}

static void busy_side(struct xboard *b, int me)
{
	struct rusage r0;
	uint64_t t0;

	pin_to(0);
	atomic_fetch_add(&b->ready, 1);
	while (atomic_load(&b->ready) < 2)
		;
	getrusage(RUSAGE_SELF, &r0);
	t0 = bench_now();
	while (bench_now() - t0 < (uint64_t)b->n * 1000000u)
		;
	cpu_report(b, me, &r0, t0, plain_rest);
}

double pt_xproc_cpu(long n)
{
	struct xboard *b = board_new();

	if (!b)
		return -ENOMEM;
	b->n = n;
	return two(b, busy_side);
}

/* ---------------------------------------------------- domain members */

struct side {
	struct xboard *b;
	vs_domain_t *d;
	int me;
};

static int member_task(void *arg)
{
	struct side *s = arg;
	struct xboard *b = s->b;
	uint64_t t0, v = 0;

	/* both up before the clock starts */
	atomic_fetch_add(&b->ready, 1);
	while (atomic_load(&b->ready) < 2)
		(void)vs_task_yield();
	t0 = bench_now();
	for (long i = 0; i < b->n; i++) {
		if (s->me == 0) {
			if (vs_dchan_send(s->d, b->ch, &v, sizeof(v)) != 0 ||
			    vs_dchan_recv(s->d, b->back, &v, sizeof(v)) != 0)
				return 1;
		} else {
			if (vs_dchan_recv(s->d, b->ch, &v, sizeof(v)) != 0)
				return 1;
			v++;
			if (vs_dchan_send(s->d, b->back, &v, sizeof(v)) != 0)
				return 1;
		}
	}
	if (s->me == 0) {
		b->ns = (double)(bench_now() - t0) / (double)b->n;
		if (v != (uint64_t)b->n)
			return 1;
	}
	return 0;
}

static void member_rest(void)
{
	(void)vs_sleep(1000000);
}

/* A CPU-bound task: 10 us of work between two yields, for b->n ms. */
static int busy_task(void *arg)
{
	struct side *s = arg;
	struct xboard *b = s->b;
	struct rusage r0;
	uint64_t t0;

	atomic_fetch_add(&b->ready, 1);
	while (atomic_load(&b->ready) < 2)
		(void)vs_task_yield();
	getrusage(RUSAGE_SELF, &r0);
	t0 = bench_now();
	while (bench_now() - t0 < (uint64_t)b->n * 1000000u) {
		uint64_t end = bench_now() + 10000;

		while (bench_now() < end)
			;
		(void)vs_task_yield();
	}
	cpu_report(b, s->me, &r0, t0, member_rest);
	return 0;
}

static void member_side(struct xboard *b, int me)
{
	struct vs_config cfg = { 0 };
	struct vs_task_attr a = { 0 };
	struct side s = { b, NULL, me };
	vs_task_t *t;
	int code = 1;

	if (vs_domain_open(b->gfd, b->sfd, &s.d) != 0) {
		atomic_store(&b->bad, 1);
		return;
	}
	cfg.domain = s.d;
	if (vs_runtime_start(&cfg) != 0) {
		atomic_store(&b->bad, 1);
		return;
	}
	/* on two CPUs, each member's task on a CPU of its own */
	a.affinity = b->spin ? 1ull << me : 0;
	if (vs_task_spawn(b->busy ? busy_task : member_task, &s, &a, &t) != 0 || vs_task_join(t, &code) != 0 ||
	    code != 0)
		atomic_store(&b->bad, 1);
	(void)vs_runtime_stop();
	(void)vs_domain_close(s.d);
}

static double domain_pp(long n, unsigned ncpus, bool busy)
{
	struct vs_domain_attr a = { .ncpus = ncpus, .max_members = 3, .max_tasks = 64,
				    .queue_cap = 64, .max_objects = 4 };
	struct xboard *b = board_new();
	vs_domain_t *d = NULL;
	double r;

	if (!b)
		return -ENOMEM;
	b->n = n;
	b->spin = ncpus > 1;
	b->busy = busy;
	r = vs_domain_create(&a, &d);
	if (r == 0)
		r = vs_dchan_create(d, sizeof(uint64_t), 1, &b->ch);
	if (r == 0)
		r = vs_dchan_create(d, sizeof(uint64_t), 1, &b->back);
	if (r == 0)
		r = vs_domain_fds(d, &b->gfd, &b->sfd);
	if (r != 0) {
		if (d)
			(void)vs_domain_close(d);
		munmap(b, sizeof(*b));
		return r;
	}
	r = two(b, member_side);
	(void)vs_domain_close(d);
	return r;
}

double vs_xproc_wake(long n)
{
	return domain_pp(n, 1, false);
}

double vs_xproc_wake_spin(long n)
{
	return domain_pp(n, 2, false);
}

double vs_xproc_cpu(long n)
{
	return domain_pp(n, 1, true);
}

/* SPDX-License-Identifier: MIT */
/*
 * A parent and three worker processes sharing a domain of 2 CPUs, with
 * weights 1, 2 and 4. Each worker runs four busy tasks; the parent, a
 * member that runs no tasks, reads the members' CPU time over a second
 * and prints each one's share, which must be its weight's within 5%
 * (looser where the machine cannot judge time: VSCHED_EMULATED, and
 * VSCHED_UNTIMED as under valgrind, which runs one thread at a time).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#include "check.h"

#define WORKERS 3
#define TASKS 4

static _Atomic int *stop; /* shared with the workers */

static int busy(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	while (!atomic_load(stop)) {
		for (int i = 0; i < 20000; i++)
			x += (uint64_t)i;
		CHECK(vs_task_yield() == 0);
	}
	return 0;
}

static int worker(int gfd, int sfd, unsigned weight)
{
	vs_domain_t *d = NULL;
	struct vs_config cfg = { 0 };
	vs_task_t *t[TASKS];
	int code;

	CHECK(vs_domain_open(gfd, sfd, &d) == 0);
	CHECK(vs_domain_set_weight(d, weight) == 0);
	cfg.domain = d;
	CHECK(vs_runtime_start(&cfg) == 0);
	for (int i = 0; i < TASKS; i++)
		CHECK(vs_task_spawn(busy, NULL, NULL, &t[i]) == 0);
	for (int i = 0; i < TASKS; i++)
		CHECK(vs_task_join(t[i], &code) == 0 && code == 0);
	CHECK(vs_runtime_stop() == 0);
	CHECK(vs_domain_close(d) == 0);
	return 0;
}

/* CPU time of each worker (by pid) so far. */
static void sample(vs_domain_t *d, const pid_t *pid, uint64_t *ns)
{
	struct vs_domain_member m[WORKERS + 1];
	int n = vs_domain_members(d, m, WORKERS + 1);

	CHECK(n >= 1);
	for (int w = 0; w < WORKERS; w++) {
		ns[w] = 0;
		for (int i = 0; i < n && i < WORKERS + 1; i++)
			if (m[i].pid == pid[w])
				ns[w] = m[i].cpu_ns;
	}
}

int main(void)
{
	static const unsigned weight[WORKERS] = { 1, 2, 4 };
	struct vs_domain_attr attr = { .ncpus = 2, .max_members = WORKERS + 1 };
	double bound = getenv("VSCHED_UNTIMED") ? 1.0 : getenv("VSCHED_EMULATED") ? 0.25 : 0.05;
	uint64_t a[WORKERS], b[WORKERS], total = 0;
	vs_domain_t *d = NULL;
	pid_t pid[WORKERS];
	int gfd, sfd, st;

	stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(stop != MAP_FAILED);
	CHECK(vs_domain_create(&attr, &d) == 0);
	CHECK(vs_domain_fds(d, &gfd, &sfd) == 0);
	fflush(stdout);
	for (int w = 0; w < WORKERS; w++) {
		pid[w] = fork();
		CHECK(pid[w] >= 0);
		if (pid[w] == 0)
			_exit(worker(gfd, sfd, weight[w]));
	}
	usleep(300000); /* all at work */
	sample(d, pid, a);
	usleep(1000000);
	sample(d, pid, b);
	atomic_store(stop, 1);
	for (int w = 0; w < WORKERS; w++) {
		CHECK(waitpid(pid[w], &st, 0) == pid[w] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		total += b[w] - a[w];
	}
	CHECK(total > 0);
	for (int w = 0; w < WORKERS; w++) {
		double share = (double)(b[w] - a[w]) / (double)total, want = weight[w] / 7.0;

		printf("worker %d, weight %u: %.1f%% of the domain's CPU time (weight's share %.1f%%)\n",
		       w, weight[w], 100 * share, 100 * want);
		CHECK(share > want * (1 - bound) && share < want * (1 + bound));
	}
	CHECK(vs_domain_close(d) == 0);
	return 0;
}

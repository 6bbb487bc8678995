/* SPDX-License-Identifier: MIT */
/*
 * Two processes whose tasks pass a token: the parent creates a domain of
 * one CPU and two channels, forks, and each process joins with its own
 * runtime. The parent's task sends the token, the child's adds one and
 * sends it back, 10000 times; both check every value they get. The child
 * joins through the two fds it inherited, as a process started with exec
 * would (after clearing FD_CLOEXEC).
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#include "check.h"

#define ROUNDS 10000

struct side {
	vs_domain_t *d;
	uint32_t ping, pong; /* channels: to the child, to the parent */
	int child;
};

static int play(void *arg)
{
	struct side *s = arg;
	uint64_t token = 0;

	for (uint64_t i = 0; i < ROUNDS; i++) {
		if (!s->child) {
			token = 2 * i;
			CHECK(vs_dchan_send(s->d, s->ping, &token, sizeof(token)) == 0);
			CHECK(vs_dchan_recv(s->d, s->pong, &token, sizeof(token)) == 0);
			CHECK(token == 2 * i + 1);
		} else {
			CHECK(vs_dchan_recv(s->d, s->ping, &token, sizeof(token)) == 0);
			CHECK(token == 2 * i);
			token++;
			CHECK(vs_dchan_send(s->d, s->pong, &token, sizeof(token)) == 0);
		}
	}
	return 0;
}

/* Runs the side's task in a runtime on its membership of the domain. */
static void run(struct side *s)
{
	struct vs_config cfg = { .domain = s->d };
	vs_task_t *t;
	int code = -1;

	CHECK(vs_runtime_start(&cfg) == 0);
	CHECK(vs_task_spawn(play, s, NULL, &t) == 0);
	CHECK(vs_task_join(t, &code) == 0 && code == 0);
	CHECK(vs_runtime_stop() == 0);
}

int main(void)
{
	struct vs_domain_attr attr = { .ncpus = 1, .max_members = 2 };
	struct side s = { 0 };
	struct timespec t0, t1;
	int gfd, sfd, st;
	pid_t pid;

	CHECK(vs_domain_create(&attr, &s.d) == 0);
	CHECK(vs_dchan_create(s.d, sizeof(uint64_t), 1, &s.ping) == 0);
	CHECK(vs_dchan_create(s.d, sizeof(uint64_t), 1, &s.pong) == 0);
	CHECK(vs_domain_fds(s.d, &gfd, &sfd) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* the parent's handle is not ours: join with the fds */
		vs_domain_t *copy = s.d;

		CHECK(vs_domain_open(gfd, sfd, &s.d) == 0);
		CHECK(vs_domain_close(copy) == 0);
		s.child = 1;
		run(&s);
		CHECK(vs_domain_close(s.d) == 0);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(&s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("%d round trips between two processes on one domain CPU: %.2f us each\n", ROUNDS,
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 /
		       ROUNDS);
	CHECK(vs_domain_close(s.d) == 0);
	return 0;
}

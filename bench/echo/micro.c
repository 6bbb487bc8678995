/* SPDX-License-Identifier: MIT */
/*
 * Two I/O micro-benchmarks beside the echo one, one TSV line per figure
 * (name, what, ns per operation):
 *
 *   noop_rt   a round trip through the runtime that moves nothing: a task
 *             waits with vs_wait_fd on an eventfd that is always readable
 *             (a poll entry through the ring, the task parked and woken);
 *             against the same poll entry, and a NOP, on a raw ring
 *   pread4k   cached 4 KiB preads at scattered offsets of a 64 MiB file,
 *             from 64 tasks on one CPU, against a plain pread loop
 *
 * usage: echo_micro [ITERATIONS]   (the backend: VSCHED_IO, else the best)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#ifdef VS_HAVE_URING
#include <liburing.h>
#endif

#include "vsched/io.h"
#include "vsched/vs.h"

#define TASKS 64
#define FILE_SIZE (64u << 20)

static long iters = 200000;
static int file_fd;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int noop_task(void *arg)
{
	int efd = *(int *)arg;

	for (long i = 0; i < iters; i++)
		if (vs_wait_fd(efd, POLLIN) != POLLIN)
			return -EIO;
	return 0;
}

/* A scattered block of the file for task @t's @i-th read. */
static off_t block_of(unsigned t, long i)
{
	uint64_t x = (uint64_t)t * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull;

	x ^= x >> 31;
	return (off_t)(x % (FILE_SIZE / 4096)) * 4096;
}

static int pread_task(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	char buf[4096];

	for (long i = 0; i < iters / TASKS; i++)
		if (vs_pread(file_fd, buf, sizeof(buf), block_of(t, i)) != sizeof(buf))
			return -EIO;
	return 0;
}

static int make_file(void)
{
	char path[] = "/tmp/echo_micro-XXXXXX";
	static char buf[1 << 20];
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	memset(buf, 'x', sizeof(buf));
	for (unsigned i = 0; i < FILE_SIZE / sizeof(buf); i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return -1;
	for (unsigned i = 0; i < FILE_SIZE / sizeof(buf); i++) /* cached */
		if (pread(fd, buf, sizeof(buf), (off_t)i * (off_t)sizeof(buf)) != (ssize_t)sizeof(buf))
			return -1;
	return fd;
}

int main(int argc, char **argv)
{
	struct vs_config cfg = { .ncpus = 1 };
	int efd = eventfd(1, EFD_CLOEXEC); /* never read: always readable */
	vs_task_t *t[TASKS];
	const char *be;
	uint64_t t0;
	char name[64];

	if (argc > 1)
		iters = atol(argv[1]);
	file_fd = make_file();
	if (efd < 0 || file_fd < 0 || iters < TASKS) {
		fprintf(stderr, "echo_micro: setup failed\n");
		return 1;
	}
	if (vs_runtime_start(&cfg) != 0)
		return 1;
	be = vs_io_backend();
	snprintf(name, sizeof(name), "vsched-%s", !strcmp(be, "io_uring") ? "uring" : be);

	t0 = now_ns();
	if (vs_task_spawn(noop_task, &efd, NULL, &t[0]) || vs_task_join(t[0], NULL))
		return 1;
	printf("noop_rt\t%s\t%.1f\n", name, (double)(now_ns() - t0) / (double)iters);

	t0 = now_ns();
	for (unsigned i = 0; i < TASKS; i++)
		if (vs_task_spawn(pread_task, (void *)(uintptr_t)i, NULL, &t[i]))
			return 1;
	for (unsigned i = 0; i < TASKS; i++) {
		int code = -1;

		if (vs_task_join(t[i], &code) || code)
			return 1;
	}
	printf("pread4k\t%s\t%.1f\n", name,
	       (double)(now_ns() - t0) / (double)(iters / TASKS * TASKS));
	if (vs_runtime_stop() != 0)
		return 1;

	{
		char buf[4096];

		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			if (pread(file_fd, buf, sizeof(buf), block_of((unsigned)(i % TASKS), i / TASKS)) !=
			    sizeof(buf))
				return 1;
		printf("pread4k\tplain\t%.1f\n", (double)(now_ns() - t0) / (double)iters);
	}
#ifdef VS_HAVE_URING
	{
		struct io_uring ring;
		struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
						      IORING_SETUP_DEFER_TASKRUN };

		if (io_uring_queue_init_params(64, &ring, &p) == 0) {
			for (int kind = 0; kind < 2; kind++) {
				t0 = now_ns();
				for (long i = 0; i < iters; i++) {
					struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
					struct io_uring_cqe *cqe;

					if (kind)
						io_uring_prep_nop(sqe);
					else
						io_uring_prep_poll_add(sqe, efd, POLLIN);
					if (io_uring_submit_and_wait(&ring, 1) < 0 ||
					    io_uring_peek_cqe(&ring, &cqe) < 0)
						return 1;
					io_uring_cqe_seen(&ring, cqe);
				}
				printf("noop_rt\t%s\t%.1f\n", kind ? "ring-nop" : "ring-poll",
				       (double)(now_ns() - t0) / (double)iters);
			}
			io_uring_queue_exit(&ring);
		}
	}
#endif
	close(efd);
	close(file_fd);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo server, one task per connection, and its client.
 *
 *   echo_server              serve on an ephemeral port, run CLIENTS
 *                            client tasks against it, check every byte
 *                            came back once and in order, exit 0
 *   echo_server PORT         serve on 127.0.0.1:PORT until killed
 *                            (for a load generator, or nc)
 *
 * Every connection's task reads and writes as if it were alone; a read
 * that waits parks only its task.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "vsched/io.h"
#include "vsched/vs.h"

#define CLIENTS 100
#define MESSAGES 50

static int lfd;

/* One connection: echo until EOF. */
static int serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];
	ssize_t r;

	while ((r = vs_read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < r;) {
			ssize_t w = vs_write(fd, buf + off, (size_t)(r - off));

			if (w < 0)
				goto out;
			off += w;
		}
out:
	vs_close(fd);
	return 0;
}

/* Accepts @arg connections (0: for ever), a task each. */
static int acceptor(void *arg)
{
	long n = (long)(intptr_t)arg;
	struct vs_task_attr a = { .place = VS_PLACE_BALANCE, .stack_size = 64 * 1024 };

	for (long i = 0; !n || i < n; i++) {
		int fd = vs_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
		vs_task_t *t;

		if (fd < 0) {
			fprintf(stderr, "echo_server: accept: %s\n", strerror(-fd));
			return fd;
		}
		if (vs_task_spawn(serve, (void *)(intptr_t)fd, &a, &t) < 0) {
			vs_close(fd);
			continue;
		}
		CHECK(vs_task_detach(t) == 0);
	}
	return 0;
}

/* A client: MESSAGES messages of its own sizes and bytes, each read back. */
static int client(void *arg)
{
	int id = (int)(intptr_t)arg, fd;
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	char out[8192], in[8192];

	CHECK(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(vs_connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (int m = 0; m < MESSAGES; m++) {
		size_t n = 1 + (size_t)(id * 31 + m * 977) % sizeof(out), got = 0;

		for (size_t k = 0; k < n; k++)
			out[k] = (char)(id ^ m ^ (int)k);
		CHECK(vs_write(fd, out, n) == (ssize_t)n);
		while (got < n) {
			ssize_t r = vs_read(fd, in + got, n - got);

			CHECK(r > 0);
			got += (size_t)r;
		}
		CHECK(memcmp(in, out, n) == 0);
	}
	CHECK(vs_shutdown(fd, SHUT_WR) == 0);
	CHECK(vs_read(fd, in, sizeof(in)) == 0); /* the server closed too */
	CHECK(vs_close(fd) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int port = argc > 1 ? atoi(argv[1]) : 0, one = 1;
	vs_task_t *acc, *c[CLIENTS];
	const char *backend;

	if (argc > 1 && (port <= 0 || port > 65535)) {
		fprintf(stderr, "usage: echo_server [PORT]\n");
		return 2;
	}
	CHECK(vs_runtime_start(NULL) == 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	a.sin_port = htons((uint16_t)port);
	CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(lfd, 4096) == 0);
	if (port) {
		printf("echo_server: on 127.0.0.1:%d, I/O on %s\n", port, vs_io_backend());
		fflush(stdout);
		return acceptor(NULL) == 0 ? 0 : 1; /* the boot task serves */
	}
	CHECK(vs_task_spawn(acceptor, (void *)(intptr_t)CLIENTS, NULL, &acc) == 0);
	for (int i = 0; i < CLIENTS; i++)
		CHECK(vs_task_spawn(client, (void *)(intptr_t)i, NULL, &c[i]) == 0);
	for (int i = 0; i < CLIENTS; i++) {
		int code = -1;

		CHECK(vs_task_join(c[i], &code) == 0 && code == 0);
	}
	CHECK(vs_task_join(acc, NULL) == 0);
	backend = vs_io_backend();
	CHECK(vs_runtime_stop() == 0); /* the servers have seen EOF */
	CHECK(vs_close(lfd) == 0);
	printf("echo_server: %d clients x %d messages echoed, I/O on %s\n", CLIENTS, MESSAGES,
	       backend);
	return 0;
}

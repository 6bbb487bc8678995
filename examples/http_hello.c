/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 server answering "hello" to every request, one task
 * per connection, keep-alive and pipelining included.
 *
 *   http_hello               serve on an ephemeral port, run client tasks
 *                            (keep-alive, pipelined, closing) against it
 *                            and check every answer, exit 0
 *   http_hello PORT          serve on 127.0.0.1:PORT until killed
 *                            (wrk -c 128 http://127.0.0.1:PORT/)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "check.h"
#include "vsched/io.h"
#include "vsched/vs.h"

#define CLIENTS 50
#define REQUESTS 40

static const char answer[] = "HTTP/1.1 200 OK\r\n"
			     "Content-Type: text/plain\r\n"
			     "Content-Length: 5\r\n"
			     "\r\n"
			     "hello";

static int lfd;

/* Whether the request head @req (a string) ends its connection: a
 * "Connection: close", or HTTP/1.0 without "Connection: keep-alive". */
static int wants_close(const char *req)
{
	const char *eol = strstr(req, "\r\n"), *p;
	int v10 = eol && eol - req >= 8 && !memcmp(eol - 8, "HTTP/1.0", 8);

	for (p = req; (p = strchr(p, '\n')); p++) {
		const char *v = p + 1;

		if (strncasecmp(v, "connection:", 11))
			continue;
		for (v += 11; *v == ' ' || *v == '\t'; v++)
			;
		if (!strncasecmp(v, "close", 5))
			return 1;
		if (!strncasecmp(v, "keep-alive", 10))
			return 0;
	}
	return v10;
}

/* One connection: every complete request in what came gets its answer,
 * all of them in one write. */
static int serve(void *arg)
{
	int fd = (int)(intptr_t)arg, closing = 0;
	char in[8192], out[sizeof(in) / 16 * sizeof(answer)];
	size_t have = 0;

	while (!closing) {
		ssize_t r = vs_read(fd, in + have, sizeof(in) - 1 - have);
		size_t start = 0, nout = 0;
		char *end;

		if (r <= 0)
			break;
		have += (size_t)r;
		in[have] = '\0';
		while (!closing && (end = strstr(in + start, "\r\n\r\n"))) {
			size_t len = (size_t)(end + 4 - (in + start));

			in[start + len - 1] = '\0'; /* the head alone, for its checks */
			closing = wants_close(in + start);
			in[start + len - 1] = '\n';
			if (nout + sizeof(answer) - 1 > sizeof(out))
				break;
			memcpy(out + nout, answer, sizeof(answer) - 1);
			nout += sizeof(answer) - 1;
			start += len;
		}
		memmove(in, in + start, have - start);
		have -= start;
		if (have == sizeof(in) - 1)
			break; /* a head too long: not served */
		for (size_t off = 0; off < nout;) {
			ssize_t w = vs_write(fd, out + off, nout - off);

			if (w < 0)
				goto out;
			off += (size_t)w;
		}
	}
out:
	vs_close(fd);
	return 0;
}

static int acceptor(void *arg)
{
	long n = (long)(intptr_t)arg;
	struct vs_task_attr a = { .place = VS_PLACE_BALANCE, .stack_size = 64 * 1024 };

	for (long i = 0; !n || i < n; i++) {
		int fd = vs_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
		vs_task_t *t;

		if (fd < 0)
			return fd;
		if (vs_task_spawn(serve, (void *)(intptr_t)fd, &a, &t) < 0) {
			vs_close(fd);
			continue;
		}
		CHECK(vs_task_detach(t) == 0);
	}
	return 0;
}

/* Reads until @n whole answers have come (they are all alike). */
static void read_answers(int fd, int n)
{
	char buf[4096];
	size_t want = (size_t)n * (sizeof(answer) - 1), got = 0;

	while (got < want) {
		size_t take = want - got < sizeof(buf) ? want - got : sizeof(buf);
		ssize_t r = vs_read(fd, buf, take);

		CHECK(r > 0);
		for (ssize_t i = 0; i < r; i++)
			CHECK(buf[i] == answer[(got + (size_t)i) % (sizeof(answer) - 1)]);
		got += (size_t)r;
	}
}

/* A client: keep-alive requests, some two at a time (pipelined), then
 * one that asks to close; the server closes after its answer. */
static int client(void *arg)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char last[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	int id = (int)(intptr_t)arg, fd;
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	char buf[64];

	CHECK(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(vs_connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (int i = 0; i < REQUESTS; i++) {
		int two = (i + id) % 3 == 0;
		char req[2 * sizeof(get)];

		memcpy(req, get, sizeof(get) - 1);
		memcpy(req + sizeof(get) - 1, get, sizeof(get) - 1);
		CHECK(vs_write(fd, req, (two + 1) * (sizeof(get) - 1)) ==
		      (ssize_t)((two + 1) * (sizeof(get) - 1)));
		read_answers(fd, two + 1);
	}
	CHECK(vs_write(fd, last, sizeof(last) - 1) == (ssize_t)sizeof(last) - 1);
	read_answers(fd, 1);
	CHECK(vs_read(fd, buf, sizeof(buf)) == 0); /* closed by the server */
	CHECK(vs_close(fd) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int port = argc > 1 ? atoi(argv[1]) : 0, one = 1;
	vs_task_t *acc, *c[CLIENTS];

	if (argc > 1 && (port <= 0 || port > 65535)) {
		fprintf(stderr, "usage: http_hello [PORT]\n");
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
		printf("http_hello: on http://127.0.0.1:%d/, I/O on %s\n", port, vs_io_backend());
		fflush(stdout);
		return acceptor(NULL) == 0 ? 0 : 1;
	}
	CHECK(vs_task_spawn(acceptor, (void *)(intptr_t)CLIENTS, NULL, &acc) == 0);
	for (int i = 0; i < CLIENTS; i++)
		CHECK(vs_task_spawn(client, (void *)(intptr_t)i, NULL, &c[i]) == 0);
	for (int i = 0; i < CLIENTS; i++) {
		int code = -1;

		CHECK(vs_task_join(c[i], &code) == 0 && code == 0);
	}
	CHECK(vs_task_join(acc, NULL) == 0);
	CHECK(vs_runtime_stop() == 0);
	CHECK(vs_close(lfd) == 0);
	printf("http_hello: %d clients, %d keep-alive requests each, all answered\n", CLIENTS,
	       REQUESTS + 1);
	return 0;
}

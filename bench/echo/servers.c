/* SPDX-License-Identifier: MIT */
/*
 * Echo servers for the echo benchmark (echo.py), one kind per run, on
 * 127.0.0.1:PORT until killed:
 *
 *   echo_servers vsched PORT      libvsched, a stackful task per connection
 *                                 (the backend: VSCHED_IO, else the best)
 *   echo_servers vsched-sl PORT   libvsched, a stackless task per connection
 *   echo_servers epoll PORT       a hand-written epoll loop
 *   echo_servers uring PORT       a hand-written io_uring loop: multishot
 *                                 accept, recv then send (where liburing is)
 *   echo_servers threads PORT     a thread per connection, blocking calls
 *
 * Each reads what a connection sent and writes it back. libvsched runs on
 * one CPU: the benchmark pins the server to one CPU and the load to the
 * other, and compares CPU time per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef VS_HAVE_URING
#include <liburing.h>
#endif

#include "vsched/io.h"
#include "vsched/vs.h"

#define BUF 16384

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("echo_servers: listen");
		exit(1);
	}
	return fd;
}

static void nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---------------------------------------------------------- libvsched */

static int lfd;

static int vs_serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF];
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

struct sl_conn {
	int fd;
	bool busy, writing;
	ssize_t n, off;
	struct vs_io io;
	char buf[BUF];
};

static enum vs_poll sl_serve(void *state, int *code)
{
	struct sl_conn *c = state;

	for (;;) {
		ssize_t r;

		if (!c->busy) {
			if (c->writing)
				(void)vs_io_prep_write(&c->io, c->fd, c->buf + c->off,
						       (size_t)(c->n - c->off));
			else
				(void)vs_io_prep_read(&c->io, c->fd, c->buf, sizeof(c->buf));
			c->busy = true;
		}
		r = vs_io_poll(&c->io, VS_NEVER);
		if (r == -EAGAIN)
			return VS_PENDING;
		c->busy = false;
		if (r <= 0 && !(c->writing && r == 0)) {
			vs_close(c->fd);
			free(c);
			*code = 0;
			return VS_READY;
		}
		if (!c->writing) {
			c->n = r;
			c->off = 0;
			c->writing = true;
		} else if ((c->off += r) == c->n) {
			c->writing = false;
		}
	}
}

static int run_vsched(int port, bool stackless)
{
	struct vs_config cfg = { .ncpus = 1 };
	struct vs_task_attr a = { .stack_size = 64 * 1024 };

	if (vs_runtime_start(&cfg) != 0)
		return 1;
	lfd = listen_on(port);
	fprintf(stderr, "echo_servers: vsched%s on %d, I/O on %s\n", stackless ? "-sl" : "", port,
		vs_io_backend());
	for (;;) {
		int fd = vs_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
		vs_task_t *t;

		if (fd < 0)
			return 1;
		nodelay(fd);
		if (stackless) {
			struct sl_conn *c = calloc(1, sizeof(*c));

			if (!c)
				return 1;
			c->fd = fd;
			if (vs_task_spawn_poll(sl_serve, c, NULL, &t) == 0)
				(void)vs_task_detach(t);
		} else if (vs_task_spawn(vs_serve, (void *)(intptr_t)fd, &a, &t) == 0) {
			(void)vs_task_detach(t);
		}
	}
}

/* ------------------------------------------------------- epoll loop */

/* A connection's pending echo: what is read and not yet written back. */
struct ep_conn {
	int fd;
	size_t n, off;
	char buf[BUF];
};

__attribute__((noreturn)) static int run_epoll(int port)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), l = listen_on(port);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }, evs[256];

	fcntl(l, F_SETFL, O_NONBLOCK);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct ep_conn *c = evs[i].data.ptr;
			ssize_t r;

			if (!c) {
				int fd;

				while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct ep_conn *nc = calloc(1, sizeof(*nc));

					nodelay(fd);
					nc->fd = fd;
					ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
					ev.data.ptr = nc;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			/* edge-triggered: read and write until EAGAIN */
			for (;;) {
				if (c->off < c->n) {
					r = write(c->fd, c->buf + c->off, c->n - c->off);
					if (r < 0)
						break;
					c->off += (size_t)r;
					continue;
				}
				r = read(c->fd, c->buf, sizeof(c->buf));
				if (r <= 0) {
					if (r < 0 && errno == EAGAIN)
						break;
					close(c->fd);
					free(c);
					break;
				}
				c->n = (size_t)r;
				c->off = 0;
			}
		}
	}
}

/* ----------------------------------------------------- io_uring loop */

#ifdef VS_HAVE_URING
enum { OP_ACCEPT, OP_RECV, OP_SEND };

struct ur_conn {
	int fd, op;
	size_t n, off;
	char buf[BUF];
};

static struct ur_conn accept_tag = { .op = OP_ACCEPT };

static void ur_queue(struct io_uring *ring, struct ur_conn *c)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(ring)))
		io_uring_submit(ring);
	if (c->op == OP_RECV)
		io_uring_prep_recv(sqe, c->fd, c->buf, sizeof(c->buf), 0);
	else
		io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->n - c->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, c);
}

static int run_uring(int port)
{
	struct io_uring ring;
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
				     .cq_entries = 4096 };
	struct io_uring_sqe *sqe;
	int l = listen_on(port);

	if (io_uring_queue_init_params(256, &ring, &p) < 0) {
		p.flags = IORING_SETUP_CQSIZE;
		if (io_uring_queue_init_params(256, &ring, &p) < 0)
			return 1;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_multishot_accept(sqe, l, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &accept_tag);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait(&ring, 1);
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct ur_conn *c = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			n++;
			if (c == &accept_tag) {
				if (res >= 0) {
					struct ur_conn *nc = calloc(1, sizeof(*nc));

					nodelay(res);
					nc->fd = res;
					nc->op = OP_RECV;
					ur_queue(&ring, nc);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					sqe = io_uring_get_sqe(&ring);
					io_uring_prep_multishot_accept(sqe, l, NULL, NULL, SOCK_CLOEXEC);
					io_uring_sqe_set_data(sqe, &accept_tag);
				}
				continue;
			}
			if (res <= 0) {
				close(c->fd);
				free(c);
				continue;
			}
			if (c->op == OP_RECV) {
				c->n = (size_t)res;
				c->off = 0;
				c->op = OP_SEND;
			} else if ((c->off += (size_t)res) == c->n) {
				c->op = OP_RECV;
			}
			ur_queue(&ring, c);
		}
		io_uring_cq_advance(&ring, n);
	}
}
#endif

/* ------------------------------------------------ thread per connection */

static void *th_serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(fd, buf + off, (size_t)(r - off));

			if (w < 0)
				goto out;
			off += w;
		}
out:
	close(fd);
	return NULL;
}

__attribute__((noreturn)) static int run_threads(int port)
{
	int l = listen_on(port);
	pthread_attr_t a;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (;;) {
		int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		pthread_t th;

		if (fd < 0)
			continue;
		nodelay(fd);
		if (pthread_create(&th, &a, th_serve, (void *)(intptr_t)fd))
			close(fd);
	}
}

int main(int argc, char **argv)
{
	int port = argc > 2 ? atoi(argv[2]) : 0;

	signal(SIGPIPE, SIG_IGN);
	if (argc != 3 || port <= 0 || port > 65535) {
		fprintf(stderr, "usage: echo_servers vsched|vsched-sl|epoll|uring|threads PORT\n");
		return 2;
	}
	if (!strcmp(argv[1], "vsched"))
		return run_vsched(port, false);
	if (!strcmp(argv[1], "vsched-sl"))
		return run_vsched(port, true);
	if (!strcmp(argv[1], "epoll"))
		return run_epoll(port);
#ifdef VS_HAVE_URING
	if (!strcmp(argv[1], "uring"))
		return run_uring(port);
#endif
	if (!strcmp(argv[1], "threads"))
		return run_threads(port);
	fprintf(stderr, "echo_servers: no server '%s' here\n", argv[1]);
	return 2;
}

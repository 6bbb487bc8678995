/* SPDX-License-Identifier: MIT */
/*
 * I/O: every call, its success and its errors; a task waiting for I/O
 * parks only itself; timeouts, cancel at shutdown, close while others
 * wait; migration and preemption with I/O in flight; calls from outside
 * the runtime; bad input. Run once per backend (VSCHED_IO); every test
 * ends with as many open fds as it began with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsched/io.h"
#include "vsched/vs.h"

#include "start.h"

#define MS 1000000ull

static int fds_before;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

static int fds_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

/* Stops what a failed test left running, then checks for leaked fds. */
static atomic_int pool_hold; /* offload jobs wait while it is 1 */

/* Waits (a task sleeping) until *@v is @want, for up to 10 s. */
static void await_value(atomic_int *v, int want)
{
	for (int i = 0; i < 10000 && atomic_load(v) != want; i++)
		assert_int_equal(vs_sleep(1000000), 0);
	assert_int_equal(atomic_load(v), want);
}

static int fds_teardown(void **state)
{
	atomic_store(&pool_hold, 0); /* jobs a failed test held */
	stop_left(state);
	assert_int_equal(count_fds(), fds_before);
	return 0;
}

static void spawn_on(vs_task_fn fn, void *arg, int cpu, vs_task_t **t)
{
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = cpu };

	assert_int_equal(vs_task_spawn(fn, arg, &a, t), 0);
}

static int join(vs_task_t *t)
{
	int code = -1;

	assert_int_equal(vs_task_join(t, &code), 0);
	return code;
}

/* A byte of the test pattern at offset @i of stream @s. */
static unsigned char pat(unsigned s, size_t i)
{
	return (unsigned char)(i * 131 + s * 7 + (i >> 8));
}

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1024), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* ------------------------------------------------------------ backend */

static void test_backend(void **state)
{
	const char *want = getenv("VSCHED_IO");

	(void)state;
	assert_null(vs_io_backend());
	start(1);
	assert_non_null(vs_io_backend());
	if (want && !strcmp(want, "epoll"))
		assert_string_equal(vs_io_backend(), "epoll");
	else if (want && !strcmp(want, "uring"))
		assert_string_equal(vs_io_backend(), "io_uring");
	assert_int_equal(vs_runtime_stop(), 0);
	assert_null(vs_io_backend());
}

static void test_backend_bad_env(void **state)
{
	char *old = getenv("VSCHED_IO") ? strdup(getenv("VSCHED_IO")) : NULL;
	struct vs_config cfg = { .ncpus = 1 };

	(void)state;
	setenv("VSCHED_IO", "carrier-pigeon", 1);
	assert_int_equal(vs_runtime_start(&cfg), -EINVAL);
	if (old) {
		setenv("VSCHED_IO", old, 1);
		free(old);
	} else {
		unsetenv("VSCHED_IO");
	}
	/* nothing was left behind: a start works */
	start(1);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ----------------------------------------------------- streams of data */

#define STREAM_LEN (1u << 20)

struct stream {
	int fd;
	unsigned id;
	int how; /* 0 read/write, 1 readv/writev, 2 recv/send, 3 recvmsg/sendmsg */
	size_t moved;
};

static int writer(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[3000];
	size_t off = 0;

	while (off < STREAM_LEN) {
		size_t n = STREAM_LEN - off < sizeof(buf) ? STREAM_LEN - off : sizeof(buf);
		struct iovec iov[2] = { { buf, n / 2 }, { buf + n / 2, n - n / 2 } };
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(s->id, off + i);
		switch (s->how) {
		case 0:
			w = vs_write(s->fd, buf, n);
			break;
		case 1:
			w = vs_writev(s->fd, iov, 2);
			break;
		case 2:
			w = vs_send(s->fd, buf, n, 0);
			break;
		default:
			w = vs_sendmsg(s->fd, &m, 0);
			break;
		}
		if (w <= 0)
			return (int)(w < 0 ? w : -EIO);
		off += (size_t)w;
	}
	s->moved = off;
	return 0;
}

static int reader(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[5000];
	size_t off = 0;

	for (;;) {
		struct iovec iov[2] = { { buf, 1000 }, { buf + 1000, sizeof(buf) - 1000 } };
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t r;

		switch (s->how) {
		case 0:
			r = vs_read(s->fd, buf, sizeof(buf));
			break;
		case 1:
			r = vs_readv(s->fd, iov, 2);
			break;
		case 2:
			r = vs_recv(s->fd, buf, sizeof(buf), 0);
			break;
		default:
			r = vs_recvmsg(s->fd, &m, 0);
			break;
		}
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(s->id, off + (size_t)i))
				return -EILSEQ;
		off += (size_t)r;
	}
	s->moved = off;
	return 0;
}

/* A writer and a reader task moving a megabyte through @fds, on @ncpus
 * CPUs; the writer closes its end, the reader reads to EOF. */
static void stream_through(int fds[2], int how, unsigned ncpus)
{
	struct stream w = { .fd = fds[1], .id = (unsigned)how + 1, .how = how };
	struct stream r = { .fd = fds[0], .id = (unsigned)how + 1, .how = how };
	vs_task_t *tw, *tr;

	start(ncpus);
	spawn_on(reader, &r, 0, &tr);
	spawn_on(writer, &w, (int)(ncpus - 1), &tw);
	assert_int_equal(join(tw), 0);
	assert_int_equal(vs_close(fds[1]), 0);
	assert_int_equal(join(tr), 0);
	assert_int_equal(vs_close(fds[0]), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(w.moved, STREAM_LEN);
	assert_int_equal(r.moved, STREAM_LEN);
}

static void test_pipe_stream(void **state)
{
	int fds[2];

	(void)state;
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++)
		for (int how = 0; how <= 1; how++) {
			assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
			stream_through(fds, how, ncpus);
		}
}

static void test_socket_stream(void **state)
{
	int fds[2];

	(void)state;
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++)
		for (int how = 0; how <= 3; how++) {
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
					 0);
			stream_through(fds, how, ncpus);
		}
}

/* ------------------------------------- a waiting task parks only itself */

static atomic_int ticks;
static atomic_int stop_ticking;

static int ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticking)) {
		atomic_fetch_add(&ticks, 1);
		assert_int_equal(vs_sleep(MS), 0);
	}
	return 0;
}

static int read_one(void *arg)
{
	int *fd = arg;
	char c = 0;
	ssize_t r = vs_read(*fd, &c, 1);

	return r == 1 ? c : (int)(r < 0 ? r : -EIO);
}

static void test_parks_only_itself(void **state)
{
	int fds[2];
	vs_task_t *tr, *tt;
	int t0;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	start(1);
	atomic_store(&ticks, 0);
	atomic_store(&stop_ticking, 0);
	spawn_on(read_one, &fds[0], 0, &tr);
	spawn_on(ticker, NULL, 0, &tt);
	/* the boot task sleeps too: only the reader and the ticker are left */
	assert_int_equal(vs_sleep(50 * MS), 0);
	t0 = atomic_load(&ticks);
	assert_true(t0 >= 5); /* the CPU ran the ticker while the read waited */
	assert_int_equal(vs_write(fds[1], "x", 1), 1);
	assert_int_equal(join(tr), 'x');
	atomic_store(&stop_ticking, 1);
	assert_int_equal(join(tt), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------------- EOF and errors */

static void test_eof_and_peer_errors(void **state)
{
	int sp[2], p[2], lfd, cfd, afd;
	char buf[16];
	uint16_t port;
	struct sockaddr_in a;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)state;
	/* SIGPIPE kills by default: a write to a socket must not raise it */
	signal(SIGPIPE, SIG_DFL);
	start(1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(vs_write(sp[1], "ab", 2), 2);
	assert_int_equal(vs_close(sp[1]), 0);
	assert_int_equal(vs_read(sp[0], buf, sizeof(buf)), 2);
	assert_int_equal(vs_read(sp[0], buf, sizeof(buf)), 0); /* EOF */
	assert_int_equal(vs_close(sp[0]), 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(vs_close(sp[0]), 0);
	assert_int_equal(vs_write(sp[1], "ab", 2), -EPIPE);
	assert_int_equal(vs_send(sp[1], "ab", 2, MSG_NOSIGNAL), -EPIPE);
	assert_int_equal(vs_close(sp[1]), 0);

	/* a pipe with no reader: EPIPE too (SIGPIPE ignored for this one,
	 * as write(2) would raise it) */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(vs_close(p[0]), 0);
	assert_int_equal(vs_write(p[1], "ab", 2), -EPIPE);
	assert_int_equal(vs_close(p[1]), 0);
	signal(SIGPIPE, SIG_DFL);

	/* a TCP peer that resets */
	lfd = listener(&port);
	a = loopback(port);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	assert_int_equal(vs_connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = vs_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(afd >= 0);
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(vs_close(cfd), 0);
	assert_int_equal(vs_read(afd, buf, sizeof(buf)), -ECONNRESET);
	assert_int_equal(vs_close(afd), 0);
	/* nobody listening */
	assert_int_equal(vs_close(lfd), 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(vs_connect(cfd, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
	assert_int_equal(vs_close(cfd), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ------------------------------------------------------------ TCP */

struct conn_arg {
	int lfd;
	uint16_t port;
	int got;
};

static int server_one(void *arg)
{
	struct conn_arg *c = arg;
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	char buf[8];
	int fd = vs_accept(c->lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return fd;
	if (len != sizeof(peer) || peer.sin_family != AF_INET)
		return -EPROTO;
	r = vs_recv(fd, buf, 5, MSG_WAITALL);
	if (r == 5 && !memcmp(buf, "hello", 5))
		r = vs_send(fd, "world", 5, 0);
	(void)vs_shutdown(fd, SHUT_WR);
	(void)vs_close(fd);
	return r == 5 ? 0 : (int)(r < 0 ? r : -EIO);
}

static void test_tcp(void **state)
{
	struct conn_arg c;
	struct sockaddr_in a;
	vs_task_t *ts;
	char buf[8];
	int fd;

	(void)state;
	start(2);
	c.lfd = listener(&c.port);
	a = loopback(c.port);
	spawn_on(server_one, &c, 1, &ts);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(vs_connect_until(fd, (struct sockaddr *)&a, sizeof(a),
					  vs_deadline_in(5000 * MS)),
			 0);
	/* in two pieces: the server's MSG_WAITALL waits for both */
	assert_int_equal(vs_send(fd, "he", 2, 0), 2);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_send(fd, "llo", 3, 0), 3);
	assert_int_equal(vs_recv(fd, buf, 5, MSG_WAITALL), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(vs_read(fd, buf, sizeof(buf)), 0);
	assert_int_equal(join(ts), 0);
	assert_int_equal(vs_close(fd), 0);
	/* an accept nobody connects to gives up */
	assert_int_equal(vs_accept_until(c.lfd, NULL, NULL, 0, vs_deadline_in(20 * MS)),
			 -ETIMEDOUT);
	assert_int_equal(vs_close(c.lfd), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ------------------------------------------------------------ timeouts */

static void test_timeouts(void **state)
{
	int fds[2];
	char buf[64];
	uint64_t t0;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	start(1);
	t0 = vs_now();
	assert_int_equal(vs_read_until(fds[0], buf, sizeof(buf), t0 + 20 * MS), -ETIMEDOUT);
	assert_true(vs_now() - t0 >= 20 * MS);
	/* a deadline already past: no wait */
	assert_int_equal(vs_read_until(fds[0], buf, sizeof(buf), t0), -ETIMEDOUT);
	/* the read that gave up took nothing: data written now is all there */
	assert_int_equal(vs_write(fds[1], "0123456789", 10), 10);
	assert_int_equal(vs_read_until(fds[0], buf, 4, vs_deadline_in(1000 * MS)), 4);
	assert_memory_equal(buf, "0123", 4);
	/* partial data, then a timeout: the data is returned, then the error */
	assert_int_equal(vs_read_until(fds[0], buf, sizeof(buf), vs_deadline_in(20 * MS)), 6);
	assert_memory_equal(buf, "456789", 6);
	assert_int_equal(vs_read_until(fds[0], buf, sizeof(buf), vs_deadline_in(20 * MS)),
			 -ETIMEDOUT);
	/* a write into a full pipe gives up too, having moved what fit */
	{
		static char big[1 << 20];
		ssize_t w = vs_write_until(fds[1], big, sizeof(big), vs_deadline_in(20 * MS));

		assert_true(w > 0 && (size_t)w < sizeof(big));
		assert_int_equal(vs_write_until(fds[1], big, sizeof(big), vs_deadline_in(20 * MS)),
				 -ETIMEDOUT);
	}
	assert_int_equal(vs_wait_fd_until(fds[0], POLLIN, vs_deadline_in(20 * MS)), POLLIN);
	assert_int_equal(vs_runtime_stop(), 0);
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------- cancel at shutdown */

static atomic_int cancel_res[3];

static int wait_read(void *arg)
{
	int fd = *(int *)arg;
	char c;

	atomic_store(&cancel_res[0], (int)vs_read(fd, &c, 1));
	return 0;
}

static int wait_accept(void *arg)
{
	atomic_store(&cancel_res[1], vs_accept(*(int *)arg, NULL, NULL, 0));
	return 0;
}

static int wait_fd_task(void *arg)
{
	atomic_store(&cancel_res[2], vs_wait_fd(*(int *)arg, POLLIN));
	return 0;
}

static void test_cancel_at_shutdown(void **state)
{
	int fds[2], lfd;
	uint16_t port;
	vs_task_t *t;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	lfd = listener(&port);
	for (int i = 0; i < 3; i++)
		atomic_store(&cancel_res[i], 1);
	start(2);
	assert_int_equal(vs_task_spawn(wait_read, &fds[0], NULL, &t), 0);
	assert_int_equal(vs_task_detach(t), 0);
	spawn_on(wait_accept, &lfd, 1, &t);
	assert_int_equal(vs_task_detach(t), 0);
	spawn_on(wait_fd_task, &fds[0], 1, &t);
	assert_int_equal(vs_task_detach(t), 0);
	assert_int_equal(vs_sleep(20 * MS), 0);
	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&cancel_res[i]), -ECANCELED);
	/* nothing was read from the pipe */
	assert_int_equal(write(fds[1], "z", 1), 1);
	{
		char c = 0;

		assert_int_equal(read(fds[0], &c, 1), 1);
		assert_int_equal(c, 'z');
	}
	close(fds[0]);
	close(fds[1]);
	close(lfd);
}

/* --------------------------------------------- close while others wait */

static int close_then_reuse(void *arg)
{
	int *fds = arg, again[2];

	assert_int_equal(vs_sleep(10 * MS), 0);
	assert_int_equal(vs_close(fds[0]), 0);
	/* the number is free now; a new pipe likely takes it */
	assert_int_equal(pipe2(again, O_CLOEXEC), 0);
	assert_int_equal(write(again[1], "n", 1), 1);
	fds[2] = again[0];
	fds[3] = again[1];
	return 0;
}

static void test_close_wakes_waiters(void **state)
{
	int fds[4];
	vs_task_t *r1, *r2, *c;
	char ch = 0;

	(void)state;
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++) {
		assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
		start(ncpus);
		spawn_on(read_one, &fds[0], 0, &r1);
		spawn_on(read_one, &fds[0], (int)ncpus - 1, &r2);
		spawn_on(close_then_reuse, fds, 0, &c);
		assert_int_equal(join(c), 0);
		assert_int_equal(join(r1), -EBADF);
		assert_int_equal(join(r2), -EBADF);
		/* the woken readers touched nothing of the new pipe */
		assert_int_equal(vs_read(fds[2], &ch, 1), 1);
		assert_int_equal(ch, 'n');
		assert_int_equal(vs_close(fds[2]), 0);
		assert_int_equal(vs_close(fds[3]), 0);
		assert_int_equal(vs_close(fds[1]), 0);
		assert_int_equal(vs_runtime_stop(), 0);
	}
}

/* An operation still waiting to be submitted when its fd is closed: the
 * number stays taken until the operation is over, so it cannot reach a
 * file that took the number meanwhile. */
static atomic_int spin_release;

static int spin_until_released(void *arg)
{
	(void)arg;
	while (!atomic_load(&spin_release))
		;
	return 0;
}

static vs_task_t *_Atomic spinner;

/* Queues a task that keeps this CPU busy, then writes: the write's entry
 * is prepared as the writer parks, and the CPU runs the spinner next. */
static int write_secret(void *arg)
{
	/* on this CPU only: an idle CPU 0 would steal it, and keep the test
	 * from going on */
	struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = vs_cpu_self(),
				  .affinity = 1ull << vs_cpu_self() };
	vs_task_t *t;

	if (vs_task_spawn(spin_until_released, NULL, &a, &t) < 0)
		return -EIO;
	atomic_store(&spinner, t);
	return (int)vs_write(*(int *)arg, "SECRET", 6);
}

static void test_close_before_submit(void **state)
{
	int p[2], again[2];
	vs_task_t *w, *b;
	char buf[64];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	while (write(p[1], "f", 1) == 1)
		; /* full, every page to the last byte: a write waits */
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	atomic_store(&spin_release, 0);
	start(2);
	/* the writer waits, then its CPU is kept busy */
	spawn_on(write_secret, &p[1], 1, &w);
	assert_int_equal(vs_sleep(20 * MS), 0);
	b = atomic_load(&spinner);
	assert_int_equal(vs_close(p[1]), 0);
	/* a socket pair takes the lowest free numbers: the old one, were it
	 * free, for its first end, whose peer would then read the write */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, again), 0);
	atomic_store(&spin_release, 1);
	assert_int_equal(join(b), 0);
	assert_int_equal(join(w), -EBADF);
	/* the new sockets got nothing of the old write */
	assert_int_equal(recv(again[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(recv(again[0], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(vs_runtime_stop(), 0);
	close(again[0]);
	close(again[1]);
	close(p[0]);
}

/* An fd closed plainly by its owner, and its number reused: vs_wait_fd
 * still sees the new fd (it is for fds the caller brings and closes). */
static int late_byte(void *arg)
{
	assert_int_equal(vs_sleep(5 * MS), 0);
	return (int)vs_write(*(int *)arg, "b", 1);
}

static void test_wait_fd_after_plain_close(void **state)
{
	int a[2], b[2];
	vs_task_t *t;

	(void)state;
	start(1);
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(write(a[1], "a", 1), 1);
	assert_int_equal(vs_wait_fd(a[0], POLLIN), POLLIN);
	close(a[0]);
	close(a[1]);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	if (b[0] != a[0])
		skip();
	/* the byte comes once the wait has begun */
	spawn_on(late_byte, &b[1], 0, &t);
	assert_int_equal(vs_wait_fd_until(b[0], POLLIN, vs_deadline_in(2000 * MS)), POLLIN);
	assert_int_equal(join(t), 1);
	assert_int_equal(vs_runtime_stop(), 0);
	close(b[0]);
	close(b[1]);
}

/* MSG_WAITALL gathers a stream's bytes, never datagrams. */
static void test_waitall_datagram(void **state)
{
	int sp[2];
	char buf[8];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
	start(1);
	assert_int_equal(vs_send(sp[0], "abc", 3, 0), 3);
	assert_int_equal(vs_send(sp[0], "def", 3, 0), 3);
	assert_int_equal(vs_recv(sp[1], buf, 6, MSG_WAITALL), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(vs_recv(sp[1], buf, 6, MSG_WAITALL | MSG_PEEK), 3);
	assert_int_equal(vs_recv(sp[1], buf, 6, 0), 3);
	assert_memory_equal(buf, "def", 3);
	assert_int_equal(vs_runtime_stop(), 0);
	close(sp[0]);
	close(sp[1]);
}

/* ------------------------------------------------------------- files */

static void test_files(void **state)
{
	char path[] = "/tmp/vsched-io-XXXXXX", buf[32];
	int tmp, fd;

	(void)state;
	tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	start(1);
	fd = vs_openat(AT_FDCWD, path, O_RDWR | O_TRUNC | O_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(vs_pwrite(fd, "abcdef", 6, 100), 6);
	assert_int_equal(vs_fsync(fd), 0);
	assert_int_equal(vs_fdatasync(fd), 0);
	assert_int_equal(vs_pread(fd, buf, sizeof(buf), 102), 4);
	assert_memory_equal(buf, "cdef", 4);
	assert_int_equal(vs_pread(fd, buf, sizeof(buf), 4096), 0);
	assert_int_equal(vs_write(fd, "xy", 2), 2); /* at the file's position, 0 */
	assert_int_equal(vs_read(fd, buf, 3), 3);
	assert_memory_equal(buf, "\0\0\0", 3);
	assert_int_equal(vs_pread(fd, buf, 2, 0), 2);
	assert_memory_equal(buf, "xy", 2);
	assert_int_equal(vs_close(fd), 0);
	assert_int_equal(vs_openat(AT_FDCWD, "/nonexistent/vsched", O_RDONLY, 0), -ENOENT);
	assert_int_equal(vs_fsync(fd), -EBADF);
	assert_int_equal(vs_runtime_stop(), 0);
	unlink(path);
}

/*
 * File reads whose pages are cached are done at once (RWF_NOWAIT); one
 * that is cached only in part gets the rest through the backend, and the
 * whole read back; one past the end is short. The second half of the
 * file is dropped from the cache, so a read across the middle is part
 * cached, part not (on a filesystem that drops clean pages).
 */
static void test_file_cached_reads(void **state)
{
	enum { SIZE = 8 << 20 }; /* halves bigger than a large folio */
	char path[] = "/tmp/vsched-io-XXXXXX";
	unsigned char *buf = malloc(SIZE), *got = malloc(SIZE);
	int fd;

	(void)state;
	assert_non_null(buf);
	assert_non_null(got);
	for (size_t i = 0; i < SIZE; i++)
		buf[i] = pat(7, i);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, buf, SIZE), SIZE);
	assert_int_equal(fsync(fd), 0);
	start(1);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(posix_fadvise(fd, SIZE / 2, SIZE / 2, POSIX_FADV_DONTNEED), 0);
		memset(got, 0, SIZE);
		assert_int_equal(vs_pread(fd, got, SIZE, 0), SIZE);
		assert_memory_equal(got, buf, SIZE);
		assert_int_equal(posix_fadvise(fd, SIZE / 2, SIZE / 2, POSIX_FADV_DONTNEED), 0);
		/* at the file's position: it moves by what was read */
		assert_int_equal(lseek(fd, SIZE / 4, SEEK_SET), SIZE / 4);
		memset(got, 0, SIZE);
		assert_int_equal(vs_read(fd, got, SIZE / 2), SIZE / 2);
		assert_memory_equal(got, buf + SIZE / 4, SIZE / 2);
		assert_int_equal(lseek(fd, 0, SEEK_CUR), 3 * SIZE / 4);
		/* short only at the end */
		assert_int_equal(vs_pread(fd, got, 4096, SIZE - 100), 100);
		assert_memory_equal(got, buf + SIZE - 100, 100);
		assert_int_equal(vs_pread(fd, got, 4096, SIZE), 0);
		assert_int_equal(vs_read(fd, got, SIZE), SIZE / 4);
		assert_memory_equal(got, buf + 3 * SIZE / 4, SIZE / 4);
		assert_int_equal(vs_read(fd, got, SIZE), 0);
	}
	assert_int_equal(vs_runtime_stop(), 0);
	close(fd);
	free(buf);
	free(got);
}

/* ------------------------------------------------------------ wait_fd */

static int poll_in(void *arg)
{
	return vs_wait_fd(*(int *)arg, POLLIN);
}

static void test_wait_fd(void **state)
{
	int fds[2];
	vs_task_t *t;
	char c;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	start(1);
	assert_int_equal(vs_wait_fd(fds[1], POLLOUT), POLLOUT);
	assert_int_equal(vs_wait_fd_until(fds[0], POLLIN, vs_deadline_in(10 * MS)), -ETIMEDOUT);
	spawn_on(poll_in, &fds[0], 0, &t);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_write(fds[1], "w", 1), 1);
	assert_int_equal(join(t), POLLIN);
	/* a non-blocking fd of the caller's own: vs_read waits all the same */
	assert_int_equal(vs_read(fds[0], &c, 1), 1);
	assert_int_equal(vs_read_until(fds[0], &c, 1, vs_deadline_in(10 * MS)), -ETIMEDOUT);
	assert_int_equal(vs_close(fds[1]), 0);
	assert_int_equal(vs_wait_fd(fds[0], POLLIN) & POLLHUP, POLLHUP);
	assert_int_equal(vs_close(fds[0]), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ----------------------------------------------------------- bad input */

static enum vs_poll sl_read(void *state, int *code)
{
	int *fd = state;
	char c;

	*code = (int)vs_read(*fd, &c, 1);
	return VS_READY;
}

static void test_bad_input(void **state)
{
	int fds[2], sp[2], closed;
	char buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	vs_task_t *t;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	start(1);
	closed = dup(fds[0]); /* a number no fd has, the runtime's included */
	close(closed);
	assert_int_equal(vs_read(-1, buf, 1), -EBADF);
	assert_int_equal(vs_read(closed, buf, 1), -EBADF);
	assert_int_equal(vs_write(closed, buf, 1), -EBADF);
	assert_int_equal(vs_recv(closed, buf, 1, 0), -EBADF);
	assert_int_equal(vs_wait_fd(closed, POLLIN), -EBADF);
	assert_int_equal(vs_close(-1), -EBADF);
	assert_int_equal(vs_close(closed), -EBADF);
	assert_int_equal(vs_read(fds[0], NULL, 1), -EFAULT);
	assert_int_equal(vs_write(fds[1], NULL, 1), -EFAULT);
	assert_int_equal(vs_readv(fds[0], &iov, -1), -EINVAL);
	assert_int_equal(vs_readv(fds[0], NULL, 1), -EFAULT);
	assert_int_equal(vs_recvmsg(sp[0], NULL, 0), -EFAULT);
	assert_int_equal(vs_pread(fds[0], buf, 1, -1), -EINVAL);
	assert_int_equal(vs_pread(fds[0], buf, 1, 0), -ESPIPE);
	assert_int_equal(vs_wait_fd(fds[0], 0), -EINVAL);
	assert_int_equal(vs_wait_fd(fds[0], 0x8000), -EINVAL);
	assert_int_equal(vs_accept(sp[0], NULL, NULL, 0x40000000), -EINVAL);
	assert_int_equal(vs_accept(sp[0], NULL, NULL, 0), -EINVAL); /* not listening */
	assert_int_equal(vs_connect(sp[0], NULL, 0), -EFAULT);
	assert_int_equal(vs_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
	/* a huge length gets what the syscall gives (a peek asks it): natively
	 * the 5 bytes there are, as the kernel checks only that the whole
	 * range could be user memory (into a buffer low in memory, where it
	 * could); qemu-user checks more and says EFAULT */
	{
		static char low[16];
		ssize_t want;

		for (int i = 0; i < 2; i++) {
			size_t huge = i ? (size_t)1 << 40 : SIZE_MAX;

			assert_int_equal(vs_write(sp[1], "hello", 5), 5);
			want = recv(sp[0], low, huge, MSG_PEEK);
			if (want < 0)
				want = -errno;
			assert_true(want == 5 || want == -EFAULT);
			assert_int_equal(vs_read(sp[0], low, huge), want);
			if (want < 0)
				assert_int_equal(vs_read(sp[0], low, 5), 5);
			assert_memory_equal(low, "hello", 5);
		}
	}
	/* a stackless task has the _poll forms only */
	{
		int code = 0;

		assert_int_equal(vs_task_spawn_poll(sl_read, &fds[0], NULL, &t), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, -EPERM);
	}
	/* after all that, the fds still work */
	assert_int_equal(vs_write(fds[1], "ok", 2), 2);
	assert_int_equal(vs_read(fds[0], buf, sizeof(buf)), 2);
	assert_int_equal(vs_runtime_stop(), 0);
	close(fds[0]);
	close(fds[1]);
	close(sp[0]);
	close(sp[1]);
}

/* ---------------------------------------------------- outside the runtime */

/* fds: a pipe from the task (0, 1), a pipe back to it (2, 3) */
static void *plain_thread(void *arg)
{
	int *fds = arg;
	char c = 0;

	if (vs_read(fds[0], &c, 1) != 1 || c != 'p')
		return (void *)1;
	if (vs_write(fds[3], "q", 1) != 1)
		return (void *)2;
	if (vs_read_until(fds[0], &c, 1, vs_deadline_in(10 * MS)) != -ETIMEDOUT)
		return (void *)3;
	return NULL;
}

static void test_outside_runtime(void **state)
{
	int fds[4];
	char c = 0;
	pthread_t th;
	void *ret = (void *)9;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(pipe2(fds + 2, O_CLOEXEC), 0);
	/* no runtime: the plain syscalls */
	assert_int_equal(vs_write(fds[1], "a", 1), 1);
	assert_int_equal(vs_read(fds[0], &c, 1), 1);
	assert_int_equal(c, 'a');
	assert_int_equal(vs_read_until(fds[0], &c, 1, vs_deadline_in(10 * MS)), -ETIMEDOUT);
	/* a thread that is not a task, while the runtime runs */
	start(1);
	assert_int_equal(vs_write(fds[1], "p", 1), 1);
	assert_int_equal(pthread_create(&th, NULL, plain_thread, fds), 0);
	assert_int_equal(vs_read(fds[2], &c, 1), 1);
	assert_int_equal(c, 'q');
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	assert_int_equal(vs_runtime_stop(), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(vs_close(fds[i]), 0);
}

/* ----------------------------------------------- migration, preemption */

#define HOPS 200

struct hop {
	int fds[2];
	int cpus_seen;
};

/* Reads a byte, moves to the other CPU, writes it back: each read and
 * write is submitted on the CPU the task is on at the time. */
static int hopper(void *arg)
{
	struct hop *h = arg;
	char c;

	for (int i = 0; i < HOPS; i++) {
		ssize_t r = vs_read(h->fds[0], &c, 1);

		if (r != 1)
			return r < 0 ? (int)r : -EIO;
		h->cpus_seen |= 1 << vs_cpu_self();
		if (vs_task_migrate(1 - vs_cpu_self()) < 0)
			return -EIO;
		if (vs_write(h->fds[1], &c, 1) != 1)
			return -EIO;
	}
	return 0;
}

static void test_migrate_with_io(void **state)
{
	struct hop h = { .cpus_seen = 0 };
	int sp[2];
	vs_task_t *t;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	h.fds[0] = h.fds[1] = sp[1];
	start(2);
	spawn_on(hopper, &h, 0, &t);
	for (int i = 0; i < HOPS; i++) {
		char c = (char)i, back = 0;

		assert_int_equal(vs_write(sp[0], &c, 1), 1);
		assert_int_equal(vs_read(sp[0], &back, 1), 1);
		assert_int_equal(back, c);
	}
	assert_int_equal(join(t), 0);
	assert_int_equal(h.cpus_seen, 3);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(vs_close(sp[0]), 0);
	assert_int_equal(vs_close(sp[1]), 0);
}

static atomic_int hog_stop;

static int hog(void *arg)
{
	(void)arg;
	while (!atomic_load(&hog_stop))
		;
	return 0;
}

static int echo_back(void *arg)
{
	int fd = *(int *)arg;
	char buf[256];
	ssize_t r;

	while ((r = vs_read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < r;) {
			ssize_t w = vs_write(fd, buf + off, (size_t)(r - off));

			if (w <= 0)
				return -EIO;
			off += w;
		}
	return (int)r;
}

static void test_preemptible_io(void **state)
{
	struct vs_config cfg = { .ncpus = 1, .policy = VS_POLICY_RR, .slice_ns = MS,
				 .preempt = 1 };
	struct vs_task_attr pa = { .preemptible = 1 };
	int sp[2], rounds = getenv("VSCHED_EMULATED") ? 200 : 2000;
	vs_task_t *th, *te;

	(void)state;
#ifdef __SANITIZE_THREAD__
	skip(); /* TSan turns preemption off (runtime/preempt.c) */
#endif
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	atomic_store(&hog_stop, 0);
	assert_int_equal(vs_runtime_start(&cfg), 0);
	assert_int_equal(vs_task_spawn(hog, NULL, &pa, &th), 0);
	assert_int_equal(vs_task_spawn(echo_back, &sp[1], &pa, &te), 0);
	for (int i = 0; i < rounds; i++) {
		char out[100], in[100];
		size_t got = 0;

		for (size_t k = 0; k < sizeof(out); k++)
			out[k] = (char)pat((unsigned)i, k);
		assert_int_equal(vs_write(sp[0], out, sizeof(out)), sizeof(out));
		while (got < sizeof(in)) {
			ssize_t r = vs_read(sp[0], in + got, sizeof(in) - got);

			assert_true(r > 0);
			got += (size_t)r;
		}
		assert_memory_equal(in, out, sizeof(in));
	}
	atomic_store(&hog_stop, 1);
	assert_int_equal(vs_shutdown(sp[0], SHUT_WR), 0);
	assert_int_equal(join(te), 0);
	assert_int_equal(join(th), 0);
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(vs_close(sp[0]), 0);
	assert_int_equal(vs_close(sp[1]), 0);
}

/* ----------------------------------------------- stackless: handles */

struct sl_echo {
	int fd;
	bool busy; /* the handle is prepared and not yet done */
	bool writing;
	struct vs_io io;
	char buf[300];
	ssize_t n, off;
	long moved;
};

/* Echoes until EOF through one handle: read, then write it all back. */
static enum vs_poll sl_echo_poll(void *state, int *code)
{
	struct sl_echo *e = state;

	for (;;) {
		ssize_t r;

		if (!e->busy) {
			r = e->writing ? vs_io_prep_write(&e->io, e->fd, e->buf + e->off,
							  (size_t)(e->n - e->off)) :
					 vs_io_prep_read(&e->io, e->fd, e->buf, sizeof(e->buf));
			if (r < 0) {
				*code = (int)r;
				return VS_READY;
			}
			e->busy = true;
		}
		r = vs_io_poll(&e->io, VS_NEVER);
		if (r == -EAGAIN)
			return VS_PENDING;
		e->busy = false;
		if (r < 0 || (!e->writing && r == 0)) {
			*code = (int)r;
			return VS_READY;
		}
		if (!e->writing) {
			e->n = r;
			e->off = 0;
			e->writing = true;
		} else if ((e->off += r) == e->n) {
			e->moved += e->n;
			e->writing = false;
		}
	}
}

static void test_stackless_echo(void **state)
{
	int rounds = getenv("VSCHED_EMULATED") ? 100 : 1000;

	(void)state;
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++) {
		struct sl_echo e = { .busy = false };
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)ncpus - 1 };
		vs_task_t *t;
		int sp[2], code = -1;
		long sent = 0;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
		e.fd = sp[1];
		start(ncpus);
		assert_int_equal(vs_task_spawn_poll(sl_echo_poll, &e, &a, &t), 0);
		for (int i = 0; i < rounds; i++) {
			char out[500], in[500];
			size_t len = 1 + (size_t)(i * 37) % sizeof(out), got = 0;

			for (size_t k = 0; k < len; k++)
				out[k] = (char)pat((unsigned)i, k);
			assert_int_equal(vs_write(sp[0], out, len), (ssize_t)len);
			while (got < len) {
				ssize_t r = vs_read(sp[0], in + got, len - got);

				assert_true(r > 0);
				got += (size_t)r;
			}
			assert_memory_equal(in, out, len);
			sent += (long)len;
		}
		assert_int_equal(vs_shutdown(sp[0], SHUT_WR), 0);
		assert_int_equal(vs_task_join(t, &code), 0);
		assert_int_equal(code, 0);
		assert_int_equal(e.moved, sent);
		assert_int_equal(vs_runtime_stop(), 0);
		assert_int_equal(vs_close(sp[0]), 0);
		assert_int_equal(vs_close(sp[1]), 0);
	}
}

struct sl_wait {
	int fd;
	uint64_t deadline;
	bool busy;
	struct vs_io io;
	char c;
	int res; /* the code it exited with, kept here too */
};

static enum vs_poll sl_wait_poll(void *state, int *code)
{
	struct sl_wait *w = state;
	ssize_t r;

	if (!w->busy) {
		r = vs_io_prep_read(&w->io, w->fd, &w->c, 1);
		if (r < 0) {
			*code = (int)r;
			return VS_READY;
		}
		w->busy = true;
	}
	r = vs_io_poll(&w->io, w->deadline);
	if (r == -EAGAIN)
		return VS_PENDING;
	*code = w->res = (int)r;
	return VS_READY;
}

static void test_stackless_timeout_cancel(void **state)
{
	struct sl_wait w1 = { .busy = false }, w2 = { .busy = false };
	int fds[2], code = 0;
	vs_task_t *t;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	start(2);
	/* a deadline */
	w1.fd = fds[0];
	w1.deadline = vs_deadline_in(10 * MS);
	assert_int_equal(vs_task_spawn_poll(sl_wait_poll, &w1, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, -ETIMEDOUT);
	assert_true(vs_now() >= w1.deadline);
	/* data: the byte */
	w1.busy = false;
	w1.deadline = vs_deadline_in(5000 * MS);
	assert_int_equal(vs_task_spawn_poll(sl_wait_poll, &w1, NULL, &t), 0);
	assert_int_equal(vs_sleep(2 * MS), 0);
	assert_int_equal(vs_write(fds[1], "s", 1), 1);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 1);
	assert_int_equal(w1.c, 's');
	/* the canceller */
	w2.fd = fds[0];
	w2.deadline = VS_NEVER;
	assert_int_equal(vs_task_spawn_poll(sl_wait_poll, &w2, NULL, &t), 0);
	assert_int_equal(vs_task_detach(t), 0);
	assert_int_equal(vs_sleep(5 * MS), 0);
	assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
	assert_int_equal(w2.res, -ECANCELED);
	close(fds[0]);
	close(fds[1]);
}

static void test_handle_bad_input(void **state)
{
	struct vs_io io = VS_IO_INIT;
	int fds[2];
	char c = 0;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(vs_io_poll(NULL, VS_NEVER), -EINVAL);
	assert_int_equal(vs_io_poll(&io, VS_NEVER), -EINVAL); /* nothing prepared */
	assert_int_equal(vs_io_prep_read(NULL, fds[0], &c, 1), -EINVAL);
	assert_int_equal(vs_io_prep_read(&io, -1, &c, 1), -EBADF);
	assert_int_equal(vs_io_prep_read(&io, fds[0], NULL, 1), -EFAULT);
	assert_int_equal(vs_io_prep_pread(&io, fds[0], &c, 1, -5), -EINVAL);
	assert_int_equal(vs_io_prep_wait_fd(&io, fds[0], 0), -EINVAL);
	assert_int_equal(vs_io_poll(&io, VS_NEVER), -EINVAL); /* still nothing */
	/* prepared: in use until it gives its result */
	assert_int_equal(vs_io_prep_write(&io, fds[1], "h", 1), 0);
	assert_int_equal(vs_io_prep_read(&io, fds[0], &c, 1), -EBUSY);
	/* outside the runtime: the plain call */
	assert_int_equal(vs_io_poll(&io, VS_NEVER), 1);
	/* a stackful task: blocks until the result */
	start(1);
	assert_int_equal(vs_io_prep_read(&io, fds[0], &c, 1), 0);
	assert_int_equal(vs_io_poll(&io, VS_NEVER), 1);
	assert_int_equal(c, 'h');
	assert_int_equal(vs_io_prep_read(&io, fds[0], &c, 1), 0);
	assert_int_equal(vs_io_poll(&io, vs_deadline_in(5 * MS)), -ETIMEDOUT);
	assert_int_equal(vs_runtime_stop(), 0);
	close(fds[0]);
	close(fds[1]);
}

/* -------------------------------------------------------- offload pool */

static atomic_int in_pool, pool_peak, pool_ran;

static ssize_t pool_job(void *arg)
{
	int now = atomic_fetch_add(&in_pool, 1) + 1, peak = atomic_load(&pool_peak);

	while (now > peak && !atomic_compare_exchange_weak(&pool_peak, &peak, now))
		;
	atomic_fetch_add(&pool_ran, 1);
	while (atomic_load(&pool_hold))
		usleep(1000);
	usleep(2000);
	atomic_fetch_sub(&in_pool, 1);
	return (ssize_t)(intptr_t)arg;
}

static int offload_task(void *arg)
{
	return (int)vs_offload(pool_job, arg);
}

static void test_offload(void **state)
{
	enum { N = 40 };
	vs_task_t *t[N], *tt;

	(void)state;
	atomic_store(&in_pool, 0);
	atomic_store(&pool_peak, 0);
	atomic_store(&pool_ran, 0);
	atomic_store(&pool_hold, 0);
	/* outside the runtime: on the caller */
	assert_int_equal(vs_offload(pool_job, (void *)(intptr_t)5), 5);
	assert_int_equal(vs_offload(NULL, NULL), -EINVAL);
	start(1);
	assert_int_equal(vs_offload(NULL, NULL), -EINVAL);
	/* the CPU runs on while a task waits for the pool */
	atomic_store(&ticks, 0);
	atomic_store(&stop_ticking, 0);
	spawn_on(ticker, NULL, 0, &tt);
	atomic_store(&pool_hold, 1);
	for (int i = 0; i < N; i++)
		spawn_on(offload_task, (void *)(intptr_t)(100 + i), 0, &t[i]);
	/* bounded: 4 threads for one CPU, all busy, the rest queued */
	await_value(&in_pool, 4);
	assert_int_equal(vs_sleep(30 * MS), 0);
	assert_int_equal(atomic_load(&in_pool), 4);
	assert_true(atomic_load(&ticks) >= 5);
	atomic_store(&pool_hold, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(join(t[i]), 100 + i);
	assert_int_equal(atomic_load(&pool_peak), 4);
	assert_int_equal(atomic_load(&pool_ran), N + 1);
	atomic_store(&stop_ticking, 1);
	assert_int_equal(join(tt), 0);
	assert_int_equal(vs_runtime_stop(), 0);
}

static int offload_record(void *arg)
{
	atomic_store(&cancel_res[0], (int)vs_offload(pool_job, arg));
	return 0;
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(50000);
	atomic_store(&pool_hold, 0);
	return NULL;
}

static ssize_t until_cancelled(void *arg)
{
	(void)arg;
	while (!vs_offload_cancelled())
		usleep(500);
	return 7;
}

static ssize_t resolve(void *arg)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int r = getaddrinfo((const char *)arg, "80", &hints, &res);

	if (r)
		return -EIO;
	r = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	freeaddrinfo(res);
	return r;
}

static void test_offload_timeout_cancel(void **state)
{
	vs_task_t *t[4];

	(void)state;
	atomic_store(&in_pool, 0);
	atomic_store(&pool_ran, 0);
	start(1);
	assert_int_equal(vs_offload(resolve, "localhost"), 1);
	/* a running job is told, and its value returned once it returns */
	assert_int_equal(vs_offload_until(until_cancelled, NULL, vs_deadline_in(10 * MS)), 7);
	/* a job still queued gives up, never run */
	atomic_store(&pool_hold, 1);
	for (int i = 0; i < 4; i++)
		spawn_on(offload_task, (void *)(intptr_t)i, 0, &t[i]);
	await_value(&pool_ran, 4);
	assert_int_equal(vs_offload_until(pool_job, NULL, vs_deadline_in(10 * MS)), -ETIMEDOUT);
	assert_int_equal(atomic_load(&pool_ran), 4);
	/* and the canceller: a job queued behind the 4 gets -ECANCELED, while
	 * the 4 running ones end on their own (let go by a thread, later) */
	atomic_store(&cancel_res[0], 1);
	{
		vs_task_t *q;
		pthread_t th;

		spawn_on(offload_record, (void *)(intptr_t)99, 0, &q);
		assert_int_equal(vs_task_detach(q), 0);
		for (int i = 0; i < 4; i++)
			assert_int_equal(vs_task_detach(t[i]), 0);
		assert_int_equal(vs_sleep(5 * MS), 0);
		assert_int_equal(pthread_create(&th, NULL, release_later, NULL), 0);
		assert_int_equal(vs_runtime_shutdown(VS_STOP_CANCEL), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	assert_int_equal(atomic_load(&cancel_res[0]), -ECANCELED);
	assert_int_equal(atomic_load(&pool_ran), 4);
}

struct sl_off {
	struct vs_io io;
	bool busy;
};

static enum vs_poll sl_off_poll(void *state, int *code)
{
	struct sl_off *o = state;
	ssize_t r;

	if (!o->busy) {
		assert_int_equal(vs_io_prep_offload(&o->io, pool_job, (void *)(intptr_t)33), 0);
		o->busy = true;
	}
	r = vs_io_poll(&o->io, VS_NEVER);
	if (r == -EAGAIN)
		return VS_PENDING;
	*code = (int)r;
	return VS_READY;
}

static void test_offload_stackless(void **state)
{
	struct sl_off o = { .busy = false };
	vs_task_t *t;
	int code = 0;

	(void)state;
	atomic_store(&pool_hold, 0);
	start(2);
	assert_int_equal(vs_task_spawn_poll(sl_off_poll, &o, NULL, &t), 0);
	assert_int_equal(vs_task_join(t, &code), 0);
	assert_int_equal(code, 33);
	assert_int_equal(vs_runtime_stop(), 0);
}

/* ------------------------------------------------------- echo stress */

/*
 * Many connections at once on 2 CPUs, a server task and a client task
 * each: every client sends its stream in messages of varying sizes and
 * reads it back; every byte comes back once and in order.
 */
struct echo_conn {
	int id, fd;
	long sent, back;
	int result;
};

static int echo_lfd;
static atomic_int echo_accepted;

static int echo_serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t r;

	while ((r = vs_read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < r;) {
			ssize_t w = vs_write(fd, buf + off, (size_t)(r - off));

			if (w <= 0) {
				vs_close(fd);
				return -EIO;
			}
			off += w;
		}
	vs_close(fd);
	return (int)r;
}

static int echo_acceptor(void *arg)
{
	int n = (int)(intptr_t)arg;

	for (int i = 0; i < n; i++) {
		int fd = vs_accept(echo_lfd, NULL, NULL, SOCK_CLOEXEC);
		struct vs_task_attr a = { .place = VS_PLACE_BALANCE, .stack_size = 32768 };
		vs_task_t *t;

		if (fd < 0)
			return fd;
		atomic_fetch_add(&echo_accepted, 1);
		if (vs_task_spawn(echo_serve, (void *)(intptr_t)fd, &a, &t) < 0 ||
		    vs_task_detach(t) < 0)
			return -EIO;
	}
	return 0;
}

#define ECHO_MSGS 20

static int echo_client(void *arg)
{
	struct echo_conn *c = arg;
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	char out[4096], in[4096];

	if (getsockname(echo_lfd, (struct sockaddr *)&a, &len) < 0)
		return c->result = -errno;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return c->result = -errno;
	if ((c->result = vs_connect(c->fd, (struct sockaddr *)&a, sizeof(a))) < 0)
		goto out;
	for (int m = 0; m < ECHO_MSGS; m++) {
		size_t n = 1 + (size_t)(c->id * 7919 + m * 104729) % sizeof(out), got = 0;

		for (size_t k = 0; k < n; k++)
			out[k] = (char)pat((unsigned)c->id, (size_t)c->sent + k);
		for (size_t off = 0; off < n;) {
			ssize_t w = vs_write(c->fd, out + off, n - off);

			if (w <= 0) {
				c->result = w < 0 ? (int)w : -EIO;
				goto out;
			}
			off += (size_t)w;
		}
		c->sent += (long)n;
		while (got < n) {
			ssize_t r = vs_read(c->fd, in + got, n - got);

			if (r <= 0) {
				c->result = r < 0 ? (int)r : -EPIPE;
				goto out;
			}
			got += (size_t)r;
		}
		if (memcmp(in, out, n)) {
			c->result = -EILSEQ;
			goto out;
		}
		c->back += (long)n;
	}
	/* the server sees EOF, and so do we */
	(void)vs_shutdown(c->fd, SHUT_WR);
	c->result = (int)vs_read(c->fd, in, sizeof(in));
out:
	vs_close(c->fd);
	return c->result;
}

static void test_echo_stress(void **state)
{
	struct rlimit rl;
	int n = getenv("VSCHED_EMULATED") ? 200 : 1000;
	struct echo_conn *c;
	vs_task_t **t, *acc;
	uint16_t port;

	(void)state;
	/* two fds a connection, and some to spare */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
		if (rl.rlim_cur < (rlim_t)(2 * n + 64))
			n = (int)(rl.rlim_cur - 64) / 2;
	}
	c = calloc((size_t)n, sizeof(*c));
	t = calloc((size_t)n, sizeof(*t));
	assert_non_null(c);
	assert_non_null(t);
	echo_lfd = listener(&port);
	atomic_store(&echo_accepted, 0);
	start(2);
	spawn_on(echo_acceptor, (void *)(intptr_t)n, 0, &acc);
	for (int i = 0; i < n; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_BALANCE, .stack_size = 32768 };

		c[i].id = i;
		assert_int_equal(vs_task_spawn(echo_client, &c[i], &a, &t[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		assert_int_equal(join(t[i]), 0);
		assert_int_equal(c[i].result, 0); /* EOF after the last echo */
		assert_true(c[i].sent > 0);
		assert_int_equal(c[i].back, c[i].sent);
	}
	assert_int_equal(join(acc), 0);
	assert_int_equal(atomic_load(&echo_accepted), n);
	/* the servers are detached: stop waits for them */
	assert_int_equal(vs_runtime_stop(), 0);
	assert_int_equal(vs_close(echo_lfd), 0);
	free(c);
	free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fds_setup, fds_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_backend),
		T(test_backend_bad_env),
		T(test_pipe_stream),
		T(test_socket_stream),
		T(test_parks_only_itself),
		T(test_eof_and_peer_errors),
		T(test_tcp),
		T(test_timeouts),
		T(test_cancel_at_shutdown),
		T(test_close_wakes_waiters),
		T(test_close_before_submit),
		T(test_wait_fd_after_plain_close),
		T(test_waitall_datagram),
		T(test_files),
		T(test_file_cached_reads),
		T(test_wait_fd),
		T(test_bad_input),
		T(test_outside_runtime),
		T(test_migrate_with_io),
		T(test_preemptible_io),
		T(test_stackless_echo),
		T(test_stackless_timeout_cancel),
		T(test_handle_bad_input),
		T(test_offload),
		T(test_offload_timeout_cancel),
		T(test_offload_stackless),
		T(test_echo_stress),
	};

	if (getenv("VSCHED_TEST_FILTER")) /* one test, by name (a glob) */
		cmocka_set_test_filter(getenv("VSCHED_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The echo benchmark's load: CONNS connections to 127.0.0.1:PORT, each in
 * a closed loop (send SIZE bytes, read them back, again), driven by one
 * epoll thread. After WARMUP seconds it measures for SECONDS: requests,
 * their latency (a histogram) and the CPU time the server process PID
 * spent meanwhile (its threads' run time, from /proc). One line out:
 *
 *   conns size requests_per_s server_cpu_ns_per_request p50_us p99_us
 *
 * usage: echo_load PORT CONNS SIZE SECONDS WARMUP PID
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	size_t sent, got;
	uint64_t t0;
	char *out, *in;
};

/* latencies: 16 linear steps in each power of two of nanoseconds */
#define SUB 16
static uint64_t hist[64 * SUB];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned bucket(uint64_t ns)
{
	unsigned shift;

	if (ns < SUB)
		return (unsigned)ns;
	shift = 63 - (unsigned)__builtin_clzll(ns) - 4; /* SUB is 2^4 */
	return (shift + 1) * SUB + (unsigned)((ns >> shift) & (SUB - 1));
}

/* The least latency bucket @b holds, in ns. */
static uint64_t bucket_ns(unsigned b)
{
	if (b < SUB)
		return b;
	return (uint64_t)(SUB + b % SUB) << (b / SUB - 1);
}

static double pct(uint64_t total, double p)
{
	uint64_t want = (uint64_t)((double)total * p), seen = 0;

	for (unsigned b = 0; b < 64 * SUB; b++) {
		seen += hist[b];
		if (seen > want)
			return (double)bucket_ns(b) / 1000.0;
	}
	return 0;
}

/* The run time of every thread of @pid so far, in ns (schedstat). */
static uint64_t cpu_ns(int pid)
{
	char path[320], line[128];
	uint64_t sum = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, e->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f))
			sum += strtoull(line, NULL, 10);
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int port, conns, pid, ep;
	size_t size;
	double seconds, warmup;
	struct conn *cs;
	struct epoll_event ev, evs[512];
	uint64_t start, end, measure_at, reqs = 0, cpu0 = 0, total = 0;
	struct rlimit rl;
	bool measuring = false;

	if (argc != 7) {
		fprintf(stderr, "usage: echo_load PORT CONNS SIZE SECONDS WARMUP PID\n");
		return 2;
	}
	port = atoi(argv[1]);
	conns = atoi(argv[2]);
	size = (size_t)atol(argv[3]);
	seconds = atof(argv[4]);
	warmup = atof(argv[5]);
	pid = atoi(argv[6]);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	a.sin_port = htons((uint16_t)port);
	cs = calloc((size_t)conns, sizeof(*cs));
	ep = epoll_create1(0);
	for (int i = 0; i < conns; i++) {
		struct conn *c = &cs[i];
		int one = 1;

		c->out = malloc(size);
		c->in = malloc(size);
		memset(c->out, 'a' + i % 26, size);
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("echo_load: connect");
			return 1;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	start = now_ns();
	measure_at = start + (uint64_t)(warmup * 1e9);
	end = measure_at + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < conns; i++) {
		cs[i].t0 = start;
		if (write(cs[i].fd, cs[i].out, size) != (ssize_t)size) {
			fprintf(stderr, "echo_load: a first write fell short\n");
			return 1;
		}
		cs[i].sent = size;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 512, 100);
		uint64_t t = now_ns();

		if (!measuring && t >= measure_at) {
			measuring = true;
			cpu0 = cpu_ns(pid);
			measure_at = t;
			memset(hist, 0, sizeof(hist));
			reqs = 0;
		}
		if (t >= end)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, c->in + c->got, size - c->got);

			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				fprintf(stderr, "echo_load: the server closed a connection\n");
				return 1;
			}
			c->got += (size_t)r;
			if (c->got < size)
				continue;
			if (memcmp(c->in, c->out, size)) {
				fprintf(stderr, "echo_load: wrong bytes back\n");
				return 1;
			}
			if (measuring) {
				hist[bucket(t - c->t0)]++;
				reqs++;
			}
			c->got = 0;
			c->t0 = t;
			for (size_t off = 0; off < size;) {
				ssize_t w = write(c->fd, c->out + off, size - off);

				if (w < 0 && errno == EAGAIN)
					continue;
				if (w < 0) {
					perror("echo_load: write");
					return 1;
				}
				off += (size_t)w;
			}
		}
	}
	total = cpu_ns(pid) - cpu0;
	{
		double secs = (double)(now_ns() - measure_at) / 1e9;

		printf("%d\t%zu\t%.0f\t%.0f\t%.1f\t%.1f\n", conns, size, (double)reqs / secs,
		       reqs ? (double)total / (double)reqs : 0.0, pct(reqs, 0.5), pct(reqs, 0.99));
	}
	return 0;
}

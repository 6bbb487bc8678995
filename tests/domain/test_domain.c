/* SPDX-License-Identifier: MIT */
/*
 * Domains: making one, joining it by fork, by exec and over a Unix socket,
 * the seals that keep a peer from changing its geometry or its size, the
 * files a join refuses, the member table (full, a dead member noticed and
 * its slot reclaimed with a new incarnation and a zeroed section), and
 * runtimes running as members. Every member is a process made with fork.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#include "domain.h" /* the layout, to look at a section */

static const char *self_exe;

/* Runs @fn(@arg) in a child with the default signal dispositions (CMocka
 * catches the crash signals) and returns its pid. */
static pid_t spawn_child(int (*fn)(void *), void *arg)
{
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0) {
		int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		_exit(fn(arg));
	}
	return p;
}

/* Waits for @p and returns its exit code (or 128 + the killing signal). */
static int reap(pid_t p)
{
	int st;

	assert_int_equal(waitpid(p, &st, 0), p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static vs_domain_t *make(unsigned ncpus, unsigned members)
{
	struct vs_domain_attr a = { .ncpus = ncpus, .max_members = members, .max_tasks = 256,
				    .queue_cap = 64 };
	vs_domain_t *d = NULL;

	assert_int_equal(vs_domain_create(&a, &d), 0);
	assert_non_null(d);
	return d;
}

static int count_members(vs_domain_t *d)
{
	return vs_domain_members(d, NULL, 0);
}

static void test_create(void **state)
{
	struct vs_domain_member m[4];
	vs_domain_t *d = NULL;
	int g, s;

	(void)state;
	assert_int_equal(vs_domain_create(NULL, &d), 0);
	assert_int_equal(vs_domain_member_id(d), 0);
	assert_int_equal(vs_domain_fds(d, &g, &s), 0);
	assert_true(g >= 0 && s >= 0 && g != s);
	/* close-on-exec until the caller says otherwise */
	assert_true(fcntl(g, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(vs_domain_members(d, m, 4), 1);
	assert_int_equal(m[0].id, 0);
	assert_int_equal(m[0].pid, getpid());
	assert_int_equal(m[0].incarnation, 1);
	assert_int_equal(m[0].weight, VS_DOMAIN_WEIGHT_DEFAULT);
	assert_int_equal(m[0].running, 0);
	assert_int_equal(vs_domain_set_weight(d, 7), 0);
	assert_int_equal(vs_domain_members(d, m, 4), 1);
	assert_int_equal(m[0].weight, 7);
	/* the memory is this user's alone */
	{
		struct stat sb;

		assert_int_equal(fstat(s, &sb), 0);
		assert_int_equal(sb.st_mode & 0077, 0);
		assert_int_equal(sb.st_uid, geteuid());
	}
	assert_int_equal(vs_domain_close(d), 0);
}

static void test_bad_input(void **state)
{
	struct vs_domain_attr a = { 0 };
	struct vs_domain_member m[2];
	vs_domain_t *d = NULL, *d2 = NULL;
	int g, s, devnull = open("/dev/null", O_RDWR);

	(void)state;
	assert_int_equal(vs_domain_create(NULL, NULL), -EINVAL);
	a.max_members = 65;
	assert_int_equal(vs_domain_create(&a, &d), -EINVAL);
	a = (struct vs_domain_attr){ .any_uid = 2 };
	assert_int_equal(vs_domain_create(&a, &d), -EINVAL);
	a = (struct vs_domain_attr){ .ncpus = 4, .max_tasks = 5 };
	assert_int_equal(vs_domain_create(&a, &d), -EINVAL);
	a = (struct vs_domain_attr){ .ncpus = 100000 };
	assert_int_equal(vs_domain_create(&a, &d), -EINVAL);
	a = (struct vs_domain_attr){ .queue_cap = 2 };
	assert_int_equal(vs_domain_create(&a, &d), -EINVAL);
	assert_null(d);

	d = make(2, 4);
	assert_int_equal(vs_domain_fds(d, &g, &s), 0);
	assert_int_equal(vs_domain_open(-1, s, &d2), -EBADF);
	assert_int_equal(vs_domain_open(g, 1000, &d2), -EBADF);
	assert_int_equal(vs_domain_open(g, s, NULL), -EINVAL);
	assert_int_equal(vs_domain_open(devnull, s, &d2), -EINVAL);
	assert_int_equal(vs_domain_open(g, devnull, &d2), -EINVAL);
	assert_int_equal(vs_domain_open(s, g, &d2), -EINVAL);
	/* one membership per process */
	assert_int_equal(vs_domain_open(g, s, &d2), -EEXIST);
	assert_null(d2);
	assert_int_equal(vs_domain_set_weight(d, 0), -EINVAL);
	assert_int_equal(vs_domain_set_weight(d, VS_DOMAIN_WEIGHT_MAX + 1), -EINVAL);
	assert_int_equal(vs_domain_set_weight(NULL, 1), -EINVAL);
	assert_int_equal(vs_domain_members(d, NULL, 2), -EINVAL);
	assert_int_equal(vs_domain_members(d, m, 2), 1);
	assert_int_equal(m[0].weight, VS_DOMAIN_WEIGHT_DEFAULT);
	assert_int_equal(vs_domain_fds(d, NULL, &s), -EINVAL);
	assert_int_equal(vs_domain_recv(s, 0x2, &d2), -EINVAL);
	assert_int_equal(vs_domain_recv(devnull, 0, &d2), -ENOTSOCK);
	assert_int_equal(vs_domain_send(d, devnull), -ENOTSOCK);
	assert_int_equal(vs_domain_close(NULL), -EINVAL);
	assert_int_equal(vs_domain_close(d), 0);
	close(devnull);
}

/* The geometry cannot be changed at all, nor the state resized, by anyone
 * holding the fds: what a peer would do to the others. */
static void test_seals(void **state)
{
	vs_domain_t *d = make(2, 2);
	int g, s;
	char b = 1;
	void *p;
	struct stat sb;

	(void)state;
	assert_int_equal(vs_domain_fds(d, &g, &s), 0);
	assert_int_equal(pwrite(g, &b, 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(g, 0), -1);
	assert_int_equal(errno, EPERM);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
	assert_true(p == MAP_FAILED);
	assert_int_equal(fcntl(g, F_ADD_SEALS, F_SEAL_GROW), -1);
	assert_int_equal(fstat(s, &sb), 0);
	assert_int_equal(ftruncate(s, sb.st_size - 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(s, sb.st_size + 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(s, 0), -1);
	assert_int_equal(fcntl(s, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(fstat(s, &sb), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

/* Files that look like a domain but are not one are refused. */
static void test_refused_files(void **state)
{
	vs_domain_t *d = make(2, 2), *other = NULL, *d2 = NULL;
	int g, s, og, os, fake;
	char buf[4096];
	ssize_t n;

	(void)state;
	assert_int_equal(vs_domain_fds(d, &g, &s), 0);
	/* the same geometry, unsealed: a peer could change it under us */
	n = pread(g, buf, sizeof(buf), 0);
	assert_true(n > 0);
	fake = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fake >= 0);
	assert_int_equal(pwrite(fake, buf, (size_t)n, 0), n);
	assert_int_equal(vs_domain_open(fake, s, &d2), -EINVAL);
	/* sealed but changed: sizes that disagree with the counts */
	((struct vsd_geom *)buf)->state_size += 4096;
	close(fake);
	fake = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(pwrite(fake, buf, (size_t)n, 0), n);
	assert_int_equal(fcntl(fake, F_ADD_SEALS,
			       F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
	assert_int_equal(vs_domain_open(fake, s, &d2), -EINVAL);
	close(fake);
	/* two domains' files mixed: same shape, other nonce. A second domain
	 * in this process is fine; mixing its files is not. */
	assert_int_equal(vs_domain_create(&(struct vs_domain_attr){ .ncpus = 2,
			.max_members = 2, .max_tasks = 256, .queue_cap = 64 }, &other), 0);
	assert_int_equal(vs_domain_fds(other, &og, &os), 0);
	assert_int_equal(vs_domain_open(g, os, &d2), -EINVAL);
	assert_int_equal(vs_domain_open(og, s, &d2), -EINVAL);
	assert_null(d2);
	assert_int_equal(vs_domain_close(other), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

struct join_arg {
	vs_domain_t *parent; /* the parent's handle, as fork copied it */
	int g, s;
	int ctl[2]; /* child -> parent: its member id; parent -> child: go */
};

/* A child that joins, reports, and waits for a byte (or EOF) to leave;
 * exits with 0 if all went as expected. With @leave 0 it never closes. */
static int joiner(void *p)
{
	struct join_arg *a = p;
	vs_domain_t *d = NULL;
	char c;
	int id;

	/* the parent's handle is not this process's */
	if (vs_domain_member_id(a->parent) != -EPERM ||
	    vs_domain_set_weight(a->parent, 3) != -EPERM)
		return 20;
	if (vs_domain_open(a->g, a->s, &d) != 0)
		return 21;
	id = vs_domain_member_id(d);
	if (vs_domain_set_weight(d, 5) != 0)
		return 22;
	if (write(a->ctl[1], &id, sizeof(id)) != sizeof(id))
		return 23;
	if (read(a->ctl[0], &c, 1) == 1 && c == 'l')
		return vs_domain_close(d) == 0 ? 0 : 24;
	return 0; /* killed or told to just exit: the slot stays held */
}

static pid_t start_joiner(struct join_arg *a, vs_domain_t *d, int *id)
{
	int up[2], down[2];
	pid_t p;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	a->parent = d;
	assert_int_equal(vs_domain_fds(d, &a->g, &a->s), 0);
	a->ctl[0] = down[0];
	a->ctl[1] = up[1];
	p = spawn_child(joiner, a);
	close(up[1]);
	close(down[0]);
	if (read(up[0], id, sizeof(*id)) != sizeof(*id))
		*id = -1;
	close(up[0]);
	a->ctl[0] = -1;
	a->ctl[1] = down[1];
	return p;
}

/* Tells a joiner to leave, and checks that it did so cleanly. */
static void leave_joiner(struct join_arg *a, pid_t p)
{
	assert_int_equal(write(a->ctl[1], "l", 1), 1);
	assert_int_equal(reap(p), 0);
	close(a->ctl[1]);
}

static void test_fork_join(void **state)
{
	vs_domain_t *d = make(2, 4);
	struct vs_domain_member m[4];
	struct join_arg a1, a2;
	int id1, id2;
	pid_t p1, p2;

	(void)state;
	p1 = start_joiner(&a1, d, &id1);
	assert_int_equal(id1, 1);
	assert_int_equal(vs_domain_members(d, m, 4), 2);
	assert_int_equal(m[1].pid, p1);
	assert_int_equal(m[1].weight, 5);
	assert_int_equal(m[1].incarnation, 1);
	/* it leaves: its slot is free again */
	leave_joiner(&a1, p1);
	assert_int_equal(count_members(d), 1);
	/* it dies holding the slot: noticed, and the slot taken again */
	p1 = start_joiner(&a1, d, &id1);
	assert_int_equal(id1, 1);
	assert_int_equal(kill(p1, SIGKILL), 0);
	assert_int_equal(reap(p1), 128 + SIGKILL);
	close(a1.ctl[1]);
	p2 = start_joiner(&a2, d, &id2);
	assert_int_equal(id2, 1);
	assert_int_equal(vs_domain_members(d, m, 4), 2);
	assert_int_equal(m[1].pid, p2);
	assert_int_equal(m[1].incarnation, 3);
	leave_joiner(&a2, p2);
	assert_int_equal(vs_domain_close(d), 0);
}

/* A zombie (killed, not yet waited for) is dead too. */
static void test_zombie(void **state)
{
	vs_domain_t *d = make(1, 2);
	struct join_arg a;
	int id;
	pid_t p;

	(void)state;
	p = start_joiner(&a, d, &id);
	assert_int_equal(id, 1);
	assert_int_equal(count_members(d), 2);
	assert_int_equal(kill(p, SIGKILL), 0);
	/* not reaped yet: poll until the kernel has it a zombie */
	for (int i = 0; i < 2000 && count_members(d) != 1; i++)
		usleep(1000);
	assert_int_equal(count_members(d), 1);
	assert_int_equal(reap(p), 128 + SIGKILL);
	close(a.ctl[1]);
	assert_int_equal(vs_domain_close(d), 0);
}

static void test_full(void **state)
{
	vs_domain_t *d = make(1, 2);
	struct join_arg a1, a2;
	int id1, id2;
	pid_t p1, p2;

	(void)state;
	p1 = start_joiner(&a1, d, &id1);
	assert_int_equal(id1, 1);
	p2 = start_joiner(&a2, d, &id2);
	assert_int_equal(reap(p2), 21); /* its open failed */
	assert_int_equal(id2, -1);
	close(a2.ctl[1]);
	assert_int_equal(kill(p1, SIGKILL), 0);
	assert_int_equal(reap(p1), 128 + SIGKILL);
	close(a1.ctl[1]);
	p2 = start_joiner(&a2, d, &id2);
	assert_int_equal(id2, 1);
	leave_joiner(&a2, p2);
	assert_int_equal(vs_domain_close(d), 0);
}

/* The exec'd side: argv = self --join G S; joins and exits with its id. */
static int exec_join(const char *gs, const char *ss)
{
	vs_domain_t *d = NULL;
	int r = vs_domain_open(atoi(gs), atoi(ss), &d);

	if (r != 0)
		return 100;
	r = vs_domain_member_id(d);
	return vs_domain_close(d) == 0 ? r : 101;
}

static void test_exec_join(void **state)
{
	vs_domain_t *d = make(1, 4);
	char gs[16], ss[16];
	int g, s;
	pid_t p;

	(void)state;
	assert_int_equal(vs_domain_fds(d, &g, &s), 0);
	snprintf(gs, sizeof(gs), "%d", g);
	snprintf(ss, sizeof(ss), "%d", s);
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		/* the fds are close-on-exec: the child clears that to pass them */
		const char *wrap = getenv("VSCHED_EXEC_WRAPPER");
		char *argv[16], *w = strdup(wrap ? wrap : "");
		int n = 0;

		fcntl(g, F_SETFD, 0);
		fcntl(s, F_SETFD, 0);
		/* under emulation, through the emulator, as the test itself */
		for (char *tok = strtok(w, " "); tok && n < 10; tok = strtok(NULL, " "))
			argv[n++] = tok;
		argv[n++] = (char *)self_exe;
		argv[n++] = "--join";
		argv[n++] = gs;
		argv[n++] = ss;
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(reap(p), 1);
	assert_int_equal(count_members(d), 1);
	assert_int_equal(vs_domain_close(d), 0);
}

struct sock_arg {
	int sock;
	uid_t uid; /* become this user first (0: stay) */
	unsigned flags;
};

static int receiver(void *p)
{
	struct sock_arg *a = p;
	vs_domain_t *d = NULL;
	int r;

	if (a->uid && setuid(a->uid) != 0)
		return 30;
	r = vs_domain_recv(a->sock, a->flags, &d);
	if (r < 0)
		return -r < 100 ? -r : 99;
	r = vs_domain_member_id(d);
	return vs_domain_close(d) == 0 ? 100 + r : 98;
}

static void test_socket(void **state)
{
	vs_domain_t *d = make(1, 4);
	struct sock_arg a = { 0 };
	int sv[2];
	pid_t p;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	a.sock = sv[1];
	p = spawn_child(receiver, &a);
	assert_int_equal(vs_domain_send(d, sv[0]), 0);
	assert_int_equal(reap(p), 101);
	/* a message that is not a domain */
	p = spawn_child(receiver, &a);
	assert_int_equal(write(sv[0], "VSDOMAIX", 8), 8);
	assert_int_equal(reap(p), EPROTO);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(vs_domain_close(d), 0);
}

/* A listening socket the other user's child connects to: SO_PEERCRED on
 * each end then names the other's user. */
static int other_user_round(vs_domain_t *d, unsigned flags, int *child_code)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
			(socklen_t)snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
					    "vsched-test-%d", getpid());
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c, r;
	struct sock_arg a = { .uid = 65534, .flags = flags };
	pid_t p;

	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(ls, 1), 0);
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		close(ls);
		if (setuid(65534) != 0)
			_exit(30);
		a.uid = 0;
		a.sock = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(a.sock, (struct sockaddr *)&sa, len) != 0)
			_exit(31);
		_exit(receiver(&a));
	}
	c = accept(ls, NULL, NULL);
	assert_true(c >= 0);
	r = vs_domain_send(d, c);
	close(c);
	close(ls);
	*child_code = reap(p);
	return r;
}

/* Another user: the same-user rule holds at both ends, unless both ends
 * say otherwise. */
static void test_other_user(void **state)
{
	struct vs_domain_attr any = { .ncpus = 1, .max_members = 4, .max_tasks = 64,
				      .any_uid = 1 };
	vs_domain_t *d = make(1, 4);
	int code, r;

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(vs_domain_close(d), 0);
		skip();
	}
	/* neither end accepts the other */
	assert_int_equal(other_user_round(d, 0, &code), -EPERM);
	assert_int_equal(code, EPERM);
	/* the receiver would, the domain would not */
	assert_int_equal(other_user_round(d, VS_DOMAIN_ANY_UID, &code), -EPERM);
	assert_int_equal(code, EPROTO); /* it saw the connection close */
	assert_int_equal(vs_domain_close(d), 0);
	/* both ends do: the other user joins through the fds it was given */
	assert_int_equal(vs_domain_create(&any, &d), 0);
	assert_int_equal(other_user_round(d, VS_DOMAIN_ANY_UID, &code), 0);
	assert_int_equal(code, 101);
	/* the domain would, the receiver would not: it refuses before it
	 * reads, and may have closed before the send (EPIPE) */
	r = other_user_round(d, 0, &code);
	assert_true(r == 0 || r == -EPIPE || r == -ECONNRESET);
	assert_int_equal(code, EPERM);
	assert_int_equal(vs_domain_close(d), 0);
}

/* Tasks of a member's runtime: each adds to a counter, yielding. */
#define NT 64
#define ROUNDS 100
static atomic_long counter;

static int adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		atomic_fetch_add(&counter, 1);
		if (vs_task_yield() != 0)
			return 1;
	}
	return 0;
}

/* Runs a runtime on @d with NT tasks; returns 0 if every task ran to the
 * end once and the member table said so meanwhile. */
static int run_member(vs_domain_t *d)
{
	struct vs_config cfg = { .domain = d };
	struct vs_domain_member m[8];
	vs_task_t *t[NT];
	int n, id = vs_domain_member_id(d), code;

	atomic_store(&counter, 0);
	if (vs_runtime_start(&cfg) != 0)
		return 40;
	if (vs_domain_close(d) != -EBUSY)
		return 41;
	for (int i = 0; i < NT; i++)
		if (vs_task_spawn(adder, NULL, &(struct vs_task_attr){ .place = VS_PLACE_BALANCE },
				  &t[i]) != 0)
			return 42;
	n = vs_domain_members(d, m, 8);
	for (int i = 0; i < n && i < 8; i++)
		if (m[i].id == (unsigned)id && !m[i].running)
			return 43;
	for (int i = 0; i < NT; i++)
		if (vs_task_join(t[i], &code) != 0 || code != 0)
			return 44;
	if (vs_runtime_stop() != 0)
		return 45;
	if (atomic_load(&counter) != (long)NT * ROUNDS)
		return 46;
	n = vs_domain_members(d, m, 8);
	for (int i = 0; i < n && i < 8; i++)
		if (m[i].id == (unsigned)id && (m[i].running || m[i].cpu_ns == 0))
			return 47;
	return 0;
}

static int member_child(void *p)
{
	struct join_arg *a = p;
	struct vs_config cfg = { .domain = a->parent };
	vs_domain_t *d = NULL;
	int r;

	/* the parent's handle runs nothing here */
	if (vs_runtime_start(&cfg) != -EPERM)
		return 50;
	if (vs_domain_open(a->g, a->s, &d) != 0)
		return 51;
	cfg.domain = d;
	cfg.ncpus = 3;
	if (vs_runtime_start(&cfg) != -EINVAL)
		return 52;
	for (int k = 0; k < 3; k++) {
		/* a second runtime on the section starts from nothing */
		r = run_member(d);
		if (r)
			return r;
	}
	return vs_domain_close(d) == 0 ? 0 : 53;
}

static void test_runtime_members(void **state)
{
	vs_domain_t *d = make(2, 4);
	struct join_arg a;
	pid_t p[2];

	(void)state;
	a.parent = d;
	assert_int_equal(vs_domain_fds(d, &a.g, &a.s), 0);
	for (int i = 0; i < 2; i++)
		p[i] = spawn_child(member_child, &a);
	assert_int_equal(run_member(d), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(reap(p[i]), 0);
	assert_int_equal(count_members(d), 1);
	assert_int_equal(vs_domain_close(d), 0);
}

static int spinner(void *arg)
{
	(void)arg;
	for (;;)
		if (vs_task_yield() != 0)
			return 1;
}

/* Starts a runtime with spinning tasks, says so, and is killed. */
static int doomed(void *p)
{
	struct join_arg *a = p;
	struct vs_config cfg = { 0 };
	vs_domain_t *d = NULL;
	vs_task_t *t;

	if (vs_domain_open(a->g, a->s, &d) != 0)
		return 60;
	cfg.domain = d;
	if (vs_runtime_start(&cfg) != 0)
		return 61;
	for (int i = 0; i < 8; i++)
		if (vs_task_spawn(spinner, NULL, NULL, &t) != 0)
			return 62;
	if (write(a->ctl[1], "r", 1) != 1)
		return 63;
	for (;;)
		(void)vs_task_yield();
}

/* Does slot @i hold nothing of a member: no CPU, no want bit, cleared
 * counters? */
static bool slot_clean(vs_domain_t *d, unsigned i)
{
	struct vsd_member *m = (struct vsd_member *)(d->map + d->g.members_off) + i;
	bool clean = atomic_load(&m->owner) == 0 && atomic_load(&m->running) == 0 &&
		     atomic_load(&m->cpu_ns) == 0 && atomic_load(&m->spinning) == 0;

	for (unsigned c = 0; c < d->g.ncpus; c++) {
		struct vsd_cpu *dc = (struct vsd_cpu *)(d->map + d->g.cpus_off) + c;

		clean = clean && atomic_load(&dc->holder) != i + 1 &&
			!(atomic_load(&dc->want) & (1ull << i));
	}
	return clean;
}

/* A member killed while its runtime runs: its slot comes back empty. */
static void test_killed_member(void **state)
{
	vs_domain_t *d = make(2, 2);
	struct vs_domain_member m[2];
	struct join_arg a;
	int up[2];
	char c;
	pid_t p;

	(void)state;
	assert_int_equal(pipe(up), 0);
	a.parent = d;
	a.ctl[1] = up[1];
	assert_int_equal(vs_domain_fds(d, &a.g, &a.s), 0);
	p = spawn_child(doomed, &a);
	assert_int_equal(read(up[0], &c, 1), 1);
	assert_int_equal(vs_domain_members(d, m, 2), 2);
	assert_int_equal(m[1].pid, p);
	assert_int_equal(m[1].running, 1);
	assert_false(slot_clean(d, 1));
	assert_int_equal(kill(p, SIGKILL), 0);
	assert_int_equal(reap(p), 128 + SIGKILL);
	assert_int_equal(count_members(d), 1);
	assert_true(slot_clean(d, 1));
	/* the next member there runs as if it were the first */
	{
		struct join_arg b;

		b.parent = d;
		assert_int_equal(vs_domain_fds(d, &b.g, &b.s), 0);
		p = spawn_child(member_child, &b);
		assert_int_equal(reap(p), 0);
	}
	close(up[0]);
	close(up[1]);
	assert_int_equal(vs_domain_close(d), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_seals),
		cmocka_unit_test(test_refused_files),
		cmocka_unit_test(test_fork_join),
		cmocka_unit_test(test_zombie),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_exec_join),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_runtime_members),
		cmocka_unit_test(test_killed_member),
	};

	if (argc == 4 && !strcmp(argv[1], "--join"))
		return exec_join(argv[2], argv[3]);
	self_exe = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

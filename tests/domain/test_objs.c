/* SPDX-License-Identifier: MIT */
/*
 * Objects in a domain: channels and wait queues that tasks of different
 * members (processes made with fork) use to wake each other. Checked:
 * bad input changes nothing; messages between members arrive once each,
 * in each sender's order, on one CPU and on two; ping-pong; a wait queue
 * whose creator dies wakes its waiters with -EOWNERDEAD; and members
 * killed at every labelled step of a send or a receive (and at random
 * moments) lose at most the message they were handling, duplicate none,
 * and leave the channel working for the others.
 *
 * The parent creates the domain and runs no runtime: it uses the try
 * forms, which any thread of a member may call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vsched/domain.h>
#include <vsched/vs.h>

#include "domain.h" /* the kill steps, and the layout for the corrupting peer */

#define MS 1000000ull
#define NSEND 4
#define PER_SENDER 3000

struct msg {
	uint32_t round, sender, seq, total;
};

/* What the members and the parent share (an anonymous shared mapping). */
struct board {
	uint32_t ch, back, wq;	   /* handles */
	_Atomic int ready, go, stop;
	_Atomic long errors;	   /* invariant violations a member found */
	_Atomic long got[NSEND];   /* messages received per sender */
	_Atomic long sent;	   /* sends that returned 0 in this round */
	_Atomic long taken;	   /* receives that returned 0 in this round */
	_Atomic uint32_t last_taken; /* the last seq received by a killed receiver */
	_Atomic int result;	   /* what a waiter's call returned */
	_Atomic long rounds;	   /* kill rounds the receiver checked */
	_Atomic int member_id;	   /* of the member that joined last */
	_Atomic unsigned vslot[2]; /* the fuzzer's victims' member slots */
	char why[128];
};

static struct board *B;
static int G, S;
static bool check_late = true; /* off where peers die: their wakes may be */

static void broke(const char *why)
{
	if (atomic_fetch_add(&B->errors, 1) == 0)
		snprintf(B->why, sizeof(B->why), "%s", why);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool emulated(void)
{
	return getenv("VSCHED_EMULATED") != NULL;
}

static vs_domain_t *setup_domain(unsigned ncpus, unsigned max_objects)
{
	struct vs_domain_attr a = { .ncpus = ncpus, .max_members = 6, .max_tasks = 64,
				    .queue_cap = 64, .max_objects = max_objects };
	vs_domain_t *d = NULL;

	memset(B, 0, sizeof(*B));
	assert_int_equal(vs_domain_create(&a, &d), 0);
	assert_int_equal(vs_domain_fds(d, &G, &S), 0);
	return d;
}

static int reap(pid_t p)
{
	int st;

	assert_int_equal(waitpid(p, &st, 0), p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child dies of its faults, not in CMocka's handlers (which would jump
 * back into the parent's test in the child's copy). */
static void child_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSYS };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* A member: joins, runs @body as @n tasks, leaves; its exit status. */
typedef int (*body_fn)(vs_domain_t *d, int idx);

struct body_arg {
	vs_domain_t *d;
	body_fn fn;
	int idx;
};

static int body_task(void *arg)
{
	struct body_arg *a = arg;

	return a->fn(a->d, a->idx);
}

static int member_main(body_fn fn, int n, bool wait_go)
{
	struct vs_config cfg = { 0 };
	struct body_arg a[8];
	vs_domain_t *d = NULL;
	vs_task_t *t[8];
	int code, bad = 0;

	if (vs_domain_open(G, S, &d) != 0)
		return 70;
	atomic_store(&B->member_id, vs_domain_member_id(d));
	cfg.domain = d;
	atomic_fetch_add(&B->ready, 1);
	while (wait_go && !atomic_load(&B->go))
		usleep(100);
	if (vs_runtime_start(&cfg) != 0)
		return 72;
	for (int i = 0; i < n; i++) {
		a[i] = (struct body_arg){ d, fn, i };
		if (vs_task_spawn(body_task, &a[i], NULL, &t[i]) != 0)
			return 73;
	}
	for (int i = 0; i < n; i++)
		if (vs_task_join(t[i], &code) != 0 || code != 0)
			bad = code ? code : 74;
	if (vs_runtime_stop() != 0)
		return 75;
	/* no wait outlived the change it waited for (a lost wake-up) */
	if (check_late && atomic_load(&d->late))
		bad = 77;
	if (vs_domain_close(d) != 0)
		return 76;
	return bad;
}

static pid_t start_member(body_fn fn, int n, bool wait_go)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		child_signals();
		_exit(member_main(fn, n, wait_go));
	}
	return pid;
}

static void wait_ready(int n)
{
	for (int i = 0; i < 20000 && atomic_load(&B->ready) < n; i++)
		usleep(500);
	assert_int_equal(atomic_load(&B->ready), n);
}

/* The parent's send, from a thread outside any runtime: try until room. */
static int parent_send(vs_domain_t *d, uint32_t ch, const struct msg *m)
{
	for (int i = 0; i < 200000; i++) {
		int r = vs_dchan_try_send(d, ch, m, sizeof(*m));

		if (r != -EAGAIN)
			return r;
		usleep(50);
	}
	return -ETIMEDOUT;
}

/* Bad input: each call fails with its errno and changes nothing. */
static void test_bad_input(void **state)
{
	vs_domain_t *d = setup_domain(1, 4);
	struct msg m = { 1, 2, 3, 4 }, out;
	uint32_t ch, wq, h[4], v = 9;
	char big[64] = { 0 };
	pid_t pid;

	(void)state;
	assert_int_equal(vs_dchan_create(NULL, 8, 4, &ch), -EINVAL);
	assert_int_equal(vs_dchan_create(d, 0, 4, &ch), -EINVAL);
	assert_int_equal(vs_dchan_create(d, VS_DCHAN_MSG_MAX + 1, 4, &ch), -EINVAL);
	assert_int_equal(vs_dchan_create(d, 8, 0, &ch), -EINVAL);
	assert_int_equal(vs_dchan_create(d, 8, VS_DCHAN_CAP_MAX + 1, &ch), -EINVAL);
	assert_int_equal(vs_dchan_create(d, 8, 4, NULL), -EINVAL);
	assert_int_equal(vs_dchan_create(d, sizeof(m), 2, &ch), 0);
	assert_int_equal(vs_dwq_create(d, &wq), 0);

	/* handles that name nothing, or something else */
	assert_int_equal(vs_dchan_try_send(d, 0, &m, sizeof(m)), -EINVAL);
	assert_int_equal(vs_dchan_try_send(d, ch | 0xfff, &m, sizeof(m)), -EINVAL);
	assert_int_equal(vs_dchan_try_send(d, ch + (1u << 12), &m, sizeof(m)), -EIDRM);
	assert_int_equal(vs_dchan_try_send(d, wq, &m, sizeof(m)), -EINVAL);
	assert_int_equal(vs_dwq_add(d, ch, 1, NULL), -EINVAL);
	assert_int_equal(vs_dchan_try_send(d, ch, NULL, sizeof(m)), -EINVAL);
	assert_int_equal(vs_dchan_try_send(d, ch, big, sizeof(big)), -EINVAL);
	assert_int_equal(vs_dchan_try_recv(d, ch, big, sizeof(big)), -EINVAL);
	/* blocking outside a task of a runtime on the domain */
	assert_int_equal(vs_dchan_send(d, ch, &m, sizeof(m)), -EPERM);
	assert_int_equal(vs_dchan_recv(d, ch, &out, sizeof(out)), -EPERM);
	assert_int_equal(vs_dwq_wait(d, wq, 0), -EPERM);

	/* none of that changed anything: empty, then two fit and no more */
	assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), -EAGAIN);
	assert_int_equal(vs_dchan_try_send(d, ch, &m, sizeof(m)), 0);
	m.seq++;
	assert_int_equal(vs_dchan_try_send(d, ch, &m, sizeof(m)), 0);
	assert_int_equal(vs_dchan_try_send(d, ch, &m, sizeof(m)), -EAGAIN);

	/* a forked copy of the handle is refused */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(vs_dchan_try_recv(d, ch, &out, sizeof(out)) == -EPERM &&
		      vs_dwq_add(d, wq, 1, NULL) == -EPERM ? 0 : 1);
	assert_int_equal(reap(pid), 0);

	/* a peer that rewrote the channel's shape: -EIO, nothing taken */
	{
		char *map = mmap(NULL, d->g.state_size, PROT_READ | PROT_WRITE, MAP_SHARED, S, 0);
		struct vsd_obj *o = (struct vsd_obj *)(map + d->g.objs_off) + 0;
		uint32_t cap;

		assert_true(map != MAP_FAILED);
		o = (struct vsd_obj *)(map + d->g.objs_off + (size_t)(ch & 0xfff) * VSD_OBJ_SIZE);
		cap = o->cap;
		o->cap = 5000;
		assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), -EIO);
		o->cap = cap;
		munmap(map, d->g.state_size);
	}
	assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), 0);
	assert_int_equal(out.seq, 3);
	assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), 0);
	assert_int_equal(out.seq, 4);

	/* closed: sends fail, receives drain then fail */
	assert_int_equal(vs_dchan_try_send(d, ch, &m, sizeof(m)), 0);
	assert_int_equal(vs_dchan_close(d, ch), 0);
	assert_int_equal(vs_dchan_close(d, ch), -EPIPE);
	assert_int_equal(vs_dchan_try_send(d, ch, &m, sizeof(m)), -EPIPE);
	assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), 0);
	assert_int_equal(vs_dchan_try_recv(d, ch, &out, sizeof(out)), -EPIPE);

	/* a wait queue's value */
	assert_int_equal(vs_dwq_load(d, wq, NULL), -EINVAL);
	assert_int_equal(vs_dwq_add(d, wq, 5, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(vs_dwq_load(d, wq, &v), 0);
	assert_int_equal(v, 5);

	/* destroyed: the handle names nothing, even once the slot is reused */
	assert_int_equal(vs_dobj_destroy(d, wq), 0);
	assert_int_equal(vs_dwq_load(d, wq, &v), -EIDRM);
	assert_int_equal(vs_dobj_destroy(d, wq), -EIDRM);
	assert_int_equal(vs_dwq_create(d, &h[0]), 0);
	assert_int_not_equal(h[0], wq);
	assert_int_equal(vs_dwq_load(d, wq, &v), -EIDRM);
	/* full: four objects in this domain */
	assert_int_equal(vs_dwq_create(d, &h[1]), 0);
	assert_int_equal(vs_dwq_create(d, &h[2]), 0);
	assert_int_equal(vs_dwq_create(d, &h[3]), -ENOSPC);
	assert_int_equal(vs_dobj_destroy(d, ch), 0);
	assert_int_equal(vs_dwq_create(d, &h[3]), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

/* Senders: NSEND tasks, each PER_SENDER messages in order. */
static int sender_body(vs_domain_t *d, int idx)
{
	for (uint32_t s = 0; s < PER_SENDER; s++) {
		struct msg m = { 0, (uint32_t)idx, s, 0 };

		int r = vs_dchan_send(d, B->ch, &m, sizeof(m));

		if (r != 0) {
			char why[32];

			snprintf(why, sizeof(why), "send: %d", r);
			broke(why);
			return 1;
		}
	}
	return 0;
}

/* Receivers: together take every message; each sender's in order. */
static int receiver_body(vs_domain_t *d, int idx)
{
	struct msg m;

	(void)idx;
	for (;;) {
		int r = vs_dchan_recv(d, B->ch, &m, sizeof(m));

		if (r == -EPIPE)
			return 0;
		if (r != 0 || m.sender >= NSEND) {
			broke("recv");
			return 1;
		}
		/* one receiver task per member here: a sender's seqs come in
		 * order (checked as counts: the k-th from it is seq k) */
		if (atomic_fetch_add(&B->got[m.sender], 1) != (long)m.seq)
			broke("order");
	}
}

static void run_chan(unsigned ncpus)
{
	vs_domain_t *d = setup_domain(ncpus, 8);
	pid_t snd, rcv;
	uint64_t t0;

	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 8, &B->ch), 0);
	snd = start_member(sender_body, NSEND, true);
	rcv = start_member(receiver_body, 1, true);
	wait_ready(2);
	t0 = now_ns();
	atomic_store(&B->go, 1);
	if (reap(snd) != 0)
		fail_msg("%s", B->why);
	/* all sent: close, and the receiver ends once it took everything */
	assert_int_equal(vs_dchan_close(d, B->ch), 0);
	assert_int_equal(reap(rcv), 0);
	print_message("    %u CPU(s): %d messages in %.1f ms\n", ncpus, NSEND * PER_SENDER,
		      (double)(now_ns() - t0) / 1e6);
	assert_int_equal(atomic_load(&B->errors), 0);
	for (int i = 0; i < NSEND; i++)
		assert_int_equal(atomic_load(&B->got[i]), PER_SENDER);
	assert_int_equal(vs_domain_close(d), 0);
}

static void test_chan_one_cpu(void **state)
{
	(void)state;
	run_chan(1);
}

static void test_chan_two_cpus(void **state)
{
	(void)state;
	run_chan(2);
}

#define ROUNDS 5000

/* Ping-pong: one member sends n on ch, the other answers n + 1 on back. */
static int ping_body(vs_domain_t *d, int idx)
{
	(void)idx;
	for (uint32_t n = 0; n < ROUNDS; n++) {
		struct msg m = { 0, 0, 2 * n, 0 };

		if (vs_dchan_send(d, B->ch, &m, sizeof(m)) != 0 ||
		    vs_dchan_recv(d, B->back, &m, sizeof(m)) != 0 || m.seq != 2 * n + 1) {
			broke("ping");
			return 1;
		}
	}
	return 0;
}

static int pong_body(vs_domain_t *d, int idx)
{
	(void)idx;
	for (uint32_t n = 0; n < ROUNDS; n++) {
		struct msg m;

		if (vs_dchan_recv(d, B->ch, &m, sizeof(m)) != 0 || m.seq != 2 * n) {
			broke("pong");
			return 1;
		}
		m.seq++;
		if (vs_dchan_send(d, B->back, &m, sizeof(m)) != 0) {
			broke("pong send");
			return 1;
		}
	}
	return 0;
}

/* The same with a wait queue: each waits for the value the other sets. */
static int wq_ping_body(vs_domain_t *d, int idx)
{
	for (uint32_t n = 0; n < ROUNDS; n++) {
		uint32_t v;

		/* member 0 moves even values on, member 1 odd ones */
		if (vs_dwq_load(d, B->wq, &v) != 0) {
			broke("wq load");
			return 1;
		}
		while (v % 2 != (uint32_t)idx) {
			if (vs_dwq_wait(d, B->wq, v) != 0 || vs_dwq_load(d, B->wq, &v) != 0) {
				broke("wq wait");
				return 1;
			}
		}
		if (vs_dwq_add(d, B->wq, 1, NULL) != 0) {
			broke("wq add");
			return 1;
		}
	}
	return 0;
}

static int wq_pong_body(vs_domain_t *d, int idx)
{
	(void)idx;
	return wq_ping_body(d, 1);
}

static void test_pingpong(void **state)
{
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++) {
		vs_domain_t *d = setup_domain(ncpus, 8);
		uint64_t t0;
		uint32_t v;
		pid_t a, b;

		(void)state;
		assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 1, &B->ch), 0);
		assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 1, &B->back), 0);
		assert_int_equal(vs_dwq_create(d, &B->wq), 0);
		a = start_member(ping_body, 1, true);
		b = start_member(pong_body, 1, true);
		wait_ready(2);
		t0 = now_ns();
		atomic_store(&B->go, 1);
		assert_int_equal(reap(a), 0);
		assert_int_equal(reap(b), 0);
		print_message("    %u CPU(s): channel round trip %.2f us\n", ncpus,
			      (double)(now_ns() - t0) / 1e3 / ROUNDS);
		atomic_store(&B->ready, 0);
		a = start_member(wq_ping_body, 1, true);
		b = start_member(wq_pong_body, 1, true);
		wait_ready(2);
		t0 = now_ns();
		assert_int_equal(reap(a), 0);
		assert_int_equal(reap(b), 0);
		print_message("    %u CPU(s): wait queue round trip %.2f us\n", ncpus,
			      (double)(now_ns() - t0) / 1e3 / ROUNDS);
		assert_int_equal(atomic_load(&B->errors), 0);
		assert_int_equal(vs_dwq_load(d, B->wq, &v), 0);
		assert_int_equal(v, 2 * ROUNDS);
		assert_int_equal(vs_domain_close(d), 0);
	}
}

/* Waits on the wait queue (value 0) and says how it ended. */
static int waiter_body(vs_domain_t *d, int idx)
{
	(void)idx;
	atomic_store(&B->result, 1);
	atomic_store(&B->result, vs_dwq_wait(d, B->wq, 0));
	return 0;
}

static int creator_body(vs_domain_t *d, int idx)
{
	(void)idx;
	if (vs_dwq_create(d, &B->wq) != 0)
		return 1;
	atomic_store(&B->go, 1);
	while (!atomic_load(&B->stop))
		(void)vs_sleep(1 * MS);
	return 0;
}

/* A task that adds to the wait queue after a while. */
static int late_adder(void *arg)
{
	vs_domain_t *d = arg;

	(void)vs_sleep(10 * MS);
	return vs_dwq_add(d, B->wq, 1, NULL);
}

#define TRY(call, want)                                                       \
	do {                                                                  \
		int r_ = (call);                                              \
		if (r_ != (want)) {                                           \
			char why_[96];                                        \
			snprintf(why_, sizeof(why_), "line %d: %d, not %d", __LINE__, r_, \
				 (want));                                     \
			broke(why_);                                          \
			return 1;                                             \
		}                                                             \
	} while (0)

/* A timed-out call returned at or after its deadline @dl, and not a
 * look-after period (200 ms) late: the deadline, not the next look,
 * woke it (the bound is loose; under emulation only the first half). */
static void on_time(uint64_t dl, const char *what)
{
	uint64_t now = vs_now();
	char why[96];

	if (now >= dl && (now - dl < 150 * MS || emulated()))
		return;
	snprintf(why, sizeof(why), "%s returned %.1f ms off its deadline", what,
		 ((double)now - (double)dl) / 1e6);
	broke(why);
}

/* The _until forms: each gives up at its deadline having changed nothing,
 * and succeeds at once (even past the deadline) if it need not wait. */
static int until_body(vs_domain_t *d, int idx)
{
	struct msg m = { 0 };
	uint64_t dl;
	uint32_t v;
	vs_task_t *t;
	int code;

	(void)idx;
	/* empty: a receive times out, at or after its deadline */
	dl = vs_deadline_in(20 * MS);
	TRY(vs_dchan_recv_until(d, B->ch, &m, sizeof(m), dl), -ETIMEDOUT);
	on_time(dl, "recv_until");
	/* full: a send times out and sends nothing */
	for (uint32_t k = 1; k <= 2; k++) {
		m.seq = k;
		TRY(vs_dchan_send_until(d, B->ch, &m, sizeof(m), vs_deadline_in(20 * MS)), 0);
	}
	m.seq = 3;
	dl = vs_deadline_in(20 * MS);
	TRY(vs_dchan_send_until(d, B->ch, &m, sizeof(m), dl), -ETIMEDOUT);
	on_time(dl, "send_until");
	/* a deadline passed already: the call is a try */
	TRY(vs_dchan_send_until(d, B->ch, &m, sizeof(m), 0), -ETIMEDOUT);
	for (uint32_t k = 1; k <= 2; k++) {
		TRY(vs_dchan_recv_until(d, B->ch, &m, sizeof(m), 0), 0);
		if (m.seq != k)
			broke("a timed-out send sent");
	}
	TRY(vs_dchan_try_recv(d, B->ch, &m, sizeof(m)), -EAGAIN);
	TRY(vs_dchan_send_until(d, B->ch, &m, sizeof(m), 0), 0);
	TRY(vs_dchan_recv_until(d, B->ch, &m, sizeof(m), VS_NEVER), 0);
	/* a wait queue: times out while the value stays, returns at once
	 * once it differs, and wakes at the change well before a far one */
	TRY(vs_dwq_load(d, B->wq, &v), 0);
	dl = vs_deadline_in(20 * MS);
	TRY(vs_dwq_wait_until(d, B->wq, v, dl), -ETIMEDOUT);
	on_time(dl, "dwq_wait_until");
	TRY(vs_dwq_wait_until(d, B->wq, v + 1, 0), 0);
	TRY(vs_task_spawn(late_adder, d, NULL, &t), 0);
	dl = vs_deadline_in(60000 * MS);
	TRY(vs_dwq_wait_until(d, B->wq, v, dl), 0);
	TRY(vs_task_join(t, &code), 0);
	TRY(code, 0);
	/* bad input, unchanged by the deadline */
	TRY(vs_dchan_send_until(d, B->ch, NULL, sizeof(m), VS_NEVER), -EINVAL);
	TRY(vs_dchan_recv_until(d, B->ch, &m, sizeof(m) - 1, VS_NEVER), -EINVAL);
	TRY(vs_dchan_recv_until(d, B->wq, &m, sizeof(m), VS_NEVER), -EINVAL);
	TRY(vs_dwq_wait_until(d, B->ch, 0, VS_NEVER), -EINVAL);
	return 0;
}

static void test_until(void **state)
{
	vs_domain_t *d = setup_domain(2, 4);
	struct msg m = { 0 };
	uint32_t v;

	(void)state;
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 2, &B->ch), 0);
	assert_int_equal(vs_dwq_create(d, &B->wq), 0);
	assert_int_equal(reap(start_member(until_body, 1, false)), 0);
	if (atomic_load(&B->errors))
		print_message("    %s\n", B->why);
	assert_int_equal(atomic_load(&B->errors), 0);
	/* the channel is as the member left it: empty; the value moved once */
	assert_int_equal(vs_dchan_try_recv(d, B->ch, &m, sizeof(m)), -EAGAIN);
	assert_int_equal(vs_dwq_load(d, B->wq, &v), 0);
	assert_int_equal(v, 1);
	/* outside a task of a runtime on the domain, the blocking forms are
	 * refused, deadline or not */
	assert_int_equal(vs_dchan_recv_until(d, B->ch, &m, sizeof(m), 0), -EPERM);
	assert_int_equal(vs_dwq_wait_until(d, B->wq, 1, vs_deadline_in(MS)), -EPERM);
	assert_int_equal(vs_domain_close(d), 0);
}

/* The stackless pong: receive, then send back, ROUNDS times, with the
 * poll forms; a state machine. */
struct spong {
	vs_domain_t *d;
	uint32_t n;
	int phase;
	struct msg m;
};

static enum vs_poll spong_poll(void *state, int *code)
{
	struct spong *s = state;

	while (s->n < ROUNDS) {
		int r = s->phase == 0 ? vs_dchan_recv_poll(s->d, B->ch, &s->m, sizeof(s->m)) :
					vs_dchan_send_poll(s->d, B->back, &s->m, sizeof(s->m));

		if (r == -EAGAIN)
			return VS_PENDING;
		if (r != 0 || (s->phase == 0 && s->m.seq != 2 * s->n)) {
			broke("stackless pong");
			*code = 1;
			return VS_READY;
		}
		if (s->phase == 0) {
			s->m.seq++;
			s->phase = 1;
		} else {
			s->n++;
			s->phase = 0;
		}
	}
	*code = 0;
	return VS_READY;
}

/* A stackless waiter: times out on the unchanged value, then waits for
 * the ping's last add. */
struct swait {
	vs_domain_t *d;
	uint64_t dl;
	int phase;
};

static enum vs_poll swait_poll(void *state, int *code)
{
	struct swait *s = state;
	struct msg m = { 0 };
	int r;

	*code = 1;
	if (s->phase == 0) {
		/* the blocking forms are refused here; bad input is refused */
		if (vs_dchan_recv(s->d, B->ch, &m, sizeof(m)) != -EPERM ||
		    vs_dwq_wait(s->d, B->wq, 0) != -EPERM ||
		    vs_dchan_send_poll(s->d, B->ch, NULL, sizeof(m)) != -EINVAL ||
		    vs_dchan_recv_poll(s->d, B->ch, &m, sizeof(m) + 1) != -EINVAL ||
		    vs_dwq_wait_poll(s->d, B->ch, 0) != -EINVAL) {
			broke("stackless refusals");
			return VS_READY;
		}
		s->dl = vs_deadline_in(20 * MS);
		s->phase = 1;
	}
	if (s->phase == 1) {
		r = vs_dwq_wait_until_poll(s->d, B->wq, 0, s->dl);
		if (r == -EAGAIN)
			return VS_PENDING;
		if (r != -ETIMEDOUT) {
			broke("stackless wait_until");
			return VS_READY;
		}
		on_time(s->dl, "dwq_wait_until_poll");
		atomic_store(&B->stop, 1); /* the ping may add now */
		s->phase = 2;
	}
	r = vs_dwq_wait_poll(s->d, B->wq, 0);
	if (r == -EAGAIN)
		return VS_PENDING;
	if (r != 0)
		broke("stackless wait");
	*code = r;
	return VS_READY;
}

static int spong_body(vs_domain_t *d, int idx)
{
	struct spong p = { .d = d };
	struct swait w = { .d = d };
	struct msg m = { 0 };
	vs_task_t *t[2];
	int code[2] = { -1, -1 };

	(void)idx;
	if (vs_dchan_recv_poll(d, B->ch, &m, sizeof(m)) != -EPERM ||
	    vs_dwq_wait_until_poll(d, B->wq, 0, 0) != -EPERM) {
		broke("poll forms from a stackful task");
		return 1;
	}
	if (vs_task_spawn_poll(spong_poll, &p, NULL, &t[0]) != 0 ||
	    vs_task_spawn_poll(swait_poll, &w, NULL, &t[1]) != 0)
		return 1;
	for (int i = 0; i < 2; i++)
		if (vs_task_join(t[i], &code[i]) != 0 || code[i] != 0)
			return 1;
	return 0;
}

/* The ping for it: once done, and once the waiter timed out, moves the
 * wait queue on for the waiter. */
static int sping_body(vs_domain_t *d, int idx)
{
	int r = ping_body(d, idx);

	while (!r && !atomic_load(&B->stop))
		r = vs_sleep(MS);
	return r ? r : vs_dwq_add(d, B->wq, 1, NULL);
}

/* Stackless tasks of one member with a stackful one of another, through
 * the poll forms, on one and two CPUs. */
static void test_poll_forms(void **state)
{
	(void)state;
	for (unsigned ncpus = 1; ncpus <= 2; ncpus++) {
		vs_domain_t *d = setup_domain(ncpus, 8);
		pid_t a, b;
		int ra, rb;

		assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 1, &B->ch), 0);
		assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 1, &B->back), 0);
		assert_int_equal(vs_dwq_create(d, &B->wq), 0);
		a = start_member(sping_body, 1, true);
		b = start_member(spong_body, 1, true);
		wait_ready(2);
		atomic_store(&B->go, 1);
		ra = reap(a);
		rb = reap(b);
		if (atomic_load(&B->errors))
			print_message("    %s\n", B->why);
		assert_int_equal(atomic_load(&B->errors), 0);
		assert_int_equal(ra, 0);
		assert_int_equal(rb, 0);
		assert_int_equal(vs_domain_close(d), 0);
	}
}

/* A waiter on an object whose creator is killed wakes with -EOWNERDEAD;
 * one on an object destroyed wakes with -EIDRM. */
static void test_owner_dies(void **state)
{
	vs_domain_t *d = setup_domain(2, 8);
	pid_t c, w;
	uint64_t t0;

	(void)state;
	c = start_member(creator_body, 1, false);
	for (int i = 0; i < 20000 && !atomic_load(&B->go); i++)
		usleep(500);
	assert_int_equal(atomic_load(&B->go), 1);
	w = start_member(waiter_body, 1, false);
	for (int i = 0; i < 20000 && atomic_load(&B->result) != 1; i++)
		usleep(500);
	usleep(20000); /* asleep in the wait by now */
	t0 = now_ns();
	kill(c, SIGKILL);
	assert_int_equal(reap(c), 128 + SIGKILL);
	assert_int_equal(reap(w), 0);
	print_message("    woken %.1f ms after the kill\n", (double)(now_ns() - t0) / 1e6);
	assert_int_equal(atomic_load(&B->result), -EOWNERDEAD);

	/* destroyed under a waiter: -EIDRM, at once */
	assert_int_equal(vs_dwq_create(d, &B->wq), 0);
	atomic_store(&B->result, 0);
	w = start_member(waiter_body, 1, false);
	for (int i = 0; i < 20000 && atomic_load(&B->result) != 1; i++)
		usleep(500);
	usleep(20000);
	assert_int_equal(vs_dobj_destroy(d, B->wq), 0);
	assert_int_equal(reap(w), 0);
	assert_int_equal(atomic_load(&B->result), -EIDRM);
	assert_int_equal(vs_domain_close(d), 0);
}

/*
 * Kills. A long-lived receiver member takes messages tagged with a round;
 * each round a new member sends 0, 1, 2, ... and dies at a labelled step
 * (or, in random rounds, by SIGKILL at a random moment); the parent then
 * sends the round's end with the number of sends that returned 0. The
 * receiver checks that it got 0 .. k - 1 in order, with k that number or
 * one more (the send it died in), then the next round starts. In the
 * receive rounds the roles turn: the parent sends, a receiver member is
 * killed at a receive step and a fresh one takes the rest; together they
 * must have taken every message but at most the one being taken, none
 * twice.
 */
#define KILL_BATCH 40

static int kill_sender_body(vs_domain_t *d, int idx)
{
	(void)idx;
	for (uint32_t s = 0;; s++) {
		struct msg m = { (uint32_t)atomic_load(&B->rounds), 0, s, 0 };

		if (vs_dchan_send(d, B->ch, &m, sizeof(m)) != 0)
			return 1;
		atomic_fetch_add(&B->sent, 1);
		if (s + 1 == 50 * KILL_BATCH)
			return 0; /* not killed (its step never came) */
	}
}

static int kill_receiver_body(vs_domain_t *d, int idx)
{
	uint32_t round = 0, next = 0;
	struct msg m;

	(void)idx;
	for (;;) {
		int r = vs_dchan_recv(d, B->ch, &m, sizeof(m));

		if (r == -EPIPE)
			return 0;
		if (r != 0) {
			broke("kill recv");
			return 1;
		}
		if (m.round != round) {
			broke("round");
			return 1;
		}
		if (m.sender == 1) {
			/* the round's end: m.total sends returned */
			if (next != m.total && next != m.total + 1)
				broke("lost or extra");
			round++;
			next = 0;
			atomic_store(&B->rounds, round);
			continue;
		}
		if (m.seq != next++)
			broke("kill order");
	}
}

static int steal_receiver_body(vs_domain_t *d, int idx)
{
	struct msg m;

	(void)idx;
	for (;;) {
		int r = vs_dchan_recv(d, B->ch, &m, sizeof(m));

		if (r != 0)
			return 1;
		if (m.sender == 1)
			return 0; /* the end of this round */
		atomic_store(&B->last_taken, m.seq);
		atomic_fetch_add(&B->taken, 1);
		atomic_fetch_add(&B->got[0], 1);
	}
}

static unsigned long rnd(void)
{
	static unsigned long x = 88172645463325252ul;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static pid_t fork_dying(body_fn fn, int step, unsigned long after)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		child_signals();
		vsd_die_step = step;
		vsd_die_after = after;
		check_late = false;
		_exit(member_main(fn, 1, false));
	}
	return pid;
}

/* Cells of channel @ch that member @m holds midway (writing, reading),
 * once whoever reclaims @m is done. */
static int cells_of(vs_domain_t *d, uint32_t ch, int m)
{
	char *map = mmap(NULL, d->g.state_size, PROT_READ, MAP_SHARED, S, 0);
	struct vsd_member *mm;
	struct vsd_obj *o;
	struct vsd_cell *c;
	int n = 0;

	assert_true(map != MAP_FAILED);
	/* another member may be reclaiming it (the receiver, which found it
	 * in its way): members() passes over a slot being reclaimed */
	mm = (struct vsd_member *)(map + d->g.members_off) + m;
	for (int i = 0; i < 10000 && (atomic_load(&mm->owner) & VSD_REAPING); i++)
		usleep(100);
	o = (struct vsd_obj *)(map + d->g.objs_off + (size_t)(ch & 0xfff) * VSD_OBJ_SIZE);
	c = (struct vsd_cell *)(o + 1);
	for (uint32_t k = 0; k < o->cap && k < VSD_CHAN_CAP_MAX; k++) {
		uint64_t w = atomic_load(&c[k].w);

		/* the cell word: pos << 16 | member + 1 << 8 | state */
		if (((w >> 8) & 0xff) == (uint64_t)m + 1 && ((w & 0xff) == 1 || (w & 0xff) == 3))
			n++;
	}
	munmap(map, d->g.state_size);
	return n;
}

static long kill_count(void)
{
	const char *e = getenv("VSCHED_KILLS");

	if (e)
		return atol(e);
	return emulated() ? 60 : 1000;
}

static void test_kills(void **state)
{
	static const int send_steps[] = { VSD_STEP_SEND_CLAIMED, VSD_STEP_SEND_WRITTEN,
					  VSD_STEP_NOTIFY, VSD_STEP_WAIT, VSD_STEP_CREATE, 0 };
	static const int recv_steps[] = { VSD_STEP_RECV_CLAIMED, VSD_STEP_RECV_READ };
	vs_domain_t *d = setup_domain(2, 8);
	long kills = kill_count(), died = 0, rounds = 0, recv_rounds = 0;
	pid_t rcv;
	uint64_t t0 = now_ns();

	(void)state;
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 4, &B->ch), 0);
	/* a member killed between a change and its ring leaves a waiter to
	 * find the change by itself: not a lost wake-up here */
	check_late = false;
	rcv = start_member(kill_receiver_body, 1, false);
	for (long k = 0; k < kills; k++) {
		int step = send_steps[k % 6], st;
		pid_t s;
		struct msg end = { 0 };

		atomic_store(&B->sent, 0);
		if (step == VSD_STEP_CREATE) {
			/* dies making an object: the slot is not lost */
			s = fork_dying(creator_body, step, 0);
		} else if (step == 0) {
			/* at a random moment of a send loop */
			s = fork_dying(kill_sender_body, 0, 0);
			usleep((useconds_t)(rnd() % 3000));
			kill(s, SIGKILL);
		} else {
			s = fork_dying(kill_sender_body, step, rnd() % (KILL_BATCH / 2));
		}
		st = reap(s);
		if (st == 128 + SIGKILL)
			died++;
		else if (st != 0)
			broke("sender exit");
		/* even rounds: the parent reclaims the dead at once; odd ones
		 * are left for the receiver to notice */
		if (k % 2 == 0) {
			(void)vs_domain_members(d, NULL, 0);
			/* reclaimed: no cell is left half-done in its name */
			if (cells_of(d, B->ch, atomic_load(&B->member_id)))
				broke("cell left to a dead member");
		}
		end = (struct msg){ (uint32_t)atomic_load(&B->rounds), 1, 0,
				    (uint32_t)atomic_load(&B->sent) };
		assert_int_equal(parent_send(d, B->ch, &end), 0);
		for (int i = 0; i < 20000 && atomic_load(&B->rounds) == (long)rounds; i++)
			usleep(100);
		rounds++;
		assert_int_equal(atomic_load(&B->rounds), rounds);
		if (atomic_load(&B->errors))
			break;
	}
	assert_int_equal(vs_dchan_close(d, B->ch), 0);
	assert_int_equal(reap(rcv), 0);
	if (atomic_load(&B->errors))
		print_message("    %s\n", B->why);
	assert_int_equal(atomic_load(&B->errors), 0);

	/* receivers killed midway through a receive */
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 4, &B->back), 0);
	for (long k = 0; k < kills / 4; k++) {
		uint32_t ch = B->back;
		long sent = 0;
		pid_t r1, r2;
		struct msg m = { 0 }, end = { 0, 1, 0, 0 };

		atomic_store(&B->got[0], 0);
		B->ch = ch;
		r1 = fork_dying(steal_receiver_body, recv_steps[k % 2], rnd() % 8);
		/* send until the receiver died (the channel then fills) */
		for (int i = 0, st; i < 100000; i++) {
			int r;

			m.seq = (uint32_t)sent;
			r = vs_dchan_try_send(d, ch, &m, sizeof(m));
			if (r == 0) {
				sent++;
				continue;
			}
			assert_int_equal(r, -EAGAIN);
			if (waitpid(r1, &st, WNOHANG) == r1) {
				assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
				r1 = 0;
				break;
			}
			usleep(20);
		}
		assert_int_equal(r1, 0);
		died++;
		if (k % 2 == 0) {
			(void)vs_domain_members(d, NULL, 0);
			if (cells_of(d, ch, atomic_load(&B->member_id)))
				broke("cell left to a dead receiver");
		}
		r2 = start_member(steal_receiver_body, 1, false);
		assert_int_equal(parent_send(d, ch, &end), 0);
		assert_int_equal(reap(r2), 0);
		/* every message but the one the first died taking */
		if (atomic_load(&B->got[0]) != sent && atomic_load(&B->got[0]) != sent - 1)
			broke("receive kill lost more than one");
		recv_rounds++;
		if (atomic_load(&B->errors))
			break;
	}
	print_message("    %ld send rounds, %ld receive rounds, %ld members killed, %.1f s\n",
		      rounds, recv_rounds, died, (double)(now_ns() - t0) / 1e9);
	if (atomic_load(&B->errors))
		print_message("    %s\n", B->why);
	assert_int_equal(atomic_load(&B->errors), 0);
	assert_true(died > 0);
	check_late = true;
	assert_int_equal(vs_domain_close(d), 0);
}

/* Busy until told to stop, yielding now and then; counts its rounds. */
static int spin_body(vs_domain_t *d, int idx)
{
	(void)d;
	while (!atomic_load(&B->stop)) {
		uint64_t end = now_ns() + 20000;

		while (now_ns() < end)
			;
		atomic_fetch_add(&B->got[idx], 1);
		if (vs_task_yield() != 0)
			return 1;
	}
	return 0;
}

static int spin0_body(vs_domain_t *d, int idx)
{
	(void)idx;
	return spin_body(d, 0);
}

/*
 * A member killed as it hands the domain's one CPU to another (the holder
 * word written, its new holder not yet woken): the other goes on, and
 * later members get the CPU too.
 */
static void test_kill_handoff(void **state)
{
	vs_domain_t *d = setup_domain(1, 4);
	int rounds = emulated() ? 3 : 10;

	(void)state;
	check_late = false;
	for (int k = 0; k < rounds; k++) {
		pid_t victim, other;
		long before;

		atomic_store(&B->stop, 0);
		atomic_store(&B->got[0], 0);
		other = start_member(spin0_body, 1, false);
		victim = fork_dying(spin_body, VSD_STEP_HANDOFF, rnd() % 5);
		assert_int_equal(reap(victim), 128 + SIGKILL);
		/* the survivor keeps running on the CPU the victim handed it */
		before = atomic_load(&B->got[0]);
		for (int i = 0; i < 4000 && atomic_load(&B->got[0]) < before + 50; i++)
			usleep(500);
		assert_true(atomic_load(&B->got[0]) >= before + 50);
		atomic_store(&B->stop, 1);
		assert_int_equal(reap(other), 0);
	}
	check_late = true;
	assert_int_equal(vs_domain_close(d), 0);
}

/* Sends seq 0 (B->sent counts it once its send returned). */
static int one_sender_body(vs_domain_t *d, int idx)
{
	struct msg m = { 0, 0, 0, 0 };

	(void)idx;
	if (vs_dchan_send(d, B->ch, &m, sizeof(m)) != 0)
		return 1;
	atomic_fetch_add(&B->sent, 1);
	return 0;
}

/* Takes three messages, in B->got[] by seq. */
static int three_body(vs_domain_t *d, int idx)
{
	struct msg m;

	(void)idx;
	for (int i = 0; i < 3; i++) {
		if (vs_dchan_recv(d, B->ch, &m, sizeof(m)) != 0 || m.seq >= NSEND)
			return 1;
		atomic_fetch_add(&B->got[m.seq], 1);
		atomic_fetch_add(&B->taken, 1);
	}
	return 0;
}

/*
 * A sender stopped (SIGSTOP) with a message written but not published
 * holds the receiver back only for the lease: then its cell is skipped
 * and what was sent after it arrives. Continued, the sender finds its
 * cell taken from it and sends again: nothing lost, nothing twice.
 */
static void test_stopped_sender(void **state)
{
	vs_domain_t *d = setup_domain(2, 8);
	struct msg m = { 0, 0, 1, 0 };
	pid_t s, r;
	int st;

	(void)state;
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 4, &B->ch), 0);
	s = fork();
	assert_true(s >= 0);
	if (s == 0) {
		vsd_die_step = VSD_STEP_SEND_WRITTEN;
		vsd_die_signal = SIGSTOP;
		_exit(member_main(one_sender_body, 1, false));
	}
	assert_int_equal(waitpid(s, &st, WUNTRACED), s);
	assert_true(WIFSTOPPED(st));
	r = start_member(three_body, 1, false);
	assert_int_equal(parent_send(d, B->ch, &m), 0);
	/* past the lease, the stopped sender's cell is skipped */
	for (int i = 0; i < 20000 && atomic_load(&B->taken) < 1; i++)
		usleep(500);
	assert_int_equal(atomic_load(&B->taken), 1);
	assert_int_equal(atomic_load(&B->got[1]), 1);
	kill(s, SIGCONT);
	assert_int_equal(reap(s), 0);
	assert_int_equal(atomic_load(&B->sent), 1);
	m.seq = 2;
	assert_int_equal(parent_send(d, B->ch, &m), 0);
	assert_int_equal(reap(r), 0);
	/* the stopped one's message came once, after it went on */
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&B->got[i]), 1);
	assert_int_equal(vs_domain_close(d), 0);
}

/*
 * The fuzzer: an attacker member rewrites the domain's shared words at
 * random (page 0, objects, cells, bells, wake words, domain CPUs, member
 * counters, and the victims' owner and incarnation words; only the
 * objects' creator keeps its owner word, since evicting it ends the
 * objects for good, as its death does) while two members pass messages,
 * wait and wake across, and spawn and join tasks of their own. Every call must return 0 or a documented
 * error, no member may crash, and each must stop within a bound once
 * told to (its blocked calls then return -ECANCELED).
 */
static bool allowed(int r)
{
	return r == 0 || r == -EIO || r == -EIDRM || r == -EINVAL || r == -EPIPE ||
	       r == -EOWNERDEAD || r == -ECANCELED || r == -EAGAIN;
}

static void note_bad(const char *what, int r)
{
	char why[64];

	snprintf(why, sizeof(why), "%s: %d", what, r);
	broke(why);
}

static int fuzz_chan(vs_domain_t *d, int idx)
{
	struct msg m = { 0 };

	while (!vs_runtime_cancelled()) {
		int r = idx == 0 ? vs_dchan_send(d, B->ch, &m, sizeof(m)) :
				   vs_dchan_recv(d, B->ch, &m, sizeof(m));

		if (!allowed(r))
			note_bad("chan", r);
		if (r != 0 && vs_sleep(100000) == -ECANCELED)
			break;
		atomic_fetch_add(&B->taken, 1);
	}
	return 0;
}

static int fuzz_wq(vs_domain_t *d, int idx)
{
	while (!vs_runtime_cancelled()) {
		uint32_t v = 0;
		int r = vs_dwq_load(d, B->wq, &v);

		if (r == 0 && idx == 0) {
			r = vs_dwq_add(d, B->wq, 1, NULL);
			(void)vs_task_yield(); /* the adder never blocks: let others run */
		} else if (r == 0) {
			r = vs_dwq_wait(d, B->wq, v);
		}
		if (!allowed(r))
			note_bad("wq", r);
		if (r != 0 && vs_sleep(100000) == -ECANCELED)
			break;
	}
	return 0;
}

static int child_task(void *arg)
{
	return (int)(intptr_t)arg;
}

/* The member's own scheduling goes on: spawn, yield, join, exit codes. */
static int fuzz_local(vs_domain_t *d, int idx)
{
	(void)d;
	(void)idx;
	for (long k = 0; !vs_runtime_cancelled(); k++) {
		vs_task_t *t;
		int code = -1;

		if (vs_task_spawn(child_task, (void *)(intptr_t)(k & 0xff), NULL, &t) != 0)
			continue;
		(void)vs_task_yield();
		if (vs_task_join(t, &code) == 0 && code != (k & 0xff) && code != -ECANCELED)
			note_bad("exit code", code);
	}
	return 0;
}

static int fuzz_member(int idx)
{
	static body_fn const fns[] = { fuzz_chan, fuzz_wq, fuzz_local };
	struct vs_config cfg = { 0 };
	struct body_arg a[3];
	vs_domain_t *d = NULL;
	vs_task_t *t[3];

	if (vs_domain_open(G, S, &d) != 0)
		return 70;
	atomic_store(&B->vslot[idx], d->id);
	cfg.domain = d;
	if (vs_runtime_start(&cfg) != 0)
		return 72;
	for (int i = 0; i < 3; i++) {
		a[i] = (struct body_arg){ d, fns[i], idx };
		if (vs_task_spawn(body_task, &a[i], NULL, &t[i]) != 0)
			return 73;
	}
	atomic_fetch_add(&B->ready, 1);
	while (!atomic_load(&B->stop))
		(void)vs_sleep(2 * MS);
	if (vs_runtime_shutdown(VS_STOP_CANCEL) != 0)
		return 75;
	return vs_domain_close(d) == 0 ? 0 : 76;
}

struct undo {
	char *p;
	uint64_t old;
	bool wide;
};
static struct undo undo[4];
static unsigned undo_n;

/* Rewrites one shared word of the domain at random. */
static void attack(vs_domain_t *d, char *map, unsigned long *hits)
{
	static const uint64_t vals[] = { 0, 1, 2, 3, ~0ull, 0x7fffffff, 0x80000000u, 64, 65, 4096 };
	const struct vsd_geom *g = &d->g;
	uint64_t r = rnd(), off, v;
	unsigned zone = (unsigned)(r % 7);

	r >>= 3;
	switch (zone) {
	case 0: /* the heads and first cells of the objects in use */
		off = g->objs_off + (B->ch & 0xfff) * (uint64_t)VSD_OBJ_SIZE * (r % 2) +
		      (B->wq & 0xfff) * (uint64_t)VSD_OBJ_SIZE * ((r >> 1) % 2 == 0 && r % 2 == 0) +
		      8 + ((r >> 2) % 23) * 8; /* past the word: the object lives on */
		break;
	case 1: /* any object, any cell; an object's word now and then */
		off = g->objs_off + (r % g->max_objects) * (uint64_t)VSD_OBJ_SIZE +
		      ((r >> 16) % 64 ? 8 + ((r >> 24) % (VSD_OBJ_SIZE / 8 - 1)) * 8 : 0);
		break;
	case 2: /* bells and wake words */
		off = g->wake_off + (r % ((g->objs_off - g->wake_off) / 4)) * 4;
		break;
	case 3: /* domain CPUs */
		off = g->cpus_off + (r % (g->ncpus * sizeof(struct vsd_cpu) / 8)) * 8;
		break;
	case 4: { /* a member's counters */
		unsigned m = (unsigned)(r % g->max_members);

		off = g->members_off + m * sizeof(struct vsd_member) + 8 + ((r >> 8) % 7) * 8;
		break;
	}
	case 5: /* page 0: magic, version, nonce, the floor of vruntimes */
		off = (r % 4) * 8;
		break;
	default: /* a victim's owner and incarnation word: evicted alive */
		off = g->members_off + atomic_load(&B->vslot[r % 2]) * sizeof(struct vsd_member);
		break;
	}
	v = rnd() % 3 == 0 ? vals[rnd() % 10] : rnd();
	/* each rewrite is undone four rewrites later, so the objects live on
	 * to be hit again (a field broken for good would end the game) */
	if (undo[undo_n % 4].p) {
		struct undo *u = &undo[undo_n % 4];

		if (u->wide)
			atomic_store((_Atomic uint64_t *)u->p, u->old);
		else
			atomic_store((_Atomic uint32_t *)u->p, (uint32_t)u->old);
	}
	undo[undo_n % 4] = (struct undo){ map + off, 0, off % 8 == 0 && zone != 2 };
	if (undo[undo_n % 4].wide) {
		undo[undo_n % 4].old = atomic_exchange((_Atomic uint64_t *)(map + off), v);
	} else {
		undo[undo_n % 4].old = atomic_exchange((_Atomic uint32_t *)(map + off), (uint32_t)v);
	}
	undo_n++;
	(*hits)++;
}

/*
 * Every word of a channel's and a wait queue's head and of a cell, set in
 * turn to each of a few hostile values: every call returns 0 or a
 * documented error and nothing crashes (in a child: a crash is its exit).
 */
static void test_hostile_fields(void **state)
{
	static const uint32_t vals[] = { 0, 1, 63, 64, 0x7fffffff, 0x80000000u, 0xffffffffu,
					 0x1000, 0xfff };
	vs_domain_t *d = setup_domain(1, 4);
	pid_t pid;

	(void)state;
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 4, &B->ch), 0);
	assert_int_equal(vs_dwq_create(d, &B->wq), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *map = mmap(NULL, d->g.state_size, PROT_READ | PROT_WRITE, MAP_SHARED, S, 0);
		long calls = 0;

		child_signals();
		if (map == MAP_FAILED || vs_domain_open(G, S, &d) != 0)
			_exit(70);
		for (int which = 0; which < 2; which++) {
			uint32_t h = which ? B->wq : B->ch;
			_Atomic uint32_t *base = (_Atomic uint32_t *)(map + d->g.objs_off +
								     (size_t)(h & 0xfff) * VSD_OBJ_SIZE);

			/* the head and the first two cells */
			for (int w = 0; w < (int)(sizeof(struct vsd_obj) / 4 + 32); w++) {
				uint32_t old = atomic_load(&base[w]);

				for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
					struct msg m = { 0 };
					uint32_t v;
					int r[5];

					atomic_store(&base[w], vals[k]);
					r[0] = vs_dchan_try_send(d, B->ch, &m, sizeof(m));
					r[1] = vs_dchan_try_recv(d, B->ch, &m, sizeof(m));
					r[2] = vs_dwq_add(d, B->wq, 1, &v);
					r[3] = vs_dwq_load(d, B->wq, &v);
					r[4] = vs_dchan_close(d, B->ch);
					for (int i = 0; i < 5; i++, calls++)
						if (!allowed(r[i]))
							_exit(80 + i);
					atomic_store(&base[w], old);
					/* reopen what close shut */
					atomic_store(&((_Atomic uint32_t *)(map + d->g.objs_off +
						(size_t)(B->ch & 0xfff) * VSD_OBJ_SIZE))
						[offsetof(struct vsd_obj, value) / 4], 0);
				}
			}
		}
		_exit(calls > 0 ? 0 : 71);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

static long fuzz_ms(void)
{
	const char *e = getenv("VSCHED_FUZZ_MS");

	if (e)
		return atol(e);
	return emulated() ? 1000 : 3000;
}

static void test_fuzz(void **state)
{
	vs_domain_t *d = setup_domain(2, 8);
	long ms = fuzz_ms();
	unsigned long hits = 0;
	pid_t v[2], att;
	int st;

	(void)state;
	assert_int_equal(vs_dchan_create(d, sizeof(struct msg), 4, &B->ch), 0);
	assert_int_equal(vs_dwq_create(d, &B->wq), 0);
	for (int i = 0; i < 2; i++) {
		v[i] = fork();
		assert_true(v[i] >= 0);
		if (v[i] == 0) {
			child_signals();
			_exit(fuzz_member(i));
		}
	}
	wait_ready(2);
	att = fork();
	assert_true(att >= 0);
	if (att == 0) {
		vs_domain_t *me = NULL;
		char *map;
		uint64_t end = now_ns() + (uint64_t)ms * MS;

		if (vs_domain_open(G, S, &me) != 0)
			_exit(70);
		map = mmap(NULL, me->g.state_size, PROT_READ | PROT_WRITE, MAP_SHARED, S, 0);
		if (map == MAP_FAILED)
			_exit(71);
		while (now_ns() < end) {
			attack(me, map, &hits);
			if (rnd() % 4 == 0)
				usleep((useconds_t)(rnd() % 200));
		}
		B->sent = (long)hits;
		_exit(0);
	}
	assert_int_equal(reap(att), 0);
	atomic_store(&B->stop, 1);
	/* each victim stops within a bound, unharmed */
	for (int i = 0; i < 2; i++) {
		int k;

		for (k = 0; k < 2000 && waitpid(v[i], &st, WNOHANG) == 0; k++)
			usleep(5000);
		if (k == 2000) {
			kill(v[i], SIGKILL);
			(void)waitpid(v[i], &st, 0);
			fail_msg("member %d hung after the fuzzing", i);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("member %d ended with %d", i,
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	print_message("    %ld ms, %ld words rewritten, %ld channel calls returned\n", ms,
		      atomic_load(&B->sent), atomic_load(&B->taken));
	if (atomic_load(&B->errors))
		print_message("    %s\n", B->why);
	assert_int_equal(atomic_load(&B->errors), 0);
	assert_int_equal(vs_domain_close(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_chan_one_cpu),
		cmocka_unit_test(test_chan_two_cpus),
		cmocka_unit_test(test_pingpong),
		cmocka_unit_test(test_until),
		cmocka_unit_test(test_poll_forms),
		cmocka_unit_test(test_owner_dies),
		cmocka_unit_test(test_kills),
		cmocka_unit_test(test_stopped_sender),
		cmocka_unit_test(test_kill_handoff),
		cmocka_unit_test(test_hostile_fields),
		cmocka_unit_test(test_fuzz),
	};

	B = mmap(NULL, sizeof(*B), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (B == MAP_FAILED)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

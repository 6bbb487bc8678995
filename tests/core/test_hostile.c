/* SPDX-License-Identifier: MIT */
/*
 * A process whose vvar area's shared part another process writes at random
 * (what a buggy or hostile member of a domain can do): the victim runs the
 * core through its API, with real stackful switches, while an attacker
 * rewrites slots, ring cells, positions and counters under it. The victim
 * must never crash, never hang in a call, never get a result outside the
 * documented ones, and never run a context that is not where it left it:
 * each task checks, at every resume, that the core says it is the one
 * running and that its stack is its own. The attacker maps only the file:
 * the header and the private part are not in its reach at all.
 *
 * Each round forks a victim and an attacker; the parent judges the
 * victim's end. The attacker can drop the victim's tasks from every queue
 * (its boot task among them): a loss it can cause, not a crash. So the
 * idle context makes calls too, and the victim ends, from whichever
 * context, once it has made its number of calls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "queue.h"
#include "vsched_apis.h"

#define NTASKS 48
#define QCAP 8
#define NHANDLES 24
#define STACK (32 * 1024)
#define CANARY 0x5eed5eed00000000ull

enum {
	EXIT_OK = 0,
	EXIT_RESULT = 10,   /* a call returned something undocumented */
	EXIT_IDENTITY = 11, /* a task resumed as another, or on a bad stack */
	EXIT_RESURRECT = 12, /* an exited task ran again */
	EXIT_SETUP = 13,
	EXIT_DOUBLE = 14, /* a slot in use handed out again */
};

struct victim {
	const struct vsched_api *a;
	vsched_ref_t boot, idle;
	vsched_ref_t ref[NHANDLES]; /* 0: handle free */
	bool exited[NHANDLES];
	void *stacks[NHANDLES + 1];
	uint32_t rng;
	long ops, eio, idle_turns, idle_max;
};

static struct victim V;

static uint32_t rnd(void)
{
	V.rng ^= V.rng << 13;
	V.rng ^= V.rng >> 17;
	V.rng ^= V.rng << 5;
	return V.rng;
}

static void die(int code, int line, long r)
{
	fprintf(stderr, "victim: line %d: %ld (code %d)\n", line, r, code);
	_exit(code);
}

/* Every call returns 0, a documented non-negative value, or one of these. */
static bool allowed(int r)
{
	return r >= 0 || r == -EINVAL || r == -ESRCH || r == -EBUSY || r == -EAGAIN ||
	       r == -EIO || r == -ENOMEM;
}

#define CALL(x)                                                                \
	({                                                                     \
		int r_ = (x);                                                  \
		V.ops++;                                                       \
		if (r_ == -EIO)                                                \
			V.eio++;                                               \
		if (!allowed(r_))                                              \
			die(EXIT_RESULT, __LINE__, r_);                        \
		r_;                                                            \
	})

/* Frees what the CPU just left, if it left for good, and its handle. */
static void reclaim(void)
{
	vsched_ref_t p = 0;
	int st = CALL(V.a->vsched_take_prev_task(0, &p));

	if (st != VSCHED_TASK_EXITED || !p)
		return;
	for (int h = 0; h < NHANDLES; h++)
		if (V.ref[h] == p && CALL(V.a->vsched_task_free(0, p)) == 0)
			V.ref[h] = 0;
}

/* The core says @self runs, and @canary (on the task's stack) is intact. */
static void check_self(vsched_ref_t self, const volatile uint64_t *canary, uint64_t want)
{
	vsched_ref_t cur = 0;

	/* the slot: the generation is shared, and a peer may rewrite it */
	if (CALL(V.a->vsched_current(0, &cur)) != 0 ||
	    VSCHED_REF_IDX(cur) != VSCHED_REF_IDX(self)) {
		fprintf(stderr, "victim: task %u (gen %u) resumed, the core says %u (gen %u) runs\n",
			VSCHED_REF_IDX(self), VSCHED_REF_GEN(self), VSCHED_REF_IDX(cur),
			VSCHED_REF_GEN(cur));
		die(EXIT_IDENTITY, __LINE__, (long)VSCHED_REF_IDX(cur));
	}
	if (*canary != want)
		die(EXIT_IDENTITY, __LINE__, (long)*canary);
}

static void task_body(void *arg)
{
	int h = (int)(intptr_t)arg;
	vsched_ref_t self = V.ref[h];
	volatile uint64_t canary = CANARY | (uint64_t)h;

	for (;;) {
		uint32_t op;

		reclaim();
		check_self(self, &canary, CANARY | (uint64_t)h);
		if (V.exited[h])
			die(EXIT_RESURRECT, __LINE__, h);
		op = rnd() % 8;
		if (op < 5) {
			CALL(V.a->vsched_yield_now(0));
		} else if (op < 7) {
			CALL(V.a->vsched_park(0, VSCHED_TASK_BLOCKED));
		} else {
			V.exited[h] = true;
			/* refused (the attacker made its slot's state look not
			 * running): it goes on; done: nothing ever resumes it */
			if (CALL(V.a->vsched_park(0, VSCHED_TASK_EXITED)) == 0)
				die(EXIT_RESURRECT, __LINE__, h);
			V.exited[h] = false;
		}
	}
}

static void idle_body(void *arg);

static void spawn_one(void)
{
	struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKFUL, .owner = 1 };
	vsched_ref_t r = 0;
	int h;

	for (h = 0; h < NHANDLES && V.ref[h]; h++)
		;
	if (h == NHANDLES)
		return;
	d.prio = (int32_t)(rnd() % 40) - 20;
	d.ctx_sp = vs_ctx_init(V.stacks[h], STACK, task_body, (void *)(intptr_t)h);
	if (CALL(V.a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &r)) != 0)
		return;
	/* one slot, one task: a slot still in use is never handed out again */
	for (int k = 0; k < NHANDLES; k++)
		if (V.ref[k] && VSCHED_REF_IDX(V.ref[k]) == VSCHED_REF_IDX(r))
			die(EXIT_DOUBLE, __LINE__, (long)VSCHED_REF_IDX(r));
	V.ref[h] = r;
	V.exited[h] = false;
	if (CALL(V.a->vsched_spawn(0, r)) != 0 && CALL(V.a->vsched_task_free(0, r)) == 0)
		V.ref[h] = 0;
}

static vsched_ref_t any_ref(void)
{
	vsched_ref_t r = V.ref[rnd() % NHANDLES];

	/* now and then a reference that names nothing of ours */
	return r && rnd() % 8 ? r : ((uint64_t)rnd() << 32) | (rnd() % (NTASKS + 4));
}

static long budget;

static void finish(void)
{
	fprintf(stderr, "victim: %ld calls, %ld -EIO, %ld idle turns in a row at most\n", V.ops,
		V.eio, V.idle_max);
	_exit(EXIT_OK);
}

/* One call of a random kind, and the reclaim every resume point does. */
static void step(void)
{
	uint64_t n;

	switch (rnd() % 8) {
	case 0:
	case 1:
		spawn_one();
		break;
	case 2:
	case 3:
		CALL(V.a->vsched_yield_now(0));
		break;
	case 4:
		CALL(V.a->vsched_unblock_task(0, any_ref(), rnd() % 4, rnd() % 2 ? 0 : VSCHED_CPU_NONE));
		break;
	case 5:
		CALL(V.a->vsched_set_priority(0, any_ref(), (int32_t)(rnd() % 50) - 25));
		CALL(V.a->vsched_task_tick(0, 0));
		break;
	case 6:
		CALL(V.a->vsched_queue_len(0, &n));
		CALL(V.a->vsched_queue_len(VSCHED_CPU_NONE, &n));
		CALL(V.a->vsched_take_kicks(0, &n));
		break;
	default: {
		vsched_ref_t r = any_ref();

		/* only a task that never ran, or ran to its end, is freed */
		if (CALL(V.a->vsched_task_free(0, r)) == 0)
			for (int h = 0; h < NHANDLES; h++)
				if (V.ref[h] == r) {
					if (!V.exited[h])
						die(EXIT_DOUBLE, __LINE__, h);
					V.ref[h] = 0;
				}
		break;
	}
	}
	reclaim();
	if (V.ops >= budget)
		finish();
}

/* The idle context: runs what is queued, and calls on its own when there
 * is nothing (the attacker may have dropped every task, boot included). */
static void idle_body(void *arg)
{
	(void)arg;
	for (;;) {
		reclaim();
		CALL(V.a->vsched_yield_now(0));
		if (++V.idle_turns > V.idle_max)
			V.idle_max = V.idle_turns;
		step();
	}
}

static int victim(int fd, uint32_t policy, long rounds, int ready)
{
	struct vsa_map_opts o = {
		.geom = { .ncpus = 1, .queue_cap = QCAP, .ntasks = NTASKS, .policy = policy,
			  .slice = 1000 },
		.vvar_fd = fd,
	};
	struct vsa_image img;
	volatile uint64_t canary = CANARY | 0xb00;
	char c = 1;

	/* a crash shows as the signal, not as the test runner's handler */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	V.rng = (uint32_t)getpid() * 2654435761u | 1;
	for (int i = 0; i <= NHANDLES; i++)
		if (!(V.stacks[i] = malloc(STACK)))
			return EXIT_SETUP;
	if (vsa_image_map_embedded(&img, &o) != 0)
		return EXIT_SETUP;
	V.a = &img.api;
	{
		struct vsched_task_desc d = { .kind = VSCHED_KIND_STACKFUL, .owner = 1 };

		d.ctx_sp = vs_ctx_init(V.stacks[NHANDLES], STACK, idle_body, NULL);
		if (V.a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &V.idle) != 0)
			return EXIT_SETUP;
		d.ctx_sp = 0;
		if (V.a->vsched_task_alloc(VSCHED_CPU_NONE, &d, &V.boot) != 0 ||
		    V.a->vsched_init(0, V.idle, V.boot) != 0)
			return EXIT_SETUP;
	}
	/* the attacker starts now */
	if (write(ready, &c, 1) != 1)
		return EXIT_SETUP;
	budget = rounds;
	for (;;) {
		step();
		check_self(V.boot, &canary, CANARY | 0xb00);
		V.idle_turns = 0;
	}

}

static uint32_t xrnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/*
 * Rewrites the shared part until killed: words at random, and forgeries
 * made to be taken for real: a slot made READY, a task index put in the
 * runnext slot or pushed into the ring as a well-formed cell, the slot
 * allocator pointed at slots in use.
 */
static void attacker(int fd, size_t size, uint32_t seed)
{
	struct vsched_geometry g = { .ncpus = 1, .queue_cap = QCAP, .ntasks = NTASKS };
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct vsched_vvar lay;
	struct vsched_task *tasks;
	struct vsched_cpu *cpu;
	struct vsched_shared *glb;
	vsched_cell_t *cells;
	_Atomic uint64_t *w;
	uint32_t x = seed | 1;

	if (base == MAP_FAILED || getenv("VSCHED_HOSTILE_PEACE"))
		_exit(1);
	/* where the parts lie: the attacker aims, but only ever at the file,
	 * which ends where the header begins */
	vsched_vvar_layout(&g, &lay);
	tasks = (struct vsched_task *)(base + size - lay.tasks_off);
	cpu = (struct vsched_cpu *)(base + size - lay.cpus_off);
	glb = (struct vsched_shared *)(base + size - lay.glob_off);
	cells = (vsched_cell_t *)(base + size - lay.rq_off);
	w = (_Atomic uint64_t *)base;
	for (;;) {
		uint32_t r = xrnd(&x), idx = xrnd(&x) % (NTASKS + 2);
		uint64_t v = ((uint64_t)xrnd(&x) << 32) | xrnd(&x), pos;

		switch (r % 8) {
		case 0: /* a word anywhere */
			atomic_store_explicit(&w[(r >> 3) % (size / 8)], v, memory_order_relaxed);
			break;
		case 1: /* a word of the task table, or of the per-CPU record */
			if (r & 0x100)
				atomic_store_explicit(&((_Atomic uint64_t *)tasks)[(r >> 9) % (NTASKS * 8)],
						      v, memory_order_relaxed);
			else
				atomic_store_explicit(&((_Atomic uint64_t *)cpu)[(r >> 9) % 32], v,
						      memory_order_relaxed);
			break;
		case 2: /* a slot made READY (or another state) */
			if (idx < NTASKS)
				atomic_store_explicit(&tasks[idx].state,
						      r & 0x100 ? VSCHED_TASK_READY : (r >> 9) % 7,
						      memory_order_relaxed);
			break;
		case 3: /* a task index in the runnext slot */
			atomic_store_explicit(&cpu->runnext, idx + 1, memory_order_relaxed);
			break;
		case 4: /* a well-formed cell pushed into the ring */
			pos = atomic_load_explicit(&cpu->rq_enq, memory_order_relaxed);
			atomic_store_explicit(&cells[pos % QCAP],
					      vs_cell((uint32_t)pos + 1, (uint32_t)(pos % QCAP), idx + 1),
					      memory_order_relaxed);
			atomic_store_explicit(&cpu->rq_enq, pos + 1, memory_order_relaxed);
			break;
		case 5: /* the allocator pointed at any slot */
			if (r & 0x100)
				atomic_store_explicit(&glb->bump, idx, memory_order_relaxed);
			else
				atomic_store_explicit(&glb->free_head, v << 32 | (idx + 1),
						      memory_order_relaxed);
			break;
		case 6: /* a slot's generation, flags, priority or heap position */
			if (idx < NTASKS) {
				atomic_store_explicit(&tasks[idx].gen, (uint32_t)v, memory_order_relaxed);
				tasks[idx].pol_aux = (uint32_t)(v >> 32) % (NTASKS + 2);
				atomic_store_explicit(&tasks[idx].prio, (int8_t)(v >> 40),
						      memory_order_relaxed);
			}
			break;
		default: /* the global ring's positions, the CFS count */
			atomic_store_explicit(r & 0x100 ? &glb->gq_enq : &glb->gq_deq, v % 1024,
					      memory_order_relaxed);
			atomic_store_explicit(&cpu->cfs_nr, (uint32_t)v % (NTASKS * 2),
					      memory_order_relaxed);
			break;
		}
		/* a write every few microseconds, now and then a burst: the
		 * victim gets calls done between them, and writes land inside
		 * its calls too */
		if (r % 64)
			for (volatile int k = 0; k < 2000; k++)
				;
	}
}

/* One round: a victim and an attacker; returns the victim's exit code. */
static int round_of(uint32_t policy, long rounds, uint32_t seed)
{
	struct vsa_map_opts o = {
		.geom = { .ncpus = 1, .queue_cap = QCAP, .ntasks = NTASKS, .policy = policy,
			  .slice = 1000 },
	};
	int fd = memfd_create("vsched-hostile", MFD_CLOEXEC), pfd[2], status = 0;
	struct vsa_image img;
	pid_t vic, att = -1;
	size_t size;
	char c;

	assert_true(fd >= 0);
	o.vvar_fd = fd;
	assert_int_equal(vsa_image_map_embedded(&img, &o), 0); /* sizes and stamps it */
	size = img.shared_size;
	vsa_image_unmap(&img);
	assert_int_equal(pipe(pfd), 0);
	vic = fork();
	assert_true(vic >= 0);
	if (vic == 0) {
		close(pfd[0]);
		_exit(victim(fd, policy, rounds, pfd[1]));
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) == 1) {
		att = fork();
		assert_true(att >= 0);
		if (att == 0)
			attacker(fd, size, seed);
	}
	close(pfd[0]);
	/* the bound: no call may hang */
	for (int ms = 0; ms < 60000; ms += 10) {
		if (waitpid(vic, &status, WNOHANG) == vic)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		if (ms + 10 >= 60000) {
			kill(vic, SIGKILL);
			waitpid(vic, &status, 0);
			fail_msg("policy %u seed %u: the victim hung", policy, seed);
		}
	}
	if (att > 0) {
		kill(att, SIGKILL);
		waitpid(att, NULL, 0);
	}
	close(fd);
	if (WIFSIGNALED(status))
		fail_msg("policy %u seed %u: the victim died of signal %d", policy, seed,
			 WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void test_hostile(void **state)
{
	bool emu = getenv("VSCHED_EMULATED") != NULL;
	const char *knob = getenv("VSCHED_HOSTILE_ROUNDS");
	int n = knob ? atoi(knob) : emu ? 6 : 30;
	long calls = emu ? 20000 : 200000;

	(void)state;
	for (int i = 0; i < n; i++) {
		uint32_t policy = (uint32_t)i % 3;
		int code = round_of(policy, calls, 0x9e3779b9u * (uint32_t)(i + 1));

		if (code != EXIT_OK)
			fail_msg("round %d (policy %u): the victim failed with code %d", i, policy,
				 code);
	}
	print_message("    %d rounds of %ld calls each, all survived\n", n, calls);
}

/* The attacker's reach: the file holds the shared part alone, right
 * below the header; the header and the private part are not in it. */
static void test_reach(void **state)
{
	struct vsa_map_opts o = { .geom = { .ncpus = 1, .queue_cap = QCAP, .ntasks = NTASKS } };
	struct vsa_image img;
	int fd = memfd_create("vsched-reach", MFD_CLOEXEC);
	off_t size;

	(void)state;
	assert_true(fd >= 0);
	o.vvar_fd = fd;
	assert_int_equal(vsa_image_map_embedded(&img, &o), 0);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal(size, (off_t)img.shared_size);
	assert_true(img.shared_size + VSCHED_VVAR_HDR_SIZE < img.area_size);
	assert_ptr_equal((char *)img.shared + img.shared_size, (char *)img.vvar);
	vsa_image_unmap(&img);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reach),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests_name("core-hostile", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * vsched_arch_switch and vs_ctx_init: every callee-saved register survives a
 * switch, a new task starts with its argument on an ABI-aligned stack, and
 * contexts can be switched between many times and in a ring.
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/switch.h"
#include "ctx.h"
#include "frame.h"

#define STACK_SIZE (64u * 1024u)

/*
 * The callee-saved set as regs.S lays it out, and the values seeded into it
 * (seed: the context under test; garbage: the context it switches to).
 * RESUME_IDX names the return-address register, which cannot be seeded: its
 * entry holds its XOR with the expected resume address, so 0 when right.
 */
#if defined(__x86_64__)
#define ARCH "x86_64"
static const char *const reg_names[] = {
	"rbx", "rbp", "r12", "r13", "r14", "r15", "mxcsr", "x87 cw",
};
#define RESUME_IDX (-1)
#define MXCSR_IDX 6
#define FPUCW_IDX 7
/* Round toward zero; round down with flush-to-zero. */
#define MXCSR_SEED 0x7f80u
#define MXCSR_GARBAGE 0xdf80u
/* Double precision, round toward zero; single precision, round down. */
#define FPUCW_SEED 0x0e7fu
#define FPUCW_GARBAGE 0x047fu
#elif defined(__aarch64__)
#define ARCH "aarch64"
static const char *const reg_names[] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"x29", "x30 (resume address)",
	"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15",
};
#define RESUME_IDX 11
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH "riscv64"
static const char *const reg_names[] = {
	"ra (resume address)",
	"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
	"s11",
	"fs0", "fs1", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
	"fs10", "fs11",
};
#define RESUME_IDX 0
#else
#error "test_switch: unsupported architecture"
#endif

#define NREGS (sizeof(reg_names) / sizeof(reg_names[0]))

/* Offsets are spelled out in regs.S. */
struct peer {
	const uint64_t *garbage;
	uint64_t *out;
	uint64_t sp;
	uint64_t main_sp;
};
_Static_assert(offsetof(struct peer, garbage) == 0 &&
		       offsetof(struct peer, out) == 8 &&
		       offsetof(struct peer, sp) == 16 &&
		       offsetof(struct peer, main_sp) == 24,
	       "struct peer is laid out by hand in regs.S");

/* What regs_entry_sp records before it hands over to next. */
struct sp_probe {
	uint64_t entry_sp;
	void (*next)(struct sp_probe *);
	uint64_t task_sp;
	uint64_t main_sp;
	void *arg_seen;
	uintptr_t local_addr;
	uintptr_t frame_addr;
	uint32_t mxcsr_seen;
	uint16_t fpucw_seen;
};
_Static_assert(offsetof(struct sp_probe, entry_sp) == 0 &&
		       offsetof(struct sp_probe, next) == 8,
	       "struct sp_probe's head is laid out by hand in regs.S");

void regs_probe(const uint64_t *seed, uint64_t *out, struct peer *peer);
void regs_clobber(void *peer);
void regs_entry_sp(void *probe);

static void fill_pattern(uint64_t *v, uint64_t salt)
{
	for (size_t i = 0; i < NREGS; i++)
		v[i] = UINT64_C(0x0101010101010101) * (i + 1) ^ salt;
	if (RESUME_IDX >= 0)
		v[RESUME_IDX] = 0;
}

static void fill_seed(uint64_t *v)
{
	fill_pattern(v, UINT64_C(0x5eed000000000000));
#if defined(__x86_64__)
	v[MXCSR_IDX] = MXCSR_SEED;
	v[FPUCW_IDX] = FPUCW_SEED;
#endif
}

static void fill_garbage(uint64_t *v)
{
	fill_pattern(v, UINT64_C(0xbad0bad000000000));
#if defined(__x86_64__)
	v[MXCSR_IDX] = MXCSR_GARBAGE;
	v[FPUCW_IDX] = FPUCW_GARBAGE;
#endif
}

/* Fails naming the first changed register; prints any others first. */
static void check_regs(const char *where, const uint64_t *want,
		       const uint64_t *got)
{
	size_t first = NREGS;

	for (size_t i = 0; i < NREGS; i++) {
		if (want[i] == got[i])
			continue;
		if (first == NREGS) {
			first = i;
			continue;
		}
		print_error("%s %s changed%s: want 0x%016" PRIx64
			    ", got 0x%016" PRIx64 "\n",
			    ARCH, reg_names[i], where, want[i], got[i]);
	}
	if (first != NREGS)
		fail_msg("%s %s changed%s: want 0x%016" PRIx64
			 ", got 0x%016" PRIx64,
			 ARCH, reg_names[first], where, want[first],
			 got[first]);
}

static void *stack_new(void)
{
	void *stack = malloc(STACK_SIZE);

	assert_non_null(stack);
	return stack;
}

static uintptr_t stack_top(void *stack)
{
	return ((uintptr_t)stack + STACK_SIZE) & ~(uintptr_t)15;
}

static void never_run(void *arg)
{
	(void)arg;
	abort();
}

static uint64_t frame_slot(uint64_t sp, unsigned off)
{
	uint64_t v;

	memcpy(&v, (const void *)(uintptr_t)(sp + off), sizeof(v));
	return v;
}

static void test_ctx_init_layout(void **state)
{
	alignas(16) static unsigned char stack[4096 + 64];
	int cookie;
	(void)state;

	assert_int_equal(vs_ctx_init(NULL, sizeof(stack), never_run, NULL), 0);
	assert_int_equal(vs_ctx_init(stack, sizeof(stack), NULL, NULL), 0);
	assert_int_equal(vs_ctx_init(stack, VS_FRAME_SIZE - 1, never_run, NULL),
			 0);
	/* Room for the frame only once the top is rounded down: too small. */
	assert_int_equal(vs_ctx_init(stack + 1, VS_FRAME_SIZE, never_run, NULL),
			 0);

	for (size_t lo = 0; lo < 16; lo++) {
		for (size_t size = 4000; size < 4016; size++) {
			unsigned char *base = stack + lo;
			uintptr_t end = (uintptr_t)base + size;
			uintptr_t top = end & ~(uintptr_t)15;
			uint64_t sp;

			sp = vs_ctx_init(base, size, never_run, &cookie);

			assert_int_equal(sp % 16, 0);
			assert_int_equal(sp + VS_FRAME_SIZE, top);
			assert_true(sp >= (uintptr_t)base);
			assert_int_equal(frame_slot(sp, VS_FRAME_ENTRY),
					 (uintptr_t)never_run);
			assert_int_equal(frame_slot(sp, VS_FRAME_ARG),
					 (uintptr_t)&cookie);
			assert_int_not_equal(frame_slot(sp, VS_FRAME_RESUME),
					     0);
		}
	}
}

static void test_callee_saved(void **state)
{
	uint64_t seed[NREGS], garbage[NREGS], out[NREGS], peer_out[NREGS];
	void *stack = stack_new();
	struct peer peer = { .garbage = garbage, .out = peer_out };
	(void)state;

	fill_seed(seed);
	fill_garbage(garbage);
	peer.sp = vs_ctx_init(stack, STACK_SIZE, regs_clobber, &peer);
	assert_int_not_equal(peer.sp, 0);

	/* Into a fresh context and back. */
	memset(out, 0xee, sizeof(out));
	regs_probe(seed, out, &peer);
	check_regs("", seed, out);

	/* Into a context a switch suspended, which checks its own set too. */
	memset(out, 0xee, sizeof(out));
	memset(peer_out, 0xee, sizeof(peer_out));
	regs_probe(seed, out, &peer);
	check_regs("", seed, out);
	check_regs(" in the switched-to context", garbage, peer_out);

	free(stack);
}

#if defined(__x86_64__)
static uint32_t mxcsr_get(void)
{
	uint32_t v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void mxcsr_set(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static uint16_t fpucw_get(void)
{
	uint16_t v;

	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void fpucw_set(uint16_t v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}
#endif

static void entry_state_task(struct sp_probe *p)
{
	alignas(16) volatile unsigned char local[16];

	local[0] = 1;
	p->arg_seen = p;
	p->local_addr = (uintptr_t)local;
	p->frame_addr = (uintptr_t)__builtin_frame_address(0);
#if defined(__x86_64__)
	p->mxcsr_seen = mxcsr_get();
	p->fpucw_seen = fpucw_get();
#endif
	vsched_arch_switch(&p->task_sp, p->main_sp);
	abort();
}

static void test_new_task_state(void **state)
{
	void *stack = stack_new();
	uintptr_t top = stack_top(stack);
	struct sp_probe p = { .next = entry_state_task };
	(void)state;

	p.task_sp = vs_ctx_init(stack, STACK_SIZE, regs_entry_sp, &p);
	assert_int_not_equal(p.task_sp, 0);
#if defined(__x86_64__)
	/* The task must not inherit the control words of who switched to it. */
	uint32_t mxcsr = mxcsr_get();
	uint16_t fpucw = fpucw_get();

	mxcsr_set(MXCSR_SEED);
	fpucw_set(FPUCW_SEED);
	vsched_arch_switch(&p.main_sp, p.task_sp);
	mxcsr_set(mxcsr);
	fpucw_set(fpucw);
	assert_int_equal(p.mxcsr_seen, VS_MXCSR_INIT);
	assert_int_equal(p.fpucw_seen, VS_FPUCW_INIT);
	/* psABI: rsp + 8 is a multiple of 16 at function entry. */
	assert_int_equal((p.entry_sp + 8) % 16, 0);
#else
	vsched_arch_switch(&p.main_sp, p.task_sp);
	/* AAPCS64 and the RISC-V psABI: sp is a multiple of 16 at a call. */
	assert_int_equal(p.entry_sp % 16, 0);
#endif
	assert_ptr_equal(p.arg_seen, &p);
	assert_true(p.entry_sp <= top && p.entry_sp > top - 64);
	assert_int_equal(p.local_addr % 16, 0);
	assert_true(p.local_addr < top && p.local_addr > (uintptr_t)stack);
	assert_int_equal(p.frame_addr % 16, 0);
	free(stack);
}

struct pingpong {
	uint64_t main_sp;
	uint64_t task_sp;
	uint64_t count;
	uint64_t token;
	uint64_t reply;
};

static void pingpong_task(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t mine = 0; /* lives on this task's stack across switches */

	for (;;) {
		mine++;
		pp->count = mine;
		pp->reply = pp->token * 3 + 1;
		vsched_arch_switch(&pp->task_sp, pp->main_sp);
	}
}

static void test_pingpong(void **state)
{
	void *stack = stack_new();
	struct pingpong pp = { 0 };
	(void)state;

	pp.task_sp = vs_ctx_init(stack, STACK_SIZE, pingpong_task, &pp);
	assert_int_not_equal(pp.task_sp, 0);
	for (uint64_t i = 0; i < 1000; i++) {
		pp.token = i ^ 0x5a5a;
		vsched_arch_switch(&pp.main_sp, pp.task_sp);
		assert_int_equal(pp.count, i + 1);
		assert_int_equal(pp.reply, (i ^ 0x5a5a) * 3 + 1);
	}
	free(stack);
}

#define CHAIN_ROUNDS 100

struct chain {
	uint64_t sp[3]; /* A (the test), B, C */
	char log[3 * CHAIN_ROUNDS + 1];
	size_t len;
};

static void chain_b(void *arg)
{
	struct chain *c = arg;

	for (;;) {
		c->log[c->len++] = 'B';
		vsched_arch_switch(&c->sp[1], c->sp[2]);
	}
}

static void chain_c(void *arg)
{
	struct chain *c = arg;

	for (;;) {
		c->log[c->len++] = 'C';
		vsched_arch_switch(&c->sp[2], c->sp[0]);
	}
}

static void test_chain(void **state)
{
	void *stack_b = stack_new(), *stack_c = stack_new();
	struct chain c = { .len = 0 };
	char want[sizeof(c.log)] = "";
	(void)state;

	c.sp[1] = vs_ctx_init(stack_b, STACK_SIZE, chain_b, &c);
	c.sp[2] = vs_ctx_init(stack_c, STACK_SIZE, chain_c, &c);
	assert_int_not_equal(c.sp[1], 0);
	assert_int_not_equal(c.sp[2], 0);
	for (int r = 0; r < CHAIN_ROUNDS; r++) {
		c.log[c.len++] = 'A';
		/* A -> B -> C -> A: only C switches back here. */
		vsched_arch_switch(&c.sp[0], c.sp[1]);
		assert_int_equal(c.len, 3u * (r + 1));
		strcat(want, "ABC");
	}
	assert_string_equal(c.log, want);
	free(stack_b);
	free(stack_c);
}

static void returning_task(void *arg)
{
	(void)arg;
}

/* A task whose entry returns must trap, not run off its stack. */
static void test_entry_return_traps(void **state)
{
	pid_t pid;
	int status;
	(void)state;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t self_sp;
		void *stack = malloc(STACK_SIZE);
		uint64_t sp;

		/* CMocka's handlers would carry on with the tests in here. */
		signal(SIGILL, SIG_DFL);
		signal(SIGTRAP, SIG_DFL);
		if (!stack)
			_exit(2);
		sp = vs_ctx_init(stack, STACK_SIZE, returning_task, NULL);
		vsched_arch_switch(&self_sp, sp);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(WTERMSIG(status) == SIGILL || WTERMSIG(status) == SIGTRAP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_init_layout),
		cmocka_unit_test(test_callee_saved),
		cmocka_unit_test(test_new_task_state),
		cmocka_unit_test(test_pingpong),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_entry_return_traps),
	};

	return cmocka_run_group_tests_name("switch", tests, NULL, NULL);
}

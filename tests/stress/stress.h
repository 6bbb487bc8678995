/* SPDX-License-Identifier: MIT */
/* The stress test's shared state and the calls between its files: tasks'
 * bookkeeping, stackful and stackless tasks, the checks, the driver. */
#ifndef TESTS_STRESS_STRESS_H
#define TESTS_STRESS_STRESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vsched/sync.h"

#define US 1000ull
#define NCPUS 2
#define NQ 4		  /* wait queues of each kind */
#define MAX_KIDS 4	  /* children a task holds at once */
#define MAX_IDS (1u << 18) /* tasks over a whole run */
#define CHAN_CAP 4
#define CHAN_MAX (1u << 21) /* items over a whole run */

/* An operation; past NOPS, where a task is when it is not in one. */
enum op {
	OP_YIELD, OP_SLEEP, OP_WAIT, OP_TIMED, OP_NOTIFY, OP_SPAWN, OP_JOIN,
	OP_DETACH, OP_MIGRATE, OP_MUTEX, OP_SEND, OP_RECV, OP_EXIT, NOPS,
	AT_RUN = NOPS, AT_DONE
};

enum { K_STACKLESS = 1, K_ROOT = 2, K_DEALER = 4, K_PIN0 = 8, K_PIN1 = 16 };

/* The run's parameters, chosen by params() in test_stress.c. */
extern struct stress_params {
	uint64_t seed, t0, deadline, grace;
	double seconds;
	unsigned roots, live_cap, kid_ops;
	enum vs_policy policy;
} P;

/* Per task id. */
extern _Atomic uint8_t kind[MAX_IDS], started[MAX_IDS], done[MAX_IDS], running[MAX_IDS];
extern _Atomic uint8_t at[MAX_IDS];
extern _Atomic uint32_t at_arg[MAX_IDS];

extern atomic_uint next_id;
extern atomic_long nspawned, nfinished, wlive; /* wlive: workers not finished */
extern _Atomic uint64_t last_finish;
extern struct vs_wq done_wq;
extern atomic_ulong nops[NOPS], n_stackless, n_slept, n_woken, n_timed_out, n_busy;

/* Tasks cannot use cmocka's asserts (they longjmp across stacks): they
 * note what went wrong here, and the test fails on it afterwards. */
#define NMSG 4
extern atomic_int nerr;
extern char msg[NMSG][200];

void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define EXPECT(cond, fmt, ...)                                                      \
	do {                                                                        \
		if (!(cond))                                                        \
			fail_msg("seed %#" PRIx64 ": " fmt, P.seed, __VA_ARGS__); \
	} while (0)

struct kid {
	vs_task_t *t;
	uint32_t id;
};

struct worker {
	uint32_t id;
	uint8_t kind;
	bool begun, winding;
	uint64_t rng; /* from the seed and the id: a task's choices repeat */
	unsigned ops, max_ops;
	unsigned nkids;
	struct kid kids[MAX_KIDS];
	/* a stackless task's operation in progress */
	int st, q;
	unsigned polls;
	uint32_t item;
	uint64_t until;
	struct kid cur;
};

/* The waits that must each be woken (stress_task.c tells how). */
extern struct vs_wq dq[NQ], pq[NQ];
extern atomic_long owed[NQ], bank[NQ], posted[NQ], taken[NQ];
extern atomic_uint gen[NQ]; /* pq[q]'s generation, for timed waits */

struct token_wait {
	int q;
	unsigned calls; /* more than one: it slept */
};

struct moved {
	int q;
	unsigned gen;
};

/* The mutex and the channel. */
extern struct vs_mutex mx;
extern long mx_count; /* only under mx */
extern atomic_long mx_incs;

extern vs_chan_t *ch;
extern atomic_uint chan_next;
extern atomic_long credits, chan_sent, chan_recvd;
extern _Atomic uint8_t tally[CHAN_MAX];

/* stress_task.c: what every task does, whatever its kind */
uint64_t mix(uint64_t x);
int code_of(uint32_t id);
uint32_t rnd(struct worker *w, uint32_t n);
void worker_init(struct worker *w, uint32_t id);
enum op pick(struct worker *w);
bool stopping(const struct worker *w);
void enter(struct worker *w);
void leave(struct worker *w, int where, uint32_t arg);
void begin(struct worker *w);
void finish(struct worker *w);
bool take_token(void *arg);
void pay(int q, bool all);
void pulse(int q, bool all);
void notify_some(struct worker *w);
bool gen_moved(void *arg);
void critical(struct worker *w, bool may_yield);
bool promise(uint32_t *v);
long claim(long want);
void received(uint32_t v, uint32_t by);
bool spawn_task(uint32_t id, uint8_t k, const struct vs_task_attr *a, vs_task_t **t);
void spawn_kid(struct worker *w);
struct kid take_kid(struct worker *w, unsigned i);
void joined(struct worker *w, struct kid k, int r, int code);
void detach_kid(struct worker *w, unsigned i);

/* stress_stackful.c */
int sf_main(void *arg);
int dealer(void *arg);

/* stress_stackless.c */
enum vs_poll sl_poll(void *state, int *code);

/* stress_check.c */
void describe_stuck(char *buf, size_t len);
void summary(double secs);
void check_invariants(void);

#endif

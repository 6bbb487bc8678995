/* SPDX-License-Identifier: MIT */
/*
 * After a stress run, or when it is stuck: who is where, what ran, and
 * the invariants the run must have kept.
 */
#include <stdio.h>

#include "stress.h"

/* The names of enum op's values, in its order. */
static const char *const op_name[] = {
	"yield", "sleep", "wait", "timed", "notify", "spawn", "join", "detach",
	"migrate", "mutex", "send", "recv", "exit", "run", "done",
};

static uint32_t ids_used(void)
{
	uint32_t n = atomic_load(&next_id);

	return n < MAX_IDS ? n : MAX_IDS;
}

static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

/* Who has not finished, and where: first those waiting on something other
 * than a task (the likeliest victims), then joiners, then the dealers. */
void describe_stuck(char *buf, size_t len)
{
	uint32_t n = ids_used(), stuck = 0, listed = 0;
	size_t off = 0;

	buf[0] = 0;
	for (int pass = 0; pass < 3; pass++) {
		for (uint32_t id = 0; id < n; id++) {
			uint8_t k = atomic_load(&kind[id]), a = atomic_load(&at[id]);
			bool st = atomic_load(&started[id]);

			if (atomic_load(&done[id]))
				continue;
			stuck += pass == 0;
			if (pass != (k & K_DEALER ? 2 : st && a == OP_JOIN ? 1 : 0) ||
			    listed++ >= 12)
				continue;
			append(buf, len, &off, "\n  task %u (%s %s) in %s(%u)", id,
			       k & K_STACKLESS ? "stackless" : "stackful",
			       k & K_DEALER ? "dealer" : k & K_ROOT ? "root" : "child",
			       !st ? "not started" : a <= AT_DONE ? op_name[a] : "?",
			       atomic_load(&at_arg[id]));
		}
	}
	append(buf, len, &off, "\n  %u of %u tasks not done; owed/banked tokens per queue:", stuck,
	       n);
	for (int q = 0; q < NQ; q++)
		append(buf, len, &off, " %ld/%ld", atomic_load(&owed[q]), atomic_load(&bank[q]));
	append(buf, len, &off, "; unclaimed items %ld; %d errors%s%s", atomic_load(&credits),
	       atomic_load(&nerr), atomic_load(&nerr) ? ", first: " : "",
	       atomic_load(&nerr) ? msg[0] : "");
}

void summary(double secs)
{
	char buf[768];
	size_t off = 0;

	append(buf, sizeof(buf), &off, "stress: %.1f s, %u tasks (%lu stackless):", secs,
	       ids_used(), atomic_load(&n_stackless));
	for (int op = 0; op < NOPS; op++)
		append(buf, sizeof(buf), &off, " %s %lu", op_name[op], atomic_load(&nops[op]));
	append(buf, sizeof(buf), &off,
	       "; %lu waits slept, timed waits %lu woken/%lu timed out, %lu trylocks busy\n",
	       atomic_load(&n_slept), atomic_load(&n_woken), atomic_load(&n_timed_out),
	       atomic_load(&n_busy));
	print_message("%s", buf);
}

void check_invariants(void)
{
	uint32_t n = ids_used(), items;

	EXPECT(atomic_load(&nerr) == 0, "%d errors, first: %s%s%s", atomic_load(&nerr), msg[0],
	       atomic_load(&nerr) > 1 ? "; then: " : "", atomic_load(&nerr) > 1 ? msg[1] : "");
	EXPECT(atomic_load(&nspawned) == (long)n, "%ld tasks spawned of %u",
	       atomic_load(&nspawned), n);
	for (uint32_t id = 0; id < n; id++)
		EXPECT(started[id] == 1 && done[id] == 1 && !running[id],
		       "task %u: started %d, completed %d times, running %d", id, started[id],
		       done[id], running[id]);
	EXPECT(mx_count == atomic_load(&mx_incs), "mutex counter %ld after %ld increments",
	       mx_count, atomic_load(&mx_incs));
	items = atomic_load(&chan_next);
	if (items > CHAN_MAX)
		items = CHAN_MAX;
	EXPECT(atomic_load(&chan_sent) == items && atomic_load(&chan_recvd) == items &&
		       !atomic_load(&credits),
	       "items: %u promised, %ld sent, %ld received, %ld unclaimed", items,
	       atomic_load(&chan_sent), atomic_load(&chan_recvd), atomic_load(&credits));
	for (uint32_t v = 0; v < items; v++)
		EXPECT(tally[v] == 1, "item %u received %d times", v, tally[v]);
	for (int q = 0; q < NQ; q++)
		EXPECT(!atomic_load(&owed[q]) && !atomic_load(&bank[q]) &&
			       atomic_load(&posted[q]) == atomic_load(&taken[q]),
		       "queue %d: %ld owed, %ld banked, %ld paid, %ld taken", q,
		       atomic_load(&owed[q]), atomic_load(&bank[q]), atomic_load(&posted[q]),
		       atomic_load(&taken[q]));
	/* a run that skipped an operation proved nothing about it */
	for (int op = 0; op < NOPS && P.seconds >= 1; op++)
		EXPECT(atomic_load(&nops[op]) > 0, "no %s operation ran", op_name[op]);
}

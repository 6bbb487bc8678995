/* SPDX-License-Identifier: MIT */
/*
 * Reporting a stack overflow: one line naming the task, then abort. A
 * SIGSEGV handler on a per-CPU signal stack recognises a fault just below
 * the current task's stack (its guard page); the canary check reports the
 * rest.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "stack.h"

#define OVERFLOW_REACH (64u << 10) /* a fault this far below a stack: its overflow */
#define ALTSTACK_SIZE (64u << 10)

static bool segv_set;
static struct sigaction old_segv;

static size_t put_str(char *buf, size_t n, size_t cap, const char *s)
{
	while (s && *s && n + 1 < cap)
		buf[n++] = *s++;
	return n;
}

/* One line on stderr, with write(2) only: callable from a signal handler. */
static void say_overflow(const char *task_name, const char *how)
{
	char buf[192];
	size_t n = 0;

	n = put_str(buf, n, sizeof(buf), "vsched: stack overflow in task '");
	n = put_str(buf, n, sizeof(buf), task_name);
	n = put_str(buf, n, sizeof(buf), "' (");
	n = put_str(buf, n, sizeof(buf), how);
	n = put_str(buf, n, sizeof(buf), ")\n");
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct rt_cpu *c = rt_self();
	struct vs_task *t = c ? c->cur : NULL;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (t && t->stk && t->stk->lo && a < (uintptr_t)t->stk->lo &&
	    (uintptr_t)t->stk->lo - a <= OVERFLOW_REACH) {
		say_overflow(t->name, t->stk->guarded ? "guard page hit" : "fault below its stack");
		abort();
	}
	/* not ours: whoever handled it before, else the default action */
	if (old_segv.sa_flags & SA_SIGINFO) {
		if (old_segv.sa_sigaction) {
			old_segv.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	(void)sigaction(SIGSEGV, &old_segv, NULL); /* the fault repeats */
}

void rt_overflow_trap_set(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	segv_set = sigaction(SIGSEGV, &sa, &old_segv) == 0;
}

void rt_overflow_trap_clear(void)
{
	struct sigaction cur;

	if (!segv_set)
		return;
	/* someone who replaced ours since keeps theirs */
	if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_segv)
		(void)sigaction(SIGSEGV, &old_segv, NULL);
	segv_set = false;
}

void rt_stack_cpu_init(struct rt_cpu *c)
{
	stack_t cur, ss = { .ss_size = ALTSTACK_SIZE };

	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
		return; /* the thread has one (its own, or a sanitizer's) */
	ss.ss_sp = malloc(ALTSTACK_SIZE);
	if (!ss.ss_sp)
		return;
	if (sigaltstack(&ss, NULL)) {
		free(ss.ss_sp);
		return;
	}
	c->stacks.altstack = ss.ss_sp;
}

void rt_overflow_altstack_drop(struct rt_cpu *c)
{
	struct rt_stack_cache *k = &c->stacks;
	stack_t cur, off = { .ss_flags = SS_DISABLE };

	if (!k->altstack)
		return;
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == k->altstack &&
	    !(cur.ss_flags & SS_DISABLE) && sigaltstack(&off, NULL))
		return; /* still in use: leave it */
	free(k->altstack);
	k->altstack = NULL;
}

void rt_stack_fail(const struct rt_stack *s, const char *task_name)
{
	(void)s;
	say_overflow(task_name, "canary below its stack overwritten");
	abort();
}

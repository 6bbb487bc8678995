/* SPDX-License-Identifier: MIT */
/*
 * Time slices and preemption. A ticking thread (Go's sysmon) asks the core,
 * for each CPU, whether its current task has used up its slice; the core
 * then sets need_resched, and if that task is preemptible the thread sends
 * the CPU's thread SIGURG; so it does when a CPU has a timer overdue, which
 * it would fire at its next switch. The handler switches the task out only
 * at a safe point: not while the CPU holds or takes one of the runtime's
 * locks (a count, wherever the PC is), only in the code of the program or
 * of a shared object other than libc, the dynamic loader, the vDSO or a
 * sanitizer's runtime, outside the runtime itself (in a statically
 * linked program nowhere, libc being part of it), and not while the task
 * has preemption disabled. Otherwise the request waits for the task's
 * next scheduling point (a yield, a block, or its last vs_preempt_enable).
 */
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "rt.h"
#include "cpu.h"
#include "park.h"
#include "io.h"
#include "timer.h"
#include "preempt.h"

#define PREEMPT_SIG SIGURG /* as Go: rarely used, ignored by default */

/*
 * Where a task may be switched out: the code of the program and of the
 * shared objects loaded when preemption started, less foreign code that
 * takes locks the task may hold or runs under the runtime's, and less the
 * runtime itself. Anything else (libc, the dynamic loader, the vDSO, a
 * sanitizer's runtime, code mapped later, a signal trampoline, the
 * scheduler image) is refused: an allow list, so code nobody named is
 * never preempted. A signal that lands in qemu-user's sigreturn trampoline
 * (not in any object) would otherwise switch out a task whose interrupted
 * context is inside libc.
 *
 * The runtime is found without a mark on any function: its shared library
 * (libvsched.so.N) is refused whole, by its program headers, as libc is;
 * linked statically, into the program or another object, its code is the
 * section vsrt_text, where the build gathers all of it (text.ld).
 */
struct range {
	uintptr_t lo, hi;
};
#define MAX_GO 64
static struct range go[MAX_GO];
static unsigned n_go;
static struct range runtime_text;
static bool libc_found;
/* the linker's bounds of the runtime's section */
extern const char __start_vsrt_text[], __stop_vsrt_text[];
static struct sigaction old_act;

/* libc and the dynamic loader take locks the task may hold, and so do the
 * sanitizers' runtimes, which stand in for libc's malloc and memset; the
 * kernel's vDSO is called under the runtime's (a clock read). */
static bool foreign(const char *n)
{
	static const char *const names[] = { "libc.so", "/ld-linux", "/ld64.so", "linux-vdso",
					     "linux-gate", "/libasan.so", "/libubsan.so",
					     "/libtsan.so" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(n, names[i]))
			return true;
	return false;
}

/* Is @info the runtime's own shared library? */
static bool is_runtime(const struct dl_phdr_info *info, const char *n)
{
	uintptr_t at = (uintptr_t)__start_vsrt_text;

	if (!strstr(n, "libvsched.so"))
		return false;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && at >= lo && at < lo + ph->p_memsz)
			return true;
	}
	return false;
}

static int note_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *n = info->dlpi_name ? info->dlpi_name : "";

	(void)size;
	(void)arg;
	if (strstr(n, "libc.so"))
		libc_found = true;
	if (foreign(n) || is_runtime(info, n))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && n_go < MAX_GO; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			go[n_go++] = (struct range){ info->dlpi_addr + ph->p_vaddr,
						     info->dlpi_addr + ph->p_vaddr + ph->p_memsz };
	}
	return 0;
}

static bool in(const struct range *r, uintptr_t pc)
{
	return pc >= r->lo && pc < r->hi;
}

static bool allowed(uintptr_t pc)
{
	if (in(&runtime_text, pc))
		return false;
	for (unsigned i = 0; i < n_go; i++)
		if (in(&go[i], pc))
			return true;
	return false;
}

static uintptr_t pc_of(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#elif defined(__riscv)
	return (uintptr_t)uc->uc_mcontext.__gregs[REG_PC];
#endif
}

static bool safe_point(struct rt_cpu *c, const ucontext_t *uc)
{
	struct vs_task *t = c->cur;
	uintptr_t pc = pc_of(uc);
	vsched_ref_t cur = VSCHED_REF_NONE;

	if (!t || t->idle || t->stackless || !t->preemptible || t->preempt_off ||
	    !rt_locks_none(c) || !allowed(pc))
		return false;
	/* c->cur lags the core for a few instructions after a switch, all of
	 * them in the runtime or the core: checked anyway */
	return vsched_current(c->id, &cur) == 0 && cur == rt_ref(t);
}

static void on_preempt(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved = errno; /* the task may be between a call and reading it */
	struct rt_cpu *c = rt_self();

	(void)sig;
	(void)si;
	if (c && safe_point(c, uc)) {
		struct vs_task *me = c->cur;

		/* off the CPU, to the back (or the front, with slice left);
		 * the core keeps it for this CPU (STAY), because the
		 * interrupted code may hold this thread's thread pointer
		 * (riscv64's tp is even in the frame sigreturn restores), or
		 * addresses in its TLS, in registers: it resumes here */
		rt_preempt(c, me);
	}
	errno = saved;
}

static void *sysmon(void *arg)
{
	uint64_t tick = rt_g->cfg.slice_ns / 4;
	struct timespec ts;

	(void)arg;
	if (tick < 200000)
		tick = 200000;
	ts.tv_sec = (time_t)(tick / 1000000000u);
	ts.tv_nsec = (long)(tick % 1000000000u);
	uint64_t seen[VSCHED_MAX_CPUS] = { 0 };

	while (!atomic_load_explicit(&rt_g->stopping, memory_order_relaxed)) {
		nanosleep(&ts, NULL);
		rt_g->io->monitor();
		for (unsigned i = 0; i < rt_g->ncpus; i++) {
			struct rt_cpu *c = &rt_g->cpus[i];
			uint64_t nt = atomic_load_explicit(&c->next_timer, memory_order_relaxed);
			uint64_t sw = atomic_load_explicit(&c->core->nr_switches,
							   memory_order_relaxed);
			/* used up its slice, keeps its CPU from firing a timer
			 * (timers fire when the CPU switches), or from reaping
			 * I/O (not one switch since the last tick) */
			bool due = vsched_task_tick(i, 0) == 1 || (nt && nt <= rt_now()) ||
				   (rt_g->cfg.preempt && sw == seen[i] && rt_g->io->pending(c));
			const struct vs_task *t;

			seen[i] = sw;

			if (!due || !rt_g->cfg.preempt)
				continue;
			/* only where the handler may switch: a signal to any
			 * other task only cuts its system calls short (EINTR) */
			t = __atomic_load_n(&c->cur, __ATOMIC_RELAXED);
			if (!t || !t->preemptible)
				continue;
			/* a hint: the handler checks what runs when it lands */
			(void)pthread_kill(c->thread, PREEMPT_SIG);
		}
	}
	return NULL;
}

uint64_t rt_clock_calibrate(void)
{
	uint64_t t0 = rt_now(), c0 = vsched_clock_read(), t1, c1;

	do
		t1 = rt_now();
	while (t1 - t0 < 2000000);
	c1 = vsched_clock_read();
	return (c1 - c0) * 1000000u / (t1 - t0) + 1;
}

int rt_preempt_start(void)
{
	struct sigaction sa;
	int r;

	if (rt_g->cfg.policy == VS_POLICY_FIFO)
		return 0;
#ifdef __SANITIZE_THREAD__
	/* TSan holds asynchronous signals back until points of its own, and a
	 * handler that switches stacks would confuse its fibers: under it,
	 * slices end at yields and blocks only */
	rt_g->cfg.preempt = 0;
#endif
	if (rt_g->cfg.preempt) {
		n_go = 0;
		libc_found = false;
		runtime_text = (struct range){ (uintptr_t)__start_vsrt_text,
					       (uintptr_t)__stop_vsrt_text };
		dl_iterate_phdr(note_object, NULL);
		/* statically linked: libc is inside the program, where no
		 * address range tells it apart, so nothing is allowed */
		if (!libc_found)
			n_go = 0;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_preempt;
		/* NODEFER: the handler may switch to another task, which must
		 * be preemptible on this thread in turn */
		sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(PREEMPT_SIG, &sa, &old_act) < 0)
			return -errno;
	}
	r = -pthread_create(&rt_g->sysmon, NULL, sysmon, NULL);
	if (r < 0) {
		if (rt_g->cfg.preempt)
			sigaction(PREEMPT_SIG, &old_act, NULL);
		return r;
	}
	rt_g->has_sysmon = true;
	return 0;
}

void rt_preempt_stop(void)
{
	if (!rt_g->has_sysmon)
		return;
	pthread_join(rt_g->sysmon, NULL); /* it watches ->stopping */
	rt_g->has_sysmon = false;
	if (rt_g->cfg.preempt)
		sigaction(PREEMPT_SIG, &old_act, NULL);
}

void vs_preempt_disable(void)
{
	struct vs_task *t = vs_task_self();

	if (t)
		t->preempt_off++;
}

void vs_preempt_enable(void)
{
	struct vs_task *t = vs_task_self();

	if (!t || !t->preempt_off)
		return;
	/* a preemption asked for meanwhile happens now, unless the task is
	 * inside the runtime (a predicate runs under its queue's lock): then
	 * at its next yield or block */
	if (--t->preempt_off == 0 && !t->stackless && rt_locks_none(rt_self()) &&
	    atomic_load_explicit(&rt_slot(t)->need_resched, memory_order_relaxed))
		(void)vs_task_yield();
}

/* SPDX-License-Identifier: MIT */
/*
 * vsbench: every workload on libvsched, on plain pthreads and, when the go
 * tool is installed, on Go (bench/go, built at run time) in one run, each
 * figure the median of several runs after a warm-up. Prints a table with
 * the machine it ran on, or with --format=tsv one line per figure:
 * workload<TAB>impl<TAB>ns_per_op (bytes per task for the *_rss ones).
 * --quick: small sizes and one run each, to check that everything runs;
 * --impl=vsched, pthread or go: that one only (to profile it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct workload {
	const char *name;
	bench_fn vsched, pthread;
	int go; /* bench/go has it */
	long n, n_quick; /* operations (tasks for the memory ones) */
	long pt_n;	 /* pthreads' size where it must differ (0: n) */
	int memory;	 /* bytes per task, measured in a process of its own */
};

static const struct workload workloads[] = {
	{ "yield", vs_yield, pt_yield, 1, 2000000, 20000, 200000, 0 },
	{ "wake", vs_wake, pt_wake, 1, 1000000, 10000, 100000, 0 },
	{ "wake_xcpu", vs_wake_xcpu, pt_wake_xcpu, 1, 300000, 10000, 100000, 0 },
	{ "spawn_join", vs_spawn_join, pt_spawn_join, 1, 1000000, 10000, 20000, 0 },
	{ "fanout", vs_fanout, pt_fanout, 1, 1000000, 20000, 50000, 0 },
	{ "fanout_1cpu", vs_fanout_1cpu, NULL, 0, 1000000, 20000, 0, 0 },
	{ "channel", vs_channel, pt_channel, 1, 1000000, 10000, 200000, 0 },
	{ "mutex", vs_mutex, pt_mutex, 1, 2000000, 20000, 1000000, 0 },
	{ "park_rss", vs_park_rss, pt_park_rss, 1, 1000000, 20000, 10000, 1 },
	{ "stackless_rss", vs_stackless_rss, NULL, 0, 10000000, 200000, 0, 1 },
};

#define NWORK (sizeof(workloads) / sizeof(workloads[0]))
#define MAX_REPS 9

long bench_rss_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kl = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl)) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Runs @fn(@n) in a child process: its peak memory is its own. */
static double in_child(bench_fn fn, long n)
{
	int fd[2];
	double v = -EIO;
	pid_t pid;
	int st;

	fflush(NULL);
	if (pipe(fd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		double r = fn(n);

		_exit(write(fd[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = -EIO;
	close(fd[0]);
	waitpid(pid, &st, 0);
	return v;
}

/* ---------------------------------------------------------------- Go */

static char go_bin[512];	/* the built bench/go, or "" */
static const char *go_workload; /* what go_run runs */

/* Builds bench/go into a fresh directory if the go tool is there. */
static void go_build(int quiet)
{
	static char dir[] = "/tmp/vsbench-XXXXXX";
	const char *src = getenv("VSBENCH_GO_SRC");
	char cmd[2048];

	if (!src)
		src = VSBENCH_GO_SRC;
	if (system("command -v go >/dev/null 2>&1") != 0) {
		if (!quiet)
			printf("go: the go tool is not installed; Go is skipped\n");
		return;
	}
	if (!mkdtemp(dir))
		return;
	/* its own cache: HOME may be unset or read-only (CI) */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && GOCACHE='%s/cache' GOPATH='%s/path' GOFLAGS= "
		 "go build -o '%s/vsbench-go' '%s'",
		 dir, dir, dir, dir, src);
	if (system(cmd) != 0) {
		if (!quiet)
			printf("go: building %s failed; Go is skipped\n", src);
		return;
	}
	snprintf(go_bin, sizeof(go_bin), "%s/vsbench-go", dir);
	if (!quiet) {
		FILE *v = popen("go version", "r");
		char line[128] = "";

		if (v && fgets(line, sizeof(line), v))
			printf("go: %s", line);
		if (v)
			pclose(v);
	}
}

static void go_clean(void)
{
	char cmd[600];

	if (!go_bin[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strrchr(go_bin, '/') - go_bin), go_bin);
	(void)!system(cmd);
}

/* One run of go_workload in the Go program: its figure, or -EIO. */
static double go_run(long n)
{
	char cmd[700], out[64] = "";
	FILE *p;
	double v = -EIO;

	snprintf(cmd, sizeof(cmd), "'%s' %s %ld", go_bin, go_workload, n);
	fflush(NULL);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	if (fgets(out, sizeof(out), p))
		v = strtod(out, NULL);
	if (pclose(p) != 0 || v <= 0)
		return -EIO;
	return v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @reps runs after @warm unmeasured ones (negative: failed). */
static double measure(const struct workload *w, bench_fn fn, long n, int warm, int reps)
{
	double v[MAX_REPS];

	if (w->memory)
		return in_child(fn, n); /* one run: it is a million tasks */
	for (int i = 0; i < warm; i++)
		if (fn(n / 10 + 1) < 0)
			return -1;
	for (int i = 0; i < reps; i++)
		if ((v[i] = fn(n)) < 0)
			return v[i];
	qsort(v, (size_t)reps, sizeof(v[0]), cmp);
	return v[reps / 2];
}

static void machine(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256], model[128] = "unknown CPU";
	struct utsname u;

	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (c && !strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", c + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	printf("vsbench on %s, %ld CPUs online, %s %s (%s)\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine);
}

static void usage(void)
{
	fprintf(stderr, "usage: vsbench [--quick] [--format=table|tsv] [--impl=vsched|pthread|go] "
			"[workload...]\n");
	exit(2);
}

/* A figure and its ratio against vsched's, or dashes where there is none. */
static void cell(double x, double vs, const char *unit)
{
	if (x <= 0)
		printf(" %14s %8s", "-", "-");
	else if (vs <= 0)
		printf(" %11.1f %-2s %8s", x, unit, "-");
	else
		printf(" %11.1f %-2s %7.1fx", x, unit, x / vs);
}

int main(int argc, char **argv)
{
	int quick = 0, tsv = 0, warm, reps, nsel = 0, fails = 0, want_vs = 1, want_pt = 1;
	int want_go = 1;
	const char *sel[NWORK];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--format=tsv"))
			tsv = 1;
		else if (!strcmp(argv[i], "--format=table"))
			tsv = 0;
		else if (!strcmp(argv[i], "--impl=vsched"))
			want_pt = want_go = 0;
		else if (!strcmp(argv[i], "--impl=pthread"))
			want_vs = want_go = 0;
		else if (!strcmp(argv[i], "--impl=go"))
			want_vs = want_pt = 0;
		else if (argv[i][0] == '-' || nsel == (int)NWORK)
			usage();
		else
			sel[nsel++] = argv[i];
	}
	warm = quick ? 0 : 1;
	reps = quick ? 1 : 5;
	if (!tsv)
		machine();
	if (want_go)
		go_build(tsv);
	if (!tsv) {
		printf("median of %d runs after %d warm-up; each ratio is that column's time (or "
		       "memory) over vsched's: above 1, vsched is faster or smaller\n\n",
		       reps, warm);
		printf("%-14s %14s %14s %8s %14s %8s\n", "workload", "vsched", "pthread", "ratio",
		       "go", "ratio");
	}
	for (size_t k = 0; k < NWORK; k++) {
		const struct workload *w = &workloads[k];
		long n = quick ? w->n_quick : w->n;
		long pn = quick ? w->n_quick : (w->pt_n ? w->pt_n : w->n);
		const char *unit = w->memory ? "B" : "ns";
		double v = 0, p = 0, g = 0;
		int chosen = !nsel;

		for (int i = 0; i < nsel; i++)
			chosen |= !strcmp(sel[i], w->name);
		if (!chosen)
			continue;
		if (want_vs)
			v = measure(w, w->vsched, n, warm, reps);
		if (w->pthread && want_pt)
			p = measure(w, w->pthread, pn, warm, reps);
		if (w->go && go_bin[0]) {
			go_workload = w->name;
			g = measure(w, go_run, n, warm, reps);
		}
		fails += v < 0 || p < 0 || g < 0;
		if (tsv) {
			if (want_vs)
				printf("%s\tvsched\t%.1f\n", w->name, v);
			if (w->pthread && want_pt)
				printf("%s\tpthread\t%.1f\n", w->name, p);
			if (g)
				printf("%s\tgo\t%.1f\n", w->name, g);
		} else {
			printf("%-14s", w->name);
			if (v > 0)
				printf(" %11.1f %-2s", v, unit);
			else
				printf(" %14s", "-");
			cell(p, v, unit);
			cell(g, v, unit);
			printf("\n");
		}
		fflush(stdout);
	}
	go_clean();
	return fails ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * vsbench: every workload on libvsched, on plain pthreads and, when the go
 * tool is installed, on Go (bench/go, built at run time) in one run, each
 * figure the median of several runs after a warm-up, and each libvsched
 * figure held against a limit measured in the same run: the core's own
 * register switch (`switch`) for what runs on one CPU, a cache-line round
 * trip between two CPUs (`line_xcpu`) for what crosses. Prints a table
 * with the machine it ran on, or with --format=tsv one line per figure:
 * workload<TAB>impl<TAB>ns_per_op (bytes per task for the *_rss ones,
 * kernel switches per second for xproc_cpu; impl "limit" for the two
 * limits).
 * --quick: small sizes and one run each, to check that everything runs;
 * --impl=vsched, pthread or go: that one only (to profile it);
 * --svg=FILE: a chart of the ratios into FILE, when gnuplot is installed.
 *
 * The *_pinned workloads pin one task (thread) to each of two CPUs, so
 * every hand-off crosses; their namesakes without the suffix let each
 * scheduler place its tasks (threads, goroutines) as it likes. Go cannot
 * pin, so it has no pinned figure.
 *
 * The xproc_* workloads cross processes (workloads_xproc.c): tasks of two
 * members of a domain, against two plain processes that ping-pong through
 * a shared futex word (the pthread column; xproc_pipe: through pipes);
 * xproc_cpu counts the kernel switches of two CPU-bound members sharing
 * one domain CPU, against two busy processes on one machine CPU.
 * With VSBENCH_DOMAIN set in the environment, every libvsched workload
 * runs as the only member of a domain of its own: the cost of being one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The limit a workload's libvsched figure is held against. */
enum { LIM_NONE, LIM_SWITCH, LIM_LINE, LIM_N };
static const char *const lim_names[LIM_N] = { "", "switch", "line_xcpu" };

struct workload {
	const char *name;
	bench_fn vsched, pthread;
	const char *go; /* what bench/go runs for it (NULL: nothing) */
	long n, n_quick; /* operations (tasks for the memory ones) */
	long pt_n;	 /* pthreads' size where it must differ (0: n) */
	long go_n;	 /* Go's size where it must differ (0: n) */
	int memory;	 /* bytes per task, measured in a process of its own */
	int limit;	 /* LIM_*: what its vsched figure is held against */
	int is_limit;	 /* LIM_*: the limit this row measures (vsched: it) */
	const char *unit; /* its figure's, where not ns (or B for memory) */
};

/*
 * stackless_rss has no stackless counterpart in pthreads or Go: each is
 * measured with the smallest task it has (a thread, a goroutine), which is
 * what a program without stackless tasks would use. Go runs 1e6 of them,
 * not 1e7: ten million goroutines need more memory than the machine has.
 */
static const struct workload workloads[] = {
	{ "switch", lim_switch, NULL, NULL, 20000000, 200000, 0, 0, 0, LIM_NONE, LIM_SWITCH, NULL },
	{ "line_xcpu", lim_line_xcpu, NULL, NULL, 1000000, 10000, 0, 0, 0, LIM_NONE, LIM_LINE, NULL },
	{ "yield", vs_yield, pt_yield, "yield", 2000000, 20000, 200000, 0, 0, LIM_SWITCH, 0, NULL },
	{ "wake", vs_wake, pt_wake, "wake", 1000000, 10000, 100000, 0, 0, LIM_SWITCH, 0, NULL },
	{ "spawn_join", vs_spawn_join, pt_spawn_join, "spawn_join", 1000000, 10000, 20000, 0, 0,
	  LIM_SWITCH, 0, NULL },
	{ "wake_xcpu", vs_wake_xcpu, pt_wake_xcpu, "wake_xcpu", 300000, 10000, 100000, 0, 0,
	  LIM_LINE, 0, NULL },
	{ "wake_pinned", vs_wake_pinned, pt_wake_pinned, NULL, 300000, 10000, 100000, 0, 0,
	  LIM_LINE, 0, NULL },
	{ "channel", vs_channel, pt_channel, "channel", 1000000, 10000, 200000, 0, 0, LIM_LINE, 0, NULL },
	{ "channel_pinned", vs_channel_pinned, pt_channel_pinned, NULL, 1000000, 10000, 200000, 0, 0,
	  LIM_LINE, 0, NULL },
	{ "mutex", vs_mutex, pt_mutex, "mutex", 2000000, 20000, 1000000, 0, 0, LIM_LINE, 0, NULL },
	{ "mutex_pinned", vs_mutex_pinned, pt_mutex_pinned, NULL, 2000000, 20000, 1000000, 0, 0,
	  LIM_LINE, 0, NULL },
	{ "fanout", vs_fanout, pt_fanout, "fanout", 1000000, 20000, 50000, 0, 0, LIM_LINE, 0, NULL },
	{ "fanout_1cpu", vs_fanout_1cpu, NULL, NULL, 1000000, 20000, 0, 0, 0, LIM_SWITCH, 0, NULL },
	{ "xproc_wake", vs_xproc_wake, pt_xproc_wake, NULL, 50000, 1000, 0, 0, 0, LIM_NONE, 0, NULL },
	{ "xproc_pipe", vs_xproc_wake, pt_xproc_pipe, NULL, 50000, 1000, 0, 0, 0, LIM_NONE, 0, NULL },
	{ "xproc_wake_spin", vs_xproc_wake_spin, pt_xproc_wake_spin, NULL, 50000, 1000, 10000, 0,
	  0, LIM_LINE, 0, NULL },
	{ "xproc_cpu", vs_xproc_cpu, pt_xproc_cpu, NULL, 500, 30, 0, 0, 0, LIM_NONE, 0, "/s" },
	{ "park_rss", vs_park_rss, pt_park_rss, "park_rss", 1000000, 20000, 10000, 0, 1, LIM_NONE,
	  0, NULL },
	{ "stackless_rss", vs_stackless_rss, pt_park_rss, "park_rss", 10000000, 200000, 10000,
	  1000000, 1, LIM_NONE, 0, NULL },
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

/* @n, or @bound if that is set (not 0) and smaller. */
static long lmin(long n, long bound)
{
	return bound && bound < n ? bound : n;
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

/* One line naming the machine, for the table and the chart. */
static void machine(char *buf, size_t len)
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
	snprintf(buf, len, "vsbench on %s, %ld CPUs online, %s %s (%s)", model,
		 sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine);
}

static void usage(void)
{
	fprintf(stderr, "usage: vsbench [--quick] [--format=table|tsv] [--impl=vsched|pthread|go] "
			"[--svg=FILE] [workload...]\n");
	exit(2);
}

/* The limits measured so far (0: not yet). */
static double limits[LIM_N];

/* Limit @l, measured now if no row has measured it yet. */
static double limit_of(int l, int quick, int warm, int reps)
{
	for (size_t k = 0; k < NWORK && !limits[l]; k++)
		if (workloads[k].is_limit == l) {
			const struct workload *w = &workloads[k];

			limits[l] = measure(w, w->vsched, quick ? w->n_quick : w->n, warm, reps);
		}
	return limits[l];
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

/* What a run measured, for the chart. */
static struct result {
	const char *name;
	double v, p, g;
} results[NWORK];
static size_t nresults;

/* The data of one bar: @x over @v, or NaN (no bar) where either is missing. */
static void ratio_field(FILE *gp, double x, double v)
{
	if (x > 0 && v > 0)
		fprintf(gp, " %.3f", x / v);
	else
		fprintf(gp, " NaN");
}

/*
 * With gnuplot on the PATH, draws the ratios as an SVG bar chart in @path:
 * for each workload, pthreads' and Go's figure over vsched's, on a log
 * scale (above 1, vsched is faster or smaller). Returns 0, or -1 if no
 * chart was drawn.
 */
static int chart(const char *path, const char *machine_line)
{
	double lo = 1, hi = 1;
	FILE *gp;

	if (!path || !path[0] || !nresults || system("command -v gnuplot >/dev/null 2>&1") != 0)
		return -1;
	/* the range by hand: a log axis does not autoscale to histogram bars */
	for (size_t i = 0; i < nresults; i++)
		for (int k = 0; k < 2; k++) {
			double x = k ? results[i].g : results[i].p;

			if (x > 0 && x / results[i].v < lo)
				lo = x / results[i].v;
			if (x > 0 && x / results[i].v > hi)
				hi = x / results[i].v;
		}
	gp = popen("gnuplot", "w");
	if (!gp)
		return -1;
	fprintf(gp, "set terminal svg size 1040,480 dynamic font 'sans,12'\n"
		    "set output '%s'\n"
		    "set title \"%s\" noenhanced\n"
		    "set logscale y 10\n"
		    "set yrange [%g:%g]\n"
		    "set bmargin 5\n"
		    "set ylabel 'time (memory) over vsched''s: above 1, vsched wins'\n"
		    "set grid ytics\n"
		    "set style data histogram\n"
		    "set style histogram clustered gap 1\n"
		    "set style fill solid 0.8 border -1\n"
		    "set boxwidth 0.9\n"
		    "set xtics nomirror noenhanced font ',11'\n"
		    "set key top right\n"
		    "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2\n"
		    "$d << EOD\n",
		path, machine_line, lo / 2, hi * 2);
	for (size_t i = 0; i < nresults; i++) {
		fprintf(gp, "%s", results[i].name);
		ratio_field(gp, results[i].p, results[i].v);
		ratio_field(gp, results[i].g, results[i].v);
		fprintf(gp, "\n");
	}
	fprintf(gp, "EOD\n"
		    "plot $d using 2:xtic(1) title 'pthreads / vsched', "
		    "'' using 3 title 'Go / vsched'\n");
	return pclose(gp) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int quick = 0, tsv = 0, warm, reps, nsel = 0, fails = 0, want_vs = 1, want_pt = 1;
	int want_go = 1;
	const char *sel[NWORK], *svg = NULL;
	char mline[256];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--format=tsv"))
			tsv = 1;
		else if (!strcmp(argv[i], "--format=table"))
			tsv = 0;
		else if (!strncmp(argv[i], "--svg=", 6))
			svg = argv[i] + 6;
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
	machine(mline, sizeof(mline));
	if (!tsv)
		printf("%s\n", mline);
	if (want_go)
		go_build(tsv);
	if (!tsv) {
		printf("median of %d runs after %d warm-up; each ratio is that column's time (or "
		       "memory) over vsched's: above 1, vsched is faster or smaller; limit is\n"
		       "vsched's time over the limit named, measured in this run (switch: the core's "
		       "register switch; line_xcpu: a cache-line round trip between two CPUs)\n\n",
		       reps, warm);
		printf("%-14s %14s %14s %8s %14s %8s %18s\n", "workload", "vsched", "pthread",
		       "ratio", "go", "ratio", "limit");
	}
	for (size_t k = 0; k < NWORK; k++) {
		const struct workload *w = &workloads[k];
		long n = quick ? w->n_quick : w->n;
		/* pt_n and go_n bound the quick sizes too */
		long pn = lmin(quick ? w->n_quick : w->n, w->pt_n);
		long gn = lmin(quick ? w->n_quick : w->n, w->go_n);
		const char *unit = w->unit ? w->unit : w->memory ? "B" : "ns";
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
			go_workload = w->go;
			g = measure(w, go_run, gn, warm, reps);
		}
		fails += v < 0 || p < 0 || g < 0;
		if (w->is_limit && v > 0)
			limits[w->is_limit] = v;
		if (tsv) {
			if (want_vs)
				printf("%s\t%s\t%.1f\n", w->name, w->is_limit ? "limit" : "vsched", v);
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
			if (w->limit && v > 0) {
				double l = limit_of(w->limit, quick, warm, reps);

				if (l > 0)
					printf(" %7.1fx %s", v / l, lim_names[w->limit]);
			}
			printf("\n");
		}
		fflush(stdout);
		if (v > 0 && (p > 0 || g > 0))
			results[nresults++] = (struct result){ w->name, v, p, g };
	}
	go_clean();
	if (svg && chart(svg, mline) == 0 && !tsv)
		printf("\nchart of the ratios: %s\n", svg);
	return fails ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * A program outside the Meson project, built against the installed library
 * with pkg-config (CI's install stage): spawns tasks on every CPU, adds
 * under a mutex and joins them, and moves bytes through a pipe with the
 * I/O calls (on io_uring where the kernel has it: static links need
 * liburing, which pkg-config --static names).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vsched/io.h>
#include <vsched/sync.h>
#include <vsched/vs.h>

static struct vs_mutex m = VS_MUTEX_INIT;
static long total;

static int add(void *arg)
{
	for (int i = 0; i < 1000; i++) {
		if (vs_mutex_lock(&m) != 0)
			return -1;
		total += (long)(intptr_t)arg;
		if (vs_mutex_unlock(&m) != 0)
			return -1;
		if (vs_task_yield() != 0)
			return -1;
	}
	return 0;
}

static int reader(void *arg)
{
	char buf[8] = { 0 };

	return vs_read(*(int *)arg, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5) ? 0 : -1;
}

int main(void)
{
	struct vs_task_attr a = { .place = VS_PLACE_BALANCE };
	vs_task_t *t[8], *r;
	int code, bad = 0, p[2];

	if (vs_runtime_start(NULL) != 0 || pipe(p) != 0)
		return 1;
	if (vs_task_spawn(reader, &p[0], NULL, &r) != 0 || vs_write(p[1], "hello", 5) != 5)
		return 1;
	bad += vs_task_join(r, &code) != 0 || code != 0;
	printf("app: I/O on %s\n", vs_io_backend());
	bad += vs_close(p[0]) != 0 || vs_close(p[1]) != 0;
	for (int i = 0; i < 8; i++)
		if (vs_task_spawn(add, (void *)(intptr_t)(i + 1), &a, &t[i]) != 0)
			return 1;
	for (int i = 0; i < 8; i++)
		bad += vs_task_join(t[i], &code) != 0 || code != 0;
	if (vs_runtime_stop() != 0)
		return 1;
	printf("app: total %ld (want %d)\n", total, 1000 * 36);
	return bad || total != 1000 * 36;
}

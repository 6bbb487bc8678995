/* SPDX-License-Identifier: MIT */
/*
 * A program outside the Meson project, built against the installed library
 * with pkg-config (CI's install stage): spawns tasks on every CPU, passes a
 * token through a wait queue and joins them.
 */
#include <stdio.h>

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

int main(void)
{
	struct vs_task_attr a = { .place = VS_PLACE_BALANCE };
	vs_task_t *t[8];
	int code, bad = 0;

	if (vs_runtime_start(NULL) != 0)
		return 1;
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

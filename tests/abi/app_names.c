/* SPDX-License-Identifier: MIT */
/*
 * An application whose own names are those the runtime uses inside
 * (rt_now, rt_g, rt_self, vsa_install, vsched_api, ...): it links against
 * the library applications link, and both its names and the runtime work.
 */
#include <stdio.h>

#include "vsched/vs.h"

int rt_g = 40;
int vsched_api = 1;

int rt_now(void)
{
	return 1;
}

int rt_self(void)
{
	return 1;
}

int vsa_install(int x)
{
	return x;
}

static int task(void *arg)
{
	return *(int *)arg + rt_now() + rt_self() - 2;
}

int main(void)
{
	vs_task_t *t;
	int code = 0;

	if (vs_runtime_start(NULL) || vs_task_spawn(task, &rt_g, NULL, &t) ||
	    vs_task_join(t, &code) || vs_runtime_stop())
		return 1;
	printf("task returned %d\n", code);
	return code + vsa_install(vsched_api) + 1 == 42 ? 0 : 1;
}

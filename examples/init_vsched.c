/* SPDX-License-Identifier: MIT */
/* Starts the runtime: the calling thread becomes the first task on CPU 0. */
#include "check.h"
#include "vsched/vs.h"

int main(void)
{
	struct vs_config cfg;

	CHECK(vs_task_self() == NULL); /* not a task yet */
	vs_config_default(&cfg);
	cfg.ncpus = 1;
	CHECK(vs_runtime_start(&cfg) == 0);
	CHECK(vs_runtime_start(&cfg) < 0); /* one at a time */
	CHECK(vs_task_self() != NULL);
	CHECK(vs_cpu_self() == 0);
	CHECK(vs_task_yield() == 0); /* nothing else to run: back at once */
	CHECK(vs_runtime_stop() == 0);
	CHECK(vs_task_self() == NULL);
	puts("init_vsched: ok");
	return 0;
}

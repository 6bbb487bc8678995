/* SPDX-License-Identifier: MIT */
/*
 * Three tasks on one CPU yield to each other in turn: the log must be the
 * strict round-robin interleaving, since yield puts a task at the back.
 */
#include <string.h>

#include "check.h"
#include "vsched/vs.h"

#define ROUNDS 100

static char log_[3 * ROUNDS + 1];
static int pos;

static int body(void *arg)
{
	char name = *(const char *)arg;

	for (int i = 0; i < ROUNDS; i++) {
		log_[pos++] = name;
		CHECK(vs_task_yield() == 0);
	}
	return 0;
}

int main(void)
{
	struct vs_config cfg;
	vs_task_t *t[3];
	static const char names[] = "ABC";
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	CHECK(vs_runtime_start(&cfg) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(vs_task_spawn(body, (void *)&names[i], NULL, &t[i]) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(vs_task_join(t[i], &code) == 0);
		CHECK(code == 0);
	}
	CHECK(pos == 3 * ROUNDS);
	for (int i = 0; i < 3 * ROUNDS; i++)
		CHECK(log_[i] == names[i % 3]);
	CHECK(vs_runtime_stop() == 0);
	printf("yield: %d rounds of ABC in order\n", ROUNDS);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Producer tasks and consumer tasks on two CPUs, joined by one small
 * channel: every item arrives exactly once (count, sum and a tally each).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "vsched/sync.h"

#define PRODUCERS 4
#define CONSUMERS 3
#define ITEMS 10000 /* per producer */
#define TOTAL (PRODUCERS * ITEMS)

static vs_chan_t *ch;
static atomic_int tally[TOTAL];
static atomic_long sum;

static int producer(void *arg)
{
	int base = (int)(long)arg * ITEMS;

	for (int i = 0; i < ITEMS; i++) {
		int v = base + i;

		CHECK(vs_chan_send(ch, &v) == 0);
	}
	return 0;
}

static int consumer(void *arg)
{
	int v, r, got = 0;

	(void)arg;
	while ((r = vs_chan_recv(ch, &v)) == 0) {
		CHECK(v >= 0 && v < TOTAL);
		atomic_fetch_add(&tally[v], 1);
		atomic_fetch_add(&sum, v);
		got++;
	}
	CHECK(r == -EPIPE); /* closed, and drained */
	return got;
}

int main(void)
{
	struct vs_config cfg;
	vs_task_t *p[PRODUCERS], *c[CONSUMERS];
	int code, count = 0;

	vs_config_default(&cfg);
	cfg.ncpus = 2;
	CHECK(vs_runtime_start(&cfg) == 0);
	CHECK(vs_chan_create(sizeof(int), 16, &ch) == 0);
	for (long i = 0; i < CONSUMERS; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)(i % 2) };

		CHECK(vs_task_spawn(consumer, NULL, &a, &c[i]) == 0);
	}
	for (long i = 0; i < PRODUCERS; i++) {
		struct vs_task_attr a = { .place = VS_PLACE_CPU, .cpu = (int)(i % 2) };

		CHECK(vs_task_spawn(producer, (void *)i, &a, &p[i]) == 0);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		CHECK(vs_task_join(p[i], &code) == 0);
		CHECK(code == 0);
	}
	CHECK(vs_chan_close(ch) == 0); /* the consumers drain it, then stop */
	for (int i = 0; i < CONSUMERS; i++) {
		CHECK(vs_task_join(c[i], &code) == 0);
		count += code;
	}
	CHECK(count == TOTAL);
	CHECK(atomic_load(&sum) == (long)TOTAL * (TOTAL - 1) / 2);
	for (int v = 0; v < TOTAL; v++)
		CHECK(atomic_load(&tally[v]) == 1);
	vs_chan_destroy(ch);
	CHECK(vs_runtime_stop() == 0);
	printf("producer_consumer: %d producers -> %d consumers on 2 CPUs, %d items, each once\n",
	       PRODUCERS, CONSUMERS, TOTAL);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * A stackless task waits on a wait queue and is woken by a stackful one,
 * then joins another stackful task; the stackful side joins it in turn.
 */
#include <errno.h>

#include "check.h"
#include "vsched/vs.h"

static struct vs_wq wq = VS_WQ_INIT;
static int flag, polls, step;
static vs_task_t *worker;

struct co {
	int stage;
};

static enum vs_poll co_poll(void *state, int *code)
{
	struct co *co = state;
	int r;

	polls++;
	switch (co->stage) {
	case 0: /* wait until the flag is set */
		while (!flag) {
			/* -EAGAIN: registered; 0: notified, so look again */
			r = vs_wq_wait_poll(&wq);
			if (r == -EAGAIN)
				return VS_PENDING;
			CHECK(r == 0);
		}
		step = 1;
		co->stage = 1;
		/* fall through */
	case 1: /* join the stackful worker */
		r = vs_task_join_poll(worker, code);
		if (r == -EAGAIN)
			return VS_PENDING;
		CHECK(r == 0 && *code == 7);
		step = 2;
		*code = 42;
		return VS_READY;
	}
	return VS_READY;
}

static int setter(void *arg)
{
	(void)arg;
	CHECK(vs_task_yield() == 0);
	flag = 1;
	CHECK(vs_wq_notify_one(&wq) == 1); /* the coroutine is waiting */
	return 0;
}

static int work(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		CHECK(vs_task_yield() == 0);
	return 7;
}

int main(void)
{
	struct vs_config cfg;
	struct co co = { 0 };
	vs_task_t *c, *s;
	int code;

	vs_config_default(&cfg);
	cfg.ncpus = 1;
	CHECK(vs_runtime_start(&cfg) == 0);
	CHECK(vs_task_spawn(work, NULL, NULL, &worker) == 0);
	CHECK(vs_task_spawn_poll(co_poll, &co, NULL, &c) == 0);
	CHECK(vs_task_spawn(setter, NULL, NULL, &s) == 0);
	CHECK(vs_task_join(c, &code) == 0);
	CHECK(code == 42);
	CHECK(step == 2);
	CHECK(polls >= 3); /* first wait, woken, then join pending at least once */
	CHECK(vs_task_join(s, &code) == 0 && code == 0);
	CHECK(vs_runtime_stop() == 0);
	printf("coroutine_wait: woken by a stackful task after %d polls\n", polls);
	return 0;
}

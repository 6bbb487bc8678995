/* SPDX-License-Identifier: MIT */
/*
 * Sync misuse: outside the runtime the blocking forms say -EPERM, and
 * bad arguments, foreign unlocks and stackless callers get their errno.
 */
#include <errno.h>

#include "sync_common.h"

/* No runtime at all: blocking forms say -EPERM, the rest works. */
static void test_plain_thread(void **state)
{
	struct vs_mutex m = VS_MUTEX_INIT;
	struct vs_cond cv = VS_COND_INIT;
	struct vs_sem sem = VS_SEM_INIT(0);
	vs_chan_t *ch;
	int v = 5;

	(void)state;
	assert_int_equal(vs_mutex_lock(&m), -EPERM);
	assert_int_equal(vs_mutex_try_lock(&m), 0);
	assert_int_equal(vs_mutex_try_lock(&m), -EAGAIN);
	assert_int_equal(vs_cond_wait(&cv, &m), -EPERM);
	assert_int_equal(vs_mutex_unlock(&m), 0);
	assert_int_equal(vs_mutex_unlock(&m), -EPERM);
	assert_int_equal(vs_cond_signal(&cv), 0);
	assert_int_equal(vs_cond_broadcast(&cv), 0);

	assert_int_equal(vs_sem_wait(&sem), -EPERM);
	assert_int_equal(vs_sem_try_wait(&sem), -EAGAIN);
	assert_int_equal(vs_sem_post(&sem), 0);
	assert_int_equal(vs_sem_value(&sem), 1);
	assert_int_equal(vs_sem_try_wait(&sem), 0);

	assert_int_equal(vs_chan_create(sizeof(int), 1, &ch), 0);
	assert_int_equal(vs_chan_send(ch, &v), -EPERM);
	assert_int_equal(vs_chan_recv(ch, &v), -EPERM);
	assert_int_equal(vs_chan_send_poll(ch, &v), -EPERM);
	assert_int_equal(vs_chan_recv_poll(ch, &v), -EPERM);
	assert_int_equal(vs_chan_try_send(ch, &v), 0);
	v = 0;
	assert_int_equal(vs_chan_try_recv(ch, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(vs_chan_close(ch), 0);
	vs_chan_destroy(ch);
}

static struct vs_mutex shared_m;

static int unlock_foreign(void *arg)
{
	(void)arg;
	/* held by the first task: not ours to release or take */
	EXPECT(vs_mutex_unlock(&shared_m) == -EPERM);
	EXPECT(vs_mutex_try_lock(&shared_m) == -EAGAIN);
	return 3;
}

struct co_misuse {
	struct vs_cond *cv;
	int stage;
};

static enum vs_poll misuse_poll(void *state, int *code)
{
	struct co_misuse *co = state;
	struct vs_sem sem = VS_SEM_INIT(0);
	int v = 0;

	if (co->stage++ == 0) {
		/* blocking forms refuse a stackless task; trylock works and the
		 * hold survives a VS_PENDING (taken back in the next poll) */
		EXPECT(vs_mutex_lock(&shared_m) == -EPERM);
		EXPECT(vs_sem_wait(&sem) == -EPERM);
		EXPECT(vs_mutex_try_lock(&shared_m) == 0);
		EXPECT(vs_cond_wait(co->cv, &shared_m) == -EPERM);
		EXPECT(vs_chan_send(NULL, &v) == -EINVAL);
		return VS_PENDING;
	}
	EXPECT(vs_mutex_unlock(&shared_m) == 0);
	*code = 4;
	return VS_READY;
}

static void test_misuse(void **state)
{
	struct vs_cond cv = VS_COND_INIT;
	struct co_misuse co = { .cv = &cv };
	struct vs_sem sem;
	vs_chan_t *ch = NULL;

	(void)state;
	start(1);
	vs_mutex_init(&shared_m);
	assert_int_equal(vs_mutex_unlock(&shared_m), -EPERM);
	assert_int_equal(vs_cond_wait(&cv, &shared_m), -EPERM); /* not held */
	assert_int_equal(vs_mutex_lock(&shared_m), 0);
	assert_int_equal(vs_mutex_lock(&shared_m), -EDEADLK);
	assert_int_equal(vs_mutex_try_lock(&shared_m), -EAGAIN);
	join_expect(spawn_on(unlock_foreign, NULL, 0), 3);
	assert_int_equal(vs_mutex_unlock(&shared_m), 0);
	assert_int_equal(vs_mutex_unlock(&shared_m), -EPERM);
	join_expect(spawn_poll_on(misuse_poll, &co, 0), 4);
	assert_int_equal(vs_mutex_try_lock(&shared_m), 0); /* released */
	assert_int_equal(vs_mutex_unlock(&shared_m), 0);

	assert_int_equal(vs_mutex_lock(NULL), -EINVAL);
	assert_int_equal(vs_mutex_try_lock(NULL), -EINVAL);
	assert_int_equal(vs_mutex_unlock(NULL), -EINVAL);
	assert_int_equal(vs_cond_wait(NULL, &shared_m), -EINVAL);
	assert_int_equal(vs_cond_wait(&cv, NULL), -EINVAL);
	assert_int_equal(vs_cond_signal(NULL), -EINVAL);
	assert_int_equal(vs_cond_broadcast(NULL), -EINVAL);
	assert_int_equal(vs_sem_init(NULL, 0), -EINVAL);
	assert_int_equal(vs_sem_init(&sem, -1), -EINVAL);
	assert_int_equal(vs_sem_wait(NULL), -EINVAL);
	assert_int_equal(vs_sem_try_wait(NULL), -EINVAL);
	assert_int_equal(vs_sem_post(NULL), -EINVAL);
	assert_int_equal(vs_sem_value(NULL), -EINVAL);

	assert_int_equal(vs_chan_create(0, 1, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(1, 0, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(SIZE_MAX / 2, 3, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(SIZE_MAX - 4, 1, &ch), -EINVAL); /* the cell overflows */
	/* positions keep the index in 32 bits: more cells are refused */
	assert_int_equal(vs_chan_create(1, ((size_t)1 << 31) + 1, &ch), -EINVAL);
	assert_int_equal(vs_chan_create(1, 1, NULL), -EINVAL);
	assert_null(ch);
	assert_int_equal(vs_chan_create(1, 1, &ch), 0);
	assert_int_equal(vs_chan_send(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_recv(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_try_send(NULL, &co), -EINVAL);
	assert_int_equal(vs_chan_try_recv(ch, NULL), -EINVAL);
	assert_int_equal(vs_chan_send_poll(ch, &co), -EPERM); /* not stackless */
	assert_int_equal(vs_chan_close(NULL), -EINVAL);
	vs_chan_destroy(ch);
	vs_chan_destroy(NULL);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests_name("sync-misuse", tests, NULL, NULL);
}

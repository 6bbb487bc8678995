/* SPDX-License-Identifier: MIT */
/*
 * A parallel file reader: TASKS tasks read one file with vs_pread, each
 * its own blocks, and the checksum of what they read matches the file's,
 * read plainly. The file (SIZE bytes) is made first in the temporary
 * directory and removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vsched/io.h"
#include "vsched/vs.h"

#define TASKS 64
#define BLOCK (64 * 1024)
#define SIZE (16u << 20)
#define BLOCKS (SIZE / BLOCK)

static int fd;
static _Atomic uint64_t sum;
static atomic_int blocks_read;

/* An order-free checksum of one block at @off: each 8-byte word times its
 * place in the file, summed (mod 2^64). */
static uint64_t block_sum(const unsigned char *b, size_t n, uint64_t off)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		s += w * ((off + i) / 8 + 1);
	}
	return s;
}

static int reader(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	unsigned char *buf = malloc(BLOCK);

	CHECK(buf);
	/* blocks id, id + TASKS, ...: all of them, each once */
	for (unsigned b = id; b < BLOCKS; b += TASKS) {
		size_t got = 0;

		while (got < BLOCK) {
			ssize_t r = vs_pread(fd, buf + got, BLOCK - got, (off_t)b * BLOCK + (off_t)got);

			CHECK(r > 0);
			got += (size_t)r;
		}
		atomic_fetch_add(&sum, block_sum(buf, BLOCK, (uint64_t)b * BLOCK));
		atomic_fetch_add(&blocks_read, 1);
	}
	free(buf);
	return 0;
}

int main(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[4096];
	unsigned char *buf = malloc(BLOCK);
	uint64_t x = 88172645463325252ull, want = 0;
	vs_task_t *t[TASKS];

	CHECK(buf);
	snprintf(path, sizeof(path), "%s/pread_sum-XXXXXX", dir);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	/* the file: xorshift bytes, summed as they are written */
	for (unsigned b = 0; b < BLOCKS; b++) {
		for (size_t i = 0; i < BLOCK; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		want += block_sum(buf, BLOCK, (uint64_t)b * BLOCK);
		CHECK(write(fd, buf, BLOCK) == BLOCK);
	}
	close(fd);

	CHECK(vs_runtime_start(NULL) == 0);
	fd = vs_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	CHECK(fd >= 0);
	for (unsigned i = 0; i < TASKS; i++)
		CHECK(vs_task_spawn(reader, (void *)(uintptr_t)i, NULL, &t[i]) == 0);
	for (unsigned i = 0; i < TASKS; i++) {
		int code = -1;

		CHECK(vs_task_join(t[i], &code) == 0 && code == 0);
	}
	CHECK(atomic_load(&blocks_read) == BLOCKS);
	CHECK(atomic_load(&sum) == want);
	CHECK(vs_close(fd) == 0);
	CHECK(vs_runtime_stop() == 0);
	CHECK(unlink(path) == 0);
	free(buf);
	printf("pread_sum: %u tasks read %u MiB in %u blocks, checksum %016llx matches\n", TASKS,
	       SIZE >> 20, BLOCKS, (unsigned long long)want);
	return 0;
}

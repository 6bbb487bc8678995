/* SPDX-License-Identifier: MIT */
/* What the loader tests share: the geometry they map with, what the process
 * has mapped, and the names of the loader's errnos. */
#ifndef TESTS_LOADER_LOADER_COMMON_H
#define TESTS_LOADER_LOADER_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "image_check.h"
#include "vsched_apis.h"

static const struct vsa_map_opts priv_opts = {
	.geom = {.ncpus = 2, .queue_cap = 8, .ntasks = 64, .policy = VSCHED_POLICY_FIFO},
	.vvar_fd = -1,
};

/* ---- what a process has mapped, from /proc/self/maps ---- */

static char maps_buf[1 << 18];

static inline size_t maps_read(void)
{
	size_t got = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	while ((n = read(fd, maps_buf + got, sizeof(maps_buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	maps_buf[got] = 0;
	return got;
}

static inline unsigned maps_count(void)
{
	unsigned lines = 0;

	maps_read();
	for (char *s = maps_buf; *s; s++)
		lines += *s == '\n';
	return lines;
}

/* The permission string ("r-xp") of the mapping holding @addr. */
static inline void maps_perms(const void *addr, char perms[5])
{
	uintptr_t a = (uintptr_t)addr;

	maps_read();
	for (char *line = maps_buf; *line;) {
		unsigned long lo, hi;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && a >= lo && a < hi) {
			memcpy(perms, p, 5);
			return;
		}
		line = strchr(line, '\n');
		if (!line)
			break;
		line++;
	}
	fail_msg("%p is not mapped", addr);
}

static inline const char *ename(int r)
{
	switch (-r) {
	case 0: return "0";
	case ENOEXEC: return "ENOEXEC";
	case EXDEV: return "EXDEV";
	case EOVERFLOW: return "EOVERFLOW";
	case ELIBACC: return "ELIBACC";
	case ELIBBAD: return "ELIBBAD";
	case ENOLINK: return "ENOLINK";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	default: return "?";
	}
}

static inline void assert_one_line(const char *err)
{
	assert_true(err[0] != 0);
	assert_null(strchr(err, '\n'));
}

#endif

/* SPDX-License-Identifier: MIT */
/* Reading the kernel's memory figures, for the tests that measure them. */
#ifndef TESTS_COMMON_PROC_H
#define TESTS_COMMON_PROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "Key:  N kB" line of a /proc file, in KiB (-1 if missing). */
static inline long proc_kib(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The few libc routines a freestanding compiler may still emit calls to;
 * hidden, so the image exports and imports nothing for them.
 */
#include <stddef.h>
#include "core.h"

HIDDEN void *memset(void *d, int c, size_t n);
HIDDEN void *memcpy(void *restrict d, const void *restrict s, size_t n);
HIDDEN void *memmove(void *d, const void *s, size_t n);
HIDDEN int memcmp(const void *a, const void *b, size_t n);

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

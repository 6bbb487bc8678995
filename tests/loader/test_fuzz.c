/* SPDX-License-Identifier: MIT */
/*
 * The loader under random damage to the embedded image: it never crashes,
 * check and map always agree, and what it accepts maps where it should.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader_common.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool known_result(int r)
{
	return r == 0 || r == -ENOEXEC || r == -EXDEV || r == -EOVERFLOW || r == -ELIBACC ||
	       r == -ELIBBAD || r == -ENOLINK || r == -EACCES || r == -ENOSYS;
}

static void damage(unsigned char *p, size_t *size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vsa_embedded_image;
	static const uint64_t words[] = {0, 1, 0x7fffffffffffffffull, UINT64_MAX,
					 0xffffffffull, 0x1000, 0x100000000ull};
	unsigned n = 1 + rnd() % 6;

	for (unsigned i = 0; i < n; i++) {
		size_t pos;
		uint64_t w;

		switch (rnd() % 4) {
		case 0: /* anywhere */
			pos = rnd() % *size;
			break;
		case 1: /* the headers and dynamic tables */
		case 2:
			pos = rnd() % (*size < 2048 ? *size : 2048);
			break;
		default: /* the section headers */
			pos = eh->e_shoff + rnd() % ((size_t)eh->e_shnum * sizeof(Elf64_Shdr));
			break;
		}
		switch (rnd() % 3) {
		case 0:
			p[pos] ^= (unsigned char)(1u << (rnd() % 8));
			break;
		case 1:
			p[pos] = (unsigned char)rnd();
			break;
		default:
			pos &= ~(size_t)7;
			w = rnd() % 2 ? words[rnd() % (sizeof(words) / sizeof(words[0]))] : rnd();
			if (rnd() % 2)
				w = *size - rnd() % 64;
			if (pos + 8 <= *size)
				memcpy(p + pos, &w, 8);
			break;
		}
	}
	if (rnd() % 8 == 0)
		*size = rnd() % *size;
}

static void test_fuzz(void **state)
{
	unsigned iters = getenv("VSCHED_EMULATED") ? 1000 : 4000;
	unsigned seen[12] = {0}, accepted = 0, kinds = 0;
	static const int order[] = {ENOEXEC, EXDEV,  EOVERFLOW, ELIBACC, ELIBBAD,
				    ENOLINK, EACCES, ENOSYS};
	unsigned char *work = malloc(vsa_embedded_image_size);

	(void)state;
	assert_non_null(work);
	for (unsigned it = 0; it < iters; it++) {
		size_t size = vsa_embedded_image_size;
		struct vsa_image img;
		char err[160];
		int r, m;

		memcpy(work, vsa_embedded_image, size);
		damage(work, &size);
		r = vsa_image_check(work, size, err, sizeof(err));
		if (!known_result(r))
			fail_msg("iteration %u: check gave %d (%s)", it, r, err);
		if (r)
			assert_one_line(err);
		m = vsa_image_map(&img, work, size, &priv_opts);
		if (m != r)
			fail_msg("iteration %u: check gave %d, map %d (%s)", it, r, m, img.err);
		if (m == 0) {
			accepted++;
			assert_ptr_equal((char *)img.vvar, (char *)img.text - VSCHED_VVAR_HDR_SIZE);
			assert_int_equal(img.vvar->magic, VSCHED_VVAR_MAGIC);
		} else {
			assert_null(img.map_base);
		}
		vsa_image_unmap(&img);
		for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++)
			seen[k] += r == -order[k];
	}
	free(work);
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		print_message("    %-9s %u\n", ename(-order[k]), seen[k]);
		kinds += seen[k] != 0;
	}
	print_message("    accepted  %u of %u\n", accepted, iters);
	/* the damage reached past the first checks, and some images survived it */
	assert_true(kinds >= 4);
	assert_true(accepted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests_name("loader-fuzz", tests, NULL, NULL);
}

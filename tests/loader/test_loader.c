/* SPDX-License-Identifier: MIT */
/*
 * The loader: each reason to refuse an image, made by editing a copy of the
 * embedded image, must give its own errno from both check and map; random
 * damage must never crash it; good images map where the vvar layout says.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "image_check.h"
#include "vsched_apis.h"


static const char *image_path; /* the built libvsched.so, from argv */

/* Images built broken on purpose by tests/abi, as (case, path) from argv. */
#define MAX_BUILT 16
static const char *built_case[MAX_BUILT], *built_path[MAX_BUILT];
static unsigned nbuilt;

static const struct vsa_map_opts priv_opts = {
	.geom = {.ncpus = 2, .queue_cap = 8, .ntasks = 64, .policy = VSCHED_POLICY_FIFO},
	.vvar_fd = -1,
};

/* ---- ELF editing on a private copy of the embedded image ---- */

struct buf {
	unsigned char *p;
	size_t size;
};

static struct buf image_copy(void)
{
	struct buf b = {malloc(vsa_embedded_image_size), vsa_embedded_image_size};

	assert_non_null(b.p);
	memcpy(b.p, vsa_embedded_image, b.size);
	return b;
}

static Elf64_Ehdr *ehdr(struct buf *b)
{
	return (Elf64_Ehdr *)b->p;
}

static Elf64_Phdr *phdr_at(struct buf *b, unsigned i)
{
	return (Elf64_Phdr *)(b->p + ehdr(b)->e_phoff) + i;
}

static Elf64_Phdr *phdr_of(struct buf *b, uint32_t type)
{
	for (unsigned i = 0; i < ehdr(b)->e_phnum; i++)
		if (phdr_at(b, i)->p_type == type)
			return phdr_at(b, i);
	fail_msg("no program header of type %u", type);
	return NULL;
}

/* A segment the loader does not need (PT_NOTE, PT_GNU_EH_FRAME, ...). */
static Elf64_Phdr *phdr_spare(struct buf *b)
{
	for (unsigned i = 0; i < ehdr(b)->e_phnum; i++) {
		uint32_t t = phdr_at(b, i)->p_type;

		if (t != PT_LOAD && t != PT_DYNAMIC)
			return phdr_at(b, i);
	}
	fail_msg("no spare program header");
	return NULL;
}

static Elf64_Shdr *shdr_at(struct buf *b, unsigned i)
{
	return (Elf64_Shdr *)(b->p + ehdr(b)->e_shoff) + i;
}

static Elf64_Shdr *shdr_of(struct buf *b, uint32_t type)
{
	for (unsigned i = 0; i < ehdr(b)->e_shnum; i++)
		if (shdr_at(b, i)->sh_type == type)
			return shdr_at(b, i);
	fail_msg("no section of type %u", type);
	return NULL;
}

static Elf64_Shdr *shdr_named(struct buf *b, const char *name)
{
	Elf64_Shdr *names = shdr_at(b, ehdr(b)->e_shstrndx);

	for (unsigned i = 0; i < ehdr(b)->e_shnum; i++)
		if (!strcmp((char *)b->p + names->sh_offset + shdr_at(b, i)->sh_name, name))
			return shdr_at(b, i);
	fail_msg("no section %s", name);
	return NULL;
}

static Elf64_Dyn *dyn_at(struct buf *b, unsigned i)
{
	return (Elf64_Dyn *)(b->p + phdr_of(b, PT_DYNAMIC)->p_offset) + i;
}

static Elf64_Dyn *dyn_of(struct buf *b, int64_t tag)
{
	for (Elf64_Dyn *d = dyn_at(b, 0); d->d_tag != DT_NULL; d++)
		if (d->d_tag == tag)
			return d;
	fail_msg("no dynamic tag %lld", (long long)tag);
	return NULL;
}

static char *dynstr(struct buf *b)
{
	return (char *)b->p + shdr_at(b, shdr_of(b, SHT_DYNSYM)->sh_link)->sh_offset;
}

static Elf64_Sym *dynsym_named(struct buf *b, const char *name)
{
	Elf64_Shdr *sh = shdr_of(b, SHT_DYNSYM);
	Elf64_Sym *s = (Elf64_Sym *)(b->p + sh->sh_offset);

	for (size_t i = 1; i < sh->sh_size / sizeof(*s); i++)
		if (!strcmp(dynstr(b) + s[i].st_name, name))
			return &s[i];
	fail_msg("no dynamic symbol %s", name);
	return NULL;
}

/* ---- what a process has mapped, from /proc/self/maps ---- */

static char maps_buf[1 << 18];

static size_t maps_read(void)
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

static unsigned maps_count(void)
{
	unsigned lines = 0;

	maps_read();
	for (char *s = maps_buf; *s; s++)
		lines += *s == '\n';
	return lines;
}

/* The permission string ("r-xp") of the mapping holding @addr. */
static void maps_perms(const void *addr, char perms[5])
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

/* ---- the reject cases ---- */

static const char *ename(int r)
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

static void assert_one_line(const char *err)
{
	assert_true(err[0] != 0);
	assert_null(strchr(err, '\n'));
}

static void expect_reject(const void *p, size_t size, int want, const char *needle)
{
	struct vsa_image img;
	char err[160];
	unsigned before = maps_count();
	int r;

	memset(err, 'x', sizeof(err));
	r = vsa_image_check(p, size, err, sizeof(err));
	if (r != want)
		fail_msg("check gave %d (%s), wanted %d", r, err, want);
	assert_one_line(err);
	if (needle && !strstr(err, needle))
		fail_msg("\"%s\" does not mention \"%s\"", err, needle);
	print_message("    %-9s %s\n", ename(r), err);

	memset(&img, 0x5a, sizeof(img));
	r = vsa_image_map(&img, p, size, &priv_opts);
	assert_int_equal(r, want);
	assert_one_line(img.err);
	assert_string_equal(img.err, err);
	assert_null(img.map_base);
	assert_null(img.text);
	assert_null(img.vvar);
	assert_int_equal(img.map_size, 0);
	assert_null(img.api.vsched_init);
	assert_int_equal(maps_count(), before);
	vsa_image_unmap(&img);
}

static void expect_reject_buf(struct buf *b, int want, const char *needle)
{
	expect_reject(b->p, b->size, want, needle);
	free(b->p);
	b->p = NULL;
}

static void test_embedded_is_good(void **state)
{
	char err[160] = "junk";
	size_t n = 0;

	(void)state;
	assert_int_equal(vsa_image_check(vsa_embedded_image, vsa_embedded_image_size, err,
					 sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(vsa_image_check(vsa_embedded_image, vsa_embedded_image_size, NULL, 0),
			 0);
#define VSCHED_API(ret, name, params, args) assert_string_equal(vsa_api_names[n++], #name);
#include "vsched_api.def"
#undef VSCHED_API
	assert_int_equal(vsa_api_count, n);
	assert_int_equal(sizeof(struct vsched_api), n * sizeof(void (*)(void)));
}

static void test_reject_not_elf(void **state)
{
	struct buf b;

	(void)state;
	b = image_copy();
	b.p[EI_MAG1] = 'X';
	expect_reject_buf(&b, -ENOEXEC, "magic");
	b = image_copy();
	b.p[EI_CLASS] = ELFCLASS32;
	expect_reject_buf(&b, -ENOEXEC, "64-bit");
	b = image_copy();
	b.p[EI_DATA] = ELFDATA2MSB;
	expect_reject_buf(&b, -ENOEXEC, "little-endian");
	b = image_copy();
	ehdr(&b)->e_type = ET_EXEC;
	expect_reject_buf(&b, -ENOEXEC, "shared object");
	b = image_copy();
	ehdr(&b)->e_phentsize = 32;
	expect_reject_buf(&b, -ENOEXEC, NULL);
	b = image_copy();
	ehdr(&b)->e_shentsize = 40;
	expect_reject_buf(&b, -ENOEXEC, NULL);
	/* no bytes at all, or only part of the magic */
	expect_reject(vsa_embedded_image, 0, -ENOEXEC, NULL);
	expect_reject(vsa_embedded_image, 3, -ENOEXEC, NULL);
	expect_reject("#!/bin/sh\necho hi\n", 18, -ENOEXEC, NULL);
	/* a first PT_LOAD away from 0 cannot be placed */
	b = image_copy();
	phdr_of(&b, PT_LOAD)->p_vaddr = 0x1000;
	expect_reject_buf(&b, -ENOEXEC, "PT_LOAD");
}

static void test_reject_machine(void **state)
{
	struct buf b = image_copy();

	(void)state;
	ehdr(&b)->e_machine = ehdr(&b)->e_machine == EM_X86_64 ? EM_AARCH64 : EM_X86_64;
	expect_reject_buf(&b, -EXDEV, "machine");
}

static void test_reject_truncated(void **state)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vsa_embedded_image;
	const Elf64_Phdr *load;
	struct buf b;
	size_t load_end;

	(void)state;
	b = image_copy();
	load = phdr_of(&b, PT_LOAD);
	load_end = load->p_offset + load->p_filesz;
	free(b.p);

	expect_reject(vsa_embedded_image, 40, -EOVERFLOW, "ELF header");
	expect_reject(vsa_embedded_image, eh->e_phoff + sizeof(Elf64_Phdr) + 10, -EOVERFLOW,
		      "program headers");
	expect_reject(vsa_embedded_image, load_end - 1, -EOVERFLOW, NULL);
	expect_reject(vsa_embedded_image, eh->e_shoff + 100, -EOVERFLOW, "section headers");
	expect_reject(vsa_embedded_image, vsa_embedded_image_size - 1, -EOVERFLOW, NULL);

	/* without section headers, the cut PT_LOAD itself is what is caught */
	b = image_copy();
	ehdr(&b)->e_shoff = 0;
	ehdr(&b)->e_shnum = 0;
	ehdr(&b)->e_shstrndx = 0;
	b.size = load_end - 1;
	expect_reject_buf(&b, -EOVERFLOW, "segment");

	/* tables whose offsets or sizes point outside the file */
	b = image_copy();
	phdr_of(&b, PT_LOAD)->p_filesz = b.size + 1;
	phdr_of(&b, PT_LOAD)->p_memsz = b.size + 1;
	expect_reject_buf(&b, -EOVERFLOW, "segment");
	b = image_copy();
	phdr_of(&b, PT_DYNAMIC)->p_offset = UINT64_MAX - 8;
	expect_reject_buf(&b, -EOVERFLOW, "segment");
	b = image_copy();
	ehdr(&b)->e_phoff = UINT64_MAX - 16;
	expect_reject_buf(&b, -EOVERFLOW, "program headers");
	b = image_copy();
	ehdr(&b)->e_shnum = 0xfff0;
	expect_reject_buf(&b, -EOVERFLOW, "section headers");
	b = image_copy();
	shdr_of(&b, SHT_DYNSYM)->sh_offset = b.size - 8;
	expect_reject_buf(&b, -EOVERFLOW, "section");
	b = image_copy();
	shdr_of(&b, SHT_DYNSYM)->sh_link = 999;
	expect_reject_buf(&b, -EOVERFLOW, ".dynsym");
	b = image_copy();
	shdr_at(&b, ehdr(&b)->e_shstrndx)->sh_size = UINT64_MAX;
	expect_reject_buf(&b, -EOVERFLOW, "section");
	b = image_copy();
	ehdr(&b)->e_shstrndx = ehdr(&b)->e_shnum;
	expect_reject_buf(&b, -EOVERFLOW, "section name table");
	b = image_copy();
	dynsym_named(&b, "vsched_init")->st_name = 0x7fffffff;
	expect_reject_buf(&b, -EOVERFLOW, ".dynstr");
}

static void test_reject_needed(void **state)
{
	struct buf b = image_copy();

	(void)state;
	/* DT_SONAME's string becomes the name of a needed library */
	dyn_of(&b, DT_SONAME)->d_tag = DT_NEEDED;
	expect_reject_buf(&b, -ELIBACC, "DT_NEEDED libvsched.so");
}

static void test_reject_relocations(void **state)
{
	static const int64_t tags[] = {DT_REL,	   DT_RELA,	DT_RELR,    DT_JMPREL,
				       DT_TEXTREL, DT_RELSZ,	DT_RELASZ,  DT_PLTRELSZ,
				       DT_RELRSZ,  DT_RELCOUNT, DT_RELACOUNT};
	static const uint32_t types[] = {SHT_REL, SHT_RELA, SHT_RELR};
	struct buf b;

	(void)state;
	/* a RELA table with a size */
	b = image_copy();
	dyn_at(&b, 0)->d_tag = DT_RELA;
	dyn_at(&b, 0)->d_un.d_ptr = 0x200;
	dyn_at(&b, 1)->d_tag = DT_RELASZ;
	dyn_at(&b, 1)->d_un.d_val = sizeof(Elf64_Rela);
	expect_reject_buf(&b, -ELIBBAD, "relocation");
	/* each relocation tag on its own */
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		b = image_copy();
		dyn_at(&b, 0)->d_tag = tags[i];
		dyn_at(&b, 0)->d_un.d_val = 24;
		expect_reject_buf(&b, -ELIBBAD, "relocation");
	}
	b = image_copy();
	dyn_at(&b, 0)->d_tag = DT_FLAGS;
	dyn_at(&b, 0)->d_un.d_val = DF_TEXTREL;
	expect_reject_buf(&b, -ELIBBAD, "relocation");
	/* a relocation section, even without a dynamic tag */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		b = image_copy();
		shdr_named(&b, ".hash")->sh_type = types[i];
		expect_reject_buf(&b, -ELIBBAD, "relocation section");
	}
	/* an empty table is no relocation (riscv64's ld always emits one) */
	b = image_copy();
	dyn_at(&b, 0)->d_tag = DT_RELA;
	dyn_at(&b, 0)->d_un.d_ptr = 0;
	dyn_at(&b, 1)->d_tag = DT_RELASZ;
	dyn_at(&b, 1)->d_un.d_val = 0;
	assert_int_equal(vsa_image_check(b.p, b.size, NULL, 0), 0);
	free(b.p);
}

static void test_reject_undefined(void **state)
{
	struct buf b = image_copy();

	(void)state;
	dynsym_named(&b, "vsched_spawn")->st_shndx = SHN_UNDEF;
	expect_reject_buf(&b, -ENOLINK, "undefined symbol vsched_spawn");
}

static void test_reject_writable(void **state)
{
	struct buf b;

	(void)state;
	b = image_copy();
	phdr_of(&b, PT_LOAD)->p_flags |= PF_W;
	expect_reject_buf(&b, -EACCES, "writable");
	b = image_copy();
	phdr_spare(&b)->p_type = PT_TLS;
	expect_reject_buf(&b, -EACCES, "PT_TLS");
	b = image_copy();
	phdr_spare(&b)->p_type = PT_INTERP;
	expect_reject_buf(&b, -EACCES, "PT_INTERP");
}

static void test_reject_missing_api(void **state)
{
	struct buf b;
	Elf64_Sym *s;

	(void)state;
	/* one letter of a name in .dynstr */
	b = image_copy();
	dynstr(&b)[dynsym_named(&b, "vsched_yield_now")->st_name + 7] = 'Y';
	expect_reject_buf(&b, -ENOSYS, "vsched_yield_now");
	/* present, but not a global function in the text */
	b = image_copy();
	s = dynsym_named(&b, "vsched_take_prev_task");
	s->st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
	expect_reject_buf(&b, -ENOSYS, "vsched_take_prev_task");
	b = image_copy();
	s = dynsym_named(&b, "vsched_migrate_entry");
	s->st_info = ELF64_ST_INFO(STB_WEAK, STT_FUNC);
	expect_reject_buf(&b, -ENOSYS, "vsched_migrate_entry");
	b = image_copy();
	s = dynsym_named(&b, "vsched_init");
	s->st_value = phdr_of(&b, PT_LOAD)->p_filesz + 64;
	expect_reject_buf(&b, -ENOSYS, "vsched_init");
	b = image_copy();
	s = dynsym_named(&b, "vsched_resched_f");
	s->st_shndx = SHN_ABS;
	expect_reject_buf(&b, -ENOSYS, "vsched_resched_f");
	b = image_copy();
	phdr_of(&b, PT_LOAD)->p_flags &= ~PF_X;
	expect_reject_buf(&b, -ENOSYS, "vsched_init");
}

/* Two defects: the one earlier in the documented order wins. */
static void test_reject_order(void **state)
{
	struct buf b;

	(void)state;
	b = image_copy();
	ehdr(&b)->e_machine = EM_X86_64 + EM_AARCH64 - ehdr(&b)->e_machine;
	b.size = ehdr(&b)->e_shoff + 10;
	expect_reject_buf(&b, -EXDEV, NULL);
	b = image_copy();
	phdr_of(&b, PT_LOAD)->p_flags |= PF_W;
	dyn_of(&b, DT_SONAME)->d_tag = DT_NEEDED;
	expect_reject_buf(&b, -ELIBACC, NULL);
	b = image_copy();
	dynsym_named(&b, "vsched_spawn")->st_shndx = SHN_UNDEF;
	shdr_named(&b, ".hash")->sh_type = SHT_RELA;
	expect_reject_buf(&b, -ELIBBAD, NULL);
	b = image_copy();
	dynsym_named(&b, "vsched_spawn")->st_shndx = SHN_UNDEF;
	phdr_of(&b, PT_LOAD)->p_flags |= PF_W;
	expect_reject_buf(&b, -ENOLINK, NULL);
	b = image_copy();
	dynstr(&b)[dynsym_named(&b, "vsched_spawn")->st_name + 1] = 'V';
	phdr_of(&b, PT_LOAD)->p_flags |= PF_W;
	expect_reject_buf(&b, -EACCES, NULL);
}

/* ---- random damage ---- */

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

/* ---- good loads ---- */

static void check_mapped(const struct vsa_image *img)
{
	const char *lo = img->text, *hi = lo + img->text_size;
	char perms[5];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	assert_non_null(img->map_base);
	assert_ptr_equal((char *)img->vvar, (char *)img->text - VSCHED_VVAR_HDR_SIZE);
	assert_ptr_equal((char *)img->map_base + img->area_size, img->text);
	assert_int_equal(img->area_size % page, 0);
	assert_int_equal((uintptr_t)img->text % page, 0);
	assert_true(img->map_size >= img->area_size + img->text_size);
	assert_int_equal(img->vvar->magic, VSCHED_VVAR_MAGIC);
	assert_int_equal(img->vvar->version, VSCHED_VVAR_VERSION);
	assert_int_equal(img->vvar->hdr_size, VSCHED_VVAR_HDR_SIZE);
	assert_true(img->vvar->area_size <= img->area_size);
	assert_string_equal(img->err, "");
	/* the image's first bytes are the file's, and read-only */
	assert_memory_equal(img->text, vsa_embedded_image, 64);
	maps_perms(img->text, perms);
	assert_string_equal(perms, "r-xp");
	maps_perms(hi - 1, perms);
	assert_int_equal(perms[1], '-');
	maps_perms(img->vvar, perms);
	assert_true(perms[0] == 'r' && perms[1] == 'w' && perms[2] == '-');
	maps_perms(img->map_base, perms);
	assert_true(perms[0] == 'r' && perms[1] == 'w');
#define VSCHED_API(ret, name, params, args)                                          \
	assert_non_null(img->api.name);                                              \
	assert_true((const char *)(uintptr_t)img->api.name >= lo &&                  \
		    (const char *)(uintptr_t)img->api.name < hi);
#include "vsched_api.def"
#undef VSCHED_API
}

static void test_map_private(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	struct vsched_vvar want;
	struct vsa_image img;
	vsched_ref_t ref = VSCHED_REF_NONE, cur;

	(void)state;
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	check_mapped(&img);
	assert_int_equal(vsched_vvar_layout(&priv_opts.geom, &want), img.vvar->area_size);
	assert_int_equal(img.vvar->ncpus, 2);
	assert_int_equal(img.vvar->queue_cap, 8);
	assert_int_equal(img.vvar->ntasks, 64);
	assert_int_equal(img.vvar->policy, VSCHED_POLICY_FIFO);
	assert_int_equal(img.vvar->tasks_off, want.tasks_off);
	assert_int_equal(img.vvar->formatted, 0);

	/* real calls into the mapped code */
	assert_int_equal(img.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_not_equal(ref, VSCHED_REF_NONE);
	assert_int_equal(img.vvar->nr_alive, 1);
	assert_int_equal(img.api.vsched_current(0, &cur), -EINVAL); /* no CPU is up */
	assert_int_equal(img.api.vsched_task_free(VSCHED_CPU_NONE, ref), 0);
	assert_int_equal(img.vvar->nr_alive, 0);
	assert_int_equal(img.api.vsched_task_free(VSCHED_CPU_NONE, ref), -ESRCH);
	vsa_image_unmap(&img);
}

static void test_map_file(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	char tmpl[] = "/tmp/vsched-loader-XXXXXX";
	struct vsa_image img;
	vsched_ref_t ref;
	int fd;

	(void)state;
	if (!image_path)
		skip();
	assert_int_equal(vsa_image_map_file(&img, image_path, &priv_opts), 0);
	check_mapped(&img);
	assert_int_equal(img.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_equal(img.vvar->bump, 1);
	vsa_image_unmap(&img);

	assert_int_equal(vsa_image_map_file(&img, "/nonexistent/libvsched.so", &priv_opts),
			 -ENOENT);
	assert_one_line(img.err);
	assert_null(img.map_base);
	assert_int_equal(vsa_image_map_file(&img, "/", &priv_opts), -EINVAL);
	assert_one_line(img.err);
	assert_int_equal(vsa_image_map_file(&img, NULL, &priv_opts), -EINVAL);
	assert_int_equal(vsa_image_map_file(NULL, image_path, &priv_opts), -EINVAL);
	/* a file that is not an image goes through the same checks */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(vsa_image_map_file(&img, tmpl, &priv_opts), -ENOEXEC);
	assert_one_line(img.err);
	unlink(tmpl);
}

static int memfd(void)
{
	int fd = memfd_create("vsched-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static off_t fd_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static void test_map_memfd_shared(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS, .owner = 7};
	struct vsa_map_opts oa = priv_opts, ob = {.geom = {1, 4, 2, 0}};
	struct vsa_image a, b;
	vsched_ref_t r1, r2;
	char perms[5];
	int fd = memfd();

	(void)state;
	oa.vvar_fd = ob.vvar_fd = fd;
	assert_int_equal(vsa_image_map_embedded(&a, &oa), 0);
	check_mapped(&a);
	assert_int_equal(fd_size(fd), a.area_size);
	maps_perms(a.vvar, perms);
	assert_int_equal(perms[3], 's');

	/* the second mapping attaches: its geometry is ignored */
	assert_int_equal(vsa_image_map_embedded(&b, &ob), 0);
	check_mapped(&b);
	assert_ptr_not_equal(a.vvar, b.vvar);
	assert_int_equal(b.area_size, a.area_size);
	assert_int_equal(b.vvar->ncpus, 2);
	assert_int_equal(b.vvar->ntasks, 64);

	/* a task allocated through one image is seen and freed through the other */
	assert_int_equal(a.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &r1), 0);
	assert_int_equal(b.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &r2), 0);
	assert_int_not_equal(VSCHED_REF_IDX(r1), VSCHED_REF_IDX(r2));
	assert_int_equal(a.vvar->nr_alive, 2);
	assert_int_equal(b.vvar->bump, 2);
	assert_int_equal(vsched_vvar_tasks(b.vvar)[VSCHED_REF_IDX(r1)].owner, 7);
	assert_int_equal(b.api.vsched_task_free(VSCHED_CPU_NONE, r1), 0);
	assert_int_equal(a.vvar->nr_alive, 1);
	assert_int_equal(a.api.vsched_task_free(VSCHED_CPU_NONE, r1), -ESRCH);
	assert_int_equal(a.api.vsched_task_free(VSCHED_CPU_NONE, r2), 0);
	assert_int_equal(b.vvar->nr_alive, 0);

	vsa_image_unmap(&a);
	/* the area outlives one mapping of it */
	assert_int_equal(b.vvar->bump, 2);
	vsa_image_unmap(&b);
	close(fd);
}

static void expect_bad_opts(const struct vsa_map_opts *o, int want)
{
	unsigned before = maps_count();
	struct vsa_image img;

	memset(&img, 0x5a, sizeof(img));
	assert_int_equal(vsa_image_map_embedded(&img, o), want);
	assert_one_line(img.err);
	print_message("    %-9s %s\n", ename(want), img.err);
	assert_null(img.map_base);
	assert_null(img.vvar);
	assert_int_equal(maps_count(), before);
	vsa_image_unmap(&img);
}

static void test_bad_options(void **state)
{
	struct vsa_map_opts o;
	struct vsched_vvar h;
	unsigned char junk[8192];
	int fd, pfd[2];

	(void)state;
	expect_bad_opts(NULL, -EINVAL);
	assert_int_equal(vsa_image_map_embedded(NULL, &priv_opts), -EINVAL);
	o = priv_opts;
	o.geom.ncpus = 0;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.queue_cap = VSCHED_MAX_QUEUE * 2;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.ntasks = 1;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.policy = 9;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.vvar_fd = -2;
	expect_bad_opts(&o, -EINVAL);

	/* an empty file with a bad geometry stays empty */
	fd = memfd();
	o = priv_opts;
	o.vvar_fd = fd;
	o.geom.ncpus = VSCHED_MAX_CPUS + 1;
	expect_bad_opts(&o, -EINVAL);
	assert_int_equal(fd_size(fd), 0);
	/* so does one given a bad image */
	o.geom = priv_opts.geom;
	assert_int_equal(vsa_image_map(&(struct vsa_image){0}, "junk", 4, &o), -ENOEXEC);
	assert_int_equal(fd_size(fd), 0);

	/* a non-empty file that is not an area is not overwritten */
	memset(junk, 0xab, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	expect_bad_opts(&o, -EINVAL);
	assert_int_equal(fd_size(fd), sizeof(junk));
	assert_int_equal(pread(fd, junk, 16, 0), 16);
	assert_int_equal(junk[0], 0xab);
	close(fd);
	fd = memfd();
	o.vvar_fd = fd;
	assert_int_equal(write(fd, junk, 100), 100);
	expect_bad_opts(&o, -EINVAL);
	close(fd);
	/* a header of another version, or lying about its size */
	memset(junk, 0, sizeof(junk));
	assert_true(vsched_vvar_layout(&priv_opts.geom, &h) > 0);
	for (int k = 0; k < 2; k++) {
		struct vsched_vvar bad = h;

		if (k == 0)
			bad.version = VSCHED_VVAR_VERSION + 1;
		else
			bad.area_size = (uint64_t)1 << 40;
		fd = memfd();
		o.vvar_fd = fd;
		assert_int_equal(ftruncate(fd, (off_t)h.area_size), 0);
		assert_int_equal(pwrite(fd, &bad, sizeof(bad),
					(off_t)h.area_size - VSCHED_VVAR_HDR_SIZE),
				 sizeof(bad));
		expect_bad_opts(&o, -EINVAL);
		close(fd);
	}
	/* not a file at all */
	assert_int_equal(pipe(pfd), 0);
	o.vvar_fd = pfd[0];
	expect_bad_opts(&o, -EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	o.vvar_fd = pfd[0]; /* now closed */
	expect_bad_opts(&o, -EBADF);
}

static void test_unmap_twice(void **state)
{
	struct vsa_image img;

	(void)state;
	vsa_image_unmap(NULL);
	memset(&img, 0, sizeof(img));
	vsa_image_unmap(&img);
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	vsa_image_unmap(&img);
	assert_null(img.map_base);
	vsa_image_unmap(&img);
	/* a failed map leaves an image that unmaps safely too */
	assert_int_equal(vsa_image_map(&img, "junk", 4, &priv_opts), -ENOEXEC);
	vsa_image_unmap(&img);
	vsa_image_unmap(&img);
}

/*
 * The toolchain's own broken images: the loader must agree with the ABI
 * checker on each, in its own check order (relocations before undefined
 * symbols), and load the good one and the one with an extra export.
 */
static void test_built_images(void **state)
{
	static const struct {
		const char *name;
		int want;
	} wants[] = {
		{"good", 0},	      {"writable", -EACCES}, {"relative", -ELIBBAD},
		{"undefined", -ELIBBAD}, {"needed", -ELIBACC}, {"extra", 0},
	};
	unsigned matched = 0;

	(void)state;
	if (nbuilt == 0)
		skip();
	for (unsigned i = 0; i < nbuilt; i++) {
		struct vsa_image img;
		int want = 1, r;

		for (size_t k = 0; k < sizeof(wants) / sizeof(wants[0]); k++)
			if (!strcmp(wants[k].name, built_case[i]))
				want = wants[k].want;
		if (want == 1)
			fail_msg("unknown built image %s", built_case[i]);
		r = vsa_image_map_file(&img, built_path[i], &priv_opts);
		print_message("    %-9s %-9s %s\n", built_case[i], ename(r), img.err);
		assert_int_equal(r, want);
		if (r == 0) {
			/* the stubs return 0: a call into a toolchain-made image */
			assert_int_equal(img.api.vsched_yield_now(0), 0);
			assert_ptr_equal((char *)img.vvar, (char *)img.text - VSCHED_VVAR_HDR_SIZE);
		} else {
			assert_one_line(img.err);
			assert_null(img.map_base);
		}
		vsa_image_unmap(&img);
		matched++;
	}
	assert_int_equal(matched, sizeof(wants) / sizeof(wants[0]));
}

static void test_install(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	struct vsa_image img;
	vsched_ref_t ref;

	(void)state;
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	vsa_install(&img);
	assert_ptr_equal(vsched_api.vsched_spawn, img.api.vsched_spawn);
	/* the inline wrappers call through the installed table */
	assert_int_equal(vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_equal(img.vvar->nr_alive, 1);
	assert_int_equal(vsched_task_free(VSCHED_CPU_NONE, ref), 0);
	vsa_install(NULL);
	assert_null(vsched_api.vsched_task_alloc);
	vsa_image_unmap(&img);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_is_good),
		cmocka_unit_test(test_reject_not_elf),
		cmocka_unit_test(test_reject_machine),
		cmocka_unit_test(test_reject_truncated),
		cmocka_unit_test(test_reject_needed),
		cmocka_unit_test(test_reject_relocations),
		cmocka_unit_test(test_reject_undefined),
		cmocka_unit_test(test_reject_writable),
		cmocka_unit_test(test_reject_missing_api),
		cmocka_unit_test(test_reject_order),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_map_private),
		cmocka_unit_test(test_map_file),
		cmocka_unit_test(test_map_memfd_shared),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_unmap_twice),
		cmocka_unit_test(test_built_images),
		cmocka_unit_test(test_install),
	};

	if (argc > 1)
		image_path = argv[1];
	for (int i = 2; i + 1 < argc && nbuilt < MAX_BUILT; i += 2) {
		built_case[nbuilt] = argv[i];
		built_path[nbuilt++] = argv[i + 1];
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The loader's refusals: each reason to refuse an image, made by editing a
 * copy of the embedded image, gives its own errno from both check and map.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf_edit.h"

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

int main(void)
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
	};

	return cmocka_run_group_tests_name("loader-reject", tests, NULL, NULL);
}

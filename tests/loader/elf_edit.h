/* SPDX-License-Identifier: MIT */
/* ELF editing on a private copy of the embedded image: finding the headers,
 * sections, dynamic tags and symbols a test breaks on purpose. */
#ifndef TESTS_LOADER_ELF_EDIT_H
#define TESTS_LOADER_ELF_EDIT_H

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader_common.h"

struct buf {
	unsigned char *p;
	size_t size;
};

static inline struct buf image_copy(void)
{
	struct buf b = {malloc(vsa_embedded_image_size), vsa_embedded_image_size};

	assert_non_null(b.p);
	memcpy(b.p, vsa_embedded_image, b.size);
	return b;
}

static inline Elf64_Ehdr *ehdr(struct buf *b)
{
	return (Elf64_Ehdr *)b->p;
}

static inline Elf64_Phdr *phdr_at(struct buf *b, unsigned i)
{
	return (Elf64_Phdr *)(b->p + ehdr(b)->e_phoff) + i;
}

static inline Elf64_Phdr *phdr_of(struct buf *b, uint32_t type)
{
	for (unsigned i = 0; i < ehdr(b)->e_phnum; i++)
		if (phdr_at(b, i)->p_type == type)
			return phdr_at(b, i);
	fail_msg("no program header of type %u", type);
	return NULL;
}

/* A segment the loader does not need (PT_NOTE, PT_GNU_EH_FRAME, ...). */
static inline Elf64_Phdr *phdr_spare(struct buf *b)
{
	for (unsigned i = 0; i < ehdr(b)->e_phnum; i++) {
		uint32_t t = phdr_at(b, i)->p_type;

		if (t != PT_LOAD && t != PT_DYNAMIC)
			return phdr_at(b, i);
	}
	fail_msg("no spare program header");
	return NULL;
}

static inline Elf64_Shdr *shdr_at(struct buf *b, unsigned i)
{
	return (Elf64_Shdr *)(b->p + ehdr(b)->e_shoff) + i;
}

static inline Elf64_Shdr *shdr_of(struct buf *b, uint32_t type)
{
	for (unsigned i = 0; i < ehdr(b)->e_shnum; i++)
		if (shdr_at(b, i)->sh_type == type)
			return shdr_at(b, i);
	fail_msg("no section of type %u", type);
	return NULL;
}

static inline Elf64_Shdr *shdr_named(struct buf *b, const char *name)
{
	Elf64_Shdr *names = shdr_at(b, ehdr(b)->e_shstrndx);

	for (unsigned i = 0; i < ehdr(b)->e_shnum; i++)
		if (!strcmp((char *)b->p + names->sh_offset + shdr_at(b, i)->sh_name, name))
			return shdr_at(b, i);
	fail_msg("no section %s", name);
	return NULL;
}

static inline Elf64_Dyn *dyn_at(struct buf *b, unsigned i)
{
	return (Elf64_Dyn *)(b->p + phdr_of(b, PT_DYNAMIC)->p_offset) + i;
}

static inline Elf64_Dyn *dyn_of(struct buf *b, int64_t tag)
{
	for (Elf64_Dyn *d = dyn_at(b, 0); d->d_tag != DT_NULL; d++)
		if (d->d_tag == tag)
			return d;
	fail_msg("no dynamic tag %lld", (long long)tag);
	return NULL;
}

static inline char *dynstr(struct buf *b)
{
	return (char *)b->p + shdr_at(b, shdr_of(b, SHT_DYNSYM)->sh_link)->sh_offset;
}

static inline Elf64_Sym *dynsym_named(struct buf *b, const char *name)
{
	Elf64_Shdr *sh = shdr_of(b, SHT_DYNSYM);
	Elf64_Sym *s = (Elf64_Sym *)(b->p + sh->sh_offset);

	for (size_t i = 1; i < sh->sh_size / sizeof(*s); i++)
		if (!strcmp(dynstr(b) + s[i].st_name, name))
			return &s[i];
	fail_msg("no dynamic symbol %s", name);
	return NULL;
}

#endif

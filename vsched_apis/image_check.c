/* SPDX-License-Identifier: MIT */
/*
 * Checks a libvsched.so image given as untrusted bytes. Every offset and
 * size is bounds-checked (without overflow) before it is used, structures
 * are copied out rather than cast in place, and the checks run in a fixed
 * order so that one defect always gives the same, distinct errno.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "image_check.h"
#include "vsched_apis.h"


#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_MACHINE EM_RISCV
#else
#error "libvsched images are loaded on x86_64, aarch64 and riscv64 only"
#endif

struct ctx {
	const unsigned char *p;
	size_t size;
	char *err;
	size_t errlen;
	Elf64_Ehdr eh;
	bool have_dynsym;
	uint64_t sym_off, sym_n;  /* .dynsym: file offset, entries */
	uint64_t str_off, str_size; /* its string table */
};

static int fail(struct ctx *c, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, int e, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

/* [off, off + len) lies inside the file. */
static bool range_ok(const struct ctx *c, uint64_t off, uint64_t len)
{
	return off <= c->size && len <= c->size - off;
}

static bool table_ok(const struct ctx *c, uint64_t off, uint64_t n, uint64_t entsize)
{
	return n <= UINT64_MAX / entsize && range_ok(c, off, n * entsize);
}

/* The accessors below are only called on tables already range-checked. */
static void phdr_get(const struct ctx *c, unsigned i, Elf64_Phdr *ph)
{
	memcpy(ph, c->p + c->eh.e_phoff + (uint64_t)i * sizeof(*ph), sizeof(*ph));
}

static void shdr_get(const struct ctx *c, unsigned i, Elf64_Shdr *sh)
{
	memcpy(sh, c->p + c->eh.e_shoff + (uint64_t)i * sizeof(*sh), sizeof(*sh));
}

static void sym_get(const struct ctx *c, uint64_t i, Elf64_Sym *s)
{
	memcpy(s, c->p + c->sym_off + i * sizeof(*s), sizeof(*s));
}

/* A NUL-terminated string inside .dynstr, or NULL. */
static const char *str_at(const struct ctx *c, uint64_t off)
{
	const char *s;

	if (!c->have_dynsym || off >= c->str_size)
		return NULL;
	s = (const char *)c->p + c->str_off + off;
	return memchr(s, 0, c->str_size - off) ? s : NULL;
}

/* A hostile name made safe for a one-line message. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t i;

	if (!s)
		return "?";
	for (i = 0; s[i] && i + 4 < len; i++)
		buf[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
	return buf;
}

/* Calls fn on each entry of each PT_DYNAMIC until DT_NULL; stops on non-zero. */
static int dyn_walk(struct ctx *c, int (*fn)(struct ctx *, const Elf64_Dyn *))
{
	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		Elf64_Phdr ph;

		phdr_get(c, i, &ph);
		if (ph.p_type != PT_DYNAMIC)
			continue;
		for (uint64_t k = 0; k < ph.p_filesz / sizeof(Elf64_Dyn); k++) {
			Elf64_Dyn d;
			int r;

			memcpy(&d, c->p + ph.p_offset + k * sizeof(d), sizeof(d));
			if (d.d_tag == DT_NULL)
				break;
			r = fn(c, &d);
			if (r)
				return r;
		}
	}
	return 0;
}

static int check_header(struct ctx *c)
{
	const unsigned char *id = c->p;

	if (c->size < SELFMAG || memcmp(id, ELFMAG, SELFMAG) != 0)
		return fail(c, ENOEXEC, "not an ELF file (bad magic)");
	if (c->size > EI_CLASS && id[EI_CLASS] != ELFCLASS64)
		return fail(c, ENOEXEC, "not a 64-bit ELF file (class %u)", id[EI_CLASS]);
	if (c->size > EI_DATA && id[EI_DATA] != ELFDATA2LSB)
		return fail(c, ENOEXEC, "not a little-endian ELF file (data %u)", id[EI_DATA]);
	if (c->size < sizeof(Elf64_Ehdr))
		return fail(c, EOVERFLOW, "truncated: %zu bytes, the ELF header needs %zu",
			    c->size, sizeof(Elf64_Ehdr));
	memcpy(&c->eh, c->p, sizeof(c->eh));
	if (id[EI_VERSION] != EV_CURRENT || c->eh.e_version != EV_CURRENT)
		return fail(c, ENOEXEC, "unknown ELF version %u", id[EI_VERSION]);
	if (c->eh.e_type != ET_DYN)
		return fail(c, ENOEXEC, "not a shared object (e_type %u)", c->eh.e_type);
	if (c->eh.e_ehsize != sizeof(Elf64_Ehdr) || c->eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    (c->eh.e_shnum && c->eh.e_shentsize != sizeof(Elf64_Shdr)))
		return fail(c, ENOEXEC, "bad ELF header sizes (eh %u, ph %u, sh %u)",
			    c->eh.e_ehsize, c->eh.e_phentsize, c->eh.e_shentsize);
	if (c->eh.e_machine != HOST_MACHINE)
		return fail(c, EXDEV, "built for machine %u, this is machine %u",
			    c->eh.e_machine, HOST_MACHINE);
	return 0;
}

/* Every table and segment lies inside the file. */
static int check_bounds(struct ctx *c)
{
	const Elf64_Ehdr *eh = &c->eh;
	Elf64_Shdr sh;

	if (!table_ok(c, eh->e_phoff, eh->e_phnum, sizeof(Elf64_Phdr)))
		return fail(c, EOVERFLOW, "truncated: %u program headers at %#llx pass the end",
			    eh->e_phnum, (unsigned long long)eh->e_phoff);
	if (!table_ok(c, eh->e_shoff, eh->e_shnum, sizeof(Elf64_Shdr)))
		return fail(c, EOVERFLOW, "truncated: %u section headers at %#llx pass the end",
			    eh->e_shnum, (unsigned long long)eh->e_shoff);
	if (eh->e_shnum && eh->e_shstrndx != SHN_UNDEF && eh->e_shstrndx >= eh->e_shnum)
		return fail(c, EOVERFLOW, "section name table index %u past %u sections",
			    eh->e_shstrndx, eh->e_shnum);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		phdr_get(c, i, &ph);
		if (!range_ok(c, ph.p_offset, ph.p_filesz))
			return fail(c, EOVERFLOW,
				    "truncated: segment %u (type %#x) ends past the file", i,
				    ph.p_type);
	}
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		shdr_get(c, i, &sh);
		if (sh.sh_type != SHT_NULL && sh.sh_type != SHT_NOBITS &&
		    !range_ok(c, sh.sh_offset, sh.sh_size))
			return fail(c, EOVERFLOW, "truncated: section %u ends past the file", i);
	}
	return 0;
}

/* The first SHT_DYNSYM section and its string table, every name inside it. */
static int find_dynsym(struct ctx *c)
{
	const Elf64_Ehdr *eh = &c->eh;
	Elf64_Shdr sh, str;

	for (unsigned i = 0; i < eh->e_shnum; i++) {
		shdr_get(c, i, &sh);
		if (sh.sh_type != SHT_DYNSYM)
			continue;
		if (sh.sh_entsize != sizeof(Elf64_Sym))
			return fail(c, ENOEXEC, ".dynsym entry size %llu is not %zu",
				    (unsigned long long)sh.sh_entsize, sizeof(Elf64_Sym));
		if (sh.sh_link >= eh->e_shnum)
			return fail(c, EOVERFLOW, ".dynsym string table index %u past %u sections",
				    sh.sh_link, eh->e_shnum);
		shdr_get(c, sh.sh_link, &str);
		if (str.sh_type != SHT_STRTAB)
			return fail(c, ENOEXEC, ".dynsym's string table is not SHT_STRTAB");
		c->have_dynsym = true;
		c->sym_off = sh.sh_offset;
		c->sym_n = sh.sh_size / sizeof(Elf64_Sym);
		c->str_off = str.sh_offset;
		c->str_size = str.sh_size;
		break;
	}
	for (uint64_t i = 1; i < c->sym_n; i++) {
		Elf64_Sym s;

		sym_get(c, i, &s);
		if (s.st_name && !str_at(c, s.st_name))
			return fail(c, EOVERFLOW, "symbol %llu's name is past the end of .dynstr",
				    (unsigned long long)i);
	}
	return 0;
}

/* The PT_LOADs must describe something this loader can place. */
static int check_layout(struct ctx *c, struct vsa_elf_info *info)
{
	uint64_t end = 0;

	info->nloads = 0;
	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		struct vsa_segment *s;
		Elf64_Phdr ph;

		phdr_get(c, i, &ph);
		if (ph.p_type != PT_LOAD)
			continue;
		if (info->nloads == VSA_MAX_LOADS)
			return fail(c, ENOEXEC, "more than %d PT_LOAD segments", VSA_MAX_LOADS);
		if (info->nloads == 0 && (ph.p_vaddr != 0 || ph.p_offset != 0))
			return fail(c, ENOEXEC, "first PT_LOAD is not at address 0, offset 0");
		if (ph.p_filesz > ph.p_memsz || ph.p_vaddr < end ||
		    ph.p_memsz > VSA_IMAGE_MAX || ph.p_vaddr > VSA_IMAGE_MAX - ph.p_memsz)
			return fail(c, ENOEXEC, "PT_LOAD segment %u is out of order or too big", i);
		s = &info->loads[info->nloads++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->flags = ph.p_flags;
		end = ph.p_vaddr + ph.p_memsz;
	}
	if (info->nloads == 0 || end == 0)
		return fail(c, ENOEXEC, "nothing to load (no PT_LOAD segment)");
	info->span = end;
	return 0;
}

static int needed_one(struct ctx *c, const Elf64_Dyn *d)
{
	char buf[48];

	if (d->d_tag != DT_NEEDED)
		return 0;
	return fail(c, ELIBACC, "needs a shared library (DT_NEEDED %s)",
		    printable(str_at(c, d->d_un.d_val), buf, sizeof(buf)));
}

/*
 * An empty table is not a relocation: riscv64's ld always emits DT_RELA and
 * DT_RELASZ, both 0, in a shared object, as the kernel's riscv vDSO shows.
 */
static int reloc_one(struct ctx *c, const Elf64_Dyn *d)
{
	bool bad = false;

	switch (d->d_tag) {
	case DT_TEXTREL:
		bad = true;
		break;
	case DT_FLAGS:
		bad = d->d_un.d_val & DF_TEXTREL;
		break;
	case DT_REL:
	case DT_RELA:
	case DT_RELR:
	case DT_JMPREL:
	case DT_RELSZ:
	case DT_RELASZ:
	case DT_RELRSZ:
	case DT_PLTRELSZ:
	case DT_RELCOUNT:
	case DT_RELACOUNT:
		bad = d->d_un.d_val != 0;
		break;
	}
	if (!bad)
		return 0;
	return fail(c, ELIBBAD, "has dynamic relocations (tag %#llx = %#llx)",
		    (unsigned long long)d->d_tag, (unsigned long long)d->d_un.d_val);
}

static int check_relocs(struct ctx *c)
{
	int r = dyn_walk(c, reloc_one);

	if (r)
		return r;
	for (unsigned i = 0; i < c->eh.e_shnum; i++) {
		Elf64_Shdr sh;

		shdr_get(c, i, &sh);
		if (sh.sh_type == SHT_REL || sh.sh_type == SHT_RELA || sh.sh_type == SHT_RELR)
			return fail(c, ELIBBAD, "has a relocation section (section %u, type %u)",
				    i, sh.sh_type);
	}
	return 0;
}

static int check_undefined(struct ctx *c)
{
	for (uint64_t i = 1; i < c->sym_n; i++) {
		Elf64_Sym s;
		char buf[48];

		sym_get(c, i, &s);
		if (s.st_shndx == SHN_UNDEF)
			return fail(c, ENOLINK, "undefined symbol %s",
				    printable(str_at(c, s.st_name), buf, sizeof(buf)));
	}
	return 0;
}

static int check_writable(struct ctx *c)
{
	for (unsigned i = 0; i < c->eh.e_phnum; i++) {
		Elf64_Phdr ph;

		phdr_get(c, i, &ph);
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W))
			return fail(c, EACCES,
				    "PT_LOAD segment %u is writable; the image must be read-only", i);
		if (ph.p_type == PT_TLS)
			return fail(c, EACCES,
				    "has a PT_TLS segment; thread-local storage is not allowed");
		if (ph.p_type == PT_INTERP)
			return fail(c, EACCES,
				    "has a PT_INTERP segment; the image takes no interpreter");
	}
	return 0;
}

/* @s is a global function lying wholly in the file part of an executable PT_LOAD. */
static bool is_entry_point(const struct vsa_elf_info *info, const Elf64_Sym *s)
{
	if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || ELF64_ST_BIND(s->st_info) != STB_GLOBAL ||
	    s->st_shndx == SHN_UNDEF || s->st_shndx >= SHN_LORESERVE)
		return false;
	for (unsigned i = 0; i < info->nloads; i++) {
		const struct vsa_segment *g = &info->loads[i];

		if ((g->flags & PF_X) && s->st_value >= g->vaddr &&
		    s->st_value - g->vaddr < g->filesz &&
		    s->st_size <= g->filesz - (s->st_value - g->vaddr))
			return true;
	}
	return false;
}

static int check_api(struct ctx *c, struct vsa_elf_info *info)
{
	bool found[VSA_API_N] = {false};
	char buf[48];

	for (uint64_t i = 1; i < c->sym_n; i++) {
		const char *name;
		Elf64_Sym s;

		sym_get(c, i, &s);
		name = str_at(c, s.st_name);
		if (!name || !is_entry_point(info, &s))
			continue;
		for (size_t k = 0; k < VSA_API_N; k++) {
			if (!found[k] && strcmp(name, vsa_api_names[k]) == 0) {
				found[k] = true;
				info->api_off[k] = s.st_value;
				break;
			}
		}
	}
	for (size_t k = 0; k < VSA_API_N; k++)
		if (!found[k])
			return fail(c, ENOSYS,
				    "API symbol %s is missing or not a global function in the text",
				    printable(vsa_api_names[k], buf, sizeof(buf)));
	return 0;
}

int vsa_elf_parse(const unsigned char *elf, size_t size, struct vsa_elf_info *info,
		  char *err, size_t errlen)
{
	struct ctx c = {.p = elf, .size = size, .err = err, .errlen = errlen};
	int r;

	if (err && errlen)
		err[0] = 0;
	if (!elf || !info)
		return fail(&c, EINVAL, "no image given");
	r = check_header(&c);
	if (!r)
		r = check_bounds(&c);
	if (!r)
		r = find_dynsym(&c);
	if (!r)
		r = check_layout(&c, info);
	if (!r)
		r = dyn_walk(&c, needed_one);
	if (!r)
		r = check_relocs(&c);
	if (!r)
		r = check_undefined(&c);
	if (!r)
		r = check_writable(&c);
	if (!r)
		r = check_api(&c, info);
	return r;
}

int vsa_image_check(const void *elf, size_t size, char *err, size_t errlen)
{
	struct vsa_elf_info info;

	return vsa_elf_parse(elf, size, &info, err, errlen);
}

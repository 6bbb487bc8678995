/* SPDX-License-Identifier: MIT */
/*
 * Maps libvsched.so the way the kernel maps the vDSO: one reservation holds
 * the vvar area and, right above it, a private copy of the image, so the
 * area's header ends exactly where the image begins. Then resolves .dynsym
 * into the function table.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_check.h"
#include "vsched_apis.h"

_Static_assert(VSCHED_EPERM == EPERM, "EPERM");
_Static_assert(VSCHED_ESRCH == ESRCH, "ESRCH");
_Static_assert(VSCHED_EAGAIN == EAGAIN, "EAGAIN");
_Static_assert(VSCHED_ENOMEM == ENOMEM, "ENOMEM");
_Static_assert(VSCHED_EBUSY == EBUSY, "EBUSY");
_Static_assert(VSCHED_ENODEV == ENODEV, "ENODEV");
_Static_assert(VSCHED_EINVAL == EINVAL, "EINVAL");
_Static_assert(VSCHED_EDEADLK == EDEADLK, "EDEADLK");
_Static_assert(VSCHED_EOPNOTSUPP == EOPNOTSUPP, "EOPNOTSUPP");

#define IMAGE_FILE_MAX ((size_t)64 << 20)

const char *const vsa_api_names[] = {
#define VSCHED_API(ret, name, params, args) #name,
#include "vsched_api.def"
#undef VSCHED_API
};
const size_t vsa_api_count = sizeof(vsa_api_names) / sizeof(vsa_api_names[0]);

_Static_assert(sizeof(vsa_api_names) / sizeof(vsa_api_names[0]) == VSA_API_N, "api");

struct vsched_api vsched_api;

static int fail(struct vsa_image *img, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct vsa_image *img, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(img->err, sizeof(img->err), fmt, ap);
	va_end(ap);
	return -e;
}

static size_t page_round(size_t v, size_t page)
{
	return (v + page - 1) & ~(page - 1);
}

/*
 * Checks opts->vvar_fd against the shared part @want needs: an empty file
 * is sized for it (*fresh = 1); a file already holding one must be exactly
 * that size (*fresh = 0); a part at an offset is the stamp's to tell
 * (*fresh = -1). Nothing is read from the file: the geometry is
 * the caller's, and the file only backs the shared part.
 */
static int shared_of_fd(struct vsa_image *img, const struct vsa_map_opts *opts,
			const struct vsched_vvar *want, int *fresh)
{
	struct stat st;

	if (fstat(opts->vvar_fd, &st) != 0)
		return fail(img, errno, "vvar_fd: fstat failed: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(img, EINVAL, "vvar_fd is not a regular file or memfd");
	if (opts->vvar_off) {
		/* a part of a larger file: its owner sized it, and says by a
		 * zero stamp that it is fresh (checked once it is mapped) */
		if ((uint64_t)st.st_size < opts->vvar_off ||
		    (uint64_t)st.st_size - opts->vvar_off < want->shared_size)
			return fail(img, EINVAL, "vvar_fd holds no %llu bytes at offset %llu",
				    (unsigned long long)want->shared_size,
				    (unsigned long long)opts->vvar_off);
		*fresh = -1;
		return 0;
	}
	if (st.st_size == 0) {
		if (ftruncate(opts->vvar_fd, (off_t)want->shared_size) != 0)
			return fail(img, errno, "vvar_fd: ftruncate failed: %s", strerror(errno));
		*fresh = 1;
		return 0;
	}
	if ((uint64_t)st.st_size != want->shared_size)
		return fail(img, EINVAL, "vvar_fd holds %lld bytes, not the %llu of this geometry",
			    (long long)st.st_size, (unsigned long long)want->shared_size);
	*fresh = 0;
	return 0;
}

/* Does the geometry stamped in an attached shared part agree with @g? */
static bool same_geometry(const struct vsched_geometry *a, const struct vsched_geometry *g)
{
	uint64_t slice = g->slice ? g->slice : VSCHED_DEFAULT_SLICE;

	return a->ncpus == g->ncpus && a->queue_cap == g->queue_cap && a->ntasks == g->ntasks &&
	       a->policy == g->policy && a->slice == slice;
}

static int prot_of(uint32_t pf)
{
	return ((pf & PF_R) ? PROT_READ : 0) | ((pf & PF_W) ? PROT_WRITE : 0) |
	       ((pf & PF_X) ? PROT_EXEC : 0);
}

/* Copies the segments in, then gives each its own protection. */
static int place_image(struct vsa_image *img, const unsigned char *elf,
		       const struct vsa_elf_info *info, size_t page)
{
	char *base = img->text;
	size_t span = page_round(info->span, page);

	if (mmap(base, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED)
		return fail(img, errno, "mapping the image failed: %s", strerror(errno));
	/* the mapping is fresh, so the rest of each segment is already zero */
	for (unsigned i = 0; i < info->nloads; i++)
		memcpy(base + info->loads[i].vaddr, elf + info->loads[i].offset,
		       info->loads[i].filesz);
	__builtin___clear_cache(base, base + info->span);
	if (mprotect(base, span, PROT_NONE) != 0)
		return fail(img, errno, "mprotect failed: %s", strerror(errno));
	for (unsigned i = 0; i < info->nloads; i++) {
		const struct vsa_segment *s = &info->loads[i];
		size_t lo = s->vaddr & ~(page - 1);
		size_t hi = page_round(s->vaddr + s->memsz, page);
		int prot = prot_of(s->flags);

		/* a page shared with the previous segment gets both protections */
		if (i > 0 && page_round(info->loads[i - 1].vaddr + info->loads[i - 1].memsz,
					page) > lo)
			prot |= prot_of(info->loads[i - 1].flags);
		if (hi > lo && mprotect(base + lo, hi - lo, prot) != 0)
			return fail(img, errno, "mprotect failed: %s", strerror(errno));
	}
	return 0;
}

static void resolve(struct vsa_image *img, const struct vsa_elf_info *info)
{
	uintptr_t base = (uintptr_t)img->text;

#define VSCHED_API(ret, name, params, args)                                    \
	img->api.name = (ret(*) params)(base + (uintptr_t)info->api_off[VSA_API_IDX_##name]);
#include "vsched_api.def"
#undef VSCHED_API
}

/*
 * With VSCHED_PERF_MAP set, lists the image's functions in
 * /tmp/perf-PID.map, where perf looks up code that no file backs. The image
 * was checked already (every section header and section lies inside it);
 * this guards each symbol's name and extent. Best effort: a failure costs
 * the profile its names, nothing else.
 */
static void perf_map(const struct vsa_image *img, const unsigned char *elf)
{
	Elf64_Ehdr eh;
	char path[64];
	FILE *f;

	if (!getenv("VSCHED_PERF_MAP"))
		return;
	snprintf(path, sizeof(path), "/tmp/perf-%ld.map", (long)getpid());
	f = fopen(path, "ae");
	if (!f)
		return;
	memcpy(&eh, elf, sizeof(eh));
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh, str;

		memcpy(&sh, elf + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_SYMTAB || sh.sh_entsize != sizeof(Elf64_Sym) ||
		    sh.sh_link >= eh.e_shnum)
			continue;
		memcpy(&str, elf + eh.e_shoff + sh.sh_link * sizeof(str), sizeof(str));
		if (str.sh_type != SHT_STRTAB)
			continue;
		for (uint64_t k = 1; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
			const char *name;
			Elf64_Sym sym;

			memcpy(&sym, elf + sh.sh_offset + k * sizeof(sym), sizeof(sym));
			name = (const char *)elf + str.sh_offset + sym.st_name;
			if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_size ||
			    sym.st_name >= str.sh_size ||
			    !memchr(name, 0, str.sh_size - sym.st_name) ||
			    sym.st_value > img->text_size ||
			    sym.st_size > img->text_size - sym.st_value)
				continue;
			fprintf(f, "%lx %lx vsched:%s\n",
				(unsigned long)((uintptr_t)img->text + sym.st_value),
				(unsigned long)sym.st_size, name);
		}
	}
	fclose(f);
}

int vsa_image_map(struct vsa_image *img, const void *elf, size_t size,
		  const struct vsa_map_opts *opts)
{
	struct vsa_elf_info info;
	struct vsched_vvar want;
	size_t page, area, priv, total;
	int fresh = 1, r;
	char *base, *shared;
	void *got;

	if (!img)
		return -EINVAL;
	memset(img, 0, sizeof(*img));
	if (!opts || opts->vvar_fd < -1 || (opts->vvar_off & (VSCHED_VVAR_HDR_SIZE - 1)) ||
	    (opts->vvar_off && opts->vvar_fd == -1) || opts->vvar_off > (uint64_t)INT64_MAX)
		return fail(img, EINVAL, "no map options, or a bad vvar_fd or vvar_off");
	r = vsa_elf_parse(elf, size, &info, img->err, sizeof(img->err));
	if (r)
		return r;
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (vsched_vvar_layout(&opts->geom, &want) == 0)
		return fail(img, EINVAL, "geometry out of range");
	/* the parts are 4 KiB aligned: larger pages could not keep the header
	 * apart from the shared part */
	if (page != VSCHED_VVAR_HDR_SIZE)
		return fail(img, EINVAL, "the vvar area needs 4 KiB pages, not %zu", page);
	if (opts->vvar_fd != -1) {
		r = shared_of_fd(img, opts, &want, &fresh);
		if (r)
			return r;
	}
	area = want.area_size;
	priv = area - VSCHED_VVAR_HDR_SIZE - want.shared_size;
	total = area + page_round(info.span, page);
	base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		r = fail(img, errno, "reserving %zu bytes failed: %s", total, strerror(errno));
		goto out_file;
	}
	shared = base + priv;
	img->map_base = base;
	img->map_size = total;
	img->area_size = area;
	img->shared = shared;
	img->shared_size = want.shared_size;
	img->text = base + area;
	img->text_size = info.span;
	img->vvar = (struct vsched_vvar *)(base + area - VSCHED_VVAR_HDR_SIZE);

	/* the private part and the header: this process's own memory */
	got = mmap(base, priv, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (got != MAP_FAILED)
		got = mmap(img->vvar, VSCHED_VVAR_HDR_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	/* the shared part: anonymous, or the file's */
	if (got != MAP_FAILED && opts->vvar_fd == -1)
		got = mmap(shared, want.shared_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	else if (got != MAP_FAILED)
		got = mmap(shared, want.shared_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_FIXED, opts->vvar_fd, (off_t)opts->vvar_off);
	if (got == MAP_FAILED) {
		r = fail(img, errno, "mapping the vvar area failed: %s", strerror(errno));
		goto out_unmap;
	}
	vsched_vvar_layout(&opts->geom, img->vvar);
	/* the header is read-only from here on: what it says cannot change */
	if (mprotect(img->vvar, VSCHED_VVAR_HDR_SIZE, PROT_READ) != 0) {
		r = fail(img, errno, "mprotect of the header failed: %s", strerror(errno));
		goto out_unmap;
	}
	if (fresh < 0) {
		static const struct vsched_geometry none;

		fresh = !memcmp(&vsched_vvar_glob(img->vvar)->geom, &none, sizeof(none));
		fresh = fresh ? 2 : 0; /* not this call's to empty on failure */
	}
	if (fresh) {
		vsched_vvar_glob(img->vvar)->geom = opts->geom;
		vsched_vvar_glob(img->vvar)->geom.priv_size = 0;
		vsched_vvar_glob(img->vvar)->geom.pad = 0;
		vsched_vvar_glob(img->vvar)->geom.slice = img->vvar->slice;
	} else if (!same_geometry(&vsched_vvar_glob(img->vvar)->geom, &opts->geom)) {
		r = fail(img, EINVAL, "vvar_fd was made with another geometry");
		goto out_unmap;
	}
	r = place_image(img, elf, &info, page);
	if (r)
		goto out_unmap;
	resolve(img, &info);
	perf_map(img, elf);
	return 0;

out_unmap:
	munmap(base, total);
	img->map_base = img->text = img->shared = NULL;
	img->vvar = NULL;
	img->map_size = img->area_size = img->text_size = img->shared_size = 0;
out_file:
	/* a file this call sized goes back to empty, not to a headerless area */
	if (opts->vvar_fd != -1 && fresh == 1 && ftruncate(opts->vvar_fd, 0) != 0)
		r = fail(img, errno, "could not empty vvar_fd again: %s", strerror(errno));
	return r;
}

int vsa_image_map_embedded(struct vsa_image *img, const struct vsa_map_opts *opts)
{
	return vsa_image_map(img, vsa_embedded_image, vsa_embedded_image_size, opts);
}

int vsa_image_map_file(struct vsa_image *img, const char *path, const struct vsa_map_opts *opts)
{
	unsigned char *buf;
	struct stat st;
	size_t got = 0;
	int fd, r;

	if (!img)
		return -EINVAL;
	memset(img, 0, sizeof(*img));
	if (!path)
		return fail(img, EINVAL, "no path given");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(img, errno, "%.100s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		r = fail(img, errno, "%.100s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > IMAGE_FILE_MAX) {
		close(fd);
		return fail(img, S_ISREG(st.st_mode) ? EFBIG : EINVAL,
			    "%.100s: not a regular file of at most %zu bytes", path,
			    IMAGE_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return fail(img, ENOMEM, "%.100s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = fail(img, errno, "%.100s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return r;
		}
		if (n == 0)
			break; /* it shrank: check what there is */
		got += (size_t)n;
	}
	close(fd);
	r = vsa_image_map(img, buf, got, opts);
	free(buf);
	return r;
}

void vsa_image_unmap(struct vsa_image *img)
{
	if (!img)
		return;
	if (img->map_base && img->map_size)
		munmap(img->map_base, img->map_size);
	memset(img, 0, sizeof(*img));
}

void vsa_install(const struct vsa_image *img)
{
	if (img)
		vsched_api = img->api;
	else
		memset(&vsched_api, 0, sizeof(vsched_api));
}

/* SPDX-License-Identifier: MIT */
/*
 * The interface layer: loads libvsched.so vDSO-style (checks the ELF, maps
 * the vvar area and the image right above it, resolves .dynsym) into a
 * table of function pointers, and C wrappers that call through it.
 * Everything is made from vsched_api.def.
 */
#ifndef VSCHED_APIS_H
#define VSCHED_APIS_H

#include <stddef.h>
#include <stdint.h>

#include "vvar.h"

#define VSA_WARN_UNUSED __attribute__((warn_unused_result))

/* The table of the image's entry points, one pointer per .def line. */
struct vsched_api {
#define VSCHED_API(ret, name, params, args) ret(*name) params;
#include "vsched_api.def"
#undef VSCHED_API
};

/* Names of the entry points, in table order, and how many there are. */
extern const char *const vsa_api_names[];
extern const size_t vsa_api_count;

/* How to map: the geometry of a new area, and what backs it. */
struct vsa_map_opts {
	struct vsched_geometry geom;
	/*
	 * What backs the shared part of the area (vvar.h): -1 for private
	 * anonymous memory, else a file descriptor (a memfd, say) mapped
	 * shared. An empty file is sized for geom; a file already sized is
	 * attached to if its size and the geometry stamped in it agree with
	 * geom. The header and the private part are always this process's
	 * own: nothing is read from the file but that stamp.
	 */
	int vvar_fd;
	/*
	 * Where in vvar_fd the shared part starts: 0, or a multiple of 4096
	 * (a domain's member section). With an offset the file is never
	 * resized: it must already hold the part, which is fresh if its
	 * stamp is all zero (the caller zeroed it) and attached to otherwise.
	 */
	uint64_t vvar_off;
};

/* A mapped image and its vvar area. */
struct vsa_image {
	void *map_base;		  /* the whole reservation: area, then image */
	size_t map_size;
	struct vsched_vvar *vvar; /* the header, just below the image (read-only) */
	size_t area_size;	  /* the whole vvar area: private, shared, header */
	void *shared;		  /* the shared part, right below the header */
	size_t shared_size;
	void *text;		  /* where the image starts */
	size_t text_size;
	struct vsched_api api;	  /* resolved entry points */
	char err[160];		  /* one line saying why the last call failed */
};

/* The image embedded at build time. */
extern const unsigned char vsa_embedded_image[];
extern const size_t vsa_embedded_image_size;

/*
 * Checks that @elf (@size bytes) is an image this process can load.
 * Returns 0, or one distinct -errno per reason, with a one-line message
 * in @err (if not NULL):
 *   -ENOEXEC   not a 64-bit little-endian ELF shared object, or its
 *              PT_LOADs cannot be placed (the first must be at 0)
 *   -EXDEV     built for another machine
 *   -EOVERFLOW truncated: a header or table points past the end
 *   -ELIBACC   has a DT_NEEDED entry
 *   -ELIBBAD   has a relocation of any kind (an empty table is none)
 *   -ENOLINK   has an undefined symbol
 *   -EACCES    has a writable PT_LOAD segment, or a PT_TLS or PT_INTERP
 *   -ENOSYS    an API symbol is missing (or not a function in the text)
 */
VSA_WARN_UNUSED int vsa_image_check(const void *elf, size_t size, char *err, size_t errlen);

/*
 * Maps @elf with a vvar area as @opts says and resolves the API into
 * img->api. Returns 0, a vsa_image_check error, -EINVAL for bad options or
 * geometry, or the -errno of a failed mmap/ftruncate; img->err says why.
 * Nothing stays mapped on failure.
 */
VSA_WARN_UNUSED int vsa_image_map(struct vsa_image *img, const void *elf, size_t size,
				  const struct vsa_map_opts *opts);

/* vsa_image_map of the embedded image. */
VSA_WARN_UNUSED int vsa_image_map_embedded(struct vsa_image *img,
					   const struct vsa_map_opts *opts);

/* vsa_image_map of the image in file @path (-errno of open/read too). */
VSA_WARN_UNUSED int vsa_image_map_file(struct vsa_image *img, const char *path,
				       const struct vsa_map_opts *opts);

/* Unmaps what vsa_image_map mapped; safe on a zeroed or failed image. */
void vsa_image_unmap(struct vsa_image *img);

/*
 * The process-wide table the wrappers below call through. vsa_install
 * copies a mapped image's table into it.
 */
extern struct vsched_api vsched_api;
void vsa_install(const struct vsa_image *img);

/* Wrappers: vsched_init(...) calls vsched_api.vsched_init(...). */
#define VSCHED_API(ret, name, params, args)                                    \
	static inline VSA_WARN_UNUSED ret name params                          \
	{                                                                      \
		return vsched_api.name args;                                   \
	}
#include "vsched_api.def"
#undef VSCHED_API

#endif

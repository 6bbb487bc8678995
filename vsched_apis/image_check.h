/* SPDX-License-Identifier: MIT */
/*
 * Private to the interface layer: what the ELF checker learns of an image
 * that the mapper needs (its segments and where each API entry point is).
 */
#ifndef VSCHED_APIS_IMAGE_CHECK_H
#define VSCHED_APIS_IMAGE_CHECK_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

/* ELF constants older <elf.h> files may lack. */
#ifndef EM_RISCV
#define EM_RISCV 243
#endif
#ifndef SHT_RELR
#define SHT_RELR 19
#endif
#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#endif
#ifndef DT_RELR
#define DT_RELR 36
#endif

/* One index per line of vsched_api.def, in order. */
enum {
#define VSCHED_API(ret, name, params, args) VSA_API_IDX_##name,
#include "vsched_api.def"
#undef VSCHED_API
	VSA_API_N
};

#define VSA_MAX_LOADS 16
#define VSA_IMAGE_MAX ((uint64_t)64 << 20) /* largest image span accepted */

struct vsa_segment {
	uint64_t vaddr;
	uint64_t memsz;
	uint64_t offset;
	uint64_t filesz;
	uint32_t flags; /* PF_* */
};

struct vsa_elf_info {
	uint64_t span; /* from the image base to the end of the last PT_LOAD */
	unsigned nloads;
	struct vsa_segment loads[VSA_MAX_LOADS];
	uint64_t api_off[VSA_API_N]; /* st_value of each entry point */
};

/*
 * Validates @size bytes at @elf as vsa_image_check documents and, on
 * success, fills @info. Returns 0 or the -errno of the first defect, with
 * a one-line reason in @err (if not NULL).
 */
int vsa_elf_parse(const unsigned char *elf, size_t size, struct vsa_elf_info *info,
		  char *err, size_t errlen);

#endif

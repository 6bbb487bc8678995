/* SPDX-License-Identifier: MIT */
/*
 * Linker script of libvsched.so, vDSO style: one read+execute segment that
 * starts at 0 and holds everything, and the vvar header placed just below
 * the image so the code reaches it PC-relatively.
 */
#include "vvar.h"

SECTIONS
{
	PROVIDE_HIDDEN(__vsched_vvar = . - VSCHED_VVAR_HDR_SIZE);

	. = SIZEOF_HEADERS;

	.hash		: { *(.hash) }			:text
	.gnu.hash	: { *(.gnu.hash) }
	.dynsym		: { *(.dynsym) }
	.dynstr		: { *(.dynstr) }
	.gnu.version	: { *(.gnu.version) }
	.gnu.version_d	: { *(.gnu.version_d) }
	.gnu.version_r	: { *(.gnu.version_r) }

	.dynamic	: { *(.dynamic) }		:text	:dynamic

	.rodata		: { *(.rodata .rodata.* .srodata .srodata.*) }	:text
	.note		: { *(.note.*) }		:text	:note
	.eh_frame_hdr	: { *(.eh_frame_hdr) }		:text	:eh_frame_hdr
	.eh_frame	: { KEEP (*(.eh_frame)) }	:text
	/*
	 * Only the linker's reserved GOT header lives here (riscv64, aarch64):
	 * with no dynamic relocations there can be no entry needing a fix-up,
	 * so it is constant and stays read-only.
	 */
	.got		: { *(.got) }
	.got.plt	: { *(.got.plt) }

	. = ALIGN(16);
	.text		: { *(.text .text.*) }		:text

	/* Writable or relocated data has no place here: the build fails. */
	.data : { *(.data .data.* .sdata .sdata.* .bss .bss.* .sbss .sbss.* COMMON .tdata .tbss) }
	ASSERT(SIZEOF(.data) == 0, "libvsched.so must not have writable data")

	/DISCARD/ : {
		*(.comment)
		*(.note.GNU-stack)
	}
}

PHDRS
{
	text		PT_LOAD		FLAGS(5) FILEHDR PHDRS; /* PF_R|PF_X */
	dynamic		PT_DYNAMIC	FLAGS(4);		/* PF_R */
	note		PT_NOTE		FLAGS(4);
	eh_frame_hdr	PT_GNU_EH_FRAME;
}

/* SPDX-License-Identifier: MIT */
/*
 * The test images' layout: like vsched/vsched.lds.S, one segment from 0
 * holding everything, with room for what a broken image brings (relocation
 * and pointer tables, data) so that each defect shows as itself and not as a
 * stray segment. SEG_FLAGS 7 makes the segment writable too.
 */
#ifndef SEG_FLAGS
#define SEG_FLAGS 5 /* PF_R|PF_X */
#endif

SECTIONS
{
	. = SIZEOF_HEADERS;

	.hash		: { *(.hash) }			:text
	.gnu.hash	: { *(.gnu.hash) }
	.dynsym		: { *(.dynsym) }
	.dynstr		: { *(.dynstr) }
	.gnu.version	: { *(.gnu.version) }
	.gnu.version_d	: { *(.gnu.version_d) }
	.gnu.version_r	: { *(.gnu.version_r) }
	.rela.dyn	: { *(.rela.*) }
	.rel.dyn	: { *(.rel.*) }
	.relr.dyn	: { *(.relr.*) }
	.dynamic	: { *(.dynamic) }		:text	:dynamic
	.rodata		: { *(.rodata .rodata.* .srodata .srodata.* .data.rel.ro .data.rel.ro.*) }	:text
	.note		: { *(.note.*) }
	.eh_frame_hdr	: { *(.eh_frame_hdr) }
	.eh_frame	: { KEEP (*(.eh_frame)) }
	.got		: { *(.got) }
	.got.plt	: { *(.got.plt) }
	.plt		: { *(.plt) *(.iplt) }
	. = ALIGN(16);
	.text		: { *(.text .text.*) }
	.data		: { *(.data .data.* .sdata .sdata.* .bss .bss.* .sbss .sbss.* COMMON) }

	/DISCARD/ : {
		*(.comment)
		*(.note.GNU-stack)
	}
}

PHDRS
{
	text		PT_LOAD		FLAGS(SEG_FLAGS) FILEHDR PHDRS;
	dynamic		PT_DYNAMIC	FLAGS(4);
}

/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the core: one exported stub per line of vsched_api.def, so
 * that each broken image differs from a good one by its defect alone.
 */
#include "vvar.h"

#define VSCHED_API(ret, name, params, args)                                    \
	__attribute__((visibility("default"))) ret name params;                \
	ret name params                                                        \
	{                                                                      \
		return 0;                                                      \
	}
#include "vsched_api.def"
#undef VSCHED_API

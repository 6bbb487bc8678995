/* SPDX-License-Identifier: MIT */
/* One export more than the names list. */
__attribute__((visibility("default"))) int vsched_abi_extra(void);
int vsched_abi_extra(void)
{
	return 1;
}

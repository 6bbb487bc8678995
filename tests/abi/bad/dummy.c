/* SPDX-License-Identifier: MIT */
/* A shared object for the "needed" image to depend on. */
int abi_dummy(void);
int abi_dummy(void)
{
	return 0;
}

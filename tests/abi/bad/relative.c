/* SPDX-License-Identifier: MIT */
/* A static table of pointers: every entry needs an R_*_RELATIVE relocation. */
static int twice(int x)
{
	return 2 * x;
}

static int thrice(int x)
{
	return 3 * x;
}

static int (*const table[])(int) = {twice, thrice};

int abi_bad_dispatch(unsigned i, int x);
int abi_bad_dispatch(unsigned i, int x)
{
	return table[i & 1](x);
}

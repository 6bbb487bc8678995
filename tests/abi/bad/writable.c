/* SPDX-License-Identifier: MIT */
/* A writable variable: the image needs a writable PT_LOAD. */
static int counter;

int abi_bad_bump(int x);
int abi_bad_bump(int x)
{
	counter += x;
	return counter;
}

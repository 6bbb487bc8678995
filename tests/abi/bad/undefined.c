/* SPDX-License-Identifier: MIT */
/* A call to a function no object defines, linked without --no-undefined. */
extern int abi_bad_missing(int x);

int abi_bad_call(int x);
int abi_bad_call(int x)
{
	return abi_bad_missing(x) + 1;
}

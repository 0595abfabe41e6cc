// SPDX-License-Identifier: GPL-2.0
/* lkl has no assembly code, so it needs no structure offsets. */
int main(void)
{
	return 0;
}

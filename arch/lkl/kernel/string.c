// SPDX-License-Identifier: GPL-2.0
/*
 * memcpy, memset and memmove come from the host's C library, which is tuned
 * for the processor (lib/string.c's generic versions copy a byte at a time).
 */
#include <linux/string.h>
#include <linux/export.h>
#include "lkl.h"

void *memcpy(void *dest, const void *src, size_t count)
{
	return lkl_ops->memcpy(dest, src, count);
}
EXPORT_SYMBOL(memcpy);

void *memset(void *s, int c, size_t count)
{
	return lkl_ops->memset(s, c, count);
}
EXPORT_SYMBOL(memset);

void *memmove(void *dest, const void *src, size_t count)
{
	return lkl_ops->memmove(dest, src, count);
}
EXPORT_SYMBOL(memmove);

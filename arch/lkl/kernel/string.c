// SPDX-License-Identifier: GPL-2.0
/*
 * memcpy, memset and memmove come from the host's C library, which is tuned
 * for the processor (lib/string.c's generic versions copy a byte at a time).
 * With KASAN, mm/kasan defines memcpy, memset and memmove, which check the
 * ranges and call these under their __ names.
 */
#include <linux/string.h>
#include <linux/export.h>
#include "lkl.h"

#ifdef CONFIG_KASAN
#define STRING_FN(name) __##name
#else
#define STRING_FN(name) name
#endif

void *STRING_FN(memcpy)(void *dest, const void *src, size_t count)
{
	return lkl_ops->memcpy(dest, src, count);
}
EXPORT_SYMBOL(STRING_FN(memcpy));

void *STRING_FN(memset)(void *s, int c, size_t count)
{
	return lkl_ops->memset(s, c, count);
}
EXPORT_SYMBOL(STRING_FN(memset));

void *STRING_FN(memmove)(void *dest, const void *src, size_t count)
{
	return lkl_ops->memmove(dest, src, count);
}
EXPORT_SYMBOL(STRING_FN(memmove));

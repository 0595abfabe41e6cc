/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_STRING_H
#define _ASM_LKL_STRING_H

#include <linux/types.h>

/* The host's (asm/host_ops.h): copying data is the hot path of I/O. */
#define __HAVE_ARCH_MEMCPY
extern void *memcpy(void *dest, const void *src, __kernel_size_t count);
#define __HAVE_ARCH_MEMSET
extern void *memset(void *s, int c, __kernel_size_t count);
#define __HAVE_ARCH_MEMMOVE
extern void *memmove(void *dest, const void *src, __kernel_size_t count);

/*
 * With KASAN, mm/kasan/shadow.c's memcpy, memset and memmove check their
 * ranges (once the shadow exists: asm/kasan.h) and call these.
 */
extern void *__memcpy(void *dest, const void *src, __kernel_size_t count);
extern void *__memset(void *s, int c, __kernel_size_t count);
extern void *__memmove(void *dest, const void *src, __kernel_size_t count);

#endif

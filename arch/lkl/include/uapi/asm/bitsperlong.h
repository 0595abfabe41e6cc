/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_BITSPERLONG_H
#define _ASM_UAPI_LKL_BITSPERLONG_H

/* lkl is built for 64-bit hosts only: user pointers are host pointers. */
#define __BITS_PER_LONG 64

#include <asm-generic/bitsperlong.h>

#endif

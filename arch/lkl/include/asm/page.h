/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_PAGE_H
#define _ASM_LKL_PAGE_H

/*
 * Physical addresses are host addresses: the kernel's RAM is one host
 * mapping starting at memory_start, so page frame numbers start there too.
 */
#define ARCH_PFN_OFFSET (memory_start >> PAGE_SHIFT)

#include <asm-generic/page.h>

#endif

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_XOR_H
#define _ASM_LKL_XOR_H

#include <asm-generic/xor.h>

/* A fixed choice: benchmarking the routines at boot costs milliseconds. */
#define XOR_SELECT_TEMPLATE(FASTEST) (&xor_block_8regs)

#endif

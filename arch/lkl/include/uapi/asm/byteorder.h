/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_BYTEORDER_H
#define _ASM_UAPI_LKL_BYTEORDER_H

/* The supported hosts (x86-64, arm64) are little-endian. */
#include <linux/byteorder/little_endian.h>

#endif

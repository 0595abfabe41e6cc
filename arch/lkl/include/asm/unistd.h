/* SPDX-License-Identifier: GPL-2.0 */
/*
 * No include guard: syscalls.c includes this again with __SYSCALL defined
 * to build the table (asm-generic/unistd.h allows that).
 */
#include <uapi/asm/unistd.h>

#define NR_syscalls	__NR_syscalls
#define __ARCH_WANT_SYS_CLONE

/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lkl uses the generic system call table, 64-bit flavour: the new stat
 * calls, renameat and the rlimit calls that 64-bit generic architectures
 * keep.
 */
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_SYS_CLONE3

#include <asm-generic/unistd.h>

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

/*
 * lkl's own calls, in the range the generic table leaves to architectures.
 * lkl_switch_bench(n, total_ns, arch_ns): two kernel threads wake each other
 * n times; reports the nanoseconds per switch, whole and for the
 * architecture's own part. -ENOSYS unless CONFIG_LKL_CTX_SWITCH_BENCH.
 */
#define __NR_lkl_switch_bench (__NR_arch_specific_syscall + 0)
__SYSCALL(__NR_lkl_switch_bench, sys_lkl_switch_bench)

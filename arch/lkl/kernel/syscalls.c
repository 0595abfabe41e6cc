// SPDX-License-Identifier: GPL-2.0
/*
 * The system call table: the generic one, plus the few calls an
 * architecture must provide itself.
 */
#include <linux/syscalls.h>
#include <linux/mman.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

SYSCALL_DEFINE6(mmap, unsigned long, addr, unsigned long, len,
		unsigned long, prot, unsigned long, flags,
		unsigned long, fd, off_t, off)
{
	if (off & ~PAGE_MASK)
		return -EINVAL;
	return ksys_mmap_pgoff(addr, len, prot, flags, fd, off >> PAGE_SHIFT);
}

/* There is no user mode to return to from a signal handler. */
SYSCALL_DEFINE0(rt_sigreturn)
{
	return -ENOSYS;
}

/* Built with CONFIG_LKL_CTX_SWITCH_BENCH (switch_bench.c), else -ENOSYS. */
#ifndef CONFIG_LKL_CTX_SWITCH_BENCH
#define sys_lkl_switch_bench sys_ni_syscall
#endif
/* Built with CONFIG_LKL_DEBUG_CALLS (debug.c), else -ENOSYS. */
#ifndef CONFIG_LKL_DEBUG_CALLS
#define sys_lkl_debug sys_ni_syscall
#endif

#undef __SYSCALL
#define __SYSCALL(nr, call) [nr] = (syscall_fn_t)(void (*)(void))(call),

syscall_fn_t sys_call_table[__NR_syscalls] = {
	[0 ... __NR_syscalls - 1] = (syscall_fn_t)(void (*)(void))sys_ni_syscall,
#include <asm/unistd.h>
};

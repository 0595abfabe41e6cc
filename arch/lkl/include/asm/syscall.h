/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_SYSCALL_H
#define _ASM_LKL_SYSCALL_H

#include <uapi/linux/audit.h>
#include <linux/types.h>
#include <linux/linkage.h>
#include <linux/compiler_types.h>

typedef long (*syscall_fn_t)(long, long, long, long, long, long);

/* The generic table, indexed by __NR_*; holes are sys_ni_syscall. */
extern syscall_fn_t sys_call_table[];

asmlinkage long sys_lkl_switch_bench(unsigned long rounds, u64 __user *total_ns,
				     u64 __user *arch_ns);
asmlinkage long sys_new_thread_group_leader(void);
asmlinkage long sys_lkl_disk_add_dev(void __user *host, u64 size,
				     unsigned int flags);
asmlinkage long sys_lkl_disk_del(unsigned int id);
asmlinkage long sys_lkl_debug(unsigned int cmd, unsigned long arg);

static inline int syscall_get_arch(struct task_struct *task)
{
	return AUDIT_ARCH_X86_64;
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_SYSCALL_H
#define _ASM_LKL_SYSCALL_H

#include <uapi/linux/audit.h>
#include <linux/types.h>

typedef long (*syscall_fn_t)(long, long, long, long, long, long);

/* The generic table, indexed by __NR_*; holes are sys_ni_syscall. */
extern syscall_fn_t sys_call_table[];

static inline int syscall_get_arch(struct task_struct *task)
{
	return AUDIT_ARCH_X86_64;
}

#endif

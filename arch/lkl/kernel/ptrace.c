// SPDX-License-Identifier: GPL-2.0
/*
 * There is no user mode, so there is nothing to trace or single-step and no
 * user registers to show.
 */
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/debug.h>

long arch_ptrace(struct task_struct *child, long request, unsigned long addr,
		 unsigned long data)
{
	return -EINVAL;
}

void ptrace_disable(struct task_struct *child)
{
}

void user_disable_single_step(struct task_struct *child)
{
}

void show_regs(struct pt_regs *regs)
{
	dump_stack();
}

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_PTRACE_H
#define _ASM_LKL_PTRACE_H

#include <uapi/asm/ptrace.h>

#ifndef __ASSEMBLY__

/* There is no user mode: every register set is a kernel one. */
#define user_mode(regs)			0
#define kernel_mode(regs)		1
#define instruction_pointer(regs)	0
#define profile_pc(regs)		0
#define user_stack_pointer(regs)	0
#define current_pt_regs()		((struct pt_regs *)0)
#define arch_has_single_step()		0

#endif
#endif

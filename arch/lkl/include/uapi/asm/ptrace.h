/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_PTRACE_H
#define _ASM_UAPI_LKL_PTRACE_H

/* lkl has no user mode, so there are no user registers to trace. */
struct pt_regs {
	unsigned long dummy;
};

#endif

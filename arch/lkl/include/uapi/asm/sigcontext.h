/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_SIGCONTEXT_H
#define _ASM_UAPI_LKL_SIGCONTEXT_H

#include <asm/ptrace.h>

/* Signals are never delivered to a user mode, but the ABI needs the type. */
struct sigcontext {
	struct pt_regs regs;
};

#endif

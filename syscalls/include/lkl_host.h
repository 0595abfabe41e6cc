/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _LKL_HOST_H
#define _LKL_HOST_H

/*
 * The host side of lkl, as programs see it.
 *
 * struct lkl_host_operations and the kernel entry points (lkl_init,
 * lkl_start_kernel, lkl_syscall, lkl_trigger_irq, lkl_is_running,
 * lkl_cleanup, lkl_kernel_messages) are declared by <lkl/asm/host_ops.h>,
 * the kernel/host interface installed from arch/lkl.
 *
 * lkl_host_ops is the library's own implementation of those operations.
 * A program passes it to lkl_init() and may first replace its print and
 * panic members:
 *
 *	lkl_host_ops.print = my_console;
 *	lkl_init(&lkl_host_ops);
 *	lkl_start_kernel("mem=64M");
 */

#include <lkl/asm/host_ops.h>

#ifdef __cplusplus
extern "C" {
#endif

extern struct lkl_host_operations lkl_host_ops;

#ifdef __cplusplus
}
#endif

#endif /* _LKL_HOST_H */

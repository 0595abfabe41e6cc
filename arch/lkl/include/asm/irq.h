/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_IRQ_H
#define _ASM_LKL_IRQ_H

/* Interrupt lines for host devices: the timer is 1, disks take the rest. */
#define NR_IRQS		64
#define LKL_TIMER_IRQ	1
#define LKL_BLK_IRQ	2

#include <asm-generic/irq.h>

#endif

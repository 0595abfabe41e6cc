/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_IRQFLAGS_H
#define _ASM_LKL_IRQFLAGS_H

#ifndef __ASSEMBLY__

/*
 * Interrupts are raised by host threads (lkl_trigger_irq) and only marked
 * pending; the host thread holding the lkl CPU runs them when it enables
 * interrupts or gives the CPU up. "Disabling" is just a flag.
 */
extern unsigned long lkl_irqs_enabled;
extern unsigned long lkl_irq_pending;
void lkl_run_pending_irqs(void);

static inline unsigned long arch_local_save_flags(void)
{
	return lkl_irqs_enabled;
}

static inline void arch_local_irq_restore(unsigned long flags)
{
	lkl_irqs_enabled = flags;
	if (flags && *(volatile unsigned long *)&lkl_irq_pending)
		lkl_run_pending_irqs();
}

#define arch_local_save_flags arch_local_save_flags
#define arch_local_irq_restore arch_local_irq_restore

#endif

#include <asm-generic/irqflags.h>

#endif

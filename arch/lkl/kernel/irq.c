// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts raised by host threads.
 *
 * lkl_trigger_irq() marks a line pending. If the lkl CPU is free, the raising
 * thread takes it and runs the handlers; otherwise the holder runs them when
 * it enables interrupts or gives the CPU up (see cpu.c).
 */
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/hardirq.h>
#include <linux/init.h>
#include <asm/irq_regs.h>
#include <linux/sched/task.h>
#include "lkl.h"

unsigned long lkl_irqs_enabled;
unsigned long lkl_irq_pending;
static bool irqs_running;
/*
 * There are no interrupted registers, but the tick only runs the timer
 * wheel (update_process_times) when get_irq_regs() is set.
 */
static struct pt_regs irq_regs;

int lkl_trigger_irq(int irq)
{
	struct lkl_host_thread *ht;

	if (irq <= 0 || irq >= NR_IRQS)
		return -EINVAL;
	/* Only between boot and halt: a stopped kernel drops interrupts. */
	if (!lkl_ops || !lkl_kernel_alive())
		return -ENODEV;
	__atomic_fetch_or(&lkl_irq_pending, 1UL << irq, __ATOMIC_SEQ_CST);
	ht = lkl_host_thread_self();
	if (!ht)
		return -ENOMEM;
	if (lkl_cpu_try_get(ht))
		lkl_cpu_put(ht);
	return 0;
}

/* Called, with the CPU held, when interrupts have just been enabled. */
void lkl_run_pending_irqs(void)
{
	struct pt_regs *old_regs;
	unsigned long pending;

	/* Softirqs enable interrupts inside irq_exit(): don't nest. */
	if (irqs_running)
		return;
	irqs_running = true;
	lkl_irqs_enabled = 0;
	old_regs = set_irq_regs(&irq_regs);
	while ((pending = __atomic_exchange_n(&lkl_irq_pending, 0,
					      __ATOMIC_SEQ_CST))) {
		irq_enter();
		while (pending) {
			int irq = __builtin_ctzl(pending);

			pending &= pending - 1;
			generic_handle_irq(irq);
		}
		irq_exit();
	}
	set_irq_regs(old_regs);
	lkl_irqs_enabled = 1;
	irqs_running = false;
}

/*
 * Busy-wait loops call cpu_relax() (asm/processor.h): with one CPU and no
 * preemption, an interrupt raised meanwhile must run here, or a loop that
 * waits for jiffies or for an interrupt handler never ends.
 */
void lkl_cpu_relax_irqs(void)
{
	if (lkl_irqs_enabled)
		lkl_run_pending_irqs();
}

void __init init_IRQ(void)
{
	int i;

	for (i = 1; i < NR_IRQS; i++)
		irq_set_chip_and_handler(i, &dummy_irq_chip, handle_simple_irq);
}

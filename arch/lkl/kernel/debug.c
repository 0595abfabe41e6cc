// SPDX-License-Identifier: GPL-2.0
/*
 * lkl_debug(cmd, arg): kernel behaviour that tests need and no ordinary
 * system call produces (CONFIG_LKL_DEBUG_CALLS). The commands are in
 * asm/unistd.h.
 */
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/timer.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

static void bug_from_timer(struct timer_list *unused)
{
	BUG();
}

/* A BUG() in a timer callback: softirq code, on a host thread's stack. */
static long bug_in_softirq(void)
{
	struct timer_list timer;

	timer_setup_on_stack(&timer, bug_from_timer, 0);
	mod_timer(&timer, jiffies + 1);
	/* The timer fires while this task sleeps; the kernel stops. */
	msleep(1000);
	del_timer_sync(&timer);
	destroy_timer_on_stack(&timer);
	return -EAGAIN;
}

/*
 * A read one byte past a kmalloc()ed object and one of an object already
 * freed: what KASAN must report (this file is built with KASAN's checks
 * when the kernel has KASAN). Without KASAN, nothing happens.
 */
static noinline long bad_accesses(void)
{
	volatile char *p = kmalloc(24, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	(void)p[24];
	kfree((void *)p);
	OPTIMIZER_HIDE_VAR(p);
	(void)p[0];
	return 0;
}

SYSCALL_DEFINE2(lkl_debug, unsigned int, cmd, unsigned long, arg)
{
	unsigned long start = jiffies;

	switch (cmd) {
	case LKL_DEBUG_BUSY_WAIT_JIFFIES:
		/* Only the timer interrupt moves jiffies: nothing sleeps here. */
		while (time_before(jiffies, start + arg))
			cpu_relax();
		return jiffies - start;
	case LKL_DEBUG_SPIN:
		for (;;)
			cpu_relax();
	case LKL_DEBUG_PANIC:
		panic("lkl_debug: panic on request\n");
	case LKL_DEBUG_BUG:
		BUG();
	case LKL_DEBUG_BUG_IN_SOFTIRQ:
		return bug_in_softirq();
	case LKL_DEBUG_BAD_ACCESS:
		return bad_accesses();
	default:
		return -EINVAL;
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Stack traces of the running task, for KASAN's allocation and free
 * records and for the call traces of WARN, BUG and KASAN reports
 * (show_stack()): a kernel with a stack walk is built
 * with frame pointers (CONFIG_FRAME_POINTER, which arch/lkl/Kconfig asks
 * for with KASAN), so the chain of saved frame pointers gives the return
 * addresses. The walk follows a frame only while its return
 * address lies in kernel text: the bottom frames of a task's stack belong
 * to the host (its context's entry), whose frames are not the kernel's to
 * trust. Other tasks are not walked: their stacks are host contexts,
 * stopped somewhere inside the host's context switch.
 */
#include <linux/kallsyms.h>
#include <linux/sched.h>
#include <linux/sched/debug.h>
#include <linux/stacktrace.h>
#include <asm/sections.h>

/* Frames more than this far apart are not one stack's. */
#define MAX_FRAME_SIZE	(64 * 1024)

static bool in_kernel_text(unsigned long addr)
{
	return addr >= (unsigned long)_stext && addr < (unsigned long)_etext;
}

noinline void arch_stack_walk(stack_trace_consume_fn consume_entry, void *cookie,
			      struct task_struct *task, struct pt_regs *regs)
{
	unsigned long *fp = __builtin_frame_address(0);

	/*
	 * CONFIG_STACKTRACE also comes with SLUB_DEBUG's stack depot, in a
	 * kernel without frame pointers: there the chain is register noise.
	 */
	if (!IS_ENABLED(CONFIG_FRAME_POINTER))
		return;
	if (task && task != current)
		return;
	while (fp && !((unsigned long)fp & (sizeof(long) - 1))) {
		unsigned long *next = (unsigned long *)fp[0];
		unsigned long ret = fp[1];

		if (!in_kernel_text(ret) || !consume_entry(cookie, ret))
			break;
		if (next <= fp || (unsigned long)next - (unsigned long)fp > MAX_FRAME_SIZE)
			break;
		fp = next;
	}
}

#ifdef CONFIG_FRAME_POINTER
static bool show_frame(void *loglvl, unsigned long addr)
{
	printk("%s %pS\n", (const char *)loglvl, (void *)addr);
	return true;
}

/* Without KALLSYMS the frames are raw addresses: gdb's "info symbol". */
void show_stack(struct task_struct *task, unsigned long *sp,
		const char *loglvl)
{
	printk("%sCall Trace:\n", loglvl);
	arch_stack_walk(show_frame, (void *)loglvl, task, NULL);
}
#endif

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_PROCESSOR_H
#define _ASM_LKL_PROCESSOR_H

#ifndef __ASSEMBLY__

#include <linux/types.h>

struct lkl_ctx;
struct lkl_host_thread;

/*
 * The architecture's per-task state: the host execution context the task
 * runs on, and for a task created by fork the function it starts with.
 */
struct thread_struct {
	struct lkl_ctx *ctx;
	int (*fn)(void *arg);
	void *fn_arg;
	struct task_struct *prev_sched;
	/* Non-NULL for a task that runs system calls for a host thread. */
	struct lkl_host_thread *host;
	/* On the list of tasks that own a context (threads.c). */
	struct list_head contexts;
};

#define INIT_THREAD { }

extern unsigned long lkl_irq_pending;
void lkl_cpu_relax_irqs(void);

/*
 * A spin-wait hint to the host CPU (and a compiler barrier). With one lkl
 * CPU and no preemption nothing else can end a busy wait, so interrupts
 * raised meanwhile (the timer, disk completions) run here when enabled.
 */
static inline void cpu_relax(void)
{
	if (*(volatile unsigned long *)&lkl_irq_pending)
		lkl_cpu_relax_irqs();
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" : : : "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" : : : "memory");
#else
	__asm__ __volatile__("" : : : "memory");
#endif
}

#define TASK_SIZE		(~0UL)
#define TASK_UNMAPPED_BASE	0
#define STACK_TOP		TASK_SIZE
#define STACK_TOP_MAX		STACK_TOP

#define KSTK_EIP(tsk)		(0)
#define KSTK_ESP(tsk)		(0)
#define task_pt_regs(tsk)	((struct pt_regs *)0)

static inline unsigned long __get_wchan(struct task_struct *p)
{
	return 0;
}

static inline void start_thread(struct pt_regs *regs, unsigned long pc,
				unsigned long sp)
{
}

#endif
#endif

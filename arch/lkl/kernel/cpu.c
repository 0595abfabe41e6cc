// SPDX-License-Identifier: GPL-2.0
/*
 * The lkl CPU.
 *
 * lkl is uniprocessor: one host thread at a time runs kernel code, the one
 * that holds the lkl CPU (lkl_cpu_owner). Kernel tasks run on host execution
 * contexts (asm/host_ops.h); the owner resumes the current task's context on
 * its own host thread, and the task comes back to the owner's "home" context
 * when it has nothing more to do for now:
 *
 *  - the idle task comes home from arch_cpu_idle() when nothing is runnable;
 *  - a task that runs system calls for a host thread comes home after each
 *    call, staying current while nothing else is runnable, so that the same
 *    host thread's next call resumes it directly: no scheduler, no wake-up.
 *
 * So between two holders of the CPU, current is either idle, waiting in
 * arch_cpu_idle(), or a parked host task. A holder that leaves first runs
 * pending interrupts and lets anything they made runnable run, so work is
 * never stranded while the CPU is free.
 */
#include <linux/sched.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/interrupt.h>
#include <asm/irqflags.h>
#include "lkl.h"

/*
 * Host threads may wait for the CPU across a reboot (a system call racing
 * with lkl_sys_halt()), so the CPU outlives the kernel: persistent.
 */
struct lkl_host_thread *lkl_cpu_owner __lkl_persistent;
static int cpu_waiters __lkl_persistent;
static struct lkl_sem *cpu_sem __lkl_persistent;
/* The holder runs interrupts on its own stack (lkl_cpu_put()). */
static bool irqs_on_home;

static inline bool owner_cas(struct lkl_host_thread *old,
			     struct lkl_host_thread *new)
{
	return __atomic_compare_exchange_n(&lkl_cpu_owner, &old, new, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool lkl_cpu_try_get(struct lkl_host_thread *ht)
{
	return owner_cas(NULL, ht);
}

void lkl_cpu_get(struct lkl_host_thread *ht)
{
	while (!owner_cas(NULL, ht)) {
		/*
		 * Announce ourselves before the second try: a holder that
		 * releases after that try sees the announcement and posts.
		 */
		__atomic_add_fetch(&cpu_waiters, 1, __ATOMIC_SEQ_CST);
		if (owner_cas(NULL, ht)) {
			__atomic_sub_fetch(&cpu_waiters, 1, __ATOMIC_SEQ_CST);
			return;
		}
		lkl_ops->sem_down(cpu_sem);
		__atomic_sub_fetch(&cpu_waiters, 1, __ATOMIC_SEQ_CST);
	}
}

/* Is a task other than current waiting to run? */
static bool others_runnable(void)
{
	if (is_idle_task(current))
		return need_resched();
	return need_resched() || !single_task_running();
}

static void resume_current(struct lkl_host_thread *ht)
{
	lkl_ops->ctx_switch(ht->home, current->thread.ctx);
}

/*
 * Run pending interrupts on the holder's stack, in current's name. A panic
 * in them whose handler returns comes back here (lkl_cpu_abandon()).
 */
static void run_irqs_from_home(struct lkl_host_thread *ht)
{
	unsigned long flags = lkl_irqs_enabled;

	if (__builtin_setjmp(ht->irq_escape)) {
		irqs_on_home = false;
		return;
	}
	irqs_on_home = true;
	arch_local_irq_restore(1);
	irqs_on_home = false;
	lkl_irqs_enabled = flags;
}

static bool irq_pending(void)
{
	return __atomic_load_n(&lkl_irq_pending, __ATOMIC_SEQ_CST);
}

/*
 * Gives the CPU up, first running what is pending: interrupts, and any task
 * they or the holder made runnable. Once the kernel has stopped nothing
 * runs: pending interrupts are dropped, so this always ends.
 */
void lkl_cpu_put(struct lkl_host_thread *ht)
{
	for (;;) {
		while (lkl_kernel_alive()) {
			if (irq_pending())
				run_irqs_from_home(ht);
			else if (others_runnable())
				resume_current(ht);
			else
				break;
		}

		__atomic_store_n(&lkl_cpu_owner, NULL, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&cpu_waiters, __ATOMIC_SEQ_CST))
			lkl_ops->sem_up(cpu_sem);
		/*
		 * An interrupt raised while we held the CPU was left to us;
		 * one raised after the store above finds the CPU free.
		 */
		if (!lkl_kernel_alive() || !irq_pending() ||
		    !lkl_cpu_try_get(ht))
			return;
	}
}

/*
 * Called by a kernel context to give the host thread that holds the CPU its
 * stack back. Returns when a holder resumes this context.
 */
void lkl_cpu_go_home(void)
{
	lkl_ops->ctx_switch(current->thread.ctx, lkl_cpu_owner->home);
}

/*
 * The kernel has stopped in the middle of kernel code (halt or panic): give
 * the holder its stack back for good. Interrupts run on the holder's own
 * stack unwind to run_irqs_from_home(); a context is never resumed.
 */
void __noreturn lkl_cpu_abandon(void)
{
	if (irqs_on_home)
		__builtin_longjmp(lkl_cpu_owner->irq_escape, 1);
	for (;;)
		lkl_cpu_go_home();
}

/*
 * Called with the CPU held by @ht, whose request is pending: run kernel
 * contexts until the request is done, then give the CPU up. If the request
 * blocks and nothing else is runnable, the CPU is given up while waiting:
 * whichever host thread holds it when the request completes runs it to the
 * end and posts @ht->sem.
 */
void lkl_cpu_run(struct lkl_host_thread *ht)
{
	resume_current(ht);
	if (ht->pending) {
		ht->waiting = true;
		lkl_cpu_put(ht);
		lkl_ops->sem_down(ht->sem);
		ht->waiting = false;
		return;
	}
	lkl_cpu_put(ht);
}

/* Called in kernel context, with the CPU held, when @ht's request is done. */
void lkl_request_done(struct lkl_host_thread *ht, long ret)
{
	ht->ret = ret;
	ht->pending = false;
	if (ht->waiting)
		lkl_ops->sem_up(ht->sem);
}

/*
 * The semaphore is made once and kept for the life of the process: after a
 * halt, a host thread may still be on its way out of lkl_cpu_put().
 */
int lkl_cpu_init(void)
{
	if (!cpu_sem)
		cpu_sem = lkl_ops->sem_alloc(0);
	return cpu_sem ? 0 : -ENOMEM;
}

void arch_cpu_idle(void)
{
	if (!__atomic_load_n(&lkl_irq_pending, __ATOMIC_SEQ_CST) &&
	    !need_resched())
		lkl_cpu_go_home();
	raw_local_irq_enable();
}

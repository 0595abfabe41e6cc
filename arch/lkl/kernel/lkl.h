/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LKL_KERNEL_LKL_H
#define _LKL_KERNEL_LKL_H

#include <linux/types.h>
#include <asm/host_ops.h>

/* Private to arch/lkl: how the architecture's files share state. */

/*
 * Variables that outlive a kernel: a reboot in the same process restores
 * the kernel's writable data from a copy taken before the first boot
 * (reboot.c) but keeps these. They are the host's side of things: the host
 * operations, the lkl CPU that host threads may be waiting for, objects
 * host threads may still be touching when the old kernel is released.
 */
#define __lkl_persistent __section(".lkl.persistent")

extern struct lkl_host_operations *lkl_ops;

/*
 * The kernel's life (persistent):
 *
 *  OFF ------> BOOTING ----> RUNNING ----> STOPPED ----> RELEASING ---> OFF
 *      lkl_start_kernel  init serves  halt or panic  lkl_sys_halt frees it
 *
 * Kernel code runs only while BOOTING or RUNNING; system calls only while
 * RUNNING. In STOPPED no kernel code runs again: interrupts are dropped,
 * every system call that was waiting returned -ENODEV, and the old kernel
 * waits for lkl_sys_halt() to release it.
 */
enum lkl_state {
	LKL_OFF,
	LKL_BOOTING,
	LKL_RUNNING,
	LKL_STOPPED,
	LKL_RELEASING,
};
extern int lkl_state;
/* Counts the kernels booted in this process (persistent). */
extern unsigned long lkl_generation;

static inline int lkl_get_state(void)
{
	return __atomic_load_n(&lkl_state, __ATOMIC_SEQ_CST);
}

static inline void lkl_set_state(int state)
{
	__atomic_store_n(&lkl_state, state, __ATOMIC_SEQ_CST);
}

/* May kernel code run (interrupts, contexts)? */
static inline bool lkl_kernel_alive(void)
{
	int state = lkl_get_state();

	return state == LKL_BOOTING || state == LKL_RUNNING;
}

/*
 * A host thread that entered the kernel: to make a system call, deliver an
 * interrupt or boot. While it holds the lkl CPU it runs kernel contexts on
 * its own stack and comes back to @home between them.
 */
struct lkl_host_thread {
	struct lkl_ctx *home;
	/* The thread sleeps here while its request runs on another thread. */
	struct lkl_sem *sem;
	/* The kernel task that runs this thread's system calls, once made. */
	struct task_struct *task;
	/* The request: a system call, or exiting the task. */
	long nr;
	long *params;
	long ret;
	bool pending;
	bool waiting;
	bool exiting;
	/* A new task takes over the pending request (new_thread_group_leader). */
	bool handoff;
	/* The kernel (lkl_generation) that @task belongs to. */
	unsigned long generation;
	/* Where a panic in interrupts run on this thread's stack resumes. */
	void *irq_escape[5];
};

/* The host thread that holds the lkl CPU. */
extern struct lkl_host_thread *lkl_cpu_owner;

struct lkl_host_thread *lkl_host_thread_self(void);
bool lkl_cpu_try_get(struct lkl_host_thread *ht);
void lkl_cpu_get(struct lkl_host_thread *ht);
void lkl_cpu_put(struct lkl_host_thread *ht);
void lkl_cpu_run(struct lkl_host_thread *ht);
void lkl_cpu_go_home(void);
void arch_release_task_struct(struct task_struct *tsk);
void lkl_request_done(struct lkl_host_thread *ht, long ret);
int lkl_cpu_init(void);

void lkl_host_tasks_serve(void);
int lkl_host_tasks_init(void);
void lkl_host_tasks_cleanup(void);
/* Fails every waiting request but @except's with @ret (kernel stopping). */
void lkl_host_tasks_abort(struct lkl_host_thread *except, long ret);

void lkl_boot_done(void);
/*
 * Stops the kernel for good (LKL_STOPPED), from kernel code: every waiting
 * request gets @ret, @done's gets @done_ret.
 */
void __noreturn lkl_stop(struct lkl_host_thread *done, long ret,
			 long done_ret);
/* Leaves the running kernel code for good, back to the CPU holder. */
void __noreturn lkl_cpu_abandon(void);
/* Waits until the host has completed every block request it was given. */
void lkl_blk_wait_idle(void);
/* The old kernel's disks are gone: forget those handed over before boot. */
void lkl_blk_forget(void);

void lkl_console_init(void);
void lkl_mem_init(void);
void lkl_mem_cleanup(void);
void lkl_time_cleanup(void);
/* Releases a stopped kernel: contexts, memory, writable data (reboot.c). */
int lkl_snapshot_take(void);
void lkl_snapshot_free(void);
void lkl_release(void);
/* Frees the host contexts of every task of the stopped kernel. */
void lkl_release_contexts(void);
/* Host monotonic time at boot: sched_clock() counts from here. */
extern unsigned long long lkl_boot_ns;

#endif

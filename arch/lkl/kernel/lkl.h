/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LKL_KERNEL_LKL_H
#define _LKL_KERNEL_LKL_H

#include <linux/types.h>
#include <asm/host_ops.h>

/* Private to arch/lkl: how the architecture's files share state. */

extern struct lkl_host_operations *lkl_ops;

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
void lkl_cpu_cleanup(void);

void lkl_host_tasks_serve(void);
int lkl_host_tasks_init(void);
void lkl_host_tasks_cleanup(void);
extern bool lkl_running;

void lkl_boot_done(void);
/* Waits until the host has completed every block request it was given. */
void lkl_blk_wait_idle(void);
extern bool lkl_halting;

void lkl_console_init(void);
void lkl_mem_init(void);
void lkl_mem_cleanup(void);
void lkl_time_cleanup(void);
/* Host monotonic time at boot: sched_clock() counts from here. */
extern unsigned long long lkl_boot_ns;

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel tasks on host execution contexts, and the context switch.
 *
 * Every task, kernel thread or not, runs on its own host context created by
 * asm/host_ops.h ctx_create(). Switching tasks is a context jump on the host
 * thread that holds the lkl CPU; no host thread is created per task.
 */
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include "lkl.h"

struct task_struct *lkl_current = &init_task;
/*
 * Every task with a context but init_task, until it is freed. When the
 * kernel stops, tasks that exited but wait for an RCU grace period to be
 * freed are on no other list; their contexts must be freed all the same.
 */
static LIST_HEAD(contexts);

struct task_struct *__switch_to(struct task_struct *prev,
				struct task_struct *next)
{
	next->thread.prev_sched = prev;
	lkl_current = next;
	lkl_ops->ctx_switch(prev->thread.ctx, next->thread.ctx);
	/* Resumed: whoever switched to us left its identity here. */
	return current->thread.prev_sched;
}

static void task_entry(void *unused)
{
	struct task_struct *self = current;
	int ret;

	schedule_tail(self->thread.prev_sched);
	ret = self->thread.fn(self->thread.fn_arg);
	/*
	 * A kernel thread never gets here (kthread() exits). A user-mode
	 * thread would now return to user space, which lkl does not have:
	 * init goes on serving the host, anything else exits.
	 */
	if (is_global_init(self))
		lkl_host_tasks_serve();
	do_exit(ret);
}

/* A new task must not start with a copy of its parent's context. */
int arch_dup_task_struct(struct task_struct *dst, struct task_struct *src)
{
	*dst = *src;
	dst->thread.ctx = NULL;
	return 0;
}

int copy_thread(struct task_struct *p, const struct kernel_clone_args *args)
{
	/* Without a user mode, only fork with a start function makes sense. */
	if (!args->fn)
		return -EINVAL;

	p->thread.fn = args->fn;
	p->thread.fn_arg = args->fn_arg;
	p->thread.host = NULL;
	p->thread.ctx = lkl_ops->ctx_create(task_entry, NULL);
	if (!p->thread.ctx)
		return -ENOMEM;
	list_add(&p->thread.contexts, &contexts);
	return 0;
}

void arch_release_task_struct(struct task_struct *tsk)
{
	if (tsk->thread.ctx && tsk != &init_task) {
		list_del(&tsk->thread.contexts);
		lkl_ops->ctx_free(tsk->thread.ctx);
	}
	tsk->thread.ctx = NULL;
}

/* The kernel has stopped: no context runs again. */
void lkl_release_contexts(void)
{
	struct task_struct *t, *next;

	list_for_each_entry_safe(t, next, &contexts, thread.contexts)
		arch_release_task_struct(t);
	if (init_task.thread.ctx)
		lkl_ops->ctx_free(init_task.thread.ctx);
	init_task.thread.ctx = NULL;
}

void flush_thread(void)
{
}

#if !defined(CONFIG_FRAME_POINTER) || !defined(CONFIG_STACKTRACE)
/* No frame-pointer walk in this build (stacktrace.c has the other). */
void show_stack(struct task_struct *task, unsigned long *sp,
		const char *loglvl)
{
}
#endif

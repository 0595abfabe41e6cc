// SPDX-License-Identifier: GPL-2.0
/*
 * System call entry: a kernel task per host thread.
 *
 * The first system call a host thread makes gets it a kernel task, a thread
 * of init's thread group (so every host thread of the program shares one fd
 * table, cwd and credentials, like the threads of one process). Init creates
 * these tasks when asked, since a thread can only be cloned from inside its
 * group. The task then runs that host thread's calls for as long as the host
 * thread lives; a destructor on host thread-local storage makes it exit when
 * the host thread does. new_thread_group_leader() moves a host thread into a
 * process of its own.
 */
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/task_work.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <linux/fdtable.h>
#include <asm/syscall.h>
#include "lkl.h"

/*
 * Made at the first boot and kept: a host thread's data must be found (and
 * freed when it exits) whatever kernel it last used.
 */
static int tls_key __lkl_persistent = -1;

/* init, once it serves; and host threads waiting for it to make their task. */
static struct task_struct *task_server;
static LIST_HEAD(task_requests);
struct task_request {
	struct list_head list;
	struct lkl_host_thread *ht;
};

static void host_thread_free(struct lkl_host_thread *ht)
{
	if (ht->home)
		lkl_ops->ctx_free(ht->home);
	if (ht->sem)
		lkl_ops->sem_free(ht->sem);
	lkl_ops->mem_free(ht);
}

/*
 * With the CPU held and @ht's request filled in: hand it to @ht's task (the
 * current one, a sleeping one, or a new one made by init) and run the kernel
 * until it is done. Gives the CPU up.
 */
static long run_request(struct lkl_host_thread *ht)
{
	ht->pending = true;
	if (ht->task) {
		if (current != ht->task)
			wake_up_process(ht->task);
	} else {
		struct task_request *req = kmalloc(sizeof(*req), GFP_ATOMIC);

		if (!req) {
			ht->pending = false;
			lkl_cpu_put(ht);
			return -ENOMEM;
		}
		req->ht = ht;
		list_add_tail(&req->list, &task_requests);
		wake_up_process(task_server);
	}
	lkl_cpu_run(ht);
	return ht->ret;
}

/*
 * With the CPU held: is @ht's task one of the running kernel's? A task of
 * an earlier kernel is gone with it, and the thread starts afresh.
 */
static bool has_live_task(struct lkl_host_thread *ht)
{
	if (ht->generation != lkl_generation) {
		ht->task = NULL;
		ht->generation = lkl_generation;
	}
	return ht->task;
}

static void host_thread_exit(void *arg)
{
	struct lkl_host_thread *ht = arg;

	if (ht->task && lkl_is_running()) {
		lkl_cpu_get(ht);
		if (lkl_is_running() && has_live_task(ht)) {
			ht->exiting = true;
			run_request(ht);
		} else {
			lkl_cpu_put(ht);
		}
	}
	host_thread_free(ht);
}

struct lkl_host_thread *lkl_host_thread_self(void)
{
	struct lkl_host_thread *ht = lkl_ops->tls_get(tls_key);

	if (likely(ht))
		return ht;

	ht = lkl_ops->mem_alloc(sizeof(*ht));
	if (!ht)
		return NULL;
	memset(ht, 0, sizeof(*ht));
	ht->home = lkl_ops->ctx_create_host();
	ht->sem = lkl_ops->sem_alloc(0);
	if (!ht->home || !ht->sem) {
		host_thread_free(ht);
		return NULL;
	}
	lkl_ops->tls_set(tls_key, ht);
	return ht;
}

static long run_syscall(long nr, long *p)
{
	long ret;

	if (nr < 0 || nr >= NR_syscalls)
		return -ENOSYS;
	ret = sys_call_table[nr](p[0], p[1], p[2], p[3], p[4], p[5]);

	/*
	 * What a return to user mode would do: run deferred work (the final
	 * fput of a closed file is task work) and drop signals, which have no
	 * user-mode handler to go to. A restartable call reports EINTR.
	 */
	if (test_thread_flag(TIF_NOTIFY_SIGNAL))
		clear_notify_signal();
	clear_thread_flag(TIF_NOTIFY_RESUME);
	task_work_run();
	if (signal_pending(current))
		flush_signals(current);
	if (ret == -ERESTARTSYS || ret == -ERESTARTNOINTR ||
	    ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK)
		ret = -EINTR;
	return ret;
}

static int host_task_main(void *arg)
{
	struct lkl_host_thread *ht = arg;

	ht->task = current;
	current->thread.host = ht;
	if (ht->handoff) {
		/* The request that made us is done once we run. */
		ht->handoff = false;
		lkl_request_done(ht, 0);
	}
	for (;;) {
		if (ht->pending) {
			if (ht->exiting) {
				ht->task = NULL;
				current->thread.host = NULL;
				lkl_request_done(ht, 0);
				do_exit(0);
			}
			lkl_request_done(ht, run_syscall(ht->nr,
							     ht->params));
		}
		/*
		 * Stay current while nothing else wants the CPU: the next call
		 * from this host thread then resumes us with no switch.
		 */
		if (!need_resched() && single_task_running()) {
			lkl_cpu_go_home();
			continue;
		}
		set_current_state(TASK_UNINTERRUPTIBLE);
		if (!ht->pending)
			schedule();
		__set_current_state(TASK_RUNNING);
	}
}

/*
 * A process of its own for the calling host thread: a child task without
 * CLONE_THREAD takes over the host thread (and completes this call), and
 * the caller's task exits. The child's parent is the caller's thread group,
 * so getppid() gives the caller's old getpid().
 */
SYSCALL_DEFINE0(new_thread_group_leader)
{
	struct lkl_host_thread *ht = current->thread.host;
	pid_t pid;

	if (!ht)
		return -EINVAL;
	ht->handoff = true;
	pid = user_mode_thread(host_task_main, ht, SIGCHLD);
	if (pid < 0) {
		ht->handoff = false;
		return pid;
	}
	current->thread.host = NULL;
	do_exit(0);
}

/* Runs as init once it has "exec'd" (see binfmt.c): creates host tasks. */
void lkl_host_tasks_serve(void)
{
	unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES |
			      CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	unsigned int fd;

	task_server = current;
	/*
	 * Upstream LKL's conventions, which programs rely on: no descriptors
	 * open (kernel_init() may have opened the console as 0, 1 and 2), so
	 * a program's first open() returns 0; and the processes that exit
	 * (new_thread_group_leader) are reaped at once, with nobody to wait.
	 */
	for (fd = 0; fd < 3; fd++)
		close_fd(fd);
	kernel_sigaction(SIGCHLD, SIG_IGN);
	lkl_boot_done();
	for (;;) {
		struct task_request *req;

		set_current_state(TASK_INTERRUPTIBLE);
		if (list_empty(&task_requests))
			schedule();
		__set_current_state(TASK_RUNNING);
		task_work_run();
		flush_signals(current);

		while (!list_empty(&task_requests)) {
			pid_t pid;

			req = list_first_entry(&task_requests,
					       struct task_request, list);
			list_del(&req->list);
			pid = user_mode_thread(host_task_main, req->ht,
					       flags);
			if (pid < 0)
				lkl_request_done(req->ht, pid);
			kfree(req);
		}
	}
}

long lkl_syscall(long no, long *params)
{
	struct lkl_host_thread *ht;

	if (!lkl_is_running())
		return -ENODEV;
	ht = lkl_host_thread_self();
	if (!ht)
		return -ENOMEM;

	lkl_cpu_get(ht);
	if (unlikely(!lkl_is_running())) {
		lkl_cpu_put(ht);
		return -ENODEV;
	}
	has_live_task(ht);
	ht->nr = no;
	ht->params = params;
	return run_request(ht);
}

int lkl_host_tasks_init(void)
{
	if (tls_key < 0)
		tls_key = lkl_ops->tls_alloc(host_thread_exit);
	return tls_key < 0 ? -ENOMEM : 0;
}

/* The calling thread's data; other threads free theirs when they exit. */
void lkl_host_tasks_cleanup(void)
{
	struct lkl_host_thread *ht;

	if (tls_key < 0)
		return;
	ht = lkl_ops->tls_get(tls_key);
	if (ht) {
		lkl_ops->tls_set(tls_key, NULL);
		host_thread_free(ht);
	}
}

static void abort_request(struct lkl_host_thread *ht,
			  struct lkl_host_thread *except, long ret)
{
	if (ht && ht != except && ht->pending)
		lkl_request_done(ht, ret);
}

/*
 * With the CPU held, as the kernel stops: every other host thread with a
 * request in the kernel is waiting for it (only the holder runs), in its
 * task, in a task not started yet, or for init to make its task. They all
 * get @ret now; their tasks never run again.
 */
void lkl_host_tasks_abort(struct lkl_host_thread *except, long ret)
{
	struct task_request *req;
	struct task_struct *g, *t;

	for_each_process_thread(g, t) {
		abort_request(t->thread.host, except, ret);
		/* Made but not started: its host thread is its argument. */
		if (!t->thread.host && t->thread.fn == host_task_main &&
		    !(t->flags & PF_EXITING))
			abort_request(t->thread.fn_arg, except, ret);
	}
	list_for_each_entry(req, &task_requests, list)
		abort_request(req->ht, except, ret);
}

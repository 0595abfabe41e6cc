// SPDX-License-Identifier: GPL-2.0
/*
 * What init runs.
 *
 * kernel_init() insists on exec'ing an init program, and lkl has no user
 * mode to run one in. So an empty /init is created in rootfs and a binary
 * format accepts it without replacing anything: the exec "succeeds", and
 * when kernel_init() returns to "user space" init starts serving the host
 * instead (threads.c, host_tasks.c).
 *
 * The exec gives init an address space, which the host threads' tasks
 * share, with nothing mapped in it but what lkl_sys_mmap() maps. Kernel
 * code that looks up user memory through it (get_user_pages()) takes such
 * memory and fails with -EFAULT on any other, the host's own (direct I/O
 * copies that: direct_io.c), where a NULL mm would crash.
 */
#include <linux/binfmts.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/file.h>
#include <linux/fcntl.h>
#include <linux/task_work.h>
#include <linux/oom.h>
#include <linux/sched/signal.h>
#include "lkl.h"

static int load_lkl_init(struct linux_binprm *bprm)
{
	int ret;

	/* Only init's own exec at boot; programs cannot run in lkl. */
	if (!is_global_init(current) || lkl_get_state() == LKL_RUNNING ||
	    strcmp(bprm->filename, "/init"))
		return -ENOEXEC;
	ret = begin_new_exec(bprm);
	if (ret)
		return ret;
	setup_new_exec(bprm);
	/*
	 * Tasks with an mm are candidates for the OOM killer, and a host
	 * thread's task cannot die: the processes made for host threads
	 * (new_thread_group_leader) inherit this, as init's threads are
	 * exempt anyway. As before init had an mm, an OOM with nothing
	 * else to free is a panic, not a wait for a victim that never exits.
	 */
	current->signal->oom_score_adj = OOM_SCORE_ADJ_MIN;
	current->signal->oom_score_adj_min = OOM_SCORE_ADJ_MIN;
	return 0;
}

static struct linux_binfmt lkl_init_format = {
	.module		= THIS_MODULE,
	.load_binary	= load_lkl_init,
};

static int __init lkl_init_format_register(void)
{
	register_binfmt(&lkl_init_format);
	return 0;
}
core_initcall(lkl_init_format_register);

static int __init lkl_create_init(void)
{
	struct file *file = filp_open("/init", O_CREAT | O_WRONLY, 0700);

	if (IS_ERR(file))
		return PTR_ERR(file);
	fput(file);
	/* Close it now (not at "return to user mode"), or exec sees ETXTBSY. */
	task_work_run();
	return 0;
}
late_initcall(lkl_create_init);

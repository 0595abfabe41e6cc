// SPDX-License-Identifier: GPL-2.0
/*
 * Boot, halt and cleanup: the library's life cycle.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/start_kernel.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/signal.h>
#include <linux/reboot.h>
#include <linux/syscalls.h>
#include <linux/memblock.h>
#include <linux/seq_file.h>
#include <linux/notifier.h>
#include <linux/panic_notifier.h>
#include <asm/setup.h>
#include <asm/host_ops.h>
#include "lkl.h"

struct lkl_host_operations *lkl_ops;
bool lkl_halting;
static struct lkl_host_thread *boot_thread;

int lkl_init(struct lkl_host_operations *ops)
{
	if (!ops || lkl_ops)
		return -EINVAL;
	lkl_ops = ops;
	return 0;
}

int lkl_is_running(void)
{
	return lkl_running;
}

static void __ref boot_entry(void *unused)
{
	start_kernel();
}

int __ref lkl_start_kernel(const char *fmt, ...)
{
	struct lkl_host_thread *ht;
	va_list ap;
	int err;

	if (!lkl_ops || lkl_running || lkl_halting)
		return -EINVAL;

	lkl_boot_ns = lkl_ops->time();
	va_start(ap, fmt);
	vscnprintf(boot_command_line, COMMAND_LINE_SIZE, fmt, ap);
	va_end(ap);

	err = lkl_cpu_init();
	if (!err)
		err = lkl_host_tasks_init();
	if (err)
		return err;
	ht = lkl_host_thread_self();
	if (!ht)
		return -ENOMEM;
	init_task.thread.ctx = lkl_ops->ctx_create(boot_entry, NULL);
	if (!init_task.thread.ctx)
		return -ENOMEM;

	lkl_cpu_get(ht);
	boot_thread = ht;
	ht->pending = true;
	lkl_cpu_run(ht);
	return ht->ret;
}

/* Called by init once it is ready to create host tasks. */
void lkl_boot_done(void)
{
	lkl_running = true;
	lkl_request_done(boot_thread, 0);
}

static int cpuinfo_show(struct seq_file *m, void *v)
{
	seq_puts(m, "processor\t: 0\nvendor_id\t: lkl\n");
	return 0;
}

static void *cpuinfo_start(struct seq_file *m, loff_t *pos)
{
	return *pos == 0 ? (void *)1 : NULL;
}

static void *cpuinfo_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return NULL;
}

static void cpuinfo_stop(struct seq_file *m, void *v)
{
}

const struct seq_operations cpuinfo_op = {
	.start	= cpuinfo_start,
	.next	= cpuinfo_next,
	.stop	= cpuinfo_stop,
	.show	= cpuinfo_show,
};

/* After the panic message: the host decides (the default aborts). */
static int lkl_panic_notify(struct notifier_block *nb, unsigned long event,
			    void *msg)
{
	if (lkl_ops->panic)
		lkl_ops->panic();
	return NOTIFY_DONE;
}

static struct notifier_block lkl_panic_nb = {
	.notifier_call = lkl_panic_notify,
	.priority = INT_MIN,
};

void __init setup_arch(char **cmdline_p)
{
	*cmdline_p = boot_command_line;
	atomic_notifier_chain_register(&panic_notifier_list, &lkl_panic_nb);
	parse_early_param();
	lkl_console_init();
	lkl_mem_init();
}

/*
 * reboot(2) ends here. The calling host thread's request is reported done
 * and its task parks for good: no kernel context runs after this.
 */
static void __noreturn lkl_halt(void)
{
	struct lkl_host_thread *ht = current->thread.host;

	lkl_halting = true;
	lkl_running = false;
	if (ht)
		lkl_request_done(ht, 0);
	for (;;)
		lkl_cpu_go_home();
}

void machine_halt(void)
{
	lkl_halt();
}

void machine_power_off(void)
{
	lkl_halt();
}

void machine_restart(char *cmd)
{
	lkl_halt();
}

long lkl_sys_halt(void)
{
	long params[6] = { LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			   LINUX_REBOOT_CMD_POWER_OFF, 0, 0, 0 };
	long err;

	err = lkl_syscall(__NR_reboot, params);
	if (err < 0)
		return err;
	lkl_time_cleanup();
	lkl_blk_wait_idle();
	return 0;
}

void lkl_cleanup(void)
{
	struct task_struct *g, *t;

	if (!lkl_ops || lkl_running)
		return;
	if (lkl_halting && init_task.thread.ctx) {
		for_each_process_thread(g, t)
			arch_release_task_struct(t);
		lkl_ops->ctx_free(init_task.thread.ctx);
		init_task.thread.ctx = NULL;
		lkl_mem_cleanup();
	}
	lkl_host_tasks_cleanup();
	lkl_cpu_cleanup();
}

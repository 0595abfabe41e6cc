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
#include <asm/kasan.h>
#include <asm/setup.h>
#include <asm/host_ops.h>
#include "lkl.h"

struct lkl_host_operations *lkl_ops __lkl_persistent;
int lkl_state __lkl_persistent;
unsigned long lkl_generation __lkl_persistent;
static struct lkl_host_thread *boot_thread;

/*
 * Once per process, or again with the same operations: a program may boot
 * and halt the kernel many times.
 */
int lkl_init(struct lkl_host_operations *ops)
{
	if (!ops || (lkl_ops && lkl_ops != ops))
		return -EINVAL;
	lkl_ops = ops;
	return 0;
}

int lkl_is_running(void)
{
	return lkl_get_state() == LKL_RUNNING;
}

static void __ref boot_entry(void *unused)
{
	start_kernel();
}

int __ref lkl_start_kernel(const char *fmt, ...)
{
	struct lkl_host_thread *ht;
	int off = LKL_OFF;
	va_list ap;
	int err;

	if (!lkl_ops)
		return -EINVAL;
	/* A kernel that did not boot, or was halted, has been released. */
	if (!__atomic_compare_exchange_n(&lkl_state, &off, LKL_BOOTING, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return -EINVAL;

	err = lkl_snapshot_take();
	if (!err)
		err = lkl_cpu_init();
	if (!err)
		err = lkl_host_tasks_init();
	ht = err ? NULL : lkl_host_thread_self();
	if (!err && !ht)
		err = -ENOMEM;
	if (err) {
		lkl_set_state(LKL_OFF);
		return err;
	}

	lkl_generation++;
	lkl_boot_ns = lkl_ops->time();
	va_start(ap, fmt);
	vscnprintf(boot_command_line, COMMAND_LINE_SIZE, fmt, ap);
	va_end(ap);

	init_task.thread.ctx = lkl_ops->ctx_create(boot_entry, NULL);
	if (!init_task.thread.ctx) {
		lkl_set_state(LKL_OFF);
		return -ENOMEM;
	}

	lkl_cpu_get(ht);
	boot_thread = ht;
	ht->pending = true;
	lkl_cpu_run(ht);
	if (ht->ret < 0) {
		/* A panic during boot (its handler returned): release it. */
		lkl_set_state(LKL_RELEASING);
		lkl_release();
	}
	return ht->ret;
}

/* Called by init once it is ready to create host tasks. */
void lkl_boot_done(void)
{
	lkl_set_state(LKL_RUNNING);
	lkl_request_done(boot_thread, 0);
}

/*
 * No kernel code runs after this: every request still waiting gets @ret
 * (-ENODEV), @done's gets @done_ret, and the calling context is abandoned.
 * lkl_sys_halt() releases what is left.
 */
void __noreturn lkl_stop(struct lkl_host_thread *done, long ret,
			 long done_ret)
{
	lkl_set_state(LKL_STOPPED);
	lkl_host_tasks_abort(done, ret);
	if (boot_thread && boot_thread->pending && boot_thread != done)
		lkl_request_done(boot_thread, ret);
	if (done)
		lkl_request_done(done, done_ret);
	lkl_cpu_abandon();
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

/*
 * After the panic message: the host decides. The default handler aborts the
 * process; one that returns gets a stopped kernel, which lkl_sys_halt()
 * releases (and lkl_start_kernel() may then boot afresh).
 */
static int lkl_panic_notify(struct notifier_block *nb, unsigned long event,
			    void *msg)
{
	if (lkl_ops->panic)
		lkl_ops->panic();
	lkl_stop(NULL, -ENODEV, 0);
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
	kasan_init();
	lkl_mem_init();
}

/*
 * reboot(2) ends here. The calling host thread's request is reported done
 * and its task is abandoned: no kernel context runs after this.
 */
static void __noreturn lkl_halt(void)
{
	lkl_stop(current->thread.host, -ENODEV, 0);
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

/* Moves a stopped kernel to RELEASING; true for the one caller that did. */
static bool claim_stopped(void)
{
	int stopped = LKL_STOPPED;

	return __atomic_compare_exchange_n(&lkl_state, &stopped, LKL_RELEASING,
					   false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

long lkl_sys_halt(void)
{
	long params[6] = { LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			   LINUX_REBOOT_CMD_POWER_OFF, 0, 0, 0 };
	long err = -ENODEV;

	/* Stopped already (a panic whose handler returned): release only. */
	if (lkl_get_state() == LKL_RUNNING)
		err = lkl_syscall(__NR_reboot, params);
	if (!claim_stopped())
		return err < 0 ? err : -ENODEV;
	lkl_release();
	return 0;
}

void lkl_cleanup(void)
{
	if (!lkl_ops)
		return;
	if (claim_stopped())
		lkl_release();
	if (lkl_get_state() != LKL_OFF)
		return;
	lkl_snapshot_free();
	lkl_host_tasks_cleanup();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel log goes to the host's print operation.
 */
#include <linux/console.h>
#include <linux/init.h>
#include <linux/kmsg_dump.h>
#include "lkl.h"

static void lkl_console_write(struct console *con, const char *str,
			      unsigned int len)
{
	if (lkl_ops->print)
		lkl_ops->print(str, len);
}

static struct console lkl_console = {
	.name	= "lkl",
	.write	= lkl_console_write,
	.flags	= CON_PRINTBUFFER | CON_ENABLED,
	.index	= -1,
};

void __init lkl_console_init(void)
{
	register_console(&lkl_console);
}

/*
 * The newest kernel messages, also those below the console log level: what
 * a panic handler shows. Reading the log needs the CPU, unless the caller
 * holds it already (from the panic handler or print).
 */
long lkl_kernel_messages(char *buf, unsigned long size)
{
	struct lkl_host_thread *ht;
	struct kmsg_dump_iter iter;
	size_t len = 0;
	bool take;
	long ret;

	if (!buf || !size)
		return -EINVAL;
	if (!lkl_ops || lkl_get_state() == LKL_OFF)
		return -ENODEV;
	ht = lkl_host_thread_self();
	if (!ht)
		return -ENOMEM;
	take = __atomic_load_n(&lkl_cpu_owner, __ATOMIC_SEQ_CST) != ht;
	if (take)
		lkl_cpu_get(ht);
	/* Released (or being released) meanwhile: the log is gone. */
	ret = -ENODEV;
	if (lkl_get_state() != LKL_OFF && lkl_get_state() != LKL_RELEASING) {
		kmsg_dump_rewind(&iter);
		kmsg_dump_get_buffer(&iter, false, buf, size, &len);
		ret = len;
	}
	buf[len] = 0;
	if (take)
		lkl_cpu_put(ht);
	return ret;
}

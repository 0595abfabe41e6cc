// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel log goes to the host's print operation.
 */
#include <linux/console.h>
#include <linux/init.h>
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

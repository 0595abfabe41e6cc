// SPDX-License-Identifier: GPL-2.0
/*
 * KASAN's shadow memory (asm/kasan.h): one host reservation per boot,
 * released at halt so that the next kernel starts with no poisoned bytes
 * where the host has since put other things.
 */
#include <linux/init.h>
#include <linux/kasan.h>
#include <linux/kernel.h>
#include <linux/sched/task.h>
#include "../kernel/lkl.h"

#define SHADOW_SIZE (1UL << (LKL_KASAN_ADDR_BITS - KASAN_SHADOW_SCALE_SHIFT))

unsigned long lkl_kasan_shadow;

void __init kasan_init(void)
{
	void *shadow = lkl_ops->pool_reserve(SHADOW_SIZE);

	if (!shadow)
		panic("lkl: cannot reserve %lu bytes for KASAN's shadow\n", SHADOW_SIZE);
	lkl_kasan_shadow = (unsigned long)shadow;
	/* Reports were held back until the shadow exists. */
	init_task.kasan_depth = 0;
	pr_info("KernelAddressSanitizer initialized (generic, outline)\n");
}

void lkl_kasan_cleanup(void)
{
	unsigned long shadow = lkl_kasan_shadow;

	lkl_kasan_shadow = 0;
	if (shadow)
		lkl_ops->pool_release((void *)shadow, SHADOW_SIZE);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's RAM: one host mapping reserved at boot ("mem=", default 64M)
 * with MAP_NORESERVE, so it costs resident memory only where it is touched.
 * Kernel virtual addresses are host addresses (see asm/page.h).
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/swap.h>
#include "../kernel/lkl.h"

unsigned long memory_start, memory_end;
void *empty_zero_page;
static unsigned long mem_size = 64 * 1024 * 1024;
static void *pool;
static unsigned long pool_size;

static int __init parse_mem(char *arg)
{
	if (!arg)
		return -EINVAL;
	mem_size = memparse(arg, &arg);
	return 0;
}
early_param("mem", parse_mem);

void __init lkl_mem_init(void)
{
	unsigned long max_zone_pfn[MAX_NR_ZONES] = { 0 };

	pool_size = PAGE_ALIGN(mem_size);
	pool = lkl_ops->pool_reserve(pool_size);
	if (!pool)
		panic("lkl: cannot reserve %lu bytes of memory\n", pool_size);
	memory_start = (unsigned long)pool;
	memory_end = memory_start + pool_size;
	high_memory = (void *)memory_end;

	memblock_add(LKL_PHYS_BASE, pool_size);
	min_low_pfn = PFN_UP(LKL_PHYS_BASE);
	max_low_pfn = PFN_DOWN(LKL_PHYS_BASE + pool_size);
	max_pfn = max_low_pfn;
	max_mapnr = max_low_pfn - min_low_pfn;

	empty_zero_page = memblock_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!empty_zero_page)
		panic("lkl: cannot allocate the zero page\n");

	max_zone_pfn[ZONE_NORMAL] = max_low_pfn;
	free_area_init(max_zone_pfn);

	/*
	 * No watermark boosting. It makes kswapd reclaim more after an
	 * allocation fell back to another migrate type, so that compaction
	 * has free pages to work with; without an MMU there is no compaction.
	 * And here a pageblock is MAX_ORDER_NR_PAGES (no huge pages), 4 MiB:
	 * one boost raised every watermark by 4 MiB (12% of mem=32M), and
	 * only kswapd lowers it again. Once kswapd had given up (nothing it
	 * could reclaim), allocations failed with megabytes free until a
	 * periodic timer freed memory: a 30-second stall.
	 */
	watermark_boost_factor = 0;
}

void __init mem_init(void)
{
	memblock_free_all();
}

/* The library image is not in the pool: its init sections stay put. */
void free_initmem(void)
{
}

void lkl_mem_cleanup(void)
{
	if (pool)
		lkl_ops->pool_release(pool, pool_size);
	pool = NULL;
}

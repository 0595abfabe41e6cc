// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's RAM: one host mapping reserved at boot ("mem=", default 64M)
 * with MAP_NORESERVE, so it costs resident memory only where it is touched.
 * Physical addresses are host addresses.
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

	/* Buddy blocks are aligned to their size: align the pool as well. */
	pool_size = PAGE_ALIGN(mem_size) + (PAGE_SIZE << (MAX_ORDER - 1));
	pool = lkl_ops->pool_reserve(pool_size);
	if (!pool)
		panic("lkl: cannot reserve %lu bytes of memory\n", pool_size);
	memory_start = ALIGN((unsigned long)pool, PAGE_SIZE << (MAX_ORDER - 1));
	memory_end = memory_start + PAGE_ALIGN(mem_size);

	memblock_add(memory_start, memory_end - memory_start);
	min_low_pfn = PFN_UP(memory_start);
	max_low_pfn = PFN_DOWN(memory_end);
	max_pfn = max_low_pfn;

	empty_zero_page = memblock_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!empty_zero_page)
		panic("lkl: cannot allocate the zero page\n");

	max_zone_pfn[ZONE_NORMAL] = max_low_pfn;
	free_area_init(max_zone_pfn);
}

void __init mem_init(void)
{
	max_mapnr = max_low_pfn - min_low_pfn;
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

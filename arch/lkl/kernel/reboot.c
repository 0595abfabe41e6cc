// SPDX-License-Identifier: GPL-2.0
/*
 * Booting again in the same process.
 *
 * A kernel is not made to start twice: its static data is initialized by
 * the compiler and then changed for good while it runs. So the first boot
 * copies every range of the library image that the kernel writes (its
 * data, the data written only during init, the bss), and releasing a
 * stopped kernel frees what it holds of the host (contexts, the memory
 * pool) and copies those ranges back: the next boot starts from the bytes
 * the first one started from. Variables marked __lkl_persistent lie
 * outside the ranges (vmlinux.lds.S) and are kept.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <asm/kasan.h>
#include <asm/sections.h>
#include "lkl.h"

/* The ranges, as vmlinux.lds.S lays them out. */
extern char __lkl_data_start[], __lkl_data_end[];
extern char __lkl_init_data_start[], __lkl_init_data_end[];

struct range {
	char *start, *end;
};

static void get_ranges(struct range r[4])
{
	r[0] = (struct range){ __lkl_data_start, __lkl_data_end };
	r[1] = (struct range){ __lkl_init_data_start, __lkl_init_data_end };
	r[2] = (struct range){ __start_ro_after_init, __end_ro_after_init };
	r[3] = (struct range){ __per_cpu_start, __per_cpu_end };
}

/* The bytes of the ranges before the first boot (host memory). */
static char *snapshot __lkl_persistent;

static unsigned long snapshot_size(const struct range r[4])
{
	unsigned long size = 0;
	int i;

	for (i = 0; i < 4; i++)
		size += r[i].end - r[i].start;
	return size;
}

/* Before a boot; the first one (or the first after lkl_cleanup()) copies. */
int lkl_snapshot_take(void)
{
	struct range r[4];
	char *p;
	int i;

	if (snapshot)
		return 0;
	get_ranges(r);
	snapshot = lkl_ops->mem_alloc(snapshot_size(r));
	if (!snapshot)
		return -ENOMEM;
	for (i = 0, p = snapshot; i < 4; p += r[i].end - r[i].start, i++)
		lkl_ops->memcpy(p, r[i].start, r[i].end - r[i].start);
	return 0;
}

/* Data restored (or never changed): the next boot copies it again. */
void lkl_snapshot_free(void)
{
	if (snapshot)
		lkl_ops->mem_free(snapshot);
	snapshot = NULL;
}

static void restore(void)
{
	struct range r[4];
	char *p;
	int i;

	get_ranges(r);
	/* r[] lives on this stack: the copy may overwrite its source. */
	for (i = 0, p = snapshot; i < 4; p += r[i].end - r[i].start, i++)
		lkl_ops->memcpy(r[i].start, p, r[i].end - r[i].start);
	lkl_ops->memset(__bss_start, 0, __bss_stop - __bss_start);
}

/*
 * Called by the one caller that moved a stopped kernel to RELEASING: frees
 * what it holds of the host and makes the kernel's data as it was before
 * the first boot. No kernel code runs any more, but host threads may still
 * come in (a system call racing with the halt, a late interrupt): they
 * wait for the CPU, held here, and then find the kernel off.
 */
void lkl_release(void)
{
	struct lkl_host_thread *ht = lkl_host_thread_self();

	/* The host timer and disk requests point into the kernel. */
	lkl_time_cleanup();
	lkl_blk_wait_idle();

	if (ht)
		lkl_cpu_get(ht);
	lkl_release_contexts();
	lkl_mem_cleanup();
	lkl_kasan_cleanup();
	lkl_blk_forget();
	restore();
	lkl_set_state(LKL_OFF);
	if (ht)
		lkl_cpu_put(ht);
}

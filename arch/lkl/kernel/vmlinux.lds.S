/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmlinux is linked relocatable ("ld -r"): this script only gathers the
 * kernel's special sections and defines their boundary symbols. The host's
 * linker places the result when it builds liblkl.
 */
/*
 * __exit code and data are kept: nothing would gain from dropping them in a
 * library, and a fuzzing build's coverage tables (__sancov_pcs) point at
 * every function, __exit ones included.
 */
#define RUNTIME_DISCARD_EXIT
#include <asm-generic/vmlinux.lds.h>
#include <asm/thread_info.h>
#include <asm/page.h>
#include <asm/cache.h>

jiffies = jiffies_64;

SECTIONS
{
	_text = .;
	.text : {
		_stext = .;
		TEXT_TEXT
		SCHED_TEXT
		LOCK_TEXT
		CPUIDLE_TEXT
		IRQENTRY_TEXT
		SOFTIRQENTRY_TEXT
		*(.fixup)
		*(.gnu.warning)
		EXIT_TEXT
		_etext = .;
	}

	_sdata = .;
	RO_DATA(PAGE_SIZE)

	/*
	 * RW_DATA, with its ends marked and -fPIC's .data.rel* (initialized
	 * pointers) inside: a reboot restores what lies between the markers
	 * (reboot.c), here and in .init.data, ro_after_init and the bss.
	 */
	. = ALIGN(PAGE_SIZE);
	.data : {
		__lkl_data_start = .;
		INIT_TASK_DATA(THREAD_SIZE)
		NOSAVE_DATA
		PAGE_ALIGNED_DATA(PAGE_SIZE)
		CACHELINE_ALIGNED_DATA(L1_CACHE_BYTES)
		READ_MOSTLY_DATA(L1_CACHE_BYTES)
		DATA_DATA
		CONSTRUCTORS
		*(.data.rel .data.rel.*)
		__lkl_data_end = .;
	}
	BUG_TABLE
	_edata = .;

	/* What a reboot keeps (__lkl_persistent in kernel/lkl.h). */
	.lkl.persistent : {
		*(.lkl.persistent)
	}

	EXCEPTION_TABLE(16)

	__init_begin = .;
	INIT_TEXT_SECTION(PAGE_SIZE)
	.init.data : {
		__lkl_init_data_start = .;
		INIT_DATA
		INIT_SETUP(16)
		INIT_CALLS
		CON_INITCALL
		INIT_RAM_FS
		EXIT_DATA
		__lkl_init_data_end = .;
	}
	PERCPU_SECTION(L1_CACHE_BYTES)
	__init_end = .;

	BSS_SECTION(0, 0, 0)
	_end = .;

	STABS_DEBUG
	DWARF_DEBUG
	ELF_DETAILS

	DISCARDS
}

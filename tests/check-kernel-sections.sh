#!/bin/sh
# Every writable section of the kernel object is one that an in-process
# reboot restores (arch/lkl/kernel/reboot.c, vmlinux.lds.S) or keeps on
# purpose: a new kind of data section (a linker orphan) would otherwise
# carry one kernel's state into the next.
#   check-kernel-sections.sh lkl-kernel.o
set -u
bad=$(readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] //p' | awk '
	# name type address offset size entsize flags ...
	$7 ~ /W/ && $5 !~ /^0+$/ {
		if ($1 == ".data" || $1 == ".init.data" || $1 == ".bss" ||
		    $1 == ".data..percpu" || $1 == ".lkl.persistent")
			next	# restored, or kept (__lkl_persistent)
		if ($1 == ".rodata")
			next	# only its ro_after_init part is written: restored
		if ($1 == "__param")
			next	# kernel_param tables: written by nobody
		if ($1 == "__sancov_cntrs" || $1 == "__sancov_pcs")
			next	# a fuzzing build'"'"'s coverage: libFuzzer resets it
		print $1
	}')
if [ -n "$bad" ]; then
	echo "$1: writable sections that a reboot would not restore:"
	echo "$bad"
	exit 1
fi
echo "$1: every writable section is restored or kept on purpose"

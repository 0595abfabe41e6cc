#!/bin/sh
# The kernel's compiler in a fuzzing build (LKL_FUZZ): runs the compiler
# given as arguments, adding coverage feedback for libFuzzer to objects of
# the file systems, their journals and the partition parsers, and to nothing
# else. Kbuild can switch coverage per directory only through CONFIG_KCOV,
# whose run-time (kernel/kcov.c) would define the same callbacks libFuzzer
# does; instrumenting the scheduler, timers and memory management would
# only feed libFuzzer coverage that changes from run to run of one input.
#   kernel-cc.sh COMPILER [ARGS...]
cov=""
for arg; do
	case $arg in
	fs/xfs/*.o | fs/ext4/*.o | fs/jbd2/*.o | fs/btrfs/*.o | fs/fat/*.o | block/partitions/*.o)
		cov="-fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp"
		;;
	esac
done
# shellcheck disable=SC2086
exec "$@" $cov

#!/bin/sh
# The libraries export the public API and nothing else:
#   check-symbols.sh liblkl.a liblkl.so
# Every global symbol they define must be lkl_-prefixed; weak C++ runtime
# symbols (template instances, exception-handling references) are tolerated in the
# static archive, and a fuzzing build's weak coverage callbacks; never kernel
# names.
set -u
status=0

check() {
	what=$1
	shift
	bad=$("$@" | awk '
		NF >= 3 && $2 ~ /^[A-Z]$/ && $2 != "U" && $2 != "w" && $2 != "v" {
			name = $3
			if (name ~ /^lkl_/) next
			if ($2 ~ /^[WVu]$/ && name ~ /^(_Z|DW\.ref\.)/) next
			# a fuzzing build'"'"'s empty coverage callbacks (fuzz/coverage_stubs.c)
			if ($2 == "W" && name ~ /^__sanitizer_cov_/) next
			print $2, name
		}')
	if [ -n "$bad" ]; then
		echo "$what: global symbols outside the public API:"
		echo "$bad" | head -50
		status=1
	fi
	for sym in memcpy memset strlen printk _printk kmalloc __kmalloc \
		   kfree start_kernel schedule jiffies; do
		if "$@" | awk -v s="$sym" '$3 == s && $2 ~ /^[A-TV-Z]$/ { f = 1 } END { exit !f }'; then
			echo "$what: kernel symbol $sym is global"
			status=1
		fi
	done
}

check "$1" nm --defined-only -g "$1"
check "$2" nm --defined-only -D "$2"
for sym in lkl_init lkl_start_kernel lkl_syscall lkl_sys_halt lkl_host_ops; do
	nm --defined-only -D "$2" | awk -v s="$sym" '$3 == s { f = 1 } END { exit !f }' ||
		{ echo "$2: public symbol $sym missing"; status=1; }
done
[ $status = 0 ] && echo "liblkl.a and liblkl.so export only the public API"
exit $status

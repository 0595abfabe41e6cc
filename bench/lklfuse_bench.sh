#!/bin/bash
# lklfuse against its peers, in the same run, on fresh images:
#   kernel-xfs    the host kernel's loop mount of an XFS image
#   lklfuse-xfs   lklfuse on the same kind of XFS image
#   lklfuse-xfs-wb  the same with -o writeback_cache (the host kernel
#                 gathers writes in its page cache)
#   before-xfs    with LKLFUSE_BEFORE=BINARY, another lklfuse (an older
#                 build, to compare with) on the same kind of XFS image
#   kernel-ext4   the host kernel's loop mount of an ext4 image
#   lklfuse-ext4  lklfuse on an ext4 image
#   fuse2fs-ext4  fuse2fs (e2fsprogs' FUSE ext4) on an ext4 image
#   fuse-null     bench/fuse_null: a FUSE server that does nothing (the
#                 floor any FUSE server meets): the metadata workload, and
#                 reads of a 1 GiB file of zeros it serves from memory
# Workloads: 1 GiB sequential write (+fsync), read warm and cold (median
# of three; cold: unmount, drop the host's caches, mount again), create / stat /
# unlink of 20,000 files in one directory, and unpacking a source tree.
# Every lklfuse peer runs with LKLFUSE_STATS: the mean service time of each
# FUSE request type over the whole run is printed after the results.
#
#   [PEERS="kernel-xfs lklfuse-xfs ..."] [LKLFUSE_BEFORE=BINARY] \
#   bench/lklfuse_bench.sh [BUILD_DIR]      (needs root, /dev/fuse, loop)
set -euo pipefail

build=${1:-build}
lklfuse=$(realpath "$build/tools/lklfuse")
[ -x "$lklfuse" ] || { echo "no $lklfuse: build first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (loop mounts, drop_caches)" >&2; exit 1; }
[ -w /dev/fuse ] || { echo "needs /dev/fuse" >&2; exit 1; }

work=$(mktemp -d /tmp/lklfuse-bench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt"; }
	rm -rf "$work"
}
trap cleanup EXIT

# The tree to unpack: /usr/include as a tar file (in the page cache).
tar -C /usr -cf "$work/src.tar" include
src_files=$(tar -tf "$work/src.tar" | wc -l)

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

before=${LKLFUSE_BEFORE:+$(realpath "$LKLFUSE_BEFORE")}
mounts=0

# mount_peer PEER IMAGE: mounts IMAGE at $mnt the way PEER does; each
# lklfuse mount writes its service times to a file of its own.
mount_peer() {
	mounts=$((mounts + 1))
	local stats=$work/stats.$1.$mounts
	case $1 in
	kernel-*) mount -o loop "$2" "$mnt" ;;
	lklfuse-*-wb) LKLFUSE_STATS=$stats "$lklfuse" "$2" "$mnt" -o mb=1024,writeback_cache ;;
	lklfuse-*) LKLFUSE_STATS=$stats "$lklfuse" "$2" "$mnt" -o mb=1024 ;;
	before-*) LKLFUSE_STATS=$stats "$before" "$2" "$mnt" -o mb=1024 ;;
	fuse2fs-*) fuse2fs "$2" "$mnt" -o fakeroot >/dev/null ;;
	esac
}

# unmount_peer: unmounts and waits until the image is written and free.
unmount_peer() {
	case $1 in
	kernel-*) umount "$mnt" ;;
	*)
		fusermount3 -u "$mnt"
		# the daemon finishes its own unmount after the FUSE one
		while pgrep -f "$mnt" >/dev/null; do sleep 0.01; done
		;;
	esac
}

fresh_image() {
	rm -f "$work/img"
	truncate -s 4G "$work/img"
	case $1 in
	*-xfs | *-xfs-*) mkfs.xfs -q -f "$work/img" ;;
	*-ext4) mkfs.ext4 -q -F "$work/img" ;;
	esac
}

# Create, stat twice (cold then warm) and unlink N files; ops/s per phase.
metadata() {
	python3 - "$1" <<'EOF'
import os, sys, time
d = os.path.join(sys.argv[1], "meta")
os.mkdir(d)
n = 20000
names = [os.path.join(d, "f%05d" % i) for i in range(n)]
def phase(f):
    t = time.perf_counter()
    for p in names:
        f(p)
    return n / (time.perf_counter() - t)
create = phase(lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)))
stat1 = phase(os.lstat)
stat2 = phase(os.lstat)
unlink = phase(os.unlink)
os.rmdir(d)
print("%.0f %.0f %.0f %.0f" % (create, stat1, stat2, unlink))
EOF
}

# read_big: MB/s of one read of $mnt/big.
read_big() {
	local t
	t=$(now)
	dd if="$mnt/big" of=/dev/null bs=1M status=none
	echo "1024 / $(since "$t")" | bc -l
}

# cold_read_big PEER: the same after unmounting, dropping the host's caches
# and mounting again.
cold_read_big() {
	unmount_peer "$1"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	mount_peer "$1" "$work/img"
	read_big
}

# median3 CMD...: the median of three runs of a measurement. Single reads
# on this VM vary by 2-3x: the disk is slow on the first read of freshly
# written data, and a second read from a cache can be slower than the
# first or third.
median3() {
	{ "$@"; "$@"; "$@"; } | sort -g | sed -n 2p
}

declare -A R
peers=${PEERS:-kernel-xfs lklfuse-xfs lklfuse-xfs-wb kernel-ext4 lklfuse-ext4 fuse2fs-ext4}
[ -z "$before" ] || [ -n "${PEERS:-}" ] || peers+=" before-xfs"
for peer in $peers; do
	command -v fuse2fs >/dev/null || [ "$peer" != fuse2fs-ext4 ] || continue
	[ "$peer" != before-xfs ] || [ -x "$before" ] || continue
	echo "== $peer" >&2
	fresh_image "$peer"
	mount_peer "$peer" "$work/img"

	t=$(now)
	dd if=/dev/zero of="$mnt/big" bs=1M count=1024 conv=fsync status=none
	R[$peer,write]=$(echo "1024 / $(since "$t")" | bc -l)
	dd if="$mnt/big" of=/dev/null bs=1M status=none
	R[$peer,warm]=$(median3 read_big)
	R[$peer,cold]=$(median3 cold_read_big "$peer")
	rm "$mnt/big"

	read -r c s1 s2 u < <(metadata "$mnt")
	R[$peer,create]=$c R[$peer,stat]=$s1 R[$peer,wstat]=$s2 R[$peer,unlink]=$u

	mkdir "$mnt/src"
	t=$(now)
	tar -C "$mnt/src" -xf "$work/src.tar"
	unmount_peer "$peer"
	R[$peer,untar]=$(since "$t")
done

# The FUSE floor: the metadata workload on a server that answers every
# request at once and keeps nothing (bench/fuse_null.cpp).
fuse_null=$(realpath "$build/bench/fuse_null" 2>/dev/null || true)

# null_read cold|warm: MB/s of reading fuse_null's zeros on a fresh mount,
# the second time for "warm".
null_read() {
	"$fuse_null" "$mnt"
	echo 1024 >"/sys/class/bdi/$(mountpoint -d "$mnt")/read_ahead_kb"
	[ "$1" = cold ] || dd if="$mnt/zeros" of=/dev/null bs=1M status=none
	local t
	t=$(now)
	dd if="$mnt/zeros" of=/dev/null bs=1M status=none
	echo "1024 / $(since "$t")" | bc -l
	fusermount3 -u "$mnt"
	while pgrep -f "$fuse_null $mnt" >/dev/null; do sleep 0.01; done
}
if [ -x "$fuse_null" ]; then
	echo "== fuse-null" >&2
	"$fuse_null" "$mnt"
	read -r c s1 s2 u < <(metadata "$mnt")
	R[fuse-null,create]=$c R[fuse-null,stat]=$s1 R[fuse-null,wstat]=$s2 R[fuse-null,unlink]=$u
	fusermount3 -u "$mnt"
	while pgrep -f "$fuse_null $mnt" >/dev/null; do sleep 0.01; done
	# Its 1 GiB of zeros, with the 1 MiB readahead lklfuse sets too: right
	# after mounting every read goes to the server ("cold"); then they are
	# served from FUSE's page cache ("warm").
	R[fuse-null,cold]=$(median3 null_read cold)
	R[fuse-null,warm]=$(median3 null_read warm)
fi

# ratio A B: R[A] / R[B], 0 where either was not measured.
ratio() {
	if [ -n "${R[$1]:-}" ] && [ -n "${R[$2]:-}" ] &&
		[ "$(echo "${R[$2]} != 0" | bc -l)" = 1 ]; then
		echo "${R[$1]} / ${R[$2]}" | bc -l
	else
		echo 0
	fi
}
printf '| what | kernel-xfs | lklfuse-xfs | ratio | kernel-ext4 | lklfuse-ext4 | ratio | fuse2fs-ext4 | ratio |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
row() {
	local key=$1 label=$2 fmt=$3 inv=${4:-}
	local a b
	if [ -n "$inv" ]; then
		a=$(ratio kernel-xfs,$key lklfuse-xfs,$key)
		b=$(ratio kernel-ext4,$key lklfuse-ext4,$key)
		c=$(ratio kernel-ext4,$key fuse2fs-ext4,$key)
	else
		a=$(ratio lklfuse-xfs,$key kernel-xfs,$key)
		b=$(ratio lklfuse-ext4,$key kernel-ext4,$key)
		c=$(ratio fuse2fs-ext4,$key kernel-ext4,$key)
	fi
	printf "| %s | $fmt | $fmt | %.2fx | $fmt | $fmt | %.2fx | $fmt | %.3fx |\n" "$label" \
		"${R[kernel-xfs,$key]}" "${R[lklfuse-xfs,$key]}" "$a" \
		"${R[kernel-ext4,$key]}" "${R[lklfuse-ext4,$key]}" "$b" \
		"${R[fuse2fs-ext4,$key]:-0}" "$c"
}
# Fields a peer did not run print as 0.
for peer in kernel-xfs lklfuse-xfs kernel-ext4 lklfuse-ext4; do
	for key in write warm cold create stat wstat unlink untar; do
		: "${R[$peer,$key]:=0}"
	done
done
row write "sequential write 1 GiB + fsync (MB/s)" "%.0f"
row warm "sequential read, warm (MB/s)" "%.0f"
row cold "sequential read, cold (MB/s)" "%.0f"
row create "create 20,000 files (ops/s)" "%.0f"
row stat "stat them (ops/s)" "%.0f"
row wstat "stat them again, warm (ops/s)" "%.0f"
row unlink "unlink them (ops/s)" "%.0f"
row untar "unpack /usr/include ($src_files entries) + unmount (s)" "%.2f" inverse

# The other lklfuse builds and settings against lklfuse-xfs.
others=""
for peer in lklfuse-xfs-wb before-xfs; do
	[ -n "${R[$peer,write]:-}" ] && others+=" $peer"
done
if [ -n "$others" ]; then
	printf '\n| what | lklfuse-xfs |'
	for peer in $others; do printf ' %s | ratio |' "$peer"; done
	printf '\n|---|---|'
	for peer in $others; do printf -- '---|---|'; done
	printf '\n'
	for key in write warm cold create stat wstat unlink untar; do
		printf '| %s | %.2f |' "$key" "${R[lklfuse-xfs,$key]}"
		for peer in $others; do
			if [ $key = untar ]; then r=$(ratio lklfuse-xfs,$key $peer,$key)
			else r=$(ratio $peer,$key lklfuse-xfs,$key); fi
			printf ' %.2f | %.2fx |' "${R[$peer,$key]}" "$r"
		done
		printf '\n'
	done
fi

# Service time per request type, summed over every mount of each peer.
service_times() {
	cat "$work"/stats."$1".* 2>/dev/null | awk '
		$1 != "opcode" { n[$1] += $2; t[$1] += $4 }
		END { for (op in n) printf "%s %d %.2f\n", op, n[op], t[op] * 1e6 / n[op] }'
}
timed=""
for peer in lklfuse-xfs lklfuse-xfs-wb before-xfs; do
	ls "$work"/stats."$peer".* >/dev/null 2>&1 && timed+=" $peer"
done
if [ -n "$timed" ]; then
	printf '\nService time inside lklfuse per request (mean µs, count), whole run:\n\n| request |'
	for peer in $timed; do printf ' %s µs | count |' "$peer"; done
	printf '\n|---|'
	for peer in $timed; do printf -- '---|---|'; done
	printf '\n'
	for peer in $timed; do service_times "$peer" >"$work/times.$peer"; done
	cat "$work"/times.* | awk '{print $1}' | sort -u | while read -r op; do
		printf '| %s |' "$op"
		for peer in $timed; do
			awk -v op="$op" '$1 == op { printf " %.1f | %d |", $3, $2; f = 1 }
				END { if (!f) printf " - | 0 |" }' "$work/times.$peer"
		done
		printf '\n'
	done
fi

[ -n "${R[fuse-null,create]:-}" ] || exit 0
printf '\nThe FUSE floor: a server that answers at once and does nothing.\n\n'
printf '| what | kernel-xfs | fuse-null | ratio | lklfuse-xfs | lklfuse / fuse-null |\n'
printf '|---|---|---|---|---|---|\n'
for key in warm cold create stat wstat unlink; do
	printf "| %s | %.0f | %.0f | %.2fx | %.0f | %.2fx |\n" "$key" \
		"${R[kernel-xfs,$key]}" "${R[fuse-null,$key]}" \
		"$(ratio fuse-null,$key kernel-xfs,$key)" \
		"${R[lklfuse-xfs,$key]}" "$(ratio lklfuse-xfs,$key fuse-null,$key)"
done

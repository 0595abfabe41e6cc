#!/bin/bash
# Images of other formats against raw, in the same run, on fresh images:
# a 2 GiB XFS image holding a small file and a 1 GiB file, as raw and as
# qcow2 (qemu-img convert), both in the host's page cache.
#   first-byte   cpfromfs of the small file: the whole process, start to
#                exit (an upper bound on start to first byte), median of 11
#   seq-read     cpfromfs of the 1 GiB file to a file on tmpfs (/dev/shm),
#                MiB/s, median of 7, the sources taking turns
#   convert      the other way to the same file: qemu-img convert of the
#                qcow2 to raw, then cpfromfs from that (what a user without
#                qcow2 support does), start to exit
#   nbd-raw      the raw image served by a qemu-nbd the script starts
#                (nbd+unix://), which splits NBD's cost from qcow2's
#
#   bench/image_formats_bench.sh [BUILD_DIR]
set -euo pipefail

build=${1:-build}
cpfromfs=$(realpath "$build/tools/cpfromfs")
cptofs=$(realpath "$build/tools/cptofs")
[ -x "$cpfromfs" ] || { echo "no $cpfromfs: build first" >&2; exit 1; }

work=$(mktemp -d /var/tmp/image-formats-bench-XXXXXX)
out=$(mktemp -d /dev/shm/image-formats-bench-XXXXXX)
server=
trap '[ -z "$server" ] || kill "$server"; rm -rf "$work" "$out"' EXIT

truncate -s 2G "$work/disk.raw"
mkfs.xfs -q -f "$work/disk.raw"
echo "a small file" > "$work/small"
head -c 1G /dev/urandom > "$work/big"
"$cptofs" -i "$work/disk.raw" "$work/small" "$work/big" /
rm -f "$work/big"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
cat "$work/disk.raw" "$work/disk.qcow2" > /dev/null
# With the malloc thresholds host/image.cpp gives its own qemu-nbd: without
# them this qemu-nbd maps and faults in a fresh buffer per request, and
# read 4-5x slower here.
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456 \
	qemu-nbd -t -f raw -r -k "$work/nbd.sock" "$work/disk.raw" &
server=$!
while [ ! -S "$work/nbd.sock" ]; do sleep 0.1; done
nbd_raw="nbd+unix:///?socket=$work/nbd.sock"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

first_byte() { # IMAGE -> seconds
	for _ in $(seq 11); do
		rm -f "$out/small"
		t=$(now)
		"$cpfromfs" -i "$1" /small "$out/small"
		echo "$(now) - $t" | bc -l
	done | median
}

read_once() { # IMAGE -> MiB/s
	rm -f "$out/big"
	t=$(now)
	"$cpfromfs" -i "$1" /big "$out/big"
	echo "1024 / ($(now) - $t)" | bc -l
}

printf "%-28s %10s\n" "" "seconds"
for f in raw qcow2; do
	printf "%-28s %10.4f\n" "first-byte $f" "$(first_byte "$work/disk.$f")"
done
printf "%-28s %10.4f\n" "first-byte nbd-raw" "$(first_byte "$nbd_raw")"
rm -f "$out/small"
t=$(now)
qemu-img convert -f qcow2 -O raw "$work/disk.qcow2" "$work/converted.raw"
"$cpfromfs" -i "$work/converted.raw" /small "$out/small"
printf "%-28s %10.4f\n" "convert, then cpfromfs" "$(echo "$(now) - $t" | bc -l)"
rm -f "$work/converted.raw"

# The sources take turns, so that the host's slower and faster spells
# fall on each of them alike; median of 7 each.
printf "\n%-28s %10s\n" "" "MiB/s"
for _ in $(seq 7); do
	read_once "$work/disk.raw" >> "$work/read.raw"
	read_once "$work/disk.qcow2" >> "$work/read.qcow2"
	read_once "$nbd_raw" >> "$work/read.nbd-raw"
done
for f in raw qcow2 nbd-raw; do
	printf "%-28s %10.1f\n" "seq-read $f" "$(median < "$work/read.$f")"
done
ratios=$(paste "$work/read.qcow2" "$work/read.raw" | awk '{printf "%.2f ", $1 / $2}')
printf "%-28s %10.2f   (each turn: %s)\n" "qcow2 / raw" \
	"$(echo "$(median < "$work/read.qcow2") / $(median < "$work/read.raw")" | bc -l)" "$ratios"

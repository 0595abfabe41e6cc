#!/bin/bash
# The image tools against their peers, in the same run, on one XFS image
# holding a copy of /usr/include (made by cptofs):
#   walk      Python: lkl.Image(...).walk() + lstat of every entry (boot and
#             mount included) / os.walk + os.lstat over the host's loop mount
#             (mount not included)
#   cat       lklsh -a IMG --ro -- cat FILE, the whole process / mount -o
#             loop,ro + cat + umount / guestfish --ro -a IMG -i cat FILE
#             (libguestfs, when installed)
#   fs2tar    fs2tar IMG -o FILE / mount -o loop,ro + GNU tar -c --xattrs
#             --acls + umount
#   tar2fs    tar2fs of that archive into a fresh image / mount -o loop +
#             GNU tar -x --xattrs --acls + umount
# Each figure is the median of RUNS runs (default 5), the host's caches warm.
#
#   bench/image_tools_bench.sh [BUILD_DIR] [RUNS]   (needs root and loop devices)
set -euo pipefail

build=$(realpath "${1:-build}")
runs=${2:-5}
tools=$build/tools
for t in cptofs lklsh fs2tar tar2fs; do
	[ -x "$tools/$t" ] || { echo "no $tools/$t: build first" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (loop mounts)" >&2; exit 1; }

work=$(mktemp -d /tmp/image-tools-bench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	mountpoint -q "$mnt" && umount "$mnt"
	rm -rf "$work"
}
trap cleanup EXIT

img=$work/xfs.img
truncate -s 2G "$img"
mkfs.xfs -q -f "$img"
"$tools/cptofs" -i "$img" /usr/include /
entries=$(find /usr/include | wc -l)
file=/include/stdio.h

now() { date +%s.%N; }
# median CMD...: runs CMD $runs times, prints the median in seconds.
median() {
	local i t0 times=()
	for ((i = 0; i < runs; i++)); do
		t0=$(now)
		"$@" >/dev/null
		times+=("$(echo "$(now) - $t0" | bc -l)")
	done
	printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)]}'
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

walk_lkl() {
	PYTHONPATH=$build/python python3 -c '
import lkl, sys
n = 0
with lkl.Image(sys.argv[1]) as img:
    for top, dirs, files in img.walk("/"):
        for name in dirs + files:
            img.lstat(top.rstrip("/") + "/" + name)
            n += 1
print(n)' "$img"
}
walk_host() {
	python3 -c '
import os, sys
n = 0
for top, dirs, files in os.walk(sys.argv[1]):
    for name in dirs + files:
        os.lstat(os.path.join(top, name))
        n += 1
print(n)' "$mnt"
}
cat_lklsh() { "$tools/lklsh" -a "$img" --ro -- cat "$file"; }
cat_mount() { mount -o loop,ro "$img" "$mnt" && cat "$mnt$file" && umount "$mnt"; }
cat_guestfish() { guestfish --ro -a "$img" -m /dev/sda cat "$file"; }
tar_lkl() { "$tools/fs2tar" "$img" -o "$work/lkl.tar"; }
tar_host() {
	mount -o loop,ro "$img" "$mnt"
	tar --format=posix --xattrs --acls -C "$mnt" -cf "$work/gnu.tar" .
	umount "$mnt"
}
fresh() { rm -f "$work/fresh.img"; truncate -s 2G "$work/fresh.img"; mkfs.xfs -q -f "$work/fresh.img"; }
untar_lkl() { fresh; "$tools/tar2fs" "$work/fresh.img" "$work/gnu.tar"; }
untar_host() {
	fresh
	mount -o loop "$work/fresh.img" "$mnt"
	tar --xattrs --acls -C "$mnt" -xf "$work/gnu.tar"
	umount "$mnt"
}
fresh_only() { fresh; }

echo "entries: $entries; runs: $runs; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; host $(uname -r)"
[ "$(walk_lkl)" = "$(mount -o loop,ro "$img" "$mnt" && walk_host; umount "$mnt")" ] ||
	{ echo "the two walks saw different numbers of entries" >&2; exit 1; }

t_lkl=$(median walk_lkl)
mount -o loop,ro "$img" "$mnt"
t_host=$(median walk_host)
umount "$mnt"
echo "walk+lstat: lkl.Image $t_lkl s, os.walk on the loop mount $t_host s, ratio $(ratio "$t_lkl" "$t_host")x"

t_lkl=$(median cat_lklsh)
t_host=$(median cat_mount)
line="cat one file: lklsh $t_lkl s, mount+cat+umount $t_host s, ratio $(ratio "$t_lkl" "$t_host")x"
if command -v guestfish >/dev/null; then
	line+=", guestfish $(median cat_guestfish) s"
else
	line+=", guestfish not installed"
fi
echo "$line"

t_lkl=$(median tar_lkl)
t_host=$(median tar_host)
echo "archive the tree: fs2tar $t_lkl s, mount+tar -c+umount $t_host s, ratio $(ratio "$t_lkl" "$t_host")x"

t_fresh=$(median fresh_only)
t_lkl=$(median untar_lkl)
t_host=$(median untar_host)
echo "unpack into a fresh image (mkfs $t_fresh s included): tar2fs $t_lkl s, mount+tar -x+umount $t_host s, ratio $(ratio "$t_lkl" "$t_host")x"

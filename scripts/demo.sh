#!/bin/sh
# Build, then run the main job on a built-in example: make an XFS image with
# mkfs.xfs, put a small tree in it through the kernel running in-process,
# list it, copy a file back out, unmount, and check the image with
# xfs_repair -n. No root, no mount, no VM.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" > "$top/build.log" 2>&1 || {
	tail -30 "$top/build.log"; echo "build failed: see build.log" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 512M "$work/demo.img"
mkfs.xfs -q -n size=65536 "$work/demo.img"
echo "made $work/demo.img: XFS, 512 MiB, 64 KiB directory blocks"
"$top/build/tools/lkl-image-demo" -t xfs "$work/demo.img" "$work/motd"
printf 'the file on the host: %s' "$(cat "$work/motd")"
echo
if xfs_repair -n "$work/demo.img" > "$work/repair.log" 2>&1; then
	echo "xfs_repair -n: the image is clean"
else
	cat "$work/repair.log"
	echo "xfs_repair -n found problems" >&2
	exit 1
fi

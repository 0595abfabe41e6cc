#!/bin/sh
# Make the seed corpus of one fuzz target with the file system's own mkfs:
#   make-seeds.sh FS IMAGE_MIB CPTOFS OUTDIR
# Each seed is an image of IMAGE_MIB MiB (the target's disk size), in the
# input format of fuzz/sector_image.hpp: one made by mkfs and left empty,
# one filled by cptofs with a small tree that reaches the formats' less
# common structures (a directory of 120 entries, long and short symbolic
# links, a hard link, a sparse file, extended attributes small and large),
# and one more with other mkfs options where the file system has a common
# variant (ext4 with 4 KiB blocks and inline data, FAT32).
set -eu
fs=$1 mib=$2 cptofs=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lkl-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

mkfs() { # IMAGE [mkfs options...]
	img=$1
	shift
	rm -f "$img"
	truncate -s "${mib}M" "$img"
	case $fs in
	xfs) mkfs.xfs -q -f "$@" "$img" ;;
	ext4) mkfs.ext4 -q -F "$@" "$img" ;;
	btrfs) mkfs.btrfs -q -f "$@" "$img" >/dev/null ;;
	vfat) mkfs.vfat "$@" "$img" >/dev/null ;;
	esac
}

tree=$tmp/tree
mkdir -p "$tree/d/e/f" "$tree/many"
printf 'hello\n' >"$tree/small"
head -c 6000 /dev/urandom >"$tree/d/medium"
: >"$tree/d/e/empty"
truncate -s 1M "$tree/sparse"
printf 'tail' | dd of="$tree/sparse" bs=1 seek=1048000 conv=notrunc 2>/dev/null
i=0
while [ $i -lt 120 ]; do
	: >"$tree/many/entry-with-a-longer-name-$i"
	i=$((i + 1))
done
extra=$tmp/extra
mkdir -p "$extra/x"
if [ "$fs" != vfat ]; then
	ln -s small "$tree/link"
	ln -s "d/e/f/$(printf 'x%.0s' $(seq 1 80))" "$tree/d/long-link"
	printf 'linked\n' >"$extra/x/a"
	ln "$extra/x/a" "$extra/x/b"
	setfattr -n user.small -v 1 "$extra/x/a"
	printf 'attributes\n' >"$extra/x/c"
	setfattr -n user.large -v "$(head -c 800 /dev/zero | tr '\0' y)" "$extra/x/c"
fi

# A journal keeps what was logged: sectors that a clean file system never
# reads again and a fuzzer would spend most of its mutations on. So mkfs
# itself puts the tree in where it can (ext4 -d, btrfs --rootdir, xfs from
# a prototype file), and cptofs adds the extended attributes and the hard
# link in a few small transactions. Not for XFS: its first mount stamps
# 2 MiB of the log ahead of its head (xlog_clear_stale_blocks()), so the XFS
# seeds go without them (the fuzz target sets an attribute itself).
proto() { # DIR INDENT: the prototype (mkfs.xfs -p) of DIR's contents
	for f in "$1"/* "$1"/.[!.]*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		n=$(basename "$f")
		if [ -L "$f" ]; then
			echo "$2$n l--777 0 0 $(readlink "$f")"
		elif [ -d "$f" ]; then
			echo "$2$n d--755 0 0"
			proto "$f" "$2 "
			echo "$2\$"
		else
			echo "$2$n ---644 0 0 $f"
		fi
	done
}

fill() { # IMAGE [mkfs options...]
	image=$1
	shift
	case $fs in
	xfs)
		{ echo /dev/null; echo "0 0"; echo "d--755 0 0"; proto "$tree" " "; echo "\$"; } >"$tmp/proto"
		mkfs "$image" "$@" -p "$tmp/proto"
		;;
	ext4) mkfs "$image" "$@" -d "$tree" ;;
	btrfs) mkfs "$image" "$@" --rootdir "$tree" ;;
	vfat) mkfs "$image" "$@" ;;
	esac
	case $fs in
	vfat) "$cptofs" -i "$image" -t "$fs" "$tree/." / ;;
	ext4 | btrfs) "$cptofs" -i "$image" -t "$fs" "$extra/." / ;;
	esac
}

mkfs "$tmp/empty.img"
fill "$tmp/tree.img"
mkdir -p "$out"
"$here/image-to-input.py" "$tmp/empty.img" "$out/$fs-empty"
"$here/image-to-input.py" "$tmp/tree.img" "$out/$fs-tree"
case $fs in
ext4) other="-b 4096 -O inline_data" ;;
vfat) other="-F 32" ;;
*) other="" ;;
esac
if [ -n "$other" ]; then
	# shellcheck disable=SC2086
	fill "$tmp/other.img" $other
	"$here/image-to-input.py" "$tmp/other.img" "$out/$fs-tree-other"
fi

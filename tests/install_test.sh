#!/bin/sh
# The installed library as a user gets it: "cmake --install" into a fresh
# prefix, then the upstream-style client tests/compat/compat.c built against
# that tree only, four ways (pkg-config shared and static, the CMake
# package's lkl::lkl_shared and lkl::lkl), each run on XFS, ext4, btrfs and
# vfat images made by mkfs: it writes a tree, a second run reads it back,
# and the file system's own checker must find the image clean.
#   install_test.sh BUILD_DIR COMPAT_SOURCE_DIR
set -eu
build=$1 src=$2
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" ||
	{ cat "$work/install.log"; fail "cmake --install"; }
pc=$(find "$work/prefix" -name lkl.pc)
[ -n "$pc" ] || fail "no lkl.pc installed"
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir lkl)

# The two link lines a user of pkg-config writes.
# shellcheck disable=SC2046
"$cc" -o "$work/pc-shared" "$src/compat.c" $(pkg-config --cflags --libs lkl) ||
	fail "shared link with pkg-config"
# shellcheck disable=SC2046
"$cc" -o "$work/pc-static" "$src/compat.c" $(pkg-config --cflags lkl) \
	-Wl,-Bstatic -llkl -Wl,-Bdynamic $(pkg-config --static --libs lkl) ||
	fail "static link with pkg-config --static"
if readelf -d "$work/pc-static" | grep -q 'NEEDED.*liblkl'; then
	fail "the static link still needs liblkl.so"
fi
nm "$work/pc-static" | grep -q ' T lkl_start_kernel$' ||
	fail "the static binary does not contain the kernel"

cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" \
	-DCMAKE_C_COMPILER="$cc" > "$work/cmake.log" 2>&1 &&
	cmake --build "$work/cmake" >> "$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log"; fail "the CMake package (find_package(lkl))"; }

make_image() {
	rm -f "$2"
	case $1 in
	xfs) truncate -s 320M "$2"; mkfs.xfs -q "$2" ;;
	ext4) truncate -s 64M "$2"; mkfs.ext4 -q -F "$2" ;;
	btrfs) truncate -s 128M "$2"; mkfs.btrfs -q "$2" > /dev/null ;;
	vfat) truncate -s 64M "$2"; mkfs.vfat "$2" > /dev/null ;;
	esac
}

check_image() {
	case $1 in
	xfs) xfs_repair -n "$2" ;;
	ext4) e2fsck -fn "$2" ;;
	btrfs) btrfs check --readonly "$2" ;;
	vfat) fsck.vfat -n "$2" ;;
	esac
}

for bin in pc-shared pc-static cmake/compat_shared cmake/compat_static; do
	for fs in xfs ext4 btrfs vfat; do
		img="$work/$fs.img"
		make_image "$fs" "$img"
		for step in write check; do
			# The shared builds find liblkl.so the way an installed
			# program would once the prefix is on the loader's path.
			LD_LIBRARY_PATH="$libdir" "$work/$bin" "$img" "$fs" "$step" \
				> "$work/run.log" 2>&1 ||
				{ cat "$work/run.log"; fail "$bin on $fs ($step)"; }
		done
		check_image "$fs" "$img" > "$work/fsck.log" 2>&1 ||
			{ cat "$work/fsck.log"; fail "$bin left $fs unclean"; }
		echo "ok $bin on $fs: written, read back, checker clean"
	done
done

#!/bin/sh
# Configure (when the defconfig or the fragment changed) and build the lkl
# kernel:
#   build-kernel.sh SRC OUT DEFCONFIG FRAGMENT JOBS [make variables...]
# FRAGMENT is a config fragment merged over DEFCONFIG (arch/lkl/configs/
# kasan.config, say), or "-" for none.
set -eu
src=$1 out=$2 defconfig=$3 fragment=$4 jobs=$5
shift 5
mkdir -p "$out"
# Paths relative to the build directory, so that ccache hits across clones.
export CCACHE_BASEDIR="$(cd "$(dirname "$src")" && pwd)"
export CCACHE_NOHASHDIR=1
if [ ! -f "$out/.config" ] || [ "$defconfig" -nt "$out/.config" ] ||
	{ [ "$fragment" != - ] && [ "$fragment" -nt "$out/.config" ]; }; then
	make -s -C "$src" ARCH=lkl O="$out" "$@" defconfig
	if [ "$fragment" != - ]; then
		cat "$fragment" >>"$out/.config"
		make -s -C "$src" ARCH=lkl O="$out" "$@" olddefconfig
	fi
	touch "$out/.config"
fi
exec make -s -C "$src" ARCH=lkl O="$out" -j"$jobs" "$@" vmlinux

#!/bin/sh
# Configure (when the defconfig changed) and build the lkl kernel:
#   build-kernel.sh SRC OUT DEFCONFIG JOBS [make variables...]
set -eu
src=$1 out=$2 defconfig=$3 jobs=$4
shift 4
mkdir -p "$out"
# Paths relative to the build directory, so that ccache hits across clones.
export CCACHE_BASEDIR="$(cd "$(dirname "$src")" && pwd)"
export CCACHE_NOHASHDIR=1
if [ ! -f "$out/.config" ] || [ "$defconfig" -nt "$out/.config" ]; then
	make -s -C "$src" ARCH=lkl O="$out" "$@" defconfig
	touch "$out/.config"
fi
exec make -s -C "$src" ARCH=lkl O="$out" -j"$jobs" "$@" vmlinux

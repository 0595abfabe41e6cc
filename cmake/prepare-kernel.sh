#!/bin/sh
# Prepare the kernel source tree for an lkl build:
#   prepare-kernel.sh SOURCE DEST ARCH_DIR STAMP [PATCH...]
# SOURCE is a linux 6.1 tarball or an unpacked tree. DEST is (re)made from it
# when the stamp (a hash of SOURCE's name and of every patch) changes; the
# patches are applied in order and ARCH_DIR is linked in as arch/lkl, so
# editing arch/lkl rebuilds only what depends on the edited file.
set -eu
src=$1 dest=$2 archdir=$3 stamp=$4
shift 4

want=$( { echo "$src"; for p in "$@"; do sha256sum "$p"; done; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dest" ]; then
	exit 0
fi

rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
if [ -d "$src" ]; then
	cp -a "$src/." "$dest.tmp/"
else
	tar -xf "$src" -C "$dest.tmp" --strip-components=1
fi
for p in "$@"; do
	echo "Applying $(basename "$p")"
	patch -d "$dest.tmp" -p1 --quiet --forward < "$p"
done
rm -rf "$dest.tmp/arch/lkl"
ln -s "$archdir" "$dest.tmp/arch/lkl"
mv "$dest.tmp" "$dest"
echo "$want" > "$stamp"

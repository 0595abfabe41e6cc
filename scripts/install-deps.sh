#!/bin/sh
# Install the Debian 12 packages the build and the tests need, if missing.
# Runs apt-get only when something is missing; needs root (or sudo) then.
#
# --fuzz also installs what scripts/fuzz.sh needs: clang and libFuzzer.
#
# --conformance also installs what the public suites that lklfuse is measured
# against (pjdfstest, fstests) need to build and run, for runs made outside
# the repository: see Documentation/testing.md.
set -eu

packages="build-essential cmake ccache flex bison bc python3 patch xz-utils rsync
	linux-source-6.1 libboost-context-dev libaio-dev libgtest-dev libgmock-dev
	xfsprogs e2fsprogs btrfs-progs dosfstools fdisk
	libbenchmark-dev pkg-config libfuse3-dev fuse3 fuse2fs acl attr libblkid-dev
	pybind11-dev python3-dev python3-pytest python3-venv python3-setuptools
	python3-wheel libnbd-dev qemu-utils lvm2 nbdkit libarchive-dev
	nlohmann-json3-dev libedit-dev"

# pjdfstest: autoconf, automake. fstests: its build (libtool, xfslibs-dev,
# libacl, libcap, liburing, gdbm, uuid) and the tools its tests run.
conformance="autoconf automake libtool libtool-bin gawk xfslibs-dev
	libacl1-dev libcap-dev liburing-dev libgdbm-dev libgdbm-compat-dev
	uuid-runtime xfsdump fio lvm2"

fuzz="clang libfuzzer-14-dev"

case "${1:-}" in
--conformance) packages="$packages $conformance" ;;
--fuzz) packages="$packages $fuzz" ;;
"") ;;
*) echo "usage: $0 [--conformance | --fuzz]" >&2; exit 2 ;;
esac

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "Installing missing packages:$missing"
sudo=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "need root to install:$missing" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing

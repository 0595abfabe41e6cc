#!/bin/sh
# Install what is missing, then configure and build everything in build/
# (the kernel included; ccache keeps rebuilds fast).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$top/build" -j "$(nproc)"

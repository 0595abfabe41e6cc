#!/bin/sh
# Build, then run the test suite (what CI runs). Long soaks carry the CTest
# label "stress" and are left out: ctest --test-dir build -L stress
#
# Then the same kernel with KASAN (build-kasan/, -DLKL_KASAN=ON): its own
# test, and the fuzz targets' seeds and saved findings replayed under it, so
# that a memory error they reach is reported even where it does not crash.
# Arguments go to the first ctest run only.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
ctest --test-dir "$top/build" --output-on-failure -j 2 -LE stress "$@"

kasan=$top/build-kasan
cmake -S "$top" -B "$kasan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLKL_KASAN=ON \
	-DLKL_BUILD_BENCHMARKS=OFF >/dev/null
targets="kasan_test"
for fs in xfs ext4 btrfs vfat; do
	targets="$targets fuzz_$fs fuzz_${fs}_seeds"
done
# shellcheck disable=SC2086
cmake --build "$kasan" -j "$(nproc)" --target $targets
exec ctest --test-dir "$kasan" --output-on-failure -j 2 -R '^(Kasan\.|fuzz_.*_regression$)'

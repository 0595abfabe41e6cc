#!/bin/sh
# Build the fuzz targets with clang and libFuzzer in build-fuzz/ (the
# kernel's file-system code compiled with coverage feedback), then fuzz one
# file system. See Documentation/fuzzing.md.
set -eu
usage() {
	cat <<USAGE
usage: scripts/fuzz.sh [--kasan] FS [LIBFUZZER_OPTION...]

Fuzzes the kernel's FS driver (xfs, ext4, btrfs or vfat) with libFuzzer,
for an hour unless a -max_total_time=SECONDS or -runs=N option says
otherwise. New inputs go to build-fuzz/fuzz/corpus/FS/, findings (the
inputs that crashed, hung or panicked the kernel) to
build-fuzz/fuzz/fuzz-findings/FS-*. Options are passed to libFuzzer
(-jobs=2 runs two processes; -help=1 lists them all).

--kasan  the kernel with KASAN (build-fuzz-kasan/ instead of build-fuzz/):
         out-of-bounds and use-after-free accesses are findings too;
         a quarter to a sixth of the executions per second.
USAGE
}
build=build-fuzz
kasan=OFF
if [ "${1:-}" = --kasan ]; then
	build=build-fuzz-kasan
	kasan=ON
	shift
fi
case "${1:-}" in
xfs | ext4 | btrfs | vfat) fs=$1; shift ;;
-h | --help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac
limit=-max_total_time=3600
for opt; do
	case $opt in
	-max_total_time=* | -runs=*) limit="" ;;
	--kasan) echo "fuzz.sh: --kasan goes before FS" >&2; usage >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/install-deps.sh" --fuzz
cmake -S "$top" -B "$top/$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DLKL_FUZZ=ON \
	-DLKL_KASAN=$kasan -DLKL_BUILD_TESTS=ON -DLKL_BUILD_BENCHMARKS=OFF
cmake --build "$top/$build" -j "$(nproc)" --target "fuzz_$fs" "fuzz_${fs}_seeds"
out=$top/$build/fuzz
mkdir -p "$out/corpus/$fs" "$out/fuzz-findings"
# shellcheck disable=SC2086
exec "$out/fuzz_$fs" $limit \
	-print_final_stats=1 -artifact_prefix="$out/fuzz-findings/$fs-" "$@" \
	"$out/corpus/$fs" "$out/seeds/$fs"

#!/bin/sh
# Build, then run the test suite (what CI runs).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
exec ctest --test-dir "$top/build" --output-on-failure -j 2 "$@"

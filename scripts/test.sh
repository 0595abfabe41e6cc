#!/bin/sh
# Build, then run the test suite (what CI runs). Long soaks carry the CTest
# label "stress" and are left out: ctest --test-dir build -L stress
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
exec ctest --test-dir "$top/build" --output-on-failure -j 2 -LE stress "$@"

#!/bin/sh
# Build, then run the main job on the built-in example.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
exec "$top/build/tools/lkl-boot" "$@"

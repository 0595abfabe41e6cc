#!/bin/sh
# "pip install" of the lkl package into a fresh virtual environment, then a
# use of it there. The sources are copied first, so that pip's in-tree build
# leaves the checkout alone; LKL_BUILD_DIR makes setup.py build the module in
# the given build tree rather than configure a new one (which would rebuild
# the kernel: minutes). Offline: Debian's setuptools and wheel are seen
# through --system-site-packages.
# Usage: pip_install_test.sh SOURCE_DIR BUILD_DIR PYTHON
set -eu
src=$1 build=$2 python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir -p "$tmp/src/python"
cp "$src/pyproject.toml" "$src/setup.py" "$tmp/src/"
cp -r "$src/python/lkl" "$src/python/README.md" "$tmp/src/python/"
"$python" -m venv --system-site-packages "$tmp/venv"
LKL_BUILD_DIR=$build "$tmp/venv/bin/pip" install -q --no-index \
	--no-build-isolation "$tmp/src"

truncate -s 64M "$tmp/disk.img"
mkfs.ext4 -q -F "$tmp/disk.img"
cd "$tmp"
env -u PYTHONPATH "$tmp/venv/bin/python" - "$tmp" <<'PY'
import sys
import lkl
venv = sys.argv[1] + "/venv/"
assert lkl.__file__.startswith(venv), f"lkl imported from {lkl.__file__}"
assert lkl._lkl.__file__.startswith(venv), lkl._lkl.__file__
with lkl.Image(sys.argv[1] + "/disk.img", readonly=False) as img:
    img.write_text("/hello", "from pip\n")
with lkl.Image(sys.argv[1] + "/disk.img") as img:
    assert img.read_text("/hello") == "from pip\n"
print("installed at", lkl.__file__)
PY

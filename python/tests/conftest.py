"""Shared by the lkl module's tests: images made at test time with mkfs, and
a child Python for what needs a kernel of its own (one kernel per process).
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

MKFS = {"xfs": ["mkfs.xfs", "-q", "-f"], "ext4": ["mkfs.ext4", "-q", "-F"]}
SIZE = {"xfs": 320 << 20, "ext4": 128 << 20}
CHECK = {"xfs": ["xfs_repair", "-n"], "ext4": ["e2fsck", "-fn"]}


def make_image(path, fstype):
    """A fresh image of fstype at path, or a skip saying why not."""
    if not shutil.which(MKFS[fstype][0]):
        pytest.skip(f"{MKFS[fstype][0]} is not installed")
    with open(path, "wb") as f:
        f.truncate(SIZE[fstype])
    subprocess.run(MKFS[fstype] + [str(path)], check=True, capture_output=True)
    return str(path)


def check_image(path, fstype):
    """The checker's output if the image is not clean, else ""."""
    r = subprocess.run(CHECK[fstype] + [str(path)], capture_output=True, text=True)
    return "" if r.returncode == 0 else r.stdout + r.stderr


def run_child(code, **env):
    """Runs code in a fresh Python (its own kernel); its CompletedProcess."""
    child_env = dict(os.environ, **{k: str(v) for k, v in env.items()})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=child_env, timeout=300)


def host_mounts():
    """Why the host's loop mounts cannot be used here, or ""."""
    if os.geteuid() != 0:
        return "loop mounts need root"
    if not os.path.exists("/dev/loop-control") or not shutil.which("mount"):
        return "no loop devices or mount(8)"
    return ""

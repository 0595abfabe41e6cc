#!/usr/bin/env python3
"""Makes a harness's template image and seed corpus with the real mkfs.

    make-template.py FSTYPE TEMPLATE SEED_DIR CPTOFS

The template is a small image made by mkfs and filled by cptofs with a
tree of many small objects (directories, files, a symlink, a hard link,
an xattr). Its non-zero 4 KiB blocks are the metadata the harness lets the
fuzzer change (harness.cpp); the seed is their contents in block order,
the unchanged image. XFS's log is zeroed first: a zeroed log is a clean
one to the kernel, and 10 MiB of log records would otherwise be most of
every input. Without the mkfs tool, TEMPLATE is left empty (the harness's
regression test then skips).
"""
import os
import shutil
import subprocess
import sys
import tempfile

BLOCK = 4096
MIB = 1 << 20

# Size and mkfs command line of each file system's template.
FORMATS = {
    "xfs": (300 * MIB, ["mkfs.xfs", "-q", "-f"]),
    "ext4": (8 * MIB, ["mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "256"]),
    "btrfs": (128 * MIB, ["mkfs.btrfs", "-q", "-f"]),
    "vfat": (8 * MIB, ["mkfs.vfat"]),
}


def make_tree(root, posix):
    for d in range(4):
        path = os.path.join(root, "dir%d" % d)
        os.makedirs(path)
        for f in range(12):
            with open(os.path.join(path, "file%d" % f), "wb") as out:
                out.write(bytes((i * 7 + f) & 0xFF for i in range((f * 331) % 3000)))
    os.makedirs(os.path.join(root, "a", "b", "c"))
    with open(os.path.join(root, "a", "b", "c", "leaf"), "w") as out:
        out.write("leaf\n")
    if posix:
        os.symlink("dir0/file1", os.path.join(root, "link"))
        os.link(os.path.join(root, "dir1", "file2"), os.path.join(root, "hard"))
        try:
            os.setxattr(os.path.join(root, "dir0", "file3"), "user.fuzz", b"seed")
        except OSError:
            pass


def zero_xfs_log(image):
    def db(*cmds):
        args = ["xfs_db", "-r"]
        for c in cmds:
            args += ["-c", c]
        return subprocess.run(args + [image], check=True, capture_output=True,
                              text=True).stdout
    fields = {}
    for line in db("sb 0", "p logstart logblocks blocksize").splitlines():
        key, _, value = line.partition(" = ")
        fields[key.strip()] = int(value)
    start = db("convert fsb %d byte" % fields["logstart"]).split("(")[1].split(")")[0]
    length = fields["logblocks"] * fields["blocksize"]
    with open(image, "r+b") as f:
        f.seek(int(start))
        f.write(bytes(length))


def main():
    fstype, template, seed_dir, cptofs = sys.argv[1:5]
    size, mkfs = FORMATS[fstype]
    os.makedirs(seed_dir, exist_ok=True)
    if not shutil.which(mkfs[0]):
        print("%s not installed: no %s template" % (mkfs[0], fstype))
        open(template, "wb").close()
        return
    work = tempfile.mkdtemp(prefix="lkl-fuzz-template-")
    try:
        image = os.path.join(work, "image")
        with open(image, "wb") as f:
            f.truncate(size)
        subprocess.run(mkfs + [image], check=True, stdout=subprocess.DEVNULL)
        tree = os.path.join(work, "tree")
        os.makedirs(tree)
        make_tree(tree, fstype != "vfat")
        subprocess.run([cptofs, "-i", image, "-t", fstype, tree + "/.", "/"],
                       check=True)
        if fstype == "xfs":
            zero_xfs_log(image)
        seed = bytearray()
        with open(image, "rb") as f:
            while True:
                block = f.read(BLOCK)
                if not block:
                    break
                if block.count(0) != len(block):
                    seed += block
        with open(os.path.join(seed_dir, "template"), "wb") as out:
            out.write(seed)
        os.replace(image, template)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""lkl.Image where each case needs a kernel of its own (a child process):
read-only opens, failures to open, the one-kernel rule after close, and the
host kernel's loop mount as the oracle for what lkl writes and reads.
"""

import hashlib
import os
import subprocess

import pytest

from conftest import check_image, host_mounts, make_image, run_child


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("fstype", ["xfs", "ext4"])
def test_read_only_never_changes_the_image(tmp_path, fstype):
    image = make_image(tmp_path / "i.img", fstype)
    r = run_child(f"""
        import lkl
        with lkl.Image({image!r}, readonly=False) as img:
            img.write_text("/f", "content")
        """)
    assert r.returncode == 0, r.stderr
    before = sha256(image)
    r = run_child(f"""
        import errno, lkl
        with lkl.Image({image!r}, mem="64M") as img:
            assert img.read_text("/f") == "content"
            try:
                img.write_text("/g", "x")
            except OSError as e:
                assert e.errno == errno.EROFS, e
            else:
                raise SystemExit("a write to a read-only image worked")
        """)
    assert r.returncode == 0, r.stderr
    assert sha256(image) == before


def test_opening_fails_clearly(tmp_path):
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(os.urandom(1 << 20))
    r = run_child(f"""
        import lkl
        try:
            lkl.Image({str(tmp_path / 'missing.img')!r})
        except FileNotFoundError as e:
            print("missing:", e.errno, e.filename)
        try:
            lkl.Image({str(garbage)!r})
        except OSError as e:
            print("garbage:", type(e).__name__, e.errno, e.strerror)
        """)
    assert r.returncode == 0, r.stderr
    assert f"missing: 2 {tmp_path / 'missing.img'}" in r.stdout
    assert "no xfs, ext4, btrfs or vfat file system found" in r.stdout
    r = run_child("""
        import lkl
        for bad in ("lots", "8M"):
            try:
                lkl.Image("/nonexistent", mem=bad)
            except ValueError as e:
                print("refused:", e)
        """)
    assert r.stdout.count("refused:") == 2, r.stderr


def test_a_new_image_after_close_boots_a_fresh_kernel(tmp_path):
    image = make_image(tmp_path / "i.img", "ext4")
    r = run_child(f"""
        import lkl
        with lkl.Image({image!r}, readonly=False) as img:
            img.write_bytes("/f", b"first life")
            try:
                lkl.Image({image!r})
            except RuntimeError as e:
                print("refused:", e)
        for life in range(3):
            with lkl.Image({image!r}, readonly=False) as img:
                print("read:", img.read_bytes("/f"))
                img.write_bytes("/f", b"life %d" % life)
        """)
    assert r.returncode == 0, r.stderr
    assert "refused: lkl: an image is already open" in r.stdout
    assert r.stdout.count("read:") == 3
    assert "read: b'first life'" in r.stdout
    assert "read: b'life 1'" in r.stdout


@pytest.mark.parametrize("fstype", ["xfs", "ext4"])
def test_the_host_kernel_reads_what_lkl_wrote_and_the_reverse(tmp_path, fstype):
    why = host_mounts()
    if why:
        pytest.skip(why)
    image = make_image(tmp_path / "i.img", fstype)
    r = run_child(f"""
        import os, lkl
        with lkl.Image({image!r}, readonly=False) as img:
            img.makedirs("/d/e")
            img.write_bytes("/d/e/f", bytes(range(256)) * 100)
            img.chmod("/d/e/f", 0o600)
            img.chown("/d/e/f", 1000, 1001)
            img.utime("/d/e/f", ns=(5_000_000_001, 6_000_000_002))
            img.setxattr("/d/e/f", "user.k", b"v")
            img.symlink("e/f", "/d/l")
        """)
    assert r.returncode == 0, r.stderr
    assert check_image(image, fstype) == ""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", image, str(mnt)], check=True)
    try:
        f = mnt / "d" / "e" / "f"
        assert f.read_bytes() == bytes(range(256)) * 100
        st = os.stat(f)
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o600, 1000, 1001)
        assert st.st_mtime_ns == 6_000_000_002
        assert os.getxattr(f, "user.k") == b"v"
        assert os.readlink(mnt / "d" / "l") == "e/f"
        (mnt / "host").write_text("from the host")
        os.utime(mnt / "host", ns=(7, 8_000_000_009))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    r = run_child(f"""
        import lkl
        with lkl.Image({image!r}) as img:
            assert img.read_text("/host") == "from the host"
            assert img.stat("/host").st_mtime_ns == 8_000_000_009
        """)
    assert r.returncode == 0, r.stderr

"""lkl.Image on one image made at test time (LKL_TEST_FSTYPE: xfs or ext4),
opened read-write for the whole session: every method, the errors, threads.
"""

import errno
import io
import os
import stat
import threading
import time

import pytest

import lkl
from conftest import check_image, make_image

FSTYPE = os.environ.get("LKL_TEST_FSTYPE", "xfs")


@pytest.fixture(scope="session")
def image_file(tmp_path_factory):
    return make_image(tmp_path_factory.mktemp("img") / f"{FSTYPE}.img", FSTYPE)


@pytest.fixture(scope="session")
def img(image_file):
    image = lkl.Image(image_file, readonly=False)
    yield image
    image.close()
    assert check_image(image_file, FSTYPE) == ""


@pytest.fixture
def d(img, request):
    """A fresh directory in the image for one test."""
    path = "/" + request.node.name.replace("[", "_").replace("]", "")
    img.mkdir(path)
    return path


def test_opened_as_asked(img, image_file):
    assert img.fstype == FSTYPE
    assert img.warnings == []
    assert repr(img) == f"<lkl.Image {image_file!r} {FSTYPE}>"


def test_files_round_trip_in_every_mode(img, d):
    assert img.write_bytes(f"{d}/b", b"\x00\x01binary") == 8
    assert img.read_bytes(f"{d}/b") == b"\x00\x01binary"
    img.write_text(f"{d}/t", "line 1\nline 2 é\n", encoding="utf-8")
    assert img.read_text(f"{d}/t", encoding="utf-8") == "line 1\nline 2 é\n"
    with img.open(f"{d}/t", encoding="utf-8") as f:
        assert isinstance(f, io.TextIOWrapper)
        assert f.readline() == "line 1\n"
        assert list(f) == ["line 2 é\n"]
    with img.open(f"{d}/t", "a") as f:
        f.write("appended\n")
    assert img.read_text(f"{d}/t").endswith("appended\n")
    with img.open(f"{d}/r", "w+b") as f:
        f.write(b"0123456789")
        f.seek(3)
        assert f.read(4) == b"3456"
        f.seek(0, io.SEEK_END)
        assert f.tell() == 10
        f.truncate(5)
    assert img.read_bytes(f"{d}/r") == b"01234"
    with img.open(f"{d}/raw", "wb", buffering=0) as f:
        assert f.write(b"unbuffered") == 10
        f.fsync()
    with pytest.raises(FileExistsError):
        img.open(f"{d}/raw", "x")
    with pytest.raises(ValueError):
        img.open(f"{d}/raw", "rw")
    with pytest.raises(ValueError):
        img.open(f"{d}/raw", "r", buffering=0)


def test_large_file_in_chunks(img, d):
    data = os.urandom(3 << 20) + b"tail"
    with img.open(f"{d}/big", "wb") as f:
        for i in range(0, len(data), 1 << 20):
            f.write(data[i:i + (1 << 20)])
    assert img.stat(f"{d}/big").st_size == len(data)
    assert img.read_bytes(f"{d}/big") == data


def test_directories_and_listing(img, d):
    img.makedirs(f"{d}/x/y/z")
    img.makedirs(f"{d}/x/y", exist_ok=True)
    with pytest.raises(FileExistsError):
        img.makedirs(f"{d}/x/y")
    img.write_text(f"{d}/x/f", "f")
    img.symlink("f", f"{d}/x/l")
    assert sorted(img.listdir(f"{d}/x")) == ["f", "l", "y"]
    assert sorted(img.listdir(f"{d}/x".encode())) == [b"f", b"l", b"y"]
    with img.scandir(f"{d}/x") as it:
        entries = {e.name: e for e in it}
    assert list(it) == []
    assert entries["y"].is_dir() and not entries["y"].is_file()
    assert entries["f"].is_file() and not entries["f"].is_symlink()
    assert entries["l"].is_symlink() and entries["l"].is_file()
    assert not entries["l"].is_file(follow_symlinks=False)
    assert entries["f"].inode() == img.stat(f"{d}/x/f").st_ino
    assert entries["f"].path == f"{d}/x/f"
    assert os.fspath(entries["f"]) == f"{d}/x/f"
    walked = list(img.walk(f"{d}/x"))
    assert walked[0][0] == f"{d}/x" and sorted(walked[0][1]) == ["y"]
    assert [w[0] for w in walked] == [f"{d}/x", f"{d}/x/y", f"{d}/x/y/z"]
    pruned = []
    for top, dirs, files in img.walk(d):
        pruned.append(top)
        dirs.clear()
    assert pruned == [d]
    bottom_up = [w[0] for w in img.walk(f"{d}/x", topdown=False)]
    assert bottom_up[-1] == f"{d}/x"
    img.rmdir(f"{d}/x/y/z")
    with pytest.raises(OSError) as e:
        img.rmdir(f"{d}/x")
    assert e.value.errno == errno.ENOTEMPTY


def test_links_renames_and_removal(img, d):
    img.write_text(f"{d}/a", "a")
    img.link(f"{d}/a", f"{d}/hard")
    assert img.stat(f"{d}/a").st_nlink == 2
    assert img.stat(f"{d}/hard").st_ino == img.stat(f"{d}/a").st_ino
    img.symlink("/elsewhere/target", f"{d}/abs")
    assert img.readlink(f"{d}/abs") == "/elsewhere/target"
    assert img.readlink(f"{d}/abs".encode()) == b"/elsewhere/target"
    assert stat.S_ISLNK(img.lstat(f"{d}/abs").st_mode)
    # An absolute link points into the image, not the kernel's root.
    img.symlink(f"{d}/a", f"{d}/to_a")
    assert img.read_text(f"{d}/to_a") == "a"
    img.rename(f"{d}/a", f"{d}/b")
    assert not img.exists(f"{d}/a") and img.read_text(f"{d}/b") == "a"
    img.write_text(f"{d}/c", "c")
    img.replace(f"{d}/c", f"{d}/hard")
    assert img.read_text(f"{d}/hard") == "c"
    assert img.stat(f"{d}/b").st_nlink == 1
    img.remove(f"{d}/hard")
    img.unlink(f"{d}/abs")
    img.remove(f"{d}/to_a")
    assert sorted(img.listdir(d)) == ["b"]


def test_attributes(img, d):
    img.write_text(f"{d}/f", "f")
    img.chmod(f"{d}/f", 0o4751)
    assert stat.S_IMODE(img.stat(f"{d}/f").st_mode) == 0o4751
    img.chown(f"{d}/f", 1234, 5678)
    st = img.stat(f"{d}/f")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    img.chown(f"{d}/f", -1, 42)
    assert (img.stat(f"{d}/f").st_uid, img.stat(f"{d}/f").st_gid) == (1234, 42)
    img.utime(f"{d}/f", ns=(1_000_000_123, 2_000_000_456))
    st = img.stat(f"{d}/f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    img.utime(f"{d}/f", (10.5, 20.25))
    assert img.stat(f"{d}/f").st_mtime == 20.25
    before = time.time()
    img.utime(f"{d}/f")
    assert img.stat(f"{d}/f").st_mtime >= before - 2
    img.symlink("f", f"{d}/l")
    img.chown(f"{d}/l", 7, 8, follow_symlinks=False)
    assert img.lstat(f"{d}/l").st_uid == 7 and img.stat(f"{d}/l").st_uid == 1234
    img.setxattr(f"{d}/f", "user.color", b"blue")
    img.setxattr(f"{d}/f", "trusted.k", b"\x00\xff")
    assert img.getxattr(f"{d}/f", "user.color") == b"blue"
    assert set(img.listxattr(f"{d}/f")) >= {"user.color", "trusted.k"}
    with pytest.raises(FileExistsError):
        img.setxattr(f"{d}/f", "user.color", b"red", os.XATTR_CREATE)
    img.removexattr(f"{d}/f", "user.color")
    with pytest.raises(OSError) as e:
        img.getxattr(f"{d}/f", "user.color")
    assert e.value.errno == errno.ENODATA
    vfs = img.statvfs("/")
    assert isinstance(vfs, os.statvfs_result)
    assert vfs.f_blocks > vfs.f_bfree > 0 and vfs.f_namemax == 255
    img.sync()


def test_errors_are_the_standard_subclasses(img, d):
    with pytest.raises(FileNotFoundError) as e:
        img.stat(f"{d}/missing")
    assert e.value.errno == errno.ENOENT and e.value.filename == f"{d}/missing"
    assert e.value.strerror == os.strerror(errno.ENOENT)
    img.write_text(f"{d}/file", "x")
    with pytest.raises(NotADirectoryError):
        img.listdir(f"{d}/file")
    with pytest.raises(IsADirectoryError):
        img.open(d, "w")
    with pytest.raises(FileExistsError):
        img.mkdir(f"{d}/file")
    with pytest.raises(FileNotFoundError):
        img.open(f"{d}/missing")
    with pytest.raises(FileNotFoundError):
        img.scandir(f"{d}/missing")
    with pytest.raises(OSError) as e:
        img.symlink("x", f"{d}/{'n' * 300}")
    assert e.value.errno == errno.ENAMETOOLONG


def test_paths_of_every_kind(img, d):
    from pathlib import PurePosixPath
    img.write_text(PurePosixPath(d) / "p", "p")
    assert img.read_text(f"{d}/p".encode()) == "p"
    assert img.exists(PurePosixPath(d, "p"))
    assert not img.is_dir(f"{d}/p") and img.is_file(f"{d}/p")


def test_copy_in_and_out(img, d, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_bytes(b"data" * 1000)
    os.symlink("sub/f", src / "link")
    os.link(src / "sub" / "f", src / "hard")
    os.chmod(src / "sub" / "f", 0o640)
    os.utime(src / "sub" / "f", ns=(123456789, 987654321))
    img.copy_in(src, f"{d}/copy")
    assert img.read_bytes(f"{d}/copy/sub/f") == b"data" * 1000
    st = img.stat(f"{d}/copy/sub/f")
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_mtime_ns == 987654321
    assert st.st_nlink == 2 and img.stat(f"{d}/copy/hard").st_ino == st.st_ino
    assert img.readlink(f"{d}/copy/link") == "sub/f"
    out = tmp_path / "out"
    img.copy_out(f"{d}/copy", out)
    assert (out / "sub" / "f").read_bytes() == b"data" * 1000
    assert os.stat(out / "sub" / "f").st_mtime_ns == 987654321
    assert os.readlink(out / "link") == "sub/f"
    with pytest.raises(lkl.CopyError) as e:
        img.copy_in(tmp_path / "missing", f"{d}/nothing")
    assert e.value.errno == errno.ENOENT and len(e.value.errors) == 1


def test_threads_run_in_parallel_and_release_the_gil(img, d):
    def work(i, results):
        data = bytes([i]) * (1 << 20)
        for n in range(8):
            img.write_bytes(f"{d}/t{i}-{n}", data)
            results[i] += img.read_bytes(f"{d}/t{i}-{n}") == data
    results = [0] * 4
    threads = [threading.Thread(target=work, args=(i, results)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [8] * 4
    # While one thread is in a long kernel call, this one runs Python: a
    # held GIL would stop it for the whole call.
    window = []

    def writer():
        big = bytes(96 << 20)
        with img.open(f"{d}/long", "wb", buffering=0) as f:
            start = time.monotonic()
            f.write(big)  # one system call
            window.extend([start, time.monotonic()])
    t = threading.Thread(target=writer)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.monotonic())
        for _ in range(1000):
            pass
    t.join()
    start, end = window
    margin = (end - start) / 4
    assert end - start > 0.005, "the write was too short to tell"
    assert any(start + margin < tick < end - margin for tick in ticks), \
        f"no progress during {end - start:.3f} s in the kernel"


def test_one_kernel_per_process(img, image_file):
    with pytest.raises(RuntimeError, match="already open"):
        lkl.Image(image_file)

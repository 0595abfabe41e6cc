"""Disk images through the Linux kernel running in this process.

``lkl.Image`` boots the kernel (lkl: Linux 6.1 built as a library), hands it
a disk image and mounts the file system in it with the kernel's own XFS,
ext4, btrfs or vfat driver: no root, no VM, no kernel mount. Its methods
follow :mod:`os` and :mod:`pathlib`, on paths inside the image::

    import lkl

    with lkl.Image("disk.img") as img:            # read-only by default
        print(img.listdir("/etc"))
        print(img.read_text("/etc/os-release"))
        for root, dirs, files in img.walk("/var/log"):
            ...

    with lkl.Image("disk.img", readonly=False) as img:
        img.write_text("/etc/motd", "hello\\n")
        img.copy_in("/home/me/tree", "/srv/tree")  # as cp -a

Errors are the standard :class:`OSError` subclasses
(:class:`FileNotFoundError`, :class:`PermissionError`, ...) with ``errno``,
``strerror`` and the image path in ``filename``. Calls release the GIL while
the kernel works, so threads run in parallel on one image.

One kernel per process: while an ``Image`` is open, opening another raises
:class:`RuntimeError`. Once it is closed (its kernel halted), a new ``Image``
boots a fresh kernel, which starts from the same state as the first.
"""

from __future__ import annotations

import io
import os
import stat as _stat
from collections.abc import Iterator
from typing import IO, Any, Optional, Union

from . import _lkl

__all__ = ["Image", "DirEntry", "ScandirIterator", "CopyError"]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class CopyError(OSError):
    """A tree copy (``copy_in``/``copy_out``) in which some files failed.

    The copy goes on after a failure, as ``cp -a`` does; ``errors`` lists
    each one as ``(path, errno, what was being done)``, and ``errno`` is the
    first one's.
    """

    def __init__(self, errors: list[tuple[str, int, str]]):
        path, err, doing = errors[0]
        what = f"{doing}: " if doing else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(err, f"{what}{os.strerror(err)}{more}", path)
        self.errors = errors


def _path(path: PathLike) -> bytes:
    return os.fsencode(path)


def _name(path: PathLike) -> Any:
    """The path as the caller gave it, for error messages."""
    return os.fspath(path)


def _call(func, path: PathLike, *args):
    """Runs a native call; its OSError names the path as the caller wrote it."""
    try:
        return func(_path(path), *args)
    except OSError as e:
        raise OSError(e.errno, e.strerror, _name(path)) from None


def _join(top: bytes, name: bytes) -> bytes:
    return top + name if top.endswith(b"/") else top + b"/" + name


class DirEntry:
    """An entry of :meth:`Image.scandir`, like :class:`os.DirEntry`."""

    __slots__ = ("name", "path", "_image", "_type", "_ino", "_stat", "_lstat", "_str")

    def __init__(self, image: "Image", top: bytes, name: bytes, d_type: int,
                 ino: int, as_str: bool):
        self._image = image
        self._type = d_type
        self._ino = ino
        self._stat: Optional[os.stat_result] = None
        self._lstat: Optional[os.stat_result] = None
        self._str = as_str
        full = _join(top, name)
        self.name = os.fsdecode(name) if as_str else name
        self.path = os.fsdecode(full) if as_str else full

    def inode(self) -> int:
        return self._ino

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        if follow_symlinks:
            if self._stat is None:
                self._stat = self._image.stat(self.path)
            return self._stat
        if self._lstat is None:
            self._lstat = self._image.lstat(self.path)
        return self._lstat

    def _mode_is(self, test, d_type: int, follow: bool) -> bool:
        if self._type != _lkl.DT_UNKNOWN and not (follow and self._type == _lkl.DT_LNK):
            return self._type == d_type
        try:
            return test(self.stat(follow_symlinks=follow).st_mode)
        except FileNotFoundError:
            return False

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._mode_is(_stat.S_ISDIR, _lkl.DT_DIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._mode_is(_stat.S_ISREG, _lkl.DT_REG, follow_symlinks)

    def is_symlink(self) -> bool:
        return self._mode_is(_stat.S_ISLNK, _lkl.DT_LNK, False)

    def __fspath__(self):
        return self.path

    def __repr__(self) -> str:
        return f"<lkl.DirEntry {self.name!r}>"


class ScandirIterator:
    """What :meth:`Image.scandir` returns, like :func:`os.scandir`'s: an
    iterator of :class:`DirEntry` that is also a context manager. The
    directory is read when it is made, so its errors come from the call."""

    def __init__(self, entries: list):
        self._entries: Optional[Iterator[DirEntry]] = iter(entries)

    def __iter__(self) -> "ScandirIterator":
        return self

    def __next__(self) -> DirEntry:
        if self._entries is None:
            raise StopIteration
        return next(self._entries)

    def close(self) -> None:
        self._entries = None

    def __enter__(self) -> "ScandirIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _RawFile(io.RawIOBase):
    """A file open in the image, unbuffered; :meth:`Image.open` wraps it."""

    def __init__(self, fd: int, name: Any, mode: str, readable: bool,
                 writable: bool):
        super().__init__()
        self._fd = fd
        self.name = name
        self.mode = mode
        self._readable = readable
        self._writable = writable

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return _lkl.readinto(self._fd, memoryview(buffer).cast("B"))

    def write(self, buffer) -> int:
        return _lkl.write(self._fd, memoryview(buffer).cast("B"))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return _lkl.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return _lkl.lseek(self._fd, 0, io.SEEK_CUR)

    def truncate(self, size: Optional[int] = None) -> int:
        if size is None:
            size = self.tell()
        _lkl.ftruncate(self._fd, size)
        return size

    def flush(self) -> None:
        super().flush()

    def close(self) -> None:
        if not self.closed:
            try:
                super().close()
            finally:
                _lkl.close(self._fd)

    def fsync(self) -> None:
        """Makes what was written durable in the image (fsync(2))."""
        _lkl.fsync(self._fd)


def _open_flags(mode: str) -> tuple[int, bool, bool]:
    """open(2) flags, readable, writable for a mode of :func:`open`."""
    kinds = set(mode) & set("rwax")
    if len(kinds) != 1 or set(mode) - set("rwaxbt+") or ("b" in mode and "t" in mode):
        raise ValueError(f"invalid mode: {mode!r}")
    kind = kinds.pop()
    plus = "+" in mode
    flags = _lkl.O_RDWR if plus else (_lkl.O_RDONLY if kind == "r" else _lkl.O_WRONLY)
    flags |= {"r": 0, "w": _lkl.O_CREAT | _lkl.O_TRUNC,
              "a": _lkl.O_CREAT | _lkl.O_APPEND, "x": _lkl.O_CREAT | _lkl.O_EXCL}[kind]
    return flags, kind == "r" or plus, kind != "r" or plus


class Image:
    """A disk image, mounted by the kernel running in this process.

    ``path`` is an image file or block device. ``fstype`` is ``"xfs"``,
    ``"ext4"``, ``"btrfs"`` or ``"vfat"`` (default: found from the
    superblock). ``partition`` is a partition number (MBR or GPT; default:
    the whole image). ``readonly`` (the default) opens the image so that it
    is never written. ``mem`` is the kernel's memory (``"128M"``, ``"1G"``).

    Opening it boots the kernel, adds the image and mounts it; :meth:`close`
    (or leaving a ``with`` block) unmounts it, which writes everything back,
    and halts the kernel. The host must not use the image meanwhile: one it
    has mounted is refused for writing (OSError, EBUSY).
    """

    def __init__(self, path: PathLike, *, fstype: Optional[str] = None,
                 partition: Optional[int] = None, readonly: bool = True,
                 mem: Union[str, int] = "128M"):
        self.path = os.fspath(path)
        self.readonly = readonly
        self._session = _lkl.Session(os.fsdecode(self.path), fstype, partition or 0,
                                     readonly, _mebibytes(mem))

    # -- life cycle --------------------------------------------------------

    def close(self) -> None:
        """Unmounts the file system and halts the kernel (once)."""
        self._session.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def fstype(self) -> str:
        """The mounted file system's type, as the kernel names it."""
        return self._session.type

    @property
    def warnings(self) -> list[str]:
        """What was noticed while opening (an image the host uses, ...)."""
        return self._session.warnings

    def __repr__(self) -> str:
        return f"<lkl.Image {self.path!r} {self.fstype or 'closed'}>"

    # -- reading the tree --------------------------------------------------

    def stat(self, path: PathLike, *, follow_symlinks: bool = True) -> os.stat_result:
        """Like :func:`os.stat`, in the image."""
        return os.stat_result(_call(_lkl.stat, path, follow_symlinks))

    def lstat(self, path: PathLike) -> os.stat_result:
        """Like :func:`os.lstat`, in the image."""
        return self.stat(path, follow_symlinks=False)

    def exists(self, path: PathLike) -> bool:
        try:
            self.stat(path)
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def is_dir(self, path: PathLike) -> bool:
        try:
            return _stat.S_ISDIR(self.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def is_file(self, path: PathLike) -> bool:
        try:
            return _stat.S_ISREG(self.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def scandir(self, path: PathLike = "/") -> ScandirIterator:
        """Like :func:`os.scandir`: entries with their types, no stat each;
        usable in a ``with`` statement. Raises at once if ``path`` cannot
        be listed."""
        top = _path(path)
        as_str = not isinstance(os.fspath(path), bytes)
        return ScandirIterator([DirEntry(self, top, name, d_type, ino, as_str)
                                for name, d_type, ino in _call(_lkl.scandir, path)])

    def listdir(self, path: PathLike = "/") -> list:
        """Like :func:`os.listdir` (str names for a str path)."""
        names = _call(_lkl.scandir, path)
        if isinstance(os.fspath(path), bytes):
            return [n for n, _, _ in names]
        return [os.fsdecode(n) for n, _, _ in names]

    def walk(self, top: PathLike = "/", topdown: bool = True, onerror=None,
             followlinks: bool = False) -> Iterator[tuple]:
        """Like :func:`os.walk`, in the image."""
        try:
            entries = list(self.scandir(top))
        except OSError as e:
            if onerror is not None:
                onerror(e)
            return
        dirs, files = [], []
        for entry in entries:
            if entry.is_dir():
                dirs.append(entry)
            else:
                files.append(entry.name)
        if topdown:
            names = [d.name for d in dirs]
            yield top, names, files
            # The caller may prune names in place.
            dirs = [d for d in dirs if d.name in names]
        for d in dirs:
            if followlinks or not d.is_symlink():
                yield from self.walk(d.path, topdown, onerror, followlinks)
        if not topdown:
            yield top, [d.name for d in dirs], files

    def readlink(self, path: PathLike):
        """Like :func:`os.readlink` (str for a str path)."""
        target = _call(_lkl.readlink, path)
        return target if isinstance(os.fspath(path), bytes) else os.fsdecode(target)

    # -- files --------------------------------------------------------------

    def open(self, path: PathLike, mode: str = "r", buffering: int = -1,
             encoding: Optional[str] = None, errors: Optional[str] = None,
             newline: Optional[str] = None, *, perm: int = 0o666) -> IO[Any]:
        """Like :func:`open`: a file object on the file in the image.

        Text and binary, buffered or not (``buffering=0``, binary only), as
        :func:`open` gives them. New files get mode ``perm`` (less the
        umask, 022).
        """
        flags, readable, writable = _open_flags(mode)
        fd = _call(_lkl.open, path, flags, perm)
        raw = _RawFile(fd, _name(path), mode.replace("t", ""), readable, writable)
        binary = "b" in mode
        if buffering == 0:
            if not binary:
                raw.close()
                raise ValueError("can't have unbuffered text I/O")
            return raw
        size = io.DEFAULT_BUFFER_SIZE if buffering in (-1, 1) else buffering
        if readable and writable:
            buffered = io.BufferedRandom(raw, size)
        elif writable:
            buffered = io.BufferedWriter(raw, size)
        else:
            buffered = io.BufferedReader(raw, size)
        if binary:
            return buffered
        text = io.TextIOWrapper(buffered, encoding, errors, newline,
                                line_buffering=buffering == 1)
        text.mode = mode
        return text

    def read_bytes(self, path: PathLike) -> bytes:
        with self.open(path, "rb") as f:
            return f.read()

    def read_text(self, path: PathLike, encoding: Optional[str] = None,
                  errors: Optional[str] = None) -> str:
        with self.open(path, "r", encoding=encoding, errors=errors) as f:
            return f.read()

    def write_bytes(self, path: PathLike, data: bytes) -> int:
        with self.open(path, "wb") as f:
            return f.write(data)

    def write_text(self, path: PathLike, text: str, encoding: Optional[str] = None,
                   errors: Optional[str] = None) -> int:
        with self.open(path, "w", encoding=encoding, errors=errors) as f:
            return f.write(text)

    # -- changing the tree --------------------------------------------------

    def mkdir(self, path: PathLike, mode: int = 0o777) -> None:
        _call(_lkl.mkdir, path, mode)

    def makedirs(self, path: PathLike, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Like :func:`os.makedirs`."""
        parent = os.path.dirname(os.fspath(path).rstrip("/" if isinstance(os.fspath(path), str) else b"/"))
        if parent and parent not in ("/", b"/") and not self.exists(parent):
            self.makedirs(parent, mode, exist_ok=True)
        try:
            self.mkdir(path, mode)
        except FileExistsError:
            if not exist_ok or not self.is_dir(path):
                raise

    def remove(self, path: PathLike) -> None:
        """Like :func:`os.remove`: a file, not a directory."""
        _call(_lkl.unlink, path, False)

    unlink = remove

    def rmdir(self, path: PathLike) -> None:
        _call(_lkl.unlink, path, True)

    def rename(self, src: PathLike, dst: PathLike) -> None:
        _call(_lkl.rename, src, _path(dst))

    def replace(self, src: PathLike, dst: PathLike) -> None:
        self.rename(src, dst)

    def symlink(self, target: PathLike, path: PathLike) -> None:
        """Like :func:`os.symlink`: path becomes a link to target."""
        _call(lambda p, t: _lkl.symlink(t, p), path, _path(target))

    def link(self, src: PathLike, dst: PathLike) -> None:
        """Like :func:`os.link`: dst becomes another name of src."""
        _call(lambda d, s: _lkl.link(s, d), dst, _path(src))

    def chmod(self, path: PathLike, mode: int, *, follow_symlinks: bool = True) -> None:
        _call(_lkl.chmod, path, mode, follow_symlinks)

    def chown(self, path: PathLike, uid: int, gid: int, *,
              follow_symlinks: bool = True) -> None:
        """Like :func:`os.chown`; -1 keeps the owner or group."""
        _call(_lkl.chown, path, uid, gid, follow_symlinks)

    def utime(self, path: PathLike, times: Optional[tuple[float, float]] = None, *,
              ns: Optional[tuple[int, int]] = None, follow_symlinks: bool = True) -> None:
        """Like :func:`os.utime`: (atime, mtime) in seconds, or ``ns=``."""
        if times is not None and ns is not None:
            raise ValueError("utime: you may specify either 'times' or 'ns' but not both")
        if times is not None:
            ns = (int(times[0] * 1e9), int(times[1] * 1e9))
        atime, mtime = ns if ns is not None else (None, None)
        _call(_lkl.utime, path, atime, mtime, follow_symlinks)

    # -- extended attributes -------------------------------------------------

    def getxattr(self, path: PathLike, attribute: str, *,
                 follow_symlinks: bool = True) -> bytes:
        return _call(_lkl.getxattr, path, attribute, follow_symlinks)

    def setxattr(self, path: PathLike, attribute: str, value: bytes, flags: int = 0, *,
                 follow_symlinks: bool = True) -> None:
        """Like :func:`os.setxattr` (flags: os.XATTR_CREATE, os.XATTR_REPLACE)."""
        _call(_lkl.setxattr, path, attribute, bytes(value), flags, follow_symlinks)

    def removexattr(self, path: PathLike, attribute: str, *,
                    follow_symlinks: bool = True) -> None:
        _call(_lkl.removexattr, path, attribute, follow_symlinks)

    def listxattr(self, path: PathLike = "/", *, follow_symlinks: bool = True) -> list[str]:
        return _call(_lkl.listxattr, path, follow_symlinks)

    # -- the whole file system -------------------------------------------------

    def statvfs(self, path: PathLike = "/") -> os.statvfs_result:
        """Like :func:`os.statvfs`: sizes and free space of the file system."""
        return os.statvfs_result(_call(_lkl.statvfs, path))

    def sync(self) -> None:
        """Writes everything the kernel caches back to the image."""
        _lkl.sync()

    def copy_in(self, host_path: PathLike, image_path: PathLike) -> None:
        """Copies a host file or tree to image_path, keeping modes, owners,
        times to the nanosecond, symbolic and hard links, holes, extended
        attributes and POSIX ACLs (as ``cptofs`` and ``cp -a`` do). An
        existing directory at image_path is copied into; an existing file is
        replaced. Raises :class:`CopyError` listing what failed; the rest is
        copied."""
        errors = _lkl.copy_in(os.fsdecode(host_path), os.fsdecode(_path(image_path)))
        if errors:
            raise CopyError(errors)

    def copy_out(self, image_path: PathLike, host_path: PathLike) -> None:
        """Copies a file or tree of the image to host_path, as
        :meth:`copy_in` does the other way (owners only where the host
        allows them, as ``cp -a``)."""
        errors = _lkl.copy_out(os.fsdecode(_path(image_path)), os.fsdecode(host_path))
        if errors:
            raise CopyError(errors)


def _mebibytes(mem: Union[str, int]) -> int:
    """The kernel's memory in MiB, from 128, "128M", "1G" or "1048576K"."""
    if isinstance(mem, int):
        return mem
    text = mem.strip().upper()
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale is not None else text
    try:
        mib = int(float(number) * (scale or 1))
    except ValueError:
        raise ValueError(f"mem: not a size: {mem!r} (e.g. '128M', '1G')") from None
    if mib < 16:
        raise ValueError(f"mem: {mem!r} is too little for the kernel (at least 16M)")
    return mib

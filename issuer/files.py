"""Crash-safe file writes: temporary name, fsync, rename.  A reader never sees half a file or folder."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temporary name, fsync, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a file inside a folder that is itself renamed into place later (no rename needed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): swap two paths in one step.  False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target``, replacing what was there.

    Uses an atomic exchange where the kernel has one; otherwise renames the old
    folder aside first, and :func:`recover_dir` restores it after a crash.
    """
    new, target = Path(new), Path(target)
    if target.exists():
        if _exchange(new, target):
            shutil.rmtree(new)
        else:
            aside = target.with_name(f".{target.name}.previous")
            shutil.rmtree(aside, ignore_errors=True)
            os.rename(target, aside)
            os.rename(new, target)
            shutil.rmtree(aside)
    else:
        os.rename(new, target)
    fsync_dir(target.parent)


def recover_dir(target: Path) -> None:
    """After a crash between the two renames of the fallback path, bring the previous folder back."""
    target = Path(target)
    aside = target.with_name(f".{target.name}.previous")
    if not target.exists() and aside.exists():
        os.rename(aside, target)
    elif aside.exists():
        shutil.rmtree(aside, ignore_errors=True)


def make_private(path: Path) -> None:
    """Owner-only (0700 folder, 0600 file) if it exists: a city's files are nobody else's business."""
    try:
        os.chmod(path, 0o700 if Path(path).is_dir() else 0o600)
    except OSError:  # missing, or not ours to change: the files still work
        pass

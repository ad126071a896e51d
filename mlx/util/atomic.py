"""Atomic writes: a temp file in the same folder, fsync, then rename over the target.

A reader never sees a half-written file, and an interrupted write leaves the previous
version in place. A target that exists and is not a regular file (``/dev/null``, a FIFO,
``/dev/stdout``) is written into, never renamed over: replacing a device node with a
file would break the machine for everyone (as root it is allowed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it replaces ``target``."""
    if _special(target):
        with _streamed(target) as streamed:
            yield streamed
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes 0600 files; keep the target's mode, or what the umask gives a new file
    os.chmod(tmp_path, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _special(target: Path) -> bool:
    try:
        return not stat.S_ISREG(os.stat(target).st_mode) and not stat.S_ISDIR(
            os.stat(target).st_mode
        )
    except OSError:  # absent: a new regular file
        return False


@contextlib.contextmanager
def _streamed(target: Path) -> Iterator[Path]:
    """A temp file elsewhere, copied into ``target`` (opened for writing) on success."""
    fd, tmp = tempfile.mkstemp(prefix="mlx-", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, obj: Any) -> None:
    """Stable JSON (sorted keys, 2-space indent, trailing newline) written atomically."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it replaces ``target`` whole.

    The old folder is renamed aside first and removed only after the new one is in
    place, so an interruption at any point leaves one complete version.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

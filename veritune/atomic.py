"""Atomic writes: a crash leaves either the old file/folder or the new one, never a half-written one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from veritune.errors import VerituneError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def ensure_writable_parent(target: Path) -> None:
    """Create the parent folder of `target` or fail with a one-line error naming it."""
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VerituneError(f"cannot create output folder: {exc.strerror}", path=parent) from None
    if not os.access(parent, os.W_OK):
        raise VerituneError("output folder is not writable", path=parent)


@contextlib.contextmanager
def atomic_file(target: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temp file beside `target`; on success fsync and rename it over `target`, on error delete it."""
    target = Path(target)
    ensure_writable_parent(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.absolute().parent)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; the final file gets the usual permissions
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(target: str | Path, text: str) -> None:
    with atomic_file(target) as handle:
        handle.write(text)


def write_json(target: str | Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a staging folder beside `target`; on success swap it into place, on error delete it.

    Readers never see a half-written folder: the folder appears under its final name only once complete.
    """
    target = Path(target)
    ensure_writable_parent(target)
    if target.exists() and not overwrite:
        raise VerituneError("output already exists (pass --overwrite to replace it)", path=target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.absolute().parent))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

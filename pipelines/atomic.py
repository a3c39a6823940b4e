"""Atomic outputs: write under a temporary name beside the target, rename when complete.

A killed or failed run never leaves a truncated file under the final name, and an existing
output is only replaced when the caller says so.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.errors import InputError


def check_writable(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Fail early (before any work) if ``path`` exists and may not be overwritten."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError(target, "output already exists", "pass --overwrite to replace it")
    if not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    Works for files and for directories (e.g. a Zarr store). The temporary name starts with a
    dot and ends with ``.partial`` so that it is easy to recognise and is never picked up as a
    finished product by a glob such as ``*.tif``.
    """
    target = check_writable(path, overwrite)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to the temporary output {tmp}")
        if target.is_dir() and not target.is_symlink():
            backup = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
            target.rename(backup)
            tmp.rename(target)
            _remove(backup)
        else:
            os.replace(tmp, target)
    finally:
        _remove(tmp)

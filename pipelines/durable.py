"""Writing a finished dataset folder through to the disk before it is renamed into place.

A single-file output is fsynced before its rename (:mod:`pipelines.atomic`); a dataset folder
holds thousands of chunk files, so it gets one syncfs(2) where Linux has it. Without this a crash
or power loss after the rename could leave a dataset of empty or missing chunks under its final
name."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from pipelines.errors import InputError, environment_hint


def write_through(tmp: Path, out: Path) -> None:
    """:func:`sync_tree` on the finished temporary dataset ``tmp``; a disk that did not keep the
    data (EIO) is refused as ``out``'s write failing, as single-file outputs are, and nothing is
    published."""
    try:
        sync_tree(tmp)
    except OSError as exc:
        raise InputError(out, f"writing failed ({exc.strerror or exc})",
                         environment_hint(exc.errno) or "check the disk, then run again") from exc


def sync_tree(root: Path) -> None:
    """Write the folder ``root`` (its files and folders) through to the disk. Linux's syncfs(2)
    does it in one call for the whole file system (one journal commit, not one fsync per chunk
    file: thousands of them took seconds); elsewhere each file and folder is fsynced. An OSError
    (EIO: the disk did not keep the data) is the caller's."""
    syncfs = _syncfs_function()
    if syncfs is not None:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), str(root))
        finally:
            os.close(fd)
        return
    for folder, _, files in os.walk(root):
        for name in files:
            _fsync_path(Path(folder, name), os.O_RDONLY)
        with suppress(OSError):  # a folder cannot be opened on Windows, and some file systems refuse
            _fsync_path(Path(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _syncfs_function() -> Callable[[int], int] | None:
    """The C library's syncfs(2) (Linux), or None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError, TypeError):  # no such function, or no C library to load (Windows)
        return None


def _fsync_path(path: Path, flags: int) -> None:
    """fsync the file or folder at ``path``."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

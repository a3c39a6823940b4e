"""The first bytes of a file at an output's name: --overwrite replaces only a file groklst could
have written there (one of that output's formats), never a user's unrelated file."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.errors import InputError


def existing_header(path: str | os.PathLike[str], size: int = 8) -> bytes:
    """The first ``size`` bytes of the regular file at ``path``; empty for none, a symbolic link
    (replaced itself, never written through) or an unreadable one."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return b""
    try:
        with path.open("rb") as file:
            return file.read(size)
    except OSError:
        return b""


def refuse_foreign_file(path: str | os.PathLike[str], kind: str, headers: tuple[bytes, ...]) -> None:
    """Refuse ``path`` when a non-empty file that starts with none of ``headers`` (the ``kind``
    output's formats) lies there: --overwrite would replace a file groklst never makes."""
    header = existing_header(path, max(len(h) for h in headers))
    if header and not header.startswith(headers):
        raise InputError(path, f"exists and is not a {kind} (its first bytes are no {kind} header), so it is "
                               "no output groklst would replace, even with --overwrite",
                         "name another output, or move the file away yourself")

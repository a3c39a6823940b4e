"""The first bytes of a file at an output's name: --overwrite replaces only a file groklst could
have written there (one of that output's formats), never a user's unrelated file."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.errors import InputError

TIFF_HEADERS = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF, either byte order
PNG_HEADER = b"\x89PNG\r\n\x1a\n"  # every PNG file's first 8 bytes
TORCH_HEADERS = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; the legacy pickle format
# The formats groklst writes under these names (any case): what may lie there to be replaced.
_BY_SUFFIX = {".tif": ("TIFF", TIFF_HEADERS), ".tiff": ("TIFF", TIFF_HEADERS), ".png": ("PNG", (PNG_HEADER,)),
              ".pt": ("PyTorch checkpoint", TORCH_HEADERS), ".pth": ("PyTorch checkpoint", TORCH_HEADERS)}


def existing_header(path: str | os.PathLike[str], size: int = 8) -> bytes:
    """The first ``size`` bytes of the regular file at ``path``; empty for none, a symbolic link
    (replaced itself, never written through) or an empty file (``mktemp``: nothing to lose, so
    told by its size, unread). A non-empty file that cannot be read is an :class:`InputError`:
    taking it for empty would let ``--overwrite`` replace a file groklst cannot tell is its own."""
    path = Path(path)
    # os.path's tests, not Path's: they are False where Path's raise (a name too long for its
    # folder), which the output's own checks then refuse with their hint
    if os.path.islink(path) or not os.path.isfile(path) or path.stat().st_size == 0:
        return b""
    try:
        with path.open("rb") as file:
            return file.read(size)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise InputError(path, f"exists and cannot be read ({reason}), so groklst cannot tell it is its own "
                               "output; not replaced, even with --overwrite",
                         "make it readable, or name another output") from exc


def refuse_foreign_file(path: str | os.PathLike[str], kind: str, headers: tuple[bytes, ...]) -> None:
    """Refuse ``path`` when a non-empty file that starts with none of ``headers`` (the ``kind``
    output's formats) lies there: --overwrite would replace a file groklst never makes."""
    header = existing_header(path, max(len(h) for h in headers))
    if header and not header.startswith(headers):
        raise InputError(path, f"exists and is not a {kind} (its first bytes are no {kind} header), so it is "
                               "no output groklst would replace, even with --overwrite",
                         "name another output, or move the file away yourself")


def refuse_foreign_output(path: str | os.PathLike[str]) -> None:
    """:func:`refuse_foreign_file` for an output named as one of groklst's formats (``.tif``,
    ``.png``, ``.pt``), before any work; a name in no known format is left to its writer's check."""
    known = _BY_SUFFIX.get(Path(path).suffix.lower())
    if known is not None:
        refuse_foreign_file(path, *known)

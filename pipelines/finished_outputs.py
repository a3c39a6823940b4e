"""Whether an existing output is complete, for ``--skip-existing``: a georeferenced GeoTIFF
with the bands (and generator tag) its kind has, whose first and last blocks read. Used for
downscaled scenes (:mod:`pipelines.scenes`) and the ingest's pair
(:mod:`pipelines.product_ingest`); it imports no torch, so a skip costs milliseconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import InputError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader


@dataclass(frozen=True)
class FinishedKind:
    """What a complete output of one kind is, as ``--skip-existing`` checks it: ``noun`` names
    one with its article ("a downscaled scene"), ``finished`` says what an incomplete one is
    not ("finished scene"); ``bands`` are its band descriptions, in order, and ``generator``
    the generator tag it carries (None: any)."""

    noun: str
    finished: str
    bands: tuple[str, ...]
    generator: str | None = None


SKIP_HINT = "remove it, or pass --overwrite instead of --skip-existing"  # for a file groklst may have written


def finished_as(path: Path, kind: FinishedKind) -> bool:
    """Whether ``path`` holds a finished output of ``kind``, which ``--skip-existing`` skips: a
    georeferenced GeoTIFF with the kind's bands (and generator tag) whose first and last blocks
    can be read; False when there is no file. Anything else there (0 bytes, another format, a
    copy cut short, a GeoTIFF with no CRS, another tool's file) is an :class:`InputError`:
    groklst neither takes it for finished nor replaces a file it did not write."""
    if not path.is_file():
        return False
    problem = _unfinished(path, kind)
    if problem is not None:
        from pipelines.file_headers import TIFF_HEADERS, existing_header

        header = existing_header(path, 4)  # empty, or a damaged TIFF (an earlier run's?): --overwrite takes it
        ours = header == b"" or header in TIFF_HEADERS
        raise InputError(path, f"exists but {problem}, so it is no {kind.finished}",
                         SKIP_HINT if ours else "name another output, or move the file away yourself")
    return True


def _unfinished(path: Path, kind: FinishedKind) -> str | None:
    """What keeps ``path`` from being a finished output of ``kind``, or None. Only its header
    and two blocks are read, not the whole file: a copy cut short (an interrupted cp or rsync)
    ends before its last block, and a damaged header fails the first."""
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # opening warns of no georeferencing: said below, as the error
            with rasterio.open(path) as src:
                return _not_finished(src, kind) if src.driver == "GTiff" else "is not a readable GeoTIFF"
    except (rasterio.errors.RasterioError, OSError):
        return "is not a readable GeoTIFF"


def _not_finished(src: DatasetReader, kind: FinishedKind) -> str | None:
    """What keeps the open GeoTIFF ``src`` from being a finished output of ``kind``, or None: its
    data is looked at first, as a copy cut short may also have lost its georeferencing."""
    import rasterio

    try:
        _read_first_and_last_block(src)
    except (rasterio.errors.RasterioError, OSError):
        return "is a GeoTIFF whose data cannot be read (cut short by an interrupted copy, or damaged)"
    if src.crs is None or src.transform.is_identity:
        return f"is a GeoTIFF without a CRS or georeferencing ({kind.noun} has both)"
    if tuple(src.descriptions) != kind.bands:
        named = ", ".join(repr(d or "") for d in src.descriptions)
        return f"has {src.count} band(s) ({named}), not {kind.noun}'s {_bands_said(kind.bands)}"
    generator = src.tags().get("generator")
    if kind.generator is not None and generator != kind.generator:
        tagged = "no generator tag" if generator is None else f"generator tag {generator!r}"
        return f"was not written by {kind.generator} ({tagged})"
    return None


def _bands_said(bands: tuple[str, ...]) -> str:
    """``one band 'lst'``, or ``10 bands ('dem', 'deepblue', ...)``."""
    named = ", ".join(map(repr, bands))
    return f"one band {named}" if len(bands) == 1 else f"{len(bands)} bands ({named})"


def _read_first_and_last_block(src: DatasetReader) -> None:
    """Read the first and the last block of each band of the open raster ``src`` (a GeoTIFF's
    last block is written last, at the end of the file); raises if either cannot be read."""
    from rasterio.windows import Window

    for band, (rows, cols) in zip(src.indexes, src.block_shapes):
        row, col = (src.height - 1) // rows * rows, (src.width - 1) // cols * cols
        src.read(band, window=Window(0, 0, min(cols, src.width), min(rows, src.height)))
        src.read(band, window=Window(col, row, src.width - col, src.height - row))

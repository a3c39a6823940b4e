"""Whether an existing output is complete, for ``--skip-existing``: a georeferenced GeoTIFF
with the bands (and generator tag) its kind has, as long as its directories say (a COG's last
tile trailer included), whose first and last blocks read; a quick-look PNG that ends in its
IEND chunk. Used for downscaled scenes (:mod:`pipelines.scenes`) and the ingest's pair
(:mod:`pipelines.product_ingest`); it imports no torch, so a skip costs milliseconds.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

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
    """What keeps ``path`` from being a finished output of ``kind``, or None. Only its header,
    directories and two blocks are read, not the whole file: a copy cut short (an interrupted cp
    or rsync) ends before its last block or what its directories name, and a damaged header
    fails the first."""
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # opening warns of no georeferencing: said below, as the error
            with rasterio.open(path) as src:
                return _not_finished(path, src, kind) if src.driver == "GTiff" else "is not a readable GeoTIFF"
    except (rasterio.errors.RasterioError, OSError):
        return "is not a readable GeoTIFF"


def _not_finished(path: Path, src: DatasetReader, kind: FinishedKind) -> str | None:
    """What keeps ``path``, the open GeoTIFF ``src``, from being a finished output of ``kind``, or
    None: its data and length are looked at first, as a copy cut short may also have lost its
    georeferencing."""
    import rasterio

    try:
        _read_first_and_last_block(src)
    except (rasterio.errors.RasterioError, OSError):
        return "is a GeoTIFF whose data cannot be read (cut short by an interrupted copy, or damaged)"
    cut = _cut_short(path)
    if cut is not None:
        return cut
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


# TIFF field types by number: struct code and size (TIFF 6.0 and BigTIFF); others are skipped
_TIFF_TYPES = {1: "B", 2: "B", 3: "H", 4: "I", 5: "II", 6: "b", 7: "B", 8: "h", 9: "i", 10: "ii",
               11: "f", 12: "d", 13: "I", 16: "Q", 17: "q", 18: "Q"}
_DATA_TAGS = ((273, 279), (324, 325))  # StripOffsets/StripByteCounts, TileOffsets/TileByteCounts
_BLOCK_TAGS = {tag for pair in _DATA_TAGS for tag in pair}
_COG_TRAILER = b"BLOCK_TRAILER=LAST_4_BYTES_REPEATED"  # GDAL's COG ghost header: 4 bytes after each block
# ...which GDAL marks so once the file was edited in place (overviews added by gdaladdo or r+):
# blocks appended then have no trailer
_COG_EDITED = b"KNOWN_INCOMPATIBLE_EDITION=YES"
_GHOST_HEADER = b"GDAL_STRUCTURAL_METADATA_SIZE="


class _Short(Exception):
    """The TIFF ends before a structure its header or directories point to."""


def _cut_short(path: Path) -> str | None:
    """Why ``path``, a TIFF, is shorter than its own directories say, or None: every directory,
    tag value and strip or tile (and a COG's 4-byte trailer after its last tile) must lie within
    the file. GDAL reads a COG missing only its last trailer bytes, so reading blocks misses it."""
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            short = _tiff_extent(fh) > size
    except _Short:
        short = True
    except (OSError, struct.error, ValueError):
        return None  # not a layout this reader knows: GDAL opened it, and its blocks are read next
    return (f"is a GeoTIFF cut short ({size} bytes, fewer than its directories name, or no COG block trailer "
            "after its last tile: an interrupted copy, or damaged)") if short else None


def _tiff_extent(fh: BinaryIO) -> int:
    """The byte the open TIFF ``fh`` must reach: the end of its furthest directory, tag value or
    strip/tile, plus 4 after the last block of a COG with block trailers (whose bytes repeat
    that block's last 4, checked here) that was not edited in place since."""
    head = _read(fh, 0, 16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise ValueError("no TIFF byte order")
    big = struct.unpack(order + "H", head[2:4])[0] == 43
    first = struct.unpack(order + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
    extent, blocks = _chain_extent(fh, order, big, first)
    last_offset, last_end = max(blocks, key=lambda block: block[1], default=(0, 0))
    ghost = _ghost_header(fh, 16 if big else 8)
    if last_end > last_offset + 4 and _COG_TRAILER in ghost and _COG_EDITED not in ghost:
        if _read(fh, last_end, 4) != _read(fh, last_end - 4, 4):
            raise _Short  # a preallocated copy's zeros where the trailer belongs
        extent = max(extent, last_end + 4)
    return max(extent, last_end)


def _chain_extent(fh: BinaryIO, order: str, big: bool, offset: int) -> tuple[int, list[tuple[int, int]]]:
    """The end of the furthest directory or out-of-line tag value of the TIFF's directory chain
    from ``offset``, and each non-empty strip or tile as (start, end)."""
    extent, blocks, seen = 0, [], set()
    while offset and offset not in seen:
        seen.add(offset)
        end, fields, next_offset = _directory(fh, order, big, offset)
        extent = max(extent, end)
        for offsets_tag, counts_tag in _DATA_TAGS:
            blocks += [(o, o + c) for o, c in zip(fields.get(offsets_tag, ()), fields.get(counts_tag, ())) if c]
        offset = next_offset
    return extent, blocks


def _directory(fh: BinaryIO, order: str, big: bool, offset: int) -> tuple[int, dict[int, tuple[int, ...]], int]:
    """One directory at ``offset``: the end of it or its furthest out-of-line value, its strip
    or tile offsets and byte counts by tag, and the next directory's offset (0: none)."""
    count_code, entry_size, inline = ("Q", 20, 8) if big else ("H", 12, 4)
    word = "Q" if big else "I"
    count_size = struct.calcsize(count_code)
    (count,) = struct.unpack(order + count_code, _read(fh, offset, count_size))
    table = _read(fh, offset + count_size, count * entry_size + inline)
    extent, fields = offset + count_size + len(table), {}
    for i in range(count):
        entry = table[i * entry_size:(i + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        (n,) = struct.unpack(order + word, entry[4:4 + inline])
        code = _TIFF_TYPES.get(kind)
        if code is None:
            continue
        nbytes = n * struct.calcsize(order + code)
        where = _pointer(entry, order, word, inline) if nbytes > inline else None
        if where is not None:
            extent = max(extent, where + nbytes)
        if tag in _BLOCK_TAGS:  # only the block tables are read: other values need only lie in the file
            data = entry[4 + inline:] if where is None else _read(fh, where, nbytes)
            fields[tag] = struct.unpack(order + code * n, data[:nbytes])
    return extent, fields, struct.unpack(order + word, table[count * entry_size:])[0]


def _pointer(entry: bytes, order: str, word: str, inline: int) -> int:
    """The offset an IFD entry's value lies at, when it does not fit in the entry."""
    return struct.unpack(order + word, entry[4 + inline:4 + 2 * inline])[0]


def _ghost_header(fh: BinaryIO, start: int) -> bytes:
    """GDAL's structural metadata right after the TIFF header (a COG's), or b''."""
    fh.seek(start)
    lead = fh.read(len(_GHOST_HEADER) + 6)
    if not lead.startswith(_GHOST_HEADER):
        return b""
    return fh.read(int(lead[len(_GHOST_HEADER):]) + len(" bytes\n"))


def _read(fh: BinaryIO, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``; :class:`_Short` when the file ends first."""
    fh.seek(offset)
    data = fh.read(size)
    if len(data) < size:
        raise _Short
    return data


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\0\0\0\0IEND\xaeB`\x82"  # the IEND chunk every complete PNG ends with (length 0, CRC)
_NOT_PNG = "is not a PNG"


def finished_png(path: Path, shown: str, hint: str) -> bool:
    """Whether the file at ``path`` (named ``shown``) beside a scene ``--skip-existing`` skips is
    its complete quick look; False for a file that is no PNG at all (a user's, which is left
    alone and nothing is drawn over). An empty PNG or one that ends before its IEND chunk (a run
    stopped while drawing it) is an :class:`InputError` with ``hint``, saying how to redraw it."""
    problem = _unfinished_png(path)
    if problem == _NOT_PNG:
        return False
    if problem is not None:
        raise InputError(shown, f"exists but {problem}, so it is no finished quick look", hint)
    return True


def _unfinished_png(path: Path) -> str | None:
    """What keeps ``path`` from being a complete PNG, or None; only its first and last bytes are read."""
    if not path.is_file():
        return _NOT_PNG
    try:
        with path.open("rb") as fh:
            head = fh.read(len(PNG_SIGNATURE))
            if not head:
                return "is empty"
            if head != PNG_SIGNATURE:
                return _NOT_PNG
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - len(PNG_END)))
            tail = fh.read()
    except OSError as exc:
        return f"cannot be read ({(exc.strerror or type(exc).__name__).lower()})"
    return None if tail == PNG_END else "is a PNG cut short (it does not end in its IEND chunk)"

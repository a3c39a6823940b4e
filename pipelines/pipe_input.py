"""Named pipes as ``groklst compare``'s inputs (``compare truth.tif <(gunzip -c cand.tif.gz)``).

GDAL blocks on a pipe inside C code, where neither Ctrl-C nor SIGTERM reaches it, and seeks,
which a pipe cannot. ``compare`` opens each input once, so a pipe there is read here instead:
by Python, whose blocking open and reads return to the signal handlers (a pipe nobody writes
to is stopped like any run), into an in-memory file (``/vsimem/``) that GDAL then reads as a
file. What arrives must start as a TIFF, checked on its first bytes so that text or an error
message piped in is refused at once, and must fit in half the machine's memory. Sockets and
devices stay refused by :func:`pipelines.geotiff.open_raster`, as pipes are by every other
command (they read an input more than once).
"""

from __future__ import annotations

import io
import os
import stat
from contextlib import ExitStack
from pathlib import Path

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import MemoryFile

from pipelines.errors import InputError
from pipelines.file_headers import TIFF_HEADERS
from pipelines.geotiff import open_raster
from pipelines.raster_names import gdal_name

CHUNK_BYTES = 1 << 20
PIPE_HINT = "pipe a GeoTIFF (e.g. <(gunzip -c cand.tif.gz)), or save the stream to a file and give that"


def is_pipe(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a local named pipe (``<(...)``'s ``/dev/fd/63``, a piped ``/dev/stdin``,
    an ``mkfifo``), a link to one included; a GDAL name or a missing path is not."""
    if gdal_name(Path(path)) is not None:
        return False
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def memory_limit() -> int:
    """The most bytes a pipe may bring: half the machine's physical memory (compare then reads
    the raster's strips beside it)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def read_pipe(path: str | os.PathLike[str], limit: int) -> MemoryFile:
    """What the pipe at ``path`` brings until its writer closes it, in an in-memory file; an
    :class:`InputError` naming ``path`` when nothing arrives, when it starts as no TIFF, or when
    more than ``limit`` bytes arrive."""
    memory = MemoryFile(filename=Path(path).name)  # GDAL names it in errors, which strip the name
    try:
        with open(path, "rb", buffering=0) as pipe:  # blocks until a writer opens it, interruptibly
            _copy(pipe, memory, path, limit)
    except BaseException:
        memory.close()
        raise
    return memory


def _copy(pipe: io.RawIOBase, memory: MemoryFile, path: str | os.PathLike[str], limit: int) -> None:
    """Copy ``pipe`` into ``memory`` chunk by chunk, checking the first bytes and the size."""
    header = b""
    total = 0
    while chunk := pipe.read(CHUNK_BYTES):
        if len(header) < 4:
            header = (header + chunk)[:4]
            if len(header) == 4 and not header.startswith(TIFF_HEADERS):
                raise InputError(path, f"what arrives through the pipe is no GeoTIFF (it starts with {header!r})",
                                 PIPE_HINT)
        total += len(chunk)
        if total > limit:
            raise InputError(path, f"more than {limit / 2**30:.1f} GiB arrive through the pipe, more than compare "
                                   "holds in memory (half the machine's)", "save the stream to a file and give that")
        memory.write(chunk)
    if len(header) < 4:
        problem = "the pipe closed before anything arrived" if not total else "what arrived through the pipe is no GeoTIFF"
        raise InputError(path, f"{problem} ({total} bytes)", PIPE_HINT)


class Inputs:
    """Opens compare's inputs for reading, each closed with ``stack``: a named pipe read into
    memory first (once per pipe, by device and inode: ``/dev/stdin`` named twice), any other
    input by :func:`pipelines.geotiff.open_raster`."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.piped: dict[tuple[int, int], MemoryFile] = {}

    def open(self, path: Path) -> rasterio.DatasetReader:
        """``path`` opened as a raster; errors name ``path`` as typed."""
        if not is_pipe(path):
            return self.stack.enter_context(open_raster(path))
        status = os.stat(path)
        identity = (status.st_dev, status.st_ino)
        if identity not in self.piped:
            self.piped[identity] = self.stack.enter_context(read_pipe(path, memory_limit()))
        try:
            return self.stack.enter_context(self.piped[identity].open())
        except RasterioIOError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(path, f"what arrived through the pipe is no readable GeoTIFF ({first})",
                             PIPE_HINT) from exc

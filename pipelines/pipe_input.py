"""Named pipes as ``groklst compare``'s inputs (``compare truth.tif <(gunzip -c cand.tif.gz)``).

GDAL blocks on a pipe inside C code, where neither Ctrl-C nor SIGTERM reaches it, and seeks,
which a pipe cannot. ``compare`` opens each input once, so a pipe there is read here instead:
by Python, whose blocking open and reads return to the signal handlers (a pipe nobody writes
to is stopped like any run), into an in-memory file (``/vsimem/``) that GDAL then reads as a
file. What arrives must start as a TIFF, checked on its first bytes so that text or an error
message piped in is refused at once, and must fit in half the memory the process may use (the
least of RAM, its cgroup's limit and ``ulimit -v``, so that a job given 8 GB on a large node is
refused rather than killed). Sockets and devices stay refused by
:func:`pipelines.geotiff.open_raster`, as pipes are by every other command (they read an input
more than once).
"""

from __future__ import annotations

import io
import os
import resource
import stat
from contextlib import ExitStack
from pathlib import Path

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import MemoryFile

from pipelines.errors import InputError
from pipelines.file_headers import TIFF_HEADERS
from pipelines.geotiff import georeferencing_checked_later, open_raster
from pipelines.raster_names import gdal_name

CHUNK_BYTES = 1 << 20
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
SAVE_HINT = "save the stream to a file and give that"
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
    """The most bytes a pipe may bring: half the memory this process may use, the least of the
    physical RAM, its cgroups' limits and its address-space limit (compare then reads the
    raster's strips beside it)."""
    caps = [os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), address_space_limit(),
            *cgroup_limits(CGROUP_ROOT, _read_text(PROC_CGROUP) or "")]
    return min(cap for cap in caps if cap is not None) // 2


def address_space_limit() -> int | None:
    """The soft ``RLIMIT_AS`` (``ulimit -v``, ``prlimit --as``) in bytes; None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def cgroup_limits(root: Path, membership: str) -> list[int]:
    """The memory limits of the cgroups named in ``membership`` (``/proc/self/cgroup``'s text)
    and of their ancestors up to ``root``: v2 ``memory.max``, v1 ``memory/memory.limit_in_bytes``.
    Ancestors count because a parent's limit binds its children, and a container that mounts
    its own cgroup at ``root`` still lists the host's path, which is then missing."""
    limits = []
    for line in membership.splitlines():
        controllers, _, group = line.partition(":")[2].partition(":")
        if not controllers:
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        folder = base / group.strip().lstrip("/")
        for level in (folder, *folder.parents):
            limit = _parse_limit(_read_text(level / name))
            if limit is not None:
                limits.append(limit)
            if level == base:
                break
    return limits


def _parse_limit(text: str | None) -> int | None:
    """A cgroup memory limit file's bytes; None for a missing file, ``max`` (none) or junk."""
    try:
        return int(text) if text is not None and text.strip() != "max" else None
    except ValueError:
        return None


def _read_text(path: Path) -> str | None:
    """``path``'s text, or None where it cannot be read (no such cgroup, no permission)."""
    try:
        return path.read_text()
    except (OSError, UnicodeError):
        return None


def read_pipe(path: str | os.PathLike[str], limit: int) -> MemoryFile:
    """What the pipe at ``path`` brings until its writer closes it, in an in-memory file; an
    :class:`InputError` naming ``path`` when nothing arrives, when it starts as no TIFF, when
    more than ``limit`` bytes arrive, or when memory runs out first."""
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
                                   "holds in memory (half the least of RAM, cgroup limit and ulimit -v)", SAVE_HINT)
        if memory.write(chunk) < len(chunk):  # GDAL's in-memory file returns short, raising nothing
            raise InputError(path, f"ran out of memory after {total / 2**30:.1f} GiB read from the pipe", SAVE_HINT)
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
            with georeferencing_checked_later():
                return self.stack.enter_context(self.piped[identity].open())
        except RasterioIOError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(path, f"what arrived through the pipe is no readable GeoTIFF ({first})",
                             PIPE_HINT) from exc

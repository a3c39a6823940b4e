"""Atomic outputs: write under a temporary name beside the target, rename when complete.

A killed or failed run never leaves a truncated file under the final name (nor does a crash or
power loss: a file's data is synced to the disk before the rename), and an existing
output is only replaced when the caller says so, and only when it is what groklst makes:
a file output replaces a file (never a directory), a dataset replaces a groklst dataset (or an
empty folder) whose entries that are not groklst's it can move into the new one, and no
output may be one of the run's inputs. Temporary names are
``.NAME.XXXXXXXX.partial`` (and files GDAL makes beside them, ``...partial.cog``); those a
killed run left behind are removed by the next run of the same output (or by a
``--skip-existing`` run that skips it, which also removes its ``--align`` guidance copies)
once they are older than :data:`STALE_AFTER_S`, younger ones are reported. A run holds a
lock on its temporary's name for as long as it is its own (:func:`_lock`), so one that
another run holds locked is that run's at work, whatever its age, and is neither reported
nor removed; the empty write probes (``.groklst-write-test.XXXXXXXX.partial``) a run
killed at the wrong instant left are removed a day later too. Only the exact names groklst
writes are removed, and only as the kind of entry it writes (a folder only as a dataset's
partial), so a user's file or folder that merely looks alike is never touched. A name too
long to leave room for the temporary names beside it is refused before any work, and so is a
raster output beside which GDAL's sidecars of its name lie (``NAME.msk``, ``NAME.aux.xml``),
which GDAL would apply to the new file. A new
output's permissions follow the umask; a replaced one keeps the permission bits and group of
what it replaces (the group's bits only with the group: a group the user is not in is never
granted them).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import struct
import sys
import time
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from enum import Enum
from functools import partial
from pathlib import Path

from pipelines.errors import (GroklstWarning, InputError, environment_error, environment_hint, loop_error,
                             unmistakable_path, unreachable_error)
from pipelines.file_headers import refuse_foreign_output

STALE_AFTER_S = 24 * 3600
# Bytes the longest temporary name adds to an output's: the aligned guidance's partial,
# "..NAME.XXXXXXXX.aligned-guidance.tif.XXXXXXXX.partial" (pipelines.scene_align).
TEMPORARY_NAME_BYTES = 49
DATASET_FORMAT = "groklst-dataset/1"  # the marker in a prepared dataset's info.json
DATASET_INFO = "info.json"
_LEGACY_DATASET_ENTRIES = ("data.zarr", "stats.json", DATASET_INFO, "splits")

# Called with the output right before a complete one is renamed into place, in this thread's
# context (the CLI holds Ctrl-C from there until the output's result line is written).
before_publish: ContextVar[Callable[[Path], None] | None] = ContextVar("before_publish", default=None)
# Inside published_together: each complete output waiting to be renamed into place, in order, as
# (rename it into place, remove what is left of it, its held folder).
_held_back: ContextVar[list[tuple[Callable[[], None], Callable[[], None], int | None]] | None] = ContextVar(
    "_held_back", default=None)
# The folders check_writable made in this process, by absolute path, with the (device, inode) each
# had then: another process's folder made later under the name differs (remove_if_empty).
_made_folders: dict[Path, tuple[int, int]] = {}


class OutputExists(InputError):
    """The output exists and ``--overwrite`` was not given (with ``--skip-existing``, an output
    another run finished after the first look: the scene is skipped)."""


class OutputAppeared(OutputExists):
    """Another process wrote the output while this run was writing it (it is kept)."""


class OutputKind(str, Enum):
    """What an output is, which decides what ``--overwrite`` may replace."""

    file = "file"
    dataset = "dataset"


def is_groklst_dataset(path: Path) -> bool:
    """Whether ``path`` is a dataset written by ``groklst prepare`` (its info.json says so).

    Datasets written before the marker existed are recognised by their complete layout.
    """
    info = path / DATASET_INFO
    if not path.is_dir() or path.is_symlink() or not info.is_file():
        return False
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or not data:  # damaged (QA: "{}" passed as a legacy dataset)
        return False
    if data.get("format") == DATASET_FORMAT:
        return True
    return all((path / name).exists() for name in _LEGACY_DATASET_ENTRIES)


def _damaged_info(path: Path) -> bool:
    """Whether ``path`` is a file that does not hold a JSON object with something in it."""
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return True
    return not isinstance(data, dict) or not data


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (after resolving links)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return resolved(pa) == resolved(pb)


def resolved(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute with its links followed (:meth:`Path.resolve`); a symbolic link
    on the way that leads back to itself is the user's :class:`InputError`, not a RuntimeError."""
    p = Path(path)
    try:
        return p.resolve()
    except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError for a loop
        raise loop_error(p) from exc


def _check_parent(target: Path) -> None:
    """Create the output's folder if needed; refuse when an ancestor is a file or a link that
    loops (which ``exists()`` calls missing, as it does a broken link)."""
    unreachable = unreachable_error(target)
    if unreachable is not None:
        raise unreachable
    parent = target.parent
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        if ancestor.is_symlink():  # exists() follows links: this one leads nowhere
            raise InputError(target, f"cannot write here: {ancestor} is a broken symbolic link (to "
                             f"{os.readlink(ancestor)})", "fix or remove the link, or choose another folder")
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise InputError(target, f"cannot write here: {ancestor} is a file, not a folder",
                         "choose an output in a folder")
    _make_folder(parent)
    _probe_writable(parent)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its missing ancestors, recording the identity of each one made, so that
    :func:`remove_if_empty` removes these and not another process's made later in their place."""
    missing = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_error(exc, folder) or exc from exc
    for path in missing:
        identity = _own_identity(path)
        if identity is not None:
            _made_folders[Path(os.path.abspath(path))] = identity


def _probe_writable(folder: Path) -> None:
    """Create and remove an empty file in ``folder``, so that a forbidden or read-only folder is
    refused before any work, not after a long fit (permission bits do not tell: root, ACLs,
    immutable folders, read-only mounts)."""
    probe = folder / f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}.partial"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise InputError(folder, f"cannot write in this folder ({exc.strerror or exc})",
                         environment_hint(exc.errno)) from exc
    finally:  # also when a signal's exception lands right after the open (QA: 2 in 100 SIGTERMs)
        with suppress(OSError):  # never created (refused), or already gone
            probe.unlink()


def missing_folders(folder: str | os.PathLike[str]) -> list[Path]:
    """``folder`` and those of its ancestors that do not exist yet, deepest first: what a run
    that writes into ``folder`` creates, and so may remove again (:func:`remove_if_empty`)."""
    created = []
    for path in (Path(folder), *Path(folder).parents):
        if path.exists() or path.is_symlink():
            break
        created.append(path)
    return created


def remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove the folders of :func:`missing_folders` that a run left empty (``rmdir`` only,
    deepest first, stopping at the first that holds anything): a run that wrote nothing leaves
    the file system as it found it. A folder :func:`check_writable` made is removed only while
    it is still that folder: an empty one another process made under its name (the run's was
    replaced meanwhile) is that process's."""
    for path in folders:
        key = Path(os.path.abspath(path))
        made = _made_folders.get(key)
        if made is not None and _own_identity(path) != made:
            break
        try:
            path.rmdir()
        except OSError:
            break
        _made_folders.pop(key, None)


def _own_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of ``path`` itself (a link is not followed); None if there is none."""
    try:
        info = path.lstat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


@contextmanager
def folders_removed_if_left_empty(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block; then remove what of ``folder`` it created and left empty."""
    created = missing_folders(folder)
    try:
        yield
    finally:
        remove_if_empty(created)


# errnos that only writing raises: reported against the output even when the error names no file
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _output_error(exc: OSError, tmp: Path, target: Path) -> InputError | None:
    """An OSError from writing ``tmp`` as a one-line error naming ``target`` (None if not one)."""
    named = exc.filename is not None and Path(os.fsdecode(exc.filename)).is_relative_to(tmp)
    if not (named or (exc.filename is None and exc.errno in _WRITE_ERRNOS)):
        return None
    return InputError(target, f"writing failed ({exc.strerror or exc})", environment_hint(exc.errno))


def check_writable(
    path: str | os.PathLike[str],
    overwrite: bool,
    *,
    kind: OutputKind = OutputKind.file,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Fail early (before any work) if ``path`` may not be written; create its folder."""
    target = Path(path)
    refuse_input_as_output(target, inputs)
    _check_name_length(target)  # first: a longer name than the folder takes fails every look beside it
    if target.exists() or target.is_symlink():
        _check_replaceable(target, overwrite, kind)
    if kind is OutputKind.file:
        _refuse_stale_sidecars(target)
    _check_parent(target)
    return target


# Outputs GDAL never opens (checkpoints, a training run's records): no sidecar of theirs applies.
_NOT_RASTERS = frozenset({".pt", ".pth", ".json", ".jsonl"})


def _refuse_stale_sidecars(target: Path) -> None:
    """Refuse an output beside which GDAL's sidecars of its name already lie: GDAL (so rasterio,
    QGIS and groklst's own later reads) applies them to the new file, a stale mask masking valid
    pixels, stale overviews showing the old pixels zoomed out and a stale ``.aux.xml`` its CRS,
    grid, nodata, scale, offset, units or statistics (:func:`_pam_refusal` says which). They
    are another tool's or an old file's, not groklst's to delete, even with ``--overwrite``.
    The errors name the output as given (``out/a.tif``), not by its bare name."""
    if target.suffix.lower() in _NOT_RASTERS or _OWN_PARTIAL.fullmatch(target.name):
        return  # a staged scene's temporary: its output's sidecars were looked for
    output = unmistakable_path(target)
    masks, overviews = _sidecars(target)
    if masks:
        raise InputError(masks[0], f"a GDAL mask file of the output {output} lies here; GDAL (and rasterio, "
                         "QGIS) would apply it to the new file as its mask", _SIDECAR_HINT)
    if overviews:
        raise InputError(overviews[0], f"a GDAL overview file of the output {output} lies here (QGIS 'Build "
                         "pyramids', gdaladdo -ro, ArcGIS); GDAL (and rasterio, QGIS) would show its old pixels "
                         "wherever the new file is read zoomed out", _SIDECAR_HINT)
    pam = target.with_name(f"{target.name}.aux.xml")
    if pam.exists() or pam.is_symlink():
        raise _pam_refusal(pam, output)


_SIDECAR_HINT = "remove or rename it yourself, or name another output; groklst deletes no file it did not make"
_SAFE_HINT = ("it is safe to delete{why}: remove it yourself, or name another output; groklst deletes no file "
              "it did not make")
_STATISTICS = "band statistics"
# What a .aux.xml holds, by element, in the words of its refusal and in their order; another
# element is named by its tag (ColorTable). A band's Description is none: GDAL copies the band's
# name into every .aux.xml it writes (gdalinfo -stats too), and it names nothing it would change.
_PAM_WORDS = {"SRS": "CRS", "GeoTransform": "geotransform", "NoDataValue": "nodata", "Scale": "scale",
              "Offset": "offset", "UnitType": "units", "Metadata": "metadata", "Histograms": _STATISTICS}
_PAM_ORDER = tuple(dict.fromkeys(_PAM_WORDS.values()))
_PAM_MAX_BYTES = 1 << 20  # statistics and histograms take a few kB: a larger one gets the general message


def _pam_refusal(pam: Path, output: str) -> InputError:
    """The refusal of the stale ``.aux.xml`` ``pam`` of ``output``, saying what it holds: the
    common one (QGIS or ``gdalinfo -stats`` opened an old output) holds only band statistics,
    which GDAL recomputes, so deleting it is safe; one that cannot be read gets the general
    message."""
    where = f"a GDAL metadata file of the output {output} lies here"
    items = _pam_items(pam)
    if items is None:
        return InputError(pam, f"{where}; GDAL (and rasterio, QGIS) would apply its CRS, grid, nodata, scale, "
                          "offset and units to the new file", _SIDECAR_HINT)
    if not items:
        return InputError(pam, f"{where} holding nothing GDAL would apply", _SAFE_HINT.format(why=""))
    if items == [_STATISTICS]:
        return InputError(pam, f"{where} holding only band statistics (QGIS or gdalinfo -stats left it); GDAL "
                          "would show the old file's min/max/mean for the new one",
                          _SAFE_HINT.format(why=", as GDAL recomputes statistics"))
    listed = ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else items[0]
    them = "them" if len(items) > 1 else "it"
    return InputError(pam, f"{where} holding {listed}; GDAL (and rasterio, QGIS) would apply {them} to the new file",
                      _SIDECAR_HINT)


def _pam_items(pam: Path) -> list[str] | None:
    """What the GDAL ``.aux.xml`` ``pam`` holds, in the words of :data:`_PAM_WORDS` and their
    order (its dataset's and its bands' items together); None if it is no regular file, larger
    than :data:`_PAM_MAX_BYTES`, unreadable or not a ``PAMDataset``."""
    root = _read_pam(pam)
    if root is None:
        return None
    found: set[str] = set()
    for element in (root, *root.findall("PAMRasterBand")):
        for child in element:
            if child.tag == "Metadata":
                found |= _metadata_words(child)
            elif child.tag not in ("PAMRasterBand", "Description"):
                found.add(_PAM_WORDS.get(child.tag, child.tag))
    return [word for word in _PAM_ORDER if word in found] + sorted(found.difference(_PAM_ORDER))


def _metadata_words(metadata: ET.Element) -> set[str]:
    """A PAM ``Metadata`` element's items: band statistics (``STATISTICS_*`` keys of the default
    domain, which GDAL writes on computing them), metadata (any other item), or none if empty."""
    keys = [item.get("key", "") for item in metadata.iter("MDI")]
    if not keys:
        return {"metadata"} if len(metadata) or (metadata.text or "").strip() else set()
    default = metadata.get("domain", "") == ""
    return {_STATISTICS if default and key.startswith("STATISTICS_") else "metadata" for key in keys}


def _read_pam(pam: Path) -> ET.Element | None:
    """The root of ``pam`` if it is a regular file of at most :data:`_PAM_MAX_BYTES` holding a
    ``PAMDataset``, else None. Opened without blocking, so that a named pipe is not waited on."""
    try:
        fd = os.open(pam, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:  # a folder opens too, and only os.read tells; fdopen would refuse it outside this try
        data = _read_at_most(fd, _PAM_MAX_BYTES + 1) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        root = ET.fromstring(data) if 0 < len(data) <= _PAM_MAX_BYTES else None
    except ET.ParseError:
        return None
    return root if root is not None and root.tag == "PAMDataset" else None


def _read_at_most(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes of open file ``fd``, fewer only at its end."""
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(fd, size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _sidecars(target: Path) -> tuple[list[Path], list[Path]]:
    """The files beside ``target`` that GDAL reads as its external mask (``NAME.msk``) and its
    external overviews (``NAME.ovr``, or an ERDAS ``.aux``, :func:`_erdas_overviews`). GDAL matches
    the folder's listing case-insensitively; listing a folder of 100,000 outputs for every scene
    is what the stale-file cleanup was made to avoid (one listing per output), so the spellings
    found in practice are looked up instead: the name as written, in capitals and in lower case,
    with ``.msk``/``.MSK`` and ``.ovr``/``.OVR`` (a mixed ``Out.tif.Msk`` is not)."""
    spellings = {target.with_name(f"{name}{ext}") for name in (target.name, target.name.upper(), target.name.lower())
                 for ext in (".msk", ".MSK", ".ovr", ".OVR")}
    found = sorted(path for path in spellings if os.path.lexists(path))
    masks = [p for p in found if p.suffix.lower() == ".msk"]
    return masks, [p for p in found if p.suffix.lower() == ".ovr"] + _erdas_overviews(target)


_HFA_MAGIC = b"EHFA_HEADER_TAG"


def _erdas_overviews(target: Path) -> list[Path]:
    """The ERDAS ``.aux`` files GDAL would attach to ``target`` as its overviews (ArcGIS,
    ``gdaladdo --config USE_RRD YES``): ``NAME.aux`` or ``STEM.aux`` (``.AUX`` too) that is an
    HFA file depending on ``target`` (its name in any letter case) or on a file that is not there
    (GDAL then takes it as ``target``'s). Another existing file's ``.aux`` (``out.aux`` of
    ``out.tif`` beside ``out.png``) or a text note is none."""
    names = {f"{target.name}.aux", f"{target.name}.AUX"}
    if target.suffix:
        names |= {f"{target.stem}.aux", f"{target.stem}.AUX"}
    found = []
    for name in sorted(names):
        path = target.with_name(name)
        try:
            with path.open("rb") as fh:
                head = fh.read(65536)
        except OSError:
            continue
        if head.startswith(_HFA_MAGIC) and not _depends_on_another(head, target):
            found.append(path)
    return found


_FILE_NAME = re.compile(rb"([^\x00-\x1f\s{}:,;/\\]{1,250}\.[A-Za-z0-9]{1,5})\x00")


def _depends_on_another(head: bytes, target: Path) -> bool:
    """Whether the HFA ``head`` names, as the file it depends on, an existing file beside
    ``target`` other than ``target`` itself (GDAL then leaves the .aux to that file)."""
    named = {m.decode("ascii", "replace") for m in _FILE_NAME.findall(head)}
    if any(n.lower() == target.name.lower() for n in named):
        return False
    return any(target.with_name(n).is_file() for n in named)


def refuse_input_as_output(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Refuse an output that is one of ``inputs`` (links and spellings resolved): said before
    anything else about the file there, which is the input's, not a stale output."""
    for source in inputs:
        if source is not None and same_path(path, source):
            raise InputError(path, "the output is one of the inputs; it would be overwritten",
                             "write the output under another name")


def _check_name_length(target: Path) -> None:
    """Refuse a name that leaves no room for the temporary names written beside it (the run
    would fail at the end, naming a file the user never asked for). groklst's own hidden files
    (the aligned guidance) were sized by the check on the output they belong to. Checked before
    the output's folder is made, so the limit is that of its nearest existing folder."""
    if target.name.startswith("."):
        return
    try:
        limit = os.pathconf(_nearest_folder(target.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        return
    size = len(os.fsencode(target.name))
    if size + TEMPORARY_NAME_BYTES > limit:
        raise InputError(target, f"the name is {size} bytes; with groklst's temporary names beside it "
                         f"(up to {TEMPORARY_NAME_BYTES} more) it would pass this folder's limit of {limit}",
                         f"use a name of at most {limit - TEMPORARY_NAME_BYTES} bytes")


def _nearest_folder(folder: Path) -> Path:
    """``folder``, or its nearest ancestor that exists (the one the output's folder will be made
    in); ``os.path.isdir`` is False, not an error, for a name too long or a looping link."""
    while not os.path.isdir(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _refuse_sticky(target: Path) -> None:
    """Refuse, before any work, to replace another user's ``target`` in a sticky folder (``/tmp``,
    a shared scratch): the kernel refuses the final rename there (EPERM), which came after all
    the work and named the temporary file."""
    folder, entry = os.stat(target.parent), os.lstat(target)
    user = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and user not in (0, entry.st_uid, folder.st_uid):
        raise InputError(target, f"belongs to another user (uid {entry.st_uid}) in a sticky folder, so it cannot be "
                                 "replaced, even with --overwrite", "name another output, or ask its owner to remove it")


def _check_replaceable(target: Path, overwrite: bool, kind: OutputKind) -> None:
    is_dir = target.is_dir() and not target.is_symlink()
    if kind is OutputKind.file:
        if is_dir:
            raise InputError(target, "is a folder; an output file never replaces a folder",
                             "name a file, e.g. FOLDER/NAME.tif, or use --out-dir FOLDER")
        if target.is_symlink() and not target.exists() and not overwrite:
            raise _dangling(target)
        if not target.is_symlink() and not target.is_file():  # renaming over it would remove the node
            raise InputError(target, "is a device, pipe or socket, not a regular file; an output never "
                             "replaces one", "name a regular file (to discard the output, write it to a "
                             "temporary folder)")
        refuse_foreign_output(target)  # a user's file under an output's name: not even with --overwrite
    elif target.is_symlink():
        raise InputError(target, f"is a symbolic link (to {os.readlink(target)}); a dataset never replaces a link "
                         "or writes through one", "name the folder itself, or choose another output folder")
    elif not is_dir:
        raise InputError(target, "exists and is not a folder; a dataset never replaces a file",
                         "choose another output folder")
    elif not any(target.iterdir()):
        return  # an empty folder: nothing to lose
    elif not is_groklst_dataset(target):
        if _damaged_info(target / DATASET_INFO):  # perhaps a damaged dataset: still not ours to delete
            raise InputError(target, f"exists and its {DATASET_INFO} cannot be read (damaged?), so it is not "
                             "known to be a groklst dataset; it is never replaced",
                             "if it is a damaged groklst dataset, delete it yourself; else choose a new or "
                             "empty output folder")
        raise InputError(target, "exists and is not a groklst dataset; it is never replaced",
                         "choose a new or empty output folder")
    if not overwrite:
        raise OutputExists(target, "output already exists", "pass --overwrite to replace it")
    _refuse_sticky(target)
    if kind is OutputKind.dataset:
        _refuse_stranded_entries(target)


def _dangling(target: Path) -> InputError:
    """The refusal of a file output named by a symbolic link that leads nowhere: it is no
    output to keep, and ``--overwrite`` replaces the link itself (as any link output: an output
    is never written through a link to its target)."""
    return InputError(target, f"is a dangling symbolic link to {os.readlink(target)}; nothing is written "
                      "through it", "remove the link, or pass --overwrite to replace the link itself with the "
                      "output (its target is not created)")


def _refuse_stranded_entries(target: Path) -> None:
    """Refuse a dataset whose entries that are not groklst's (a user's notes, training runs)
    ``--overwrite`` could not move into the new dataset: said before any work, as the swap
    would otherwise leave them in the hidden ``.NAME.XXXXXXXX.old`` copy. Moving an entry out
    takes writing in the old folder (its owner's chmod gives that), and moving a folder into
    another takes writing in that folder itself (its ".." changes); a user's entry is never
    chmod-ed."""
    kept = sorted(p for p in target.iterdir() if p.name not in _LEGACY_DATASET_ENTRIES)
    if not kept:
        return
    if not (_owned(target) or _may(target, os.W_OK | os.X_OK)):
        raise InputError(target, "the dataset folder is another user's and you cannot write in it, so "
                         f"--overwrite cannot move what is not groklst's in it ({', '.join(p.name for p in kept)}) "
                         "into the new dataset", "have its owner make it writable for you, or choose a new "
                         "output folder")
    for entry in kept:
        if entry.is_dir() and not entry.is_symlink() and not _may(entry, os.W_OK):
            raise _stranded_folder(entry)


def _stranded_folder(entry: Path) -> InputError:
    """The refusal of a folder inside a dataset that the caller may not write, so not move."""
    if _owned(entry):
        chmod = f"chmod u+w {shlex.quote(unmistakable_path(entry))}"
        return InputError(entry, "a folder of yours inside the dataset is read-only, so --overwrite cannot "
                          "carry it into the new dataset", f"{chmod}, or choose a new output folder")
    return InputError(entry, "a folder inside the dataset is another user's and you cannot write in it, so "
                      "--overwrite cannot carry it into the new dataset",
                      "have its owner make it writable for you, or choose a new output folder")


def _owned(path: Path) -> bool:
    """Whether this process owns ``path`` (and so may chmod it)."""
    return path.lstat().st_uid == os.geteuid()


def _may(path: Path, mode: int) -> bool:
    """Whether this process has the ``mode`` access to ``path`` (root, ACLs and immutable
    folders included, which the permission bits do not tell)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


_HEX = "[0-9a-f]{8}"  # atomic_output's part of a temporary name
# A file output's temporaries: atomic_output's partial, or a dask task's partial of a scene's
# partial (pipelines.scenes), each with GDAL's COG copy beside it and the COG's overviews.
_PARTIAL_FILE = (r"(?:\.{name}\.{hex}\.partial|\.\.{name}\.{hex}\.partial\.{hex}\.partial)"
                 r"(?:\.cog(?:\.ovr\.tmp)?)?")
_PARTIAL_DATASET = r"\.{name}\.{hex}\.partial"  # a dataset's partial: a folder
# atomic_output's own temporary name: an output under it (a scene staged by pipelines.scenes) is
# new, so the only partials beside it are a killed run's, which _PARTIAL_FILE finds for the output.
_OWN_PARTIAL = re.compile(rf"\..+\.{_HEX}\.partial")
PROBE_PREFIX = ".groklst-write-test."  # + 8 hex digits + ".partial": _probe_writable's empty file
_PROBE = re.compile(re.escape(PROBE_PREFIX) + _HEX + r"\.partial")
# A kind of temporary: its names, and the test of its lstat mode (a regular file, or a folder).
_Kind = tuple[re.Pattern[str], Callable[[int], bool]]


def stale_partials(target: Path, *, kind: OutputKind = OutputKind.file,
                   now: float | None = None) -> tuple[list[Path], list[Path]]:
    """Temporary outputs of ``target`` left by killed runs: (older than a day, younger).

    Only what groklst writes for a ``kind`` output counts: files for a file, the partial
    folder for a dataset."""
    return _temporaries(target.parent, [_partials(target, kind)], now)


def _partials(target: Path, kind: OutputKind) -> _Kind:
    """The names of ``target``'s temporaries and the kind of entry they are."""
    dataset = kind is OutputKind.dataset
    pattern = (_PARTIAL_DATASET if dataset else _PARTIAL_FILE).format(name=re.escape(target.name), hex=_HEX)
    return re.compile(pattern), stat.S_ISDIR if dataset else stat.S_ISREG


MKSTEMP_RANDOM = "[a-z0-9_]{8}"  # what tempfile.mkstemp/mkdtemp put between prefix and suffix
ALIGNED_SUFFIX = ".aligned-guidance.tif"  # downscale --align's copy of the guidance (pipelines.scene_align)


def aligned_copies(target: Path) -> re.Pattern[str]:
    """The names of ``target``'s aligned guidance copies (``.NAME.XXXXXXXX.aligned-guidance.tif``,
    mkstemp's 8 characters) and of a copy's own partial (atomic_output's temporary beside it):
    full-size temporaries a killed ``--align`` run of ``target`` leaves."""
    copy = re.escape(f".{target.name}.") + MKSTEMP_RANDOM + re.escape(ALIGNED_SUFFIX)
    return re.compile(rf"{copy}|\.{copy}\.{_HEX}\.partial")


INGEST_PREFIX = ".groklst-ingest."  # + tempfile.mkdtemp's 8 characters
_INGEST = re.compile(re.escape(INGEST_PREFIX) + MKSTEMP_RANDOM)


def remove_stale_ingests(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove the hidden folders that ``downscale`` and ``prepare`` ingest product folders into
    and that killed runs left in ``folder`` more than a day ago; younger ones may belong to a
    run still going."""
    return remove_stale(folder, _INGEST, folders=True, now=now)


def remove_stale(folder: Path, pattern: re.Pattern[str], *, folders: bool = False,
                 now: float | None = None) -> list[Path]:
    """Remove the regular files of ``folder`` (its folders, with ``folders``) named by
    ``pattern`` (temporaries only groklst names so) that are older than
    :data:`STALE_AFTER_S`, and return those removed; younger ones are kept, and so are those
    a live run holds (:func:`held_while_in_use`: a run longer than a day still uses its copy)
    and those that cannot be removed (:func:`_removed`)."""
    old, _ = _temporaries(folder, [(pattern, stat.S_ISDIR if folders else stat.S_ISREG)], now)
    return [path for path in old if not _live(path) and _removed(path)]


@contextmanager
def held_while_in_use(path: Path) -> Iterator[None]:
    """Lock ``path`` (a hidden temporary file groklst made, such as an aligned guidance copy) as
    :func:`atomic_output` locks its temporary, until the block ends: :func:`remove_stale` of
    another run leaves it alone however old it is, and a killed run's lock goes with it."""
    folder = _hold(path.parent)
    try:
        _lock(folder, path)
        yield
    finally:
        if folder is not None:
            os.close(folder)


def _temporaries(folder: Path, kinds: list[_Kind], now: float | None) -> tuple[list[Path], list[Path]]:
    """Entries of ``folder`` named by one of ``kinds``' patterns and of its kind: (older than a
    day, younger). One pass over the folder that tests each name before making a Path or a
    stat of it (QA: a --out-dir of 100,000 files took 1.24 s a scene, listed as Paths)."""
    now = time.time() if now is None else now
    any_name = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in kinds))
    old, young = [], []
    for entry in _matching(folder, any_name):
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:  # removed meanwhile
            continue
        if any(pattern.fullmatch(entry.name) and wanted(info.st_mode) for pattern, wanted in kinds):
            (old if now - info.st_mtime > STALE_AFTER_S else young).append(Path(entry.path))
    return sorted(old), sorted(young)


def _matching(folder: Path, pattern: re.Pattern[str]) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` whose whole name ``pattern`` matches (none if it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if pattern.fullmatch(entry.name)]
    except OSError:
        return []


def _stale(target: Path, kind: OutputKind, extra: tuple[_Kind, ...] = ()) -> tuple[list[Path], list[Path]]:
    """``target``'s temporaries (and the ``extra`` kinds) and the write probes beside it that
    killed runs left: (older than a day, younger temporaries). A temporary another process holds
    locked is that run's at work (:func:`_live`), whatever its age; a young probe may be one too,
    never reported."""
    old, young = _temporaries(target.parent, [_partials(target, kind), (_PROBE, stat.S_ISREG), *extra], None)
    return ([path for path in old if _PROBE.fullmatch(path.name) or not _live(path)],
            [path for path in young if not _PROBE.fullmatch(path.name) and not _live(path)])


# A run's lock on its temporary: one byte of the output's folder, at an offset hashed from the
# temporary's whole name (:func:`_key`), read-locked as an open file description lock (Linux),
# which is the descriptor's, not the process's: closing another descriptor of the folder keeps it,
# and another atomic_output of this process sees it (a classic POSIX lock would be neither).
# Nothing is made for it: the callers make the temporary (a dataset's folder too), and GDAL's
# --cog conversion replaces it.
_OFD_LOCKS = hasattr(fcntl, "F_OFD_SETLK")
_FLOCK = struct.Struct("hhqqi4x")  # Linux's struct flock: type, whence, start, length, pid
# GDAL's files beside a temporary, named as the temporary with these suffixes
_GDAL_SUFFIX = re.compile(r"(?<=\.partial)\.cog(?:\.ovr\.tmp)?$")
_KEY_MASK = (1 << 62) - 1  # a lock offset well inside off_t, whatever the byte's length adds


def _lock(folder: int | None, tmp: Path) -> None:
    """Lock ``tmp``'s name in the folder held open as ``folder`` until that is closed (the run
    ends or is killed, ``kill -9`` included); where the platform or file system has no such
    locks, nothing is locked and other runs report the temporary as they did before the lock."""
    if folder is None or not _OFD_LOCKS:
        return
    with suppress(OSError):
        fcntl.fcntl(folder, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_RDLCK, os.SEEK_SET, _key(tmp.name), 1, 0))


def _key(name: str) -> int:
    """The byte a temporary named ``name`` (or GDAL's file beside it) is locked at: a hash of
    its whole name, not its 8 hex digits, which temporaries of other outputs in the folder share
    1 time in 2**32 (then a killed run's was hidden as the live one's, never reported nor removed)."""
    digest = hashlib.blake2b(os.fsencode(_GDAL_SUFFIX.sub("", name)), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _KEY_MASK


def _live(path: Path) -> bool:
    """Whether another open descriptor holds the lock of :func:`_lock` on the temporary ``path``
    (or the one GDAL's ``path`` lies beside): a run is writing it. A killed run's lock went with
    it, so its temporary is told from a live one at once, however recently it was written to,
    and a live one however long ago (a dataset folder's time does not change while its
    data.zarr is written, nor a file's while ``--cog`` converts it)."""
    if not _OFD_LOCKS:
        return False
    try:
        fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return False
    try:
        held = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _key(path.name), 1, 0))
    except OSError:  # a file system without locks: nothing tells, reported as before the lock
        return False
    finally:
        os.close(fd)
    return _FLOCK.unpack(held)[0] != fcntl.F_UNLCK


def remove_stale_partials(target: Path, kind: OutputKind = OutputKind.file) -> None:
    """Remove what :func:`atomic_output` of ``target`` removes before writing (killed runs'
    temporaries older than a day), for an output that is not written: a scene
    ``--skip-existing`` skips, whose leftovers would else stay forever; with them its aligned
    guidance copies (:func:`aligned_copies`), which an ``--align`` run writing it would remove.
    Younger ones are not reported (the run skips the output), and one that cannot be removed (a
    read-only folder) is left as it is."""
    for path in _stale(target, kind, ((aligned_copies(target), stat.S_ISREG),))[0]:
        _removed(path)


def _clean_stale(target: Path, kind: OutputKind) -> None:
    """Remove the killed runs' temporaries of ``target`` older than a day, and warn of younger
    ones; an old one that cannot be removed (another user's in a sticky folder such as /tmp) is
    warned of with them, not let fail the run (every run into that folder failed)."""
    old, young = _stale(target, kind)
    kept = [path for path in old if not _removed(path)]
    if young:
        warnings.warn(
            f"{target}: {len(young)} unfinished temporary output(s) of a run that was killed "
            f"({', '.join(p.name for p in young)}); they may be deleted if no other "
            "groklst run is writing there, else they are removed automatically after a day",
            GroklstWarning, stacklevel=4,
        )
    if kept:
        warnings.warn(
            f"{target}: {len(kept)} unfinished temporary output(s) of a run killed over a day ago could not be "
            f"removed ({', '.join(p.name for p in kept)}; another user's in a sticky folder?); this warning "
            f"repeats on every run until their owner removes them: {_removal_command(kept)}",
            GroklstWarning, stacklevel=4)


def _removal_command(paths: list[Path]) -> str:
    """The shell command that removes the killed runs' temporaries ``paths``, quoted to paste and
    with absolute paths, so that their owner can run it from any folder; ``rm -rf`` where one is
    a folder (a dataset's partial), which ``rm -f`` refuses."""
    folders = any(path.is_dir() and not path.is_symlink() for path in paths)
    return ("rm -rf -- " if folders else "rm -f -- ") + " ".join(shlex.quote(os.path.abspath(path)) for path in paths)


def _removed(path: Path) -> bool:
    """:func:`_remove` of a killed run's temporary, False where it is still there (a sticky
    folder's file or folder of another user: EPERM, which removing a folder does not raise): a
    courtesy clean-up never fails a run, nor counts as removed what it could not remove."""
    try:
        _remove(path)
    except OSError:
        return False
    return not os.path.lexists(path)


def _remove(path: Path) -> None:
    """Remove a temporary output of ours (a file, or a folder we created)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _publish_file(tmp: Path, target: Path, overwrite: bool, folder: int | None = None) -> None:
    """Rename the complete file ``tmp`` onto ``target``, its data on the disk first and the new
    name after: a crash or power loss right after the rename would else leave a 0-byte or cut
    short file under the final name, which ``--skip-existing`` reruns would keep."""
    try:
        _sync_file(tmp, folder)
    except OSError as exc:  # the disk did not keep the data (EIO): nothing is published
        raise InputError(target, f"writing failed ({exc.strerror or exc})",
                         environment_hint(exc.errno) or "check the disk, then run again") from exc
    _link_or_replace(tmp, target, overwrite, folder)
    _sync_folder(target.parent if folder is None else folder)


def _link_or_replace(tmp: Path, target: Path, overwrite: bool, folder: int | None = None) -> None:
    """Put ``tmp`` under ``target``'s name (in the folder held open as ``folder``); without
    ``overwrite`` never over another file."""
    if overwrite:
        _keep_permissions(tmp, target)
        _rename(tmp, target, folder)
        return
    try:
        _rename(tmp, target, folder, os.link)  # fails if the target appeared meanwhile: never clobber
    except FileExistsError as exc:
        raise _appeared(target) from exc
    except OSError:
        if target.exists():
            raise _appeared(target) from None
        _rename(tmp, target, folder)  # a file system without hard links


def _sync_file(path: Path, folder: int | None = None) -> None:
    """Write ``path``'s data through to the disk (by name in the folder open as ``folder``)."""
    fd = os.open(path, os.O_RDONLY) if folder is None else os.open(path.name, os.O_RDONLY, dir_fd=folder)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path | int) -> None:
    """Write ``folder``'s entries (a rename in it) through to the disk where the platform allows:
    a folder cannot be opened on Windows, and some file systems refuse to sync one. ``folder``
    may be a descriptor already open on it."""
    if isinstance(folder, int):
        with suppress(OSError):
            os.fsync(folder)
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _appeared(target: Path) -> OutputAppeared:
    """The refusal of a file output another process wrote while this run was writing it."""
    return OutputAppeared(target, "output appeared while groklst was writing it; kept as it is",
                          "pass --overwrite to replace it")


def _publish_dir(tmp: Path, target: Path, overwrite: bool, kind: OutputKind, folder: int | None = None) -> None:
    """Swap the finished folder in; what the user had put into the old one moves into the new.
    The parent folder is synced after the rename, as :func:`_publish_file` does: a crash or power
    loss could else undo it, leaving no dataset (or the old one) under the final name.

    Only the dataset's own entries are replaced (a user's notes or training runs inside a
    dataset folder are not groklst's to delete). Until the old folder is emptied of them it
    stays beside the output as ``.NAME.XXXXXXXX.old``, which is never removed automatically;
    a copy that still cannot be removed then (not the user's to empty) is named in a warning.
    """
    if target.exists() or target.is_symlink():
        _check_replaceable(target, overwrite, kind)  # again: it may have changed meanwhile
        backup = _free_name(target, "old")
        _rename(target, backup, folder)
        _rename(tmp, target, folder)
        _sync_folder(target.parent if folder is None else folder)
        old = backup.lstat()
        _let_owner_change(backup)  # a read-only (0555) folder would refuse the moves out of it
        ours = set(_LEGACY_DATASET_ENTRIES) | {p.name for p in target.iterdir()}
        for entry in backup.iterdir():
            if entry.name not in ours:
                entry.rename(target / entry.name)
        _give_permissions(target, old)  # last: a read-only folder would refuse the moves into it
        _remove_backup(backup)
    else:
        _rename(tmp, target, folder)
        _sync_folder(target.parent if folder is None else folder)


def _let_owner_change(folder: Path) -> None:
    """Add the owner's read, write and search bits to ``folder`` (never through a link) so its
    entries can be moved out or removed; a folder of another owner is left as it is."""
    try:
        info = folder.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IRWXU != stat.S_IRWXU:
            os.chmod(folder, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)
    except OSError:
        pass


def _remove_backup(backup: Path) -> None:
    """Remove the replaced dataset (by now only groklst's own entries): its read-only folders are
    made owner-writable first, so a 0555 dataset folder does not leave a full copy behind on
    every --overwrite; what still cannot be removed is reported."""
    pending = [backup]
    while pending:
        folder = pending.pop()
        _let_owner_change(folder)
        try:
            with os.scandir(folder) as entries:
                pending.extend(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    shutil.rmtree(backup, ignore_errors=True)
    if backup.exists() or backup.is_symlink():
        warnings.warn(f"{backup}: the dataset folder replaced under --overwrite could not be removed "
                      "(no permission to empty it); delete it yourself", GroklstWarning, stacklevel=2)


def _keep_permissions(new: Path, old: Path) -> None:
    """Give ``new`` the permission bits and group of ``old``, the output it replaces, when that
    is a regular file (a folder, for a folder): a user's 0444 or group-writable 0664 output stays
    so under ``--overwrite``, as with ``cp`` onto a file. A symbolic link is replaced itself and
    keeps nothing; a group the user is not in stays the new file's own, and so do the group
    bits then. Set-id bits are kept only on a folder (a setgid dataset folder), never on a file."""
    try:
        info = old.lstat()
    except FileNotFoundError:
        return
    _give_permissions(new, info)


# A folder's setgid bit hands its group on to what is made in it: it goes with the group.
_GROUP_BITS = stat.S_IRWXG | stat.S_ISGID


def _give_permissions(new: Path, old: os.stat_result) -> None:
    """:func:`_keep_permissions` from the replaced output's ``lstat``. When the group cannot be
    kept, the group bits stay the new output's own (the umask's): the old group's rights are
    never given to the user's group; the owner's and others' bits are still the old ones."""
    is_dir = stat.S_ISDIR(old.st_mode)
    if is_dir != new.is_dir() or not (is_dir or stat.S_ISREG(old.st_mode)):
        return
    mode = stat.S_IMODE(old.st_mode) & (0o7777 if is_dir else 0o777)
    own = new.lstat()
    if own.st_gid != old.st_gid:
        try:
            os.chown(new, -1, old.st_gid)
        except OSError:  # not the user's group (EPERM), or one the file system cannot give
            pass
        if new.lstat().st_gid != old.st_gid:
            mode = mode & ~_GROUP_BITS | stat.S_IMODE(own.st_mode) & _GROUP_BITS
    os.chmod(new, mode)


@contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    kind: OutputKind = OutputKind.file,
    inputs: Iterable[str | os.PathLike[str]] = (),
    check: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    Works for files and for directories (``kind=OutputKind.dataset``, e.g. a Zarr store). The
    temporary name starts with a dot and ends with ``.partial`` so that it is easy to recognise
    and is never picked up as a finished product by a glob such as ``*.tif``; it is locked
    (:func:`_lock`) until it is published or removed, so that other runs tell it from a killed
    run's. ``check`` runs on
    the finished temporary output and raises if it is incomplete. A full disk or a file-size
    limit hit while writing is reported against ``path``, not the temporary name.
    """
    target = check_writable(path, overwrite, kind=kind, inputs=inputs)
    if not _OWN_PARTIAL.fullmatch(target.name):  # a staged scene: one listing of its folder, not two
        _clean_stale(target, kind)
    tmp = _new_temporary(target)
    folder = _hold(target.parent)
    _lock(folder, tmp)
    discard = partial(_discard, tmp, target, folder)
    handed_over = False
    try:
        try:
            yield tmp
        except (OSError, InputError) as exc:  # perhaps because the folder was removed meanwhile
            error = _folder_vanished(target, folder)
            if error is None and isinstance(exc, OSError):
                error = _output_error(exc, tmp, target)
            if error is None:
                raise
            raise error from exc
        error = _vanished(tmp, target, folder)
        if error is not None:
            raise error
        if check is not None:
            check(tmp)
        publish = partial(_publish, tmp, target, overwrite, kind, folder)
        if (held_back := _held_back.get()) is not None:
            held_back.append((publish, discard, folder))  # published_together renames it, or removes it
            handed_over = True
        else:
            publish()
    finally:
        if not handed_over:
            discard()


def _new_temporary(target: Path) -> Path:
    """A temporary name beside ``target`` that nothing has yet: a young leftover of a killed run
    under the name drawn would else be written over and published as this run's."""
    return _free_name(target, "partial")


def _free_name(target: Path, suffix: str) -> Path:
    """``.NAME.XXXXXXXX.SUFFIX`` beside ``target``, drawn until nothing has the name: a replaced
    dataset renamed onto another's ``.old`` copy would replace it (an empty folder) or fail the
    run after all its work (a full one)."""
    while True:
        name = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.{suffix}")
        if not os.path.lexists(name):
            return name


# how many unfinished temporary outputs this process has removed (:func:`_discard`)
_discarded = {"count": 0}


def unfinished_discarded() -> int:
    """How many temporary outputs this process has removed unfinished so far (a failed or stopped
    write's clean-up; a published one's name is gone by then): a stopped run compares it with the
    count at its start to say whether it removed unfinished outputs, not just that it stopped."""
    return _discarded["count"]


def _discard(tmp: Path, target: Path, folder: int | None) -> None:
    """Remove what is left of the temporary output ``tmp`` of ``target`` from the folder it was
    written in, held open as ``folder``, then close that, which releases its lock (:func:`_lock`;
    last: another run never sees this run's temporary unlocked). Where ``tmp``'s path leads
    elsewhere now (a link to the folder was retargeted meanwhile) it is removed by name inside
    the held folder: by path, the full-size temporary would stay behind in the folder written into."""
    try:
        by_name = folder is not None and _identity(tmp.parent) != _identity(folder)
        at = folder if by_name else None
        _discarded["count"] += _unfinished(_entry(tmp, at), _entry(target, at))
        if by_name:
            _remove_at(folder, tmp.name)
        else:
            _remove(tmp)
    finally:
        if folder is not None:
            os.close(folder)


def _entry(path: Path, folder: int | None) -> os.stat_result | None:
    """``path``'s entry (not followed), by name inside the folder open as ``folder`` where given."""
    try:
        if folder is None:
            return path.lstat()
        return os.stat(path.name, dir_fd=folder, follow_symlinks=False)
    except OSError:
        return None


def _unfinished(tmp: os.stat_result | None, target: os.stat_result | None) -> bool:
    """Whether a temporary output is there unpublished: a published file may still have its
    temporary name as a second link (:func:`_publish_file` links it into place)."""
    return tmp is not None and (target is None or (tmp.st_dev, tmp.st_ino) != (target.st_dev, target.st_ino))


def _remove_at(folder: int, name: str) -> None:
    """:func:`_remove` of the entry ``name`` of the folder open as ``folder``."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        with suppress(OSError):
            os.unlink(name, dir_fd=folder)
    elif sys.version_info >= (3, 11):  # rmtree takes dir_fd from Python 3.11
        shutil.rmtree(name, dir_fd=folder, ignore_errors=True)


# (device, inode): what a folder is, whatever its name; a folder removed and made again differs.
_Identity = tuple[int, int]
_VANISHED_HINT = ("make sure that nothing (a cleanup job, another command) removes the output folder or "
                  "groklst's hidden .partial entries in it while groklst runs, then run again")
_RETARGETED_HINT = ("leave the links on the output's path as they are while groklst writes through them, then run "
                    "again")


def _identity(path: Path | int) -> _Identity | None:
    """The (device, inode) of the folder or file ``path`` (or open descriptor) leads to; None if
    there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _hold(folder: Path) -> int | None:
    """An open descriptor of ``folder`` (None where a folder cannot be opened: Windows): while
    it is open the folder's inode is not given to another, so a folder removed and made again
    at once (zarr, for its next chunk) is told from it."""
    try:
        return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


def _vanished(tmp: Path, target: Path, folder: int | None) -> InputError | None:
    """The error for an output whose folder (held open as ``folder``) or temporary output was
    removed while it was written, else None: what was written then went to a deleted file, or
    part of it to a folder that zarr silently made again for its next chunk (QA: a dataset
    without its metadata was published, exit 0). A dataset's temporary folder removed alone is
    the caller's ``check`` to find."""
    error = _folder_vanished(target, folder)
    if error is None and not (tmp.exists() or tmp.is_symlink()):
        return InputError(target, "the unfinished output was removed while writing; nothing was written",
                          _VANISHED_HINT)
    return error


def _folder_vanished(target: Path, folder: int | None) -> InputError | None:
    """The error for an output whose folder is no longer the one held open as ``folder``
    (removed, perhaps made again; or still there, where a link to it was retargeted), else None."""
    if folder is None or _identity(target.parent) == _identity(folder):
        return None
    if os.fstat(folder).st_nlink > 0:  # a removed folder has no links left
        return InputError(target, f"the output folder {unmistakable_path(target.parent)} now leads to another "
                          "folder (a link retargeted while writing); nothing was written", _RETARGETED_HINT)
    return InputError(target, "the output folder disappeared while writing; nothing was written", _VANISHED_HINT)


def _publish(tmp: Path, target: Path, overwrite: bool, kind: OutputKind, folder: int | None = None) -> None:
    """Rename a complete temporary output into place (see :data:`before_publish`), inside the
    folder it was written in (held open as ``folder``)."""
    if (hook := before_publish.get()) is not None:
        hook(target)
    if tmp.is_dir():
        _publish_dir(tmp, target, overwrite, kind, folder)
    else:
        _publish_file(tmp, target, overwrite, folder)


def _rename(src: Path, dst: Path, folder: int | None, how: Callable[..., None] | None = None) -> None:
    """``how`` (:func:`os.replace` by default, :func:`os.link`) from ``src`` to ``dst``, entries of
    the folder held open as ``folder``, by name inside it (by path where none is held): a link to
    the folder retargeted meanwhile does not move the output to another folder."""
    how = how or os.replace  # looked up when called, as os.link is by the callers
    if folder is None:
        how(src, dst)
    else:
        how(src.name, dst.name, src_dir_fd=folder, dst_dir_fd=folder)


@contextmanager
def published_together() -> Iterator[None]:
    """Outputs of :func:`atomic_output` blocks that end inside this block are renamed into
    place only when it ends without error, so that a pair (an LST and its guidance) is never
    published half: a failure in either leaves both unpublished, and an existing pair under
    ``--overwrite`` untouched. The renames hold each output folder's lock (:func:`_renaming_alone`),
    so that two runs replacing one pair at once never leave one's LST beside the other's guidance."""
    held_back: list[tuple[Callable[[], None], Callable[[], None], int | None]] = []
    token = _held_back.set(held_back)
    try:
        yield
        _held_back.reset(token)
        token = None
        with _renaming_alone([folder for _, _, folder in held_back]):
            for publish, _, _ in held_back:
                publish()
    finally:
        if token is not None:
            _held_back.reset(token)
        for _, discard, _ in held_back:
            discard()


@contextmanager
def _renaming_alone(folders: list[int | None]) -> Iterator[None]:
    """An exclusive ``flock`` on each of the held output ``folders`` (one per folder, taken in
    one order so that two runs never wait on each other), for the renames of a pair: another
    run's pair into the same folder is renamed before or after, never between (QA: 1 round in 15
    of three ``sample-scene --overwrite`` runs left one's LST beside another's guidance)."""
    by_identity = {identity: folder for folder in folders
                   if folder is not None and (identity := _identity(folder)) is not None}
    with ExitStack() as locks:
        for identity in sorted(by_identity):
            folder = by_identity[identity]
            with suppress(OSError):  # a file system without flock: renamed as before, unlocked
                fcntl.flock(folder, fcntl.LOCK_EX)
                locks.callback(fcntl.flock, folder, fcntl.LOCK_UN)
        yield

"""Rasters named the way GDAL names them, not only local files.

Archives and object stores are read in place through GDAL's virtual file systems
(``/vsitar/LC08_..._02_T1.tar/LC08_..._ST_B10.TIF`` for a Landsat Collection-2 bundle,
``/vsizip/``, ``/vsis3/bucket/key.tif``, ``/vsicurl/https://host/scene.tif``) and one variable
of a netCDF or HDF5 file by its subdataset name (``NETCDF:file.nc:LST``). A local file of
that name always wins. The command line hands paths over as :class:`pathlib.Path`, which
folds ``https://`` into ``https:/`` and ``/vsizip//abs/a.zip`` into ``/vsizip/abs/a.zip``;
:func:`gdal_name` puts the slash back.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import rasterio
import rasterio.errors
import rasterio.shutil

_VSI = re.compile(r"^/vsi[a-z0-9_]+/")
_DRIVER_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):(.+)$")
_FOLDED_URL = re.compile(r"^(/vsicurl(?:_streaming)?/)([a-z]+):/(?!/)")
_ARCHIVE = re.compile(r"^(/vsi(?:zip|tar|gzip|7z|rar)/)(.+)$")
_QUOTED = re.compile(r'"([^"]*)"')


@functools.cache
def _driver_names() -> frozenset[str]:
    with rasterio.Env() as env:
        return frozenset(name.upper() for name in env.drivers())


def gdal_name(path: str | os.PathLike[str]) -> str | None:
    """The GDAL dataset name ``path`` stands for, or None for a local path (existing or not)."""
    text = os.fspath(path)
    if Path(text).exists():
        return None
    if _VSI.match(text):
        return _unfolded_archive(_FOLDED_URL.sub(r"\1\2://", text))
    prefixed = _DRIVER_PREFIX.match(text)
    if prefixed and prefixed.group(1).upper() in _driver_names():
        return text
    return None


def _unfolded_archive(name: str) -> str:
    """``/vsizip//abs/a.zip/x.tif`` folded to ``/vsizip/abs/a.zip/x.tif`` reads ``abs/a.zip``
    relative to the current folder: put the slash back when only the absolute archive exists."""
    archive = _ARCHIVE.match(name)
    if archive is None or archive.group(2).startswith(("/", "{")):
        return name
    parts = archive.group(2).split("/")
    for end in range(1, len(parts)):
        inside = "/".join(parts[:end])
        if Path(inside).is_file():
            return name
        if Path("/" + inside).is_file():
            return f"{archive.group(1)}/{archive.group(2)}"
    if not Path(parts[0]).exists() and Path("/" + parts[0]).exists():  # no such archive: named as meant
        return f"{archive.group(1)}/{archive.group(2)}"
    return name


def scene_name(lst_stem: str) -> str | None:
    """``NAME`` of an LST file stem ``NAME_lst``, the suffix in any case (``X_LST.TIF`` from a
    Windows copy or an archive that upper-cases names), or None for a stem without it."""
    return lst_stem[: -len("_lst")] if lst_stem.lower().endswith("_lst") else None


def paired_guidance(lst_path: str | os.PathLike[str]) -> Path | None:
    """``NAME_guidance.tif`` beside ``NAME_lst.tif`` (the scene naming convention), or None for an
    LST not so named. An upper-case ``_LST`` pairs with ``_GUIDANCE``; where only the other spelling
    is there, that one is the pair (case-sensitive file systems would otherwise miss it). Inside a
    local archive (``/vsizip/``, ``/vsitar/``) only an upper-case pair is looked for both ways (a
    lower-case pair is the convention); a remote name (``/vsicurl/``, ``/vsis3/``) is not looked up
    (a request each, and a server error there is no answer): it pairs by its own case."""
    p = Path(lst_path)
    name = scene_name(p.stem)
    if name is None:
        return None
    upper = p.stem[-3:].isupper()
    spellings = ("_GUIDANCE", "_guidance") if upper else ("_guidance", "_GUIDANCE")
    candidates = [p.with_name(f"{name}{suffix}{p.suffix}") for suffix in spellings]
    if gdal_name(p) is not None:
        archived = upper and _ARCHIVE.match(gdal_name(p) or "") is not None
        return next((c for c in candidates if archived and _in_archive(c)), candidates[0])
    return next((c for c in candidates if c.exists()), candidates[0])


def _in_archive(path: Path) -> bool:
    """Whether GDAL finds ``path`` (a name inside a local archive); a damaged archive is no."""
    try:
        return rasterio.shutil.exists(gdal_name(path))
    except rasterio.errors.RasterioError:
        return False


def subdataset(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """The file and the variable a subdataset name reads (``NETCDF:"day.nc":LST`` -> ``day.nc``,
    ``LST``; ``HDF5:"g.h5"://SDS/LST`` -> ``g.h5``, ``SDS_LST``; ``NETCDF:"g.nc"`` -> ``g.nc``, ``""``);
    None for any other name.
    pathlib must not see such a name: its stem would be ``day`` and its name ``day.nc":LST``."""
    name = gdal_name(path)
    prefixed = _DRIVER_PREFIX.match(name) if name and not _VSI.match(name) else None
    if prefixed is None:
        return None
    rest = prefixed.group(2)
    file, _, variable = rest.rpartition(":")
    if not file:  # NETCDF:"nir.nc": the file alone, no variable
        file, variable = rest, ""
    quoted = _QUOTED.search(file)  # HDF4_EOS:EOS_GRID:"f.hdf":Grid:LST quotes the file mid-name
    return (quoted.group(1) if quoted else file), variable.strip("/").replace("/", "_")


def raster_stem(path: str | os.PathLike[str]) -> str:
    """The name an output is named after: the file's stem, and for a subdataset the file's stem
    and the variable (``NETCDF:day.nc:LST`` -> ``day_LST``)."""
    parts = subdataset(path)
    if parts is None:
        return Path(path).stem
    file, variable = parts
    return f"{Path(file).stem}_{variable}" if variable else Path(file).stem


def display_name(path: str | os.PathLike[str]) -> str:
    """How reports name an input: a GDAL name as GDAL reads it (slashes restored), else the path."""
    return gdal_name(path) or os.fspath(path)


def source_tag(path: str | os.PathLike[str]) -> str:
    """How an output's tags name an input, usable from any folder: the absolute path of a local
    file; a GDAL name with its local file made absolute (``NETCDF:"/abs/l.nc":lst``,
    ``/vsigzip//abs/l.tif.gz``), a network name (``/vsicurl/``, ``/vsis3/``) as given."""
    name = gdal_name(path)
    return str(Path(path).resolve()) if name is None else _absolute_gdal(name)


def _absolute_gdal(name: str) -> str:
    """``name`` with the local file it reads (a subdataset's file, an archive) absolute."""
    if _VSI.match(name):
        return _absolute_archive(name)
    parts = subdataset(name)
    if parts is None:
        return name
    file = parts[0]
    return with_file(name, file, _absolute_archive(file) if _VSI.match(file) else _absolute_local(file))


def with_file(name: str, file: str, new_file: str) -> str:
    """The subdataset name ``name`` reading ``new_file`` instead of its ``file``, quoted when
    ``name`` quoted it or when ``new_file`` holds a colon: ``NETCDF:/a:b/l.nc:lst`` is no name
    GDAL parses (``NETCDF:"/a:b/l.nc":lst`` is; NETCDF, HDF5 and GPKG take quotes)."""
    prefix, rest = name.split(":", 1)
    quoted = f'"{file}"' in rest
    old = f'"{file}"' if quoted else file
    new = f'"{new_file}"' if quoted or ":" in new_file else new_file
    return f"{prefix}:{rest.replace(old, new, 1)}"


def _absolute_archive(name: str) -> str:
    """``/vsizip/a.zip/in/x.tif`` -> ``/vsizip//abs/a.zip/in/x.tif``: the archive, the first
    part of the name that is a local file, made absolute; the path inside it kept. A network
    name, an absolute or chained one (``/vsizip/{...}``) or one naming no local file: as given."""
    archive = _ARCHIVE.match(name)
    if archive is None or archive.group(2).startswith(("/", "{")):
        return name
    parts = archive.group(2).split("/")
    for end in range(1, len(parts) + 1):
        file = "/".join(parts[:end])
        if Path(file).is_file():
            return f"{archive.group(1)}{_absolute_local(file)}{''.join('/' + part for part in parts[end:])}"
    return name


def _absolute_local(file: str) -> str:
    """A subdataset's or archive's file as an absolute path when it is a local file, else as
    given (a URL, or no file of that name). Its folder is resolved but not the file itself: a
    link ``s.zip -> blobs/0123abcd`` (a DVC or git-annex cache) keeps the name ``/vsizip/`` and
    ``/vsitar/`` find the archive's end by."""
    path = Path(file)
    return str(path.absolute().parent.resolve() / path.name) if path.is_file() else file


_RETRIEVED = re.compile(r"^(?P<folder>.+) \(LST retrieved by [^()]+\)$")


def retrieved_lst_tag(tis_folder: str | os.PathLike[str], method: str) -> str:
    """The ``lst_source`` tag of an output whose LST was retrieved from a TIS product on the fly
    (no LST file is kept): the folder, then how."""
    return f"{Path(tis_folder).resolve()} (LST retrieved by {method})"


def retrieved_tis_folder(tag: str | None) -> str | None:
    """The TIS folder a :func:`retrieved_lst_tag` names; None for a tag naming an LST file."""
    found = _RETRIEVED.match(tag or "")
    return found["folder"] if found else None

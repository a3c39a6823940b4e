"""Quicklook PNG: the input LST beside its downscaled output, for a glance before archiving.

Both panels share one colour scale (the 2nd-98th percentile of the output) and one colour bar in
the output's unit (K or degC); nodata is transparent, and so is the part of the output that an
LST covering only part of it does not reach (each raster is drawn at its own extent). The PNG is
``--width`` wide; a tall output's panels are drawn at most that tall, centred in their slots, so
the picture keeps a sensible size. A multi-band input LST is refused, as downscale refuses it.
An output downscaled straight from SDGSAT-1 products has no LST file (it was retrieved in a
temporary folder): unless ``--lst`` names one, the output is drawn alone; so is an LST written by
``groklst ingest`` (its ``lst_source`` tag names the TIS product it came from). Otherwise the input
is the ``lst_source`` tag's (a GDAL name as GDAL opens it), else its file beside the output; it
is read as downscale read it: with the ``lst_*`` tags downscale records (:mod:`pipelines.lst_values`) when
it is the LST the output names, else with its own metadata and the unit its values say; LST
options given to quicklook override either. Rasters are read decimated to the panel size, so a
100-megapixel output costs no more memory than the PNG. matplotlib is imported here only (its
object API with the Agg canvas: no pyplot, no global backend), so the CLI starts fast.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds

from pipelines.atomic import atomic_output, refuse_input_as_output
from pipelines.errors import GroklstWarning, InputError
from pipelines.file_headers import PNG_HEADER, refuse_foreign_file
from pipelines.geotiff import mask_declared_nodata, open_raster, write_failed
from pipelines.grids import crs_label, footprints_disjoint
from pipelines.ingest_record import GENERATOR as INGEST_GENERATOR
from pipelines.lst_values import (PLAUSIBLE_KELVIN, LstDecoding, Remedy, band_unit_tag, check_plausible,
                                  check_single_band, decode_values, implausible_kelvin, linear, reading_from_tags,
                                  reading_precision, resolve_units, scan, to_kelvin_masked, units_from_values)
from pipelines.raster_names import (display_name, gdal_name, retrieved_tis_folder, source_tag, subdataset,
                                    with_file)
from pipelines.units import Units, from_kelvin, to_kelvin

DPI = 100
GAP_PX = 20  # between and beside the panels
TOP_PX = 40  # panel titles
BOTTOM_PX = 80  # colour bar and its label
COLORMAP = "inferno"
PERCENTILES = (2.0, 98.0)
INPUT_REMEDY = "pass the --nodata, --scale-factor/--offset or --units downscale was given"
OUTPUT_REMEDY = "they are drawn at the colour bar's ends; check the downscale run that wrote it"

Extent = tuple[float, float, float, float]  # left, right, bottom, top (matplotlib's order)
_ARCHIVE = re.compile(r"^(/vsi(?:zip|tar|gzip|7z|rar)/)(.+)$")  # GDAL names reading a file inside a local one


@dataclass(frozen=True)
class LstReading:
    """How the input LST's stored values become temperatures: the decoding and the unit
    (``auto``: judged from the decoded values, as downscale does)."""

    decoding: LstDecoding = field(default_factory=LstDecoding)
    units: Units = Units.auto

    def over(self, recorded: LstReading) -> LstReading:
        """This reading's given parts (options) over ``recorded`` (an output's tags)."""
        mine, theirs = self.decoding, recorded.decoding
        return LstReading(
            LstDecoding(nodata=mine.nodata or theirs.nodata,
                        scale_factor=theirs.scale_factor if mine.scale_factor is None else mine.scale_factor,
                        offset=theirs.offset if mine.offset is None else mine.offset,
                        mask_implausible=mine.mask_implausible or theirs.mask_implausible),
            recorded.units if self.units is Units.auto else self.units)


@contextmanager
def _matplotlib_quiet() -> Iterator[None]:
    """Import matplotlib without its log lines on stderr (``-q`` too) when its config folder
    cannot be made (an unwritable HOME): it then uses a temporary folder of its own, removed
    at exit, and a quick look needs nothing more. Its errors still show."""
    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def panel_width(width_px: int, panels: int) -> int:
    """Width (px) of the slot each of ``panels`` side by side in ``width_px`` has, with gaps
    around them: a panel's widest."""
    return (width_px - (panels + 1) * GAP_PX) // panels


def panel_size(width_px: int, rows: int, cols: int, panels: int = 2) -> tuple[int, int]:
    """(height, width) px of each panel of a ``rows x cols`` raster: its slot's width, or for a
    raster that would then be drawn taller than ``width_px``, ``width_px`` tall and as wide as
    its aspect ratio says (a 3-pixel-wide column makes no 23000-px-tall PNG)."""
    slot = panel_width(width_px, panels)
    height = max(1, round(slot * rows / cols))
    if height <= width_px:
        return height, slot
    return width_px, max(1, round(width_px * cols / rows))


def figure_size(width_px: int, rows: int, cols: int, panels: int = 2) -> tuple[int, int]:
    """PNG size (px) for ``panels`` of a ``rows x cols`` raster side by side in ``width_px``:
    ``width_px`` wide, at most ``width_px`` plus the titles and colour bar tall."""
    return width_px, TOP_PX + panel_size(width_px, rows, cols, panels)[0] + BOTTOM_PX


def _resolution(src: rasterio.DatasetReader) -> str:
    unit = "m" if src.crs is not None and src.crs.is_projected else "deg"
    return f"{src.res[0]:g} {unit}"


def _units_of(src: rasterio.DatasetReader, sample: np.ndarray, path: str | os.PathLike[str]) -> Units:
    """The unit the output's values say, as downscale reads an LST: a unit tag that contradicts
    them is warned about (quicklook has no option to declare the output's unit: the file's tag
    is what to correct), not followed."""
    return units_from_values(sample, band_unit_tag(src), path, Remedy.in_file(path))


def _read(src: rasterio.DatasetReader, max_rows: int, max_cols: int, window=None,
          resampling: Resampling = Resampling.average, dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray:
    """Band 1 read at most ``max_rows x max_cols`` (decimated) as ``dtype``, nodata as NaN."""
    rows = int(window.height) if window is not None else src.height
    cols = int(window.width) if window is not None else src.width
    step = max(1.0, rows / max_rows, cols / max_cols)
    shape = (max(1, math.ceil(rows / step)), max(1, math.ceil(cols / step)))
    data = src.read(1, window=window, out_shape=shape, resampling=resampling, masked=True)
    data = mask_declared_nodata(src, data, 1)  # the mask OR the declared nodata, as every read
    out = np.ma.filled(data.astype(dtype), np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def lst_window(lst: rasterio.DatasetReader, bounds: Any) -> tuple[Window, Extent]:
    """The LST pixels under the output's ``bounds``, clipped to the LST, and where they lie:
    an LST covering part of the output is drawn on that part, not stretched over all of it."""
    window = from_bounds(*bounds, transform=lst.transform).round_offsets().round_lengths()
    window = window.intersection(Window(0, 0, lst.width, lst.height))
    left, bottom, right, top = lst.window_bounds(window)
    return window, (left, right, bottom, top)


def tagged_lst(output_path: str | os.PathLike[str], tag: str | None) -> str | Path:
    """The input LST an output's ``lst_source`` tag names: as written, else the file of that
    name beside the output (the two moved together). A GDAL name (``NETCDF:"l.nc":lst``,
    ``/vsigzip/l.tif.gz``) is no file path: it is used when GDAL opens it, and beside the
    output its file is read the same way (the ``.gz`` itself is no raster)."""
    if not tag:
        raise InputError(output_path, "has no lst_source tag", "pass the input LST with --lst")
    for candidate in _tag_candidates(tag, Path(output_path).absolute().parent):
        if _found(candidate):
            return candidate
    raise InputError(output_path, f"its lst_source tag names {tag}, which is not there (nor beside the output)",
                     "pass the input LST with --lst")


def _tag_candidates(tag: str, folder: Path) -> list[str | Path]:
    """Where the tag's LST may be: as written, then in ``folder`` under the same file name."""
    if gdal_name(tag) is None:
        return [Path(tag), folder / Path(tag).name]
    return [tag, *_gdal_beside(tag, folder)]


def _gdal_beside(tag: str, folder: Path) -> list[str]:
    """The GDAL name ``tag`` with its file (a subdataset's file, an archive) in ``folder``:
    ``NETCDF:"l.nc":lst`` -> ``NETCDF:"folder/l.nc":lst``, ``/vsizip/a/s.zip/b.tif`` ->
    ``/vsizip/folder/s.zip/b.tif``."""
    parts = subdataset(tag)
    if parts is not None:
        moved = folder / Path(parts[0]).name
        return [with_file(tag, parts[0], str(moved))] if moved.is_file() else []
    archive = _ARCHIVE.match(tag)
    if archive is None:
        return []  # /vsicurl/, /vsis3/, ...: nothing of theirs lies beside the output
    names = archive.group(2).strip("/").split("/")
    return [f"{archive.group(1)}{folder / name}{''.join('/' + n for n in names[i + 1:])}"
            for i, name in enumerate(names) if (folder / name).is_file()]


def _found(candidate: str | Path) -> bool:
    """Whether ``candidate`` is there: a local file, or a GDAL name that GDAL opens."""
    if gdal_name(candidate) is None:
        return Path(candidate).is_file()
    try:
        open_raster(candidate).close()
    except InputError:
        return False
    return True


def _crs_words(crs: Any) -> str:
    """A CRS in a few words for a message (``crs_label``), or that there is none."""
    return crs_label(crs) if crs else "no CRS"


def _check_same_place(lst_path: str | os.PathLike[str], lst: rasterio.DatasetReader,
                      output_path: str | os.PathLike[str], crs: Any, bounds: Any) -> None:
    """Refuse an LST that cannot be the output's input: another CRS, or no overlap."""
    if lst.crs != crs:
        raise InputError(lst_path, f"is in {_crs_words(lst.crs)}, the output {output_path} in {_crs_words(crs)}: not its input LST",
                         "pass the LST the output was downscaled from with --lst")
    if footprints_disjoint(tuple(lst.bounds), tuple(bounds)):
        raise InputError(lst_path, f"does not overlap the output {output_path}: not its input LST",
                         "pass the LST the output was downscaled from with --lst")


def _lst_panel(lst_path: str | os.PathLike[str], output_path: str | os.PathLike[str], crs: Any,
               bounds: Any, shape: tuple[int, int], unit: Units,
               reading: LstReading, given: LstReading | None) -> tuple[np.ndarray, Extent, str]:
    """The input LST under the output, decoded by ``reading`` (``given``: the user's options in
    it, None where none was given), in the output's unit, with its extent and panel title. Stored values are
    decimated by nearest neighbour, so declared fill values still match and no fill is averaged
    into a temperature."""
    with open_raster(lst_path) as lst:
        check_single_band(lst, lst_path)
        _check_same_place(lst_path, lst, output_path, crs, bounds)
        window, extent = lst_window(lst, bounds)
        checked = _checked_units(lst, window, lst_path, reading, given)
        stored = _read(lst, *shape, window, Resampling.nearest, reading_precision(lst.dtypes[0]))
        values = decode_values(stored, reading.decoding, *linear(lst, reading.decoding, path=lst_path))
        units = checked or (units_from_values(values, band_unit_tag(lst), lst_path) if reading.units is Units.auto
                            else reading.units)
        kelvin = to_kelvin_masked(values, units, reading.decoding)
        _warn_implausible(lst_path, kelvin, "input", INPUT_REMEDY)
        return from_kelvin(kelvin, unit), extent, f"input LST, {_resolution(lst)}"


def _checked_units(lst: rasterio.DatasetReader, window: Window, lst_path: str | os.PathLike[str],
                   reading: LstReading, given: LstReading | None) -> Units | None:
    """Refuse a reading of the LST that makes no temperatures, with downscale's one-line errors:
    a scale that overflows or flattens it always (``--scale-factor 1e308`` drew a blank picture
    with exit 0), and where the user gave options (``given``) any value implausible as downscale
    refuses it, returning the unit resolved as downscale would (the unit given, else the values'
    checked against the file's unit tag, not the unit recorded for another scaling). Else None:
    a reading from the output's tags passed downscale, and an output written before them gets
    the panel's warning."""
    found = scan(lst, window, reading.decoding, lst_path)
    if given is None:
        return None
    units = resolve_units(found, given.units)
    check_plausible(found, units, reading.decoding, lst_path)
    return units


def _warn_implausible(path: str | os.PathLike[str], kelvin: np.ndarray, panel: str, remedy: str) -> None:
    """Say so when a panel shows values no land surface has (an undeclared fill value or
    scaling of the input, written before the ``lst_*`` tags; stray output pixels), drawn as the
    colour bar's ends; ``remedy`` says what to do."""
    found = implausible_kelvin(kelvin)
    if found:
        warnings.warn(GroklstWarning(
            f"{path}: the {panel} panel shows values {found[1]:.6g}..{found[2]:.6g} K, not all plausible "
            f"land-surface temperatures: {remedy}"))


def _check_output_values(output_path: str | os.PathLike[str], fine: np.ndarray, unit: Units) -> None:
    """Refuse an output none of whose values is a plausible LST (a DEM, digital numbers, a
    reflectance: no temperature to draw under "LST (K)"), warn as for the input panel when only
    some are. The input only gets a warning because the LST options read it otherwise; the
    output is read as it is stored, so nothing makes such a raster a temperature."""
    kelvin = to_kelvin(fine, unit)
    found = implausible_kelvin(kelvin)
    if found and found[0] == np.count_nonzero(np.isfinite(kelvin)):
        lo, hi = PLAUSIBLE_KELVIN
        raise InputError(output_path, f"reads as {found[1]:.6g}..{found[2]:.6g} K, none of it a plausible land-surface "
                                      f"temperature ({lo:g}-{hi:g} K): not a downscaled LST",
                         "give groklst downscale's output (a single-band LST in K or degC)")
    _warn_implausible(output_path, kelvin, "output", OUTPUT_REMEDY)


def _names_input(lst_path: str | os.PathLike[str], tag: str | None) -> bool:
    """Whether ``lst_path`` is the LST the output's ``lst_source`` tag names, or has its file
    name (moved): only that file was read as the output's ``lst_*`` tags say. A link to it is it:
    the tag names what ``lst.tif -> blobs/SHA256E-...tif`` (git-annex) resolved to."""
    return tag is not None and (_file_name(lst_path) == _file_name(tag) or _same_file(lst_path, tag))


def _file_name(path: str | os.PathLike[str]) -> str:
    """An LST's name without its folder: a subdataset's file name and variable (pathlib would
    take ``l.nc":lst`` for the name of ``NETCDF:"/d/l.nc":lst`` but all of ``NETCDF:"l.nc":lst``)."""
    parts = subdataset(path)
    return Path(path).name if parts is None else f"{Path(parts[0]).name}:{parts[1]}"


def _recorded_reading(tags: dict[str, str], output_path: str | os.PathLike[str],
                      lst_path: str | os.PathLike[str], tag: str | None) -> LstReading:
    """How the output's ``lst_*`` tags say to read ``lst_path``: all of it for the very file they
    name; for a file of that name elsewhere (moved, or another scene's) its decoding only, its
    unit judged from its values (a Celsius twin read as the tagged Kelvin showed 14..50 K)."""
    if not _names_input(lst_path, tag):
        return LstReading()
    decoding, units = reading_from_tags(tags, output_path)
    if not _same_file(lst_path, tag):
        return LstReading(decoding)
    return LstReading(decoding, units)


def _same_file(path: str | os.PathLike[str], other: str | None) -> bool:
    """Whether ``path`` and ``other`` (a tag's path or GDAL name) are one existing file, or the
    same GDAL name."""
    if other is None:
        return False
    if display_name(path) == other or source_tag(path) == other:
        return True
    try:
        return os.path.samefile(path, other)
    except (OSError, ValueError):
        return False


def _check_png(png_path: str | os.PathLike[str], inputs: list[str | os.PathLike[str] | None]) -> None:
    """Refuse a picture name that may not be written: an input given as it is said to be one
    first (``-o out.tif`` is the output read, not a misnamed PNG), then a name of another format
    and a file there that is no PNG."""
    refuse_input_as_output(png_path, inputs)
    check_png_name(png_path)
    check_png_replaceable(png_path)


def check_png_name(path: str | os.PathLike[str]) -> None:
    """Refuse a picture name whose extension says another format (a PNG called ``x.tif``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in ("", ".png"):
        raise InputError(path, f"the quick look is a PNG, not {suffix}", "name it .png")


def check_png_replaceable(path: str | os.PathLike[str]) -> None:
    """Refuse a picture name where a file other than a PNG lies: ``--overwrite`` would replace a
    user's file with the quick look."""
    refuse_foreign_file(path, "PNG", (PNG_HEADER,))


def write_quicklook(
    output_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    lst_path: str | os.PathLike[str] | None = None,
    reading: LstReading | None = None,
    width_px: int = 1200,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Write a PNG of ``lst_path`` (default: the output's ``lst_source`` tag) beside the output;
    of the output alone when it was downscaled from products and no ``lst_path`` is given.

    The LST is read as the output's ``lst_*`` tags record (for the file they name), with the
    given parts of ``reading`` (the user's LST options) over them.

    Returns the PNG's size in pixels (see :func:`figure_size`).
    """
    with _matplotlib_quiet():
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure

    if width_px < 200:
        raise InputError("--width", f"must be at least 200 px, got {width_px}")
    with open_raster(output_path) as out:
        tags = out.tags()
        tag = tags.get("lst_source")
        tis_folder = None if lst_path else retrieved_tis_folder(tag)
        ingested = lst_path is None and tags.get("generator") == INGEST_GENERATOR
        if tis_folder is None and not ingested:
            lst_path = lst_path or tagged_lst(output_path, tag)
        _check_png(png_path, [output_path, lst_path])
        count = 1 if lst_path is None else 2
        size = figure_size(width_px, out.height, out.width, count)
        panel_h, panel_w = panel_size(width_px, out.height, out.width, count)
        check_single_band(out, output_path)  # band 1 of a guidance stack is no LST
        fine = _read(out, panel_h, panel_w)
        unit = _units_of(out, fine, output_path)
        bounds, fine_res = out.bounds, _resolution(out)
        crs = out.crs
    extent = (bounds.left, bounds.right, bounds.bottom, bounds.top)
    if lst_path is None:
        panels = [(fine, extent, _alone_title(fine_res, tis_folder, tag))]
    else:
        given = None if reading == LstReading() else reading
        lst_reading = (reading or LstReading()).over(_recorded_reading(tags, output_path, lst_path, tag))
        panels = [_lst_panel(lst_path, output_path, crs, bounds, (panel_h, panel_w), unit, lst_reading, given),
                  (fine, extent, f"downscaled, {fine_res}")]
    valid = fine[np.isfinite(fine)]
    if valid.size == 0:
        raise InputError(output_path, "has no valid pixels to show")
    _check_output_values(output_path, fine, unit)
    if tis_folder is not None:
        warnings.warn(GroklstWarning(
            f"{output_path}: its LST was retrieved from the TIS product {tis_folder} inside downscale "
            "and kept nowhere, so the quicklook shows the output alone (groklst ingest writes that "
            "LST: pass it with --lst; downscale --quicklook draws both at run time)"))
    vmin, vmax = np.percentile(valid, PERCENTILES)
    norm = Normalize(vmin=float(vmin), vmax=float(max(vmax, vmin + 1e-3)))
    cmap = colormaps[COLORMAP].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))

    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    w, h = size
    slot = panel_width(width_px, count)
    for i, (data, data_extent, title) in enumerate(panels):
        left = (GAP_PX + i * (slot + GAP_PX) + (slot - panel_w) // 2) / w  # centred in its slot
        ax = fig.add_axes((left, BOTTOM_PX / h, panel_w / w, panel_h / h))
        image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, extent=data_extent,
                          interpolation="nearest", aspect="auto")
        ax.set_xlim(extent[0], extent[1])  # every panel shows the output's footprint
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    bar = fig.add_axes((0.25, 0.55 * BOTTOM_PX / h, 0.5, 0.16 * BOTTOM_PX / h))
    label = "LST (°C)" if unit is Units.celsius else "LST (K)"
    fig.colorbar(image, cax=bar, orientation="horizontal").set_label(label, fontsize=9)
    inputs = [output_path] if lst_path is None else [output_path, lst_path]
    with atomic_output(png_path, overwrite=overwrite, inputs=inputs) as tmp:
        _save_png(fig, tmp, png_path)
    return size


def _alone_title(res: str, tis_folder: str | None, tag: str | None) -> str:
    """The title of a raster drawn alone: a downscaled output whose LST was retrieved on the fly
    (``tis_folder``), or an LST groklst ingest retrieved from the TIS product its ``lst_source``
    tag names (it is the LST itself: its tag names no input to draw beside it)."""
    if tis_folder is not None:
        return f"downscaled, {res} (input LST retrieved from {Path(tis_folder).name}, not kept)"
    return f"LST by groklst ingest, {res} (from {Path(tag or '?').name})"


def _save_png(fig: Any, tmp: Path, png_path: str | os.PathLike[str]) -> None:
    """Write ``fig`` to ``tmp``; a full disk is said as a GeoTIFF's is (with the space left),
    naming ``png_path`` (it was worded apart: "writing failed (No space left on device)")."""
    try:
        fig.savefig(tmp, format="png", dpi=DPI, transparent=True)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # its strerror as GDAL's message: "[Errno 28]" is no part of a GeoTIFF's wording
        raise write_failed(png_path, OSError(exc.strerror), tmp) from exc

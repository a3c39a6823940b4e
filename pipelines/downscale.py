"""Downscale one scene: LST + guidance rasters in, a georeferenced LST GeoTIFF out.

Tiles on the LR grid are read window by window, filled where nodata, run in batches through
the model, blended with smooth weights and written row band by row band, so memory does not
grow with the scene. Output pixels are NaN where the covering LR pixel or any guidance band is
nodata. The output goes to a temporary name and is renamed only when complete. An interpolator
can also run without guidance (``DownscaleOptions.scale``): the output grid is then the LST
grid refined by that scale.

Nothing implausible is written: the LST is scanned and checked before any work
(:mod:`pipelines.lst_values`), guidance far outside a model's training data is refused, and
every finished row band is checked against its LR input (:mod:`pipelines.plausibility`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from pipelines.checkpoint import missing_bands
from pipelines.cog import layout
from pipelines.conserve import CONSERVE_SPREADS, conserve_blocks, spread_smooth
from pipelines.errors import EmptySceneError, GroklstWarning, InputError, not_found_error, one_run
from pipelines.geotiff import (BLOCK, band_key, band_names, bands_without_data, creation_profile, filled_dem,
                               geotiff_output, guidance_names, mask_declared_nodata, streaming_gdal_env,
                               unreadable)
from pipelines.grids import Grid, PairedGrids, pair_grids, refine_grid
from pipelines.guidance import DISTINCT_BANDS_HINT, check_distinct_bands
from pipelines.ingest_record import provenance_tags
from pipelines.infer import Execution, ModelSource, Prediction, TilePredictor, submit
from pipelines.lst_values import (LstDecoding, check_plausible, decode, linear, reading_tags, resolve_units,
                                  scan)
from pipelines.mosaic import StreamingMosaic
from pipelines.plausibility import OutputGuard
from pipelines.raster_names import display_name, paired_guidance, source_tag
from pipelines.tile_reader import SceneSources, TileData, TileReader, read_ahead, resolve_hole_margin
from pipelines.tiling import Tile, blend_weights, check_tile_sizes, default_overlap, tile_grid
from pipelines.units import Units, from_kelvin, unit_tag

ProgressCallback = Callable[[int, int], None]  # (tiles done, tiles total)
MAX_OUTPUT_PIXELS = 2_000_000_000  # a larger output needs --force


@dataclass
class DownscaleOptions:
    """How to tile and run; sizes are in output pixels."""

    tile: int = 768  # with batch 2 the fastest of 512/640/768/1024 on 2 CPU cores (README)
    overlap: int | None = None  # None: default_overlap(tile) (:meth:`tile_overlap`)
    batch_size: int = 2
    units: Units = Units.auto
    units_out: Units | None = None  # None: the input's unit
    conserve: bool = False
    conserve_spread: str = "block"  # with conserve: smooth also spreads each tile's residual first
    overwrite: bool = False
    decoding: LstDecoding = field(default_factory=LstDecoding)
    guidance_bands: tuple[str, ...] | None = None  # names of the guidance file's bands, in order
    max_output_pixels: int | None = MAX_OUTPUT_PIXELS  # None: no limit (--force)
    hole_margin: int | None = None  # output px masked around nodata holes; None: auto
    execution: Execution = field(default_factory=Execution)
    cog: bool = False  # write a Cloud-Optimized GeoTIFF (pipelines.cog)
    overviews: bool = False  # add internal overviews
    tags: dict[str, str] = field(default_factory=dict)  # written last, over the default tags
    # how the warning of an ingest's constant dem band (no DEM given) says to give one
    dem_hint: str = "pass a DEM to ingest for its full accuracy"
    scale: int | None = None  # no guidance: interpolate onto the LST grid refined by this

    def __post_init__(self) -> None:
        """Refuse values the run cannot use, naming the field: a unit given as a plain str failed
        deep in the run (``AttributeError: 'str' object has no attribute 'value'``), and an
        unknown spread silently ran as ``block``, as a spread without ``conserve`` was silently
        ignored (now an :class:`InputError`, as every field's refusal). A unit's name, in any case
        (``"Celsius"``), is taken as the :class:`Units` it names, as the CLI's ``--units`` takes it."""
        self.units = _units_field("units", self.units, tuple(Units))
        if self.units_out is not None:
            self.units_out = _units_field("units_out", self.units_out, (Units.kelvin, Units.celsius))
        if self.conserve_spread not in CONSERVE_SPREADS:
            raise InputError("DownscaleOptions.conserve_spread", f"unknown spread {self.conserve_spread!r}",
                             f"use {' or '.join(CONSERVE_SPREADS)}")
        if self.conserve_spread != "block" and not self.conserve:
            raise InputError("DownscaleOptions.conserve_spread",
                             f"conserve_spread={self.conserve_spread!r} needs conserve=True (the spread is how "
                             "conserve spreads its residual; without it nothing reads it)",
                             "pass conserve=True too, or leave conserve_spread at 'block'")

    def tile_overlap(self) -> int:
        """The overlap used: the one given, else :func:`default_overlap` of the tile, as the CLI's
        (a fixed 64 kept ``DownscaleOptions(tile=96)`` at an overlap over half its tile). Decided
        when used, so ``dataclasses.replace(options, tile=96)`` gets the new tile's default too."""
        return default_overlap(self.tile) if self.overlap is None else self.overlap


def _units_field(name: str, value: object, allowed: tuple[Units, ...]) -> Units:
    """``value`` as the member of ``allowed`` it is or names (a :class:`Units`, an
    :class:`~pipelines.units.OutputUnits` or a name such as ``"Celsius"``, any case), else an
    :class:`InputError` naming ``DownscaleOptions.<name>`` and the allowed names."""
    for unit in allowed:
        if isinstance(value, str) and value.lower() == unit.value:  # Units and OutputUnits are str too
            return unit
    names = ", ".join(unit.value for unit in allowed)
    raise InputError(f"DownscaleOptions.{name}", f"unknown unit {value!r}",
                     f"use one of {names} (a pipelines.units.Units or its name)")


@dataclass
class SceneReport:
    """What happened to one scene (also the JSON line printed per scene)."""

    input: str
    output: str
    status: str = "ok"
    seconds: float = 0.0
    megapixels: float = 0.0
    error: str | None = None
    grid: str | None = None
    units: str | None = None
    tiles: int = 0
    tiles_skipped: int = 0
    valid_fraction: float | None = None  # share of output pixels written with a value
    hole_margin: int | None = None  # output px masked around nodata holes
    extra: dict[str, object] = field(default_factory=dict)
    lst_valid: int | None = None  # the LST's valid (LR) pixels inside the output footprint
    without_guidance: int | None = None  # output px with LST data there but guidance nodata (NaN)


def guidance_beside(lst_path: str | os.PathLike[str]) -> Path:
    """``X_lst.tif`` -> ``X_guidance.tif`` in the same folder (the scene naming convention, any
    case: :func:`~pipelines.raster_names.paired_guidance`). An
    LST that is not there is refused as such, not as a naming problem (a typo'd name is both)."""
    p = Path(lst_path)
    if p.is_dir():
        raise InputError(p, "is a directory, expected a GeoTIFF",
                         "SDGSAT-1 product folders are given alone: one scene's TIS and MII folders")
    guidance = paired_guidance(p)
    if guidance is None:
        if not p.exists():
            raise not_found_error(p)
        raise InputError(
            p,
            "cannot find the guidance: the file name does not end in _lst",
            "name the pair X_lst.tif + X_guidance.tif or pass --guidance",
        )
    return guidance


def match_bands(
    guidance_path: str | os.PathLike[str], names: Sequence[str], wanted: Sequence[str],
    named: bool = True, model_path: str | os.PathLike[str] | None = None,
) -> list[int]:
    """1-based band indexes of ``wanted`` in a raster whose bands are ``names``.

    Bands are matched by name (any order), else by :func:`band_key` when that finds one band
    (``deep_blue`` for ``deepblue``; two are no match). Two bands of one name are refused, as
    taking either would silently ignore the other. A raster whose bands have no names at all is
    taken in order when its band count matches, with a warning; named bands must match. A
    model (``model_path``: its checkpoint) naming one band twice is refused, naming the model.
    """
    if not wanted:
        return []
    if not named:
        if len(names) == len(wanted):
            warnings.warn(
                f"{guidance_path}: the guidance bands have no names; taken in order as "
                f"{', '.join(wanted)} (name them with --guidance-bands to be sure)",
                GroklstWarning, stacklevel=2,
            )
            return list(range(1, len(wanted) + 1))
        raise InputError(
            guidance_path,
            f"has {len(names)} unnamed bands, the model needs {len(wanted)}: {', '.join(wanted)}",
            "set band descriptions, or name the file's bands with --guidance-bands",
        )
    check_distinct_bands(guidance_path, names, DISTINCT_BANDS_HINT)
    check_distinct_bands(model_path or guidance_path, wanted, "use a model trained on distinct band names",
                         what="the model's guidance band name")
    lookup = {n: i for i, n in enumerate(names, start=1)}
    keys: dict[str, list[int]] = {}
    for i, n in enumerate(names, start=1):
        keys.setdefault(band_key(n), []).append(i)
    for w in wanted:
        if w not in lookup and len(keys.get(band_key(w), [])) == 1:
            lookup[w] = keys[band_key(w)][0]
    missing = [w for w in wanted if w not in lookup]
    if missing:
        raise InputError(
            guidance_path,
            missing_bands(missing, names),
            "band names must be those the model was trained with; if the bands are these, "
            "name them in file order with --guidance-bands",
        )
    return [lookup[w] for w in wanted]


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch of under one tile, as the CLI's ``--batch-size`` does: such a batch never
    fills, so every tile would be held and run as one batch at the end (the scene in memory)."""
    if batch_size < 1:
        raise InputError("--batch-size", f"must be at least 1, got {batch_size}",
                         "pass --batch-size 1 or more (default 2)")


class _SceneRun:
    """The state of one scene's tiled run: its reader, model, tiling and output checks."""

    def __init__(self, reader: TileReader, predictor, opts: DownscaleOptions, interpolated: bool = False):
        self.reader, self.grids, self.predictor, self.opts = reader, reader.grids, predictor, opts
        self.guard = OutputGuard(self.grids.scale, reader.sources.lst_path, interpolated)
        # the CLI's checks, for library callers too: tiles of 5 px wrote values 12 K off
        sizes = check_tile_sizes(opts.tile, opts.tile_overlap(), self.grids.scale)
        self.tile_lr, self.overlap_lr = sizes.tile, sizes.overlap

    def finish(self, rows: np.ndarray, top: int, units_out: Units) -> np.ndarray:
        """Check and post-process finished output rows (Kelvin): conservation, plausibility, units."""
        s, w = self.grids.scale, self.grids.lr_window
        lr = self.reader.read_lr(Window(w.col_off, w.row_off + top // s, w.width, rows.shape[0] // s))
        if self.opts.conserve:
            rows = conserve_blocks(rows, lr, s)
        self.guard.check(rows, lr)
        return from_kelvin(rows, units_out)


def check_output_size(grids: PairedGrids, limit: int | None, lst_path: Path) -> None:
    """Refuse an output of more than ``limit`` pixels (``--force``'s limit; None: no limit),
    named after ``lst_path``: a mistaken scale or guidance resolution would otherwise write
    tens of GiB. Also checked from the headers before ``--align`` warps a copy
    (:func:`pipelines.scene_align.check_before_aligning`)."""
    out = grids.output
    pixels = out.width * out.height
    if limit is not None and pixels > limit:
        raise InputError(
            lst_path,
            f"the output would be {out.width} x {out.height} px ({pixels / 1e9:.1f} Gpx, about "
            f"{pixels * 4 / 2**30:.0f} GiB of float32 before compression), above the "
            f"{limit / 1e9:g} Gpx limit",
            "check the guidance resolution or --scale, or pass --force to write it anyway",
        )


def _pair(inputs: SceneSources, source: ModelSource,
          opts: DownscaleOptions) -> tuple[PairedGrids, list[str], list[int]]:
    """The grids of an LST and its guidance, the guidance bands to read and their indexes."""
    names, named = guidance_names(inputs.guidance, inputs.guidance_path, opts.guidance_bands)
    wanted = source.bands(names)
    bands = match_bands(inputs.guidance_path, names, wanted, named or source.checkpoint is None,
                        model_path=source.checkpoint_path)
    grids = pair_grids(
        Grid.of(inputs.lst), Grid.of(inputs.guidance), scale=source.scale,
        lst_path=inputs.lst_path, guidance_path=inputs.guidance_path,
    )
    return grids, wanted, bands


def _replaced_bands(inputs: SceneSources, source: ModelSource, wanted: list[str],
                    dem_hint: str) -> dict[int, float]:
    """Guidance bands a learned model is given its training mean for, with a warning ending in
    ``dem_hint``: ingest's constant dem fill (no DEM given), far outside any real scene's
    elevations. On a generated scene the shipped model's RMSE was 5.5 K with the 0 m fill,
    1.34 K with the mean, 1.30 K with the real DEM (bicubic 2.78 K); README *From SDGSAT-1
    products to scenes*."""
    ckpt, keys = source.checkpoint, [band_key(b) for b in wanted]  # wanted: the checkpoint's bands
    if ckpt is None or inputs.guidance is None or "dem" not in keys or not filled_dem(inputs.guidance):
        return {}
    mean = ckpt.band_mean[keys.index("dem")]
    warnings.warn(f"{display_name(inputs.guidance_path)}: the dem band is a constant fill (ingested without "
                  f"--dem); the model is given its training mean elevation, {mean:g} m, there instead: {dem_hint}",
                  GroklstWarning, stacklevel=3)
    return {keys.index("dem"): mean}


def downscale_scene(
    lst_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    source: ModelSource,
    *,
    guidance_path: str | os.PathLike[str] | None = None,
    options: DownscaleOptions | None = None,
    on_progress: ProgressCallback | None = None,
    on_grid: Callable[[str], None] | None = None,
) -> SceneReport:
    """Downscale one scene into ``out_path`` (atomically) and report what was done.

    The guidance is ``guidance_path`` or ``X_guidance.tif`` beside ``X_lst.tif``; with
    ``options.scale`` (interpolators only) there is none.

    Raises :class:`InputError` for bad input (nothing is written) and
    :class:`EmptySceneError` when there is no valid pixel to write.
    """
    opts = options or DownscaleOptions()
    check_batch_size(opts.batch_size)
    if opts.scale is not None and (source.interpolation is None or guidance_path is not None):
        raise ValueError("options.scale is for interpolators without guidance")
    start = time.perf_counter()
    lst_path = Path(lst_path)
    if opts.scale is None:
        guidance_path = Path(guidance_path) if guidance_path else guidance_beside(lst_path)
    report = SceneReport(input=display_name(lst_path), output=str(out_path))
    with streaming_gdal_env(), one_run(), ExitStack() as stack:  # a scene says a thing of a file once
        inputs = SceneSources.open(stack, lst_path, guidance_path)
        if inputs.guidance is None:
            grids, wanted, bands = refine_grid(Grid.of(inputs.lst), opts.scale, lst_path=lst_path), [], []
            report.grid = grids.describe(None)
        else:
            grids, wanted, bands = _pair(inputs, source, opts)
            report.grid = grids.describe(Grid.of(inputs.guidance))
            differs = source.checkpoint and source.checkpoint.compare_resolution(
                grids.output.res, grids.output.res_units)
            if differs:
                warnings.warn(f"{lst_path}: the model was {differs} on this scene's output grid, "
                              "so what it learned of texture may not hold here; compare with "
                              "--model bicubic, or learn on this scene with --fit",
                              GroklstWarning, stacklevel=2)
        check_output_size(grids, opts.max_output_pixels, lst_path)
        if on_grid:
            on_grid(report.grid)
        found = scan(inputs.lst, grids.lr_window, opts.decoding, lst_path)
        units = resolve_units(found, opts.units)
        check_plausible(found, units, opts.decoding, lst_path)
        units_out = opts.units_out or units
        report.units = f"{units.value} in, {units_out.value} out"
        predictor = source.predictor(grids.scale, wanted, opts.execution)
        report.hole_margin = resolve_hole_margin(opts.hole_margin, grids.scale, source.needs_hole_margin)
        reader = TileReader(inputs, grids, bands, wanted, units, opts.decoding, report.hole_margin,
                            source.checkpoint, _replaced_bands(inputs, source, wanted, opts.dem_hint))
        run = _SceneRun(reader, predictor, opts,
                        interpolated=source.interpolation is not None)
        protected = [lst_path, guidance_path, source.checkpoint_path]
        with geotiff_output(out_path, overwrite=opts.overwrite, inputs=protected,
                            finish=layout(cog=opts.cog, overviews=opts.overviews)) as tmp:
            _write_mosaic(run, tmp, source, report, units_out, on_progress)
            if run.guard.valid == 0:
                raise _empty_scene(lst_path, inputs, grids, bands, report.hole_margin, source)
    report.seconds = round(time.perf_counter() - start, 3)
    out = grids.output
    report.megapixels = round(out.width * out.height / 1e6, 4)
    report.valid_fraction = round(run.guard.valid / (out.width * out.height), 6)
    report.lst_valid = found.valid
    if inputs.guidance is not None:
        report.without_guidance = reader.without_guidance.total
    return report


def _empty_scene(lst_path: str | os.PathLike[str], inputs: SceneSources, grids: PairedGrids,
                 bands: list[int], margin: int, source: ModelSource) -> EmptySceneError:
    """Why no output pixel has a value: a guidance band with no data under the LST (it masks
    every pixel, whatever the hole margin), else nodata everywhere, or the hole margin."""
    if inputs.guidance is not None:
        empty = bands_without_data(inputs.guidance, bands, grids.guidance_window, inputs.guidance_path)
        if empty:
            names = ", ".join(band_names(inputs.guidance)[b - 1] for b in empty)
            needs, hint = (("the model reads it", "fill the band, or use a checkpoint trained without it")
                           if source.interpolation is None else
                           ("every guidance band masks the output's nodata, used by the model or not",
                            "fill the band, or leave it out of the guidance file"))
            return EmptySceneError(lst_path, f"no output pixel has a value: guidance band(s) {names} of "
                                             f"{display_name(inputs.guidance_path)} hold no data under the LST, "
                                             f"and {needs}", hint)
    return EmptySceneError(lst_path, "no output pixel has a value (the LST or the guidance is nodata everywhere "
                                     "they overlap" + (f", or within the {margin} px hole margin of such pixels; "
                                                       "--hole-margin 0 keeps those)" if margin else ")"))


COVERAGE_PIXELS = 4_000_000  # guidance pixels per strip of lst_pixels_with_guidance: memory-flat on any scene


def lst_pixels_with_guidance(inputs: SceneSources, grids: PairedGrids,
                             decoding: LstDecoding) -> tuple[int, int, list[int]]:
    """The LST's valid pixels in the output's footprint with data in every guidance band under
    them, all of them there, and those with data in each band (a band with none is that band's
    fault, not the whole guidance's). An LST pixel has a band's data where any of the guidance
    pixels under it has (a nearest pick of one would call a striped guidance empty, or full).
    Read strip by strip at the guidance's resolution, so any scene costs a few MB."""
    window, frame, ratio = grids.lr_window, grids.guidance_window, grids.ratio
    rows_per_strip = max(1, COVERAGE_PIXELS // max(1, int(frame.width) * ratio))
    covered = inside = 0
    by_band = [0] * inputs.guidance.count
    for top in range(0, int(window.height), rows_per_strip):
        rows = min(rows_per_strip, int(window.height) - top)
        valid = ~np.isnan(decode(inputs.lst, Window(window.col_off, window.row_off + top, window.width, rows),
                                 decoding, inputs.lst_path))
        strip = Window(frame.col_off, frame.row_off + top * ratio, frame.width, rows * ratio)
        inside += int(np.count_nonzero(valid))
        every = valid.copy()
        for band in range(1, inputs.guidance.count + 1):
            has = valid & _band_has_data(inputs, band, strip, ratio)
            by_band[band - 1] += int(np.count_nonzero(has))
            every &= has
        covered += int(np.count_nonzero(every))
    return covered, inside, by_band


def _band_has_data(inputs: SceneSources, band: int, strip: Window, ratio: int) -> np.ndarray:
    """Per LST pixel of ``strip`` (``ratio`` x ``ratio`` guidance pixels each), whether guidance
    ``band`` has a finite value (not its nodata, mask or NaN) in any of them."""
    src = inputs.guidance
    try:
        data = src.read(band, window=strip, masked=True)
    except RasterioError as exc:
        raise unreadable(inputs.guidance_path, exc) from exc
    data = mask_declared_nodata(src, data, band)
    has = ~np.ma.getmaskarray(data)
    if data.dtype.kind == "f":
        has &= np.isfinite(data.data)
    rows, cols = has.shape[0] // ratio, has.shape[1] // ratio
    return has[:rows * ratio, :cols * ratio].reshape(rows, ratio, cols, ratio).any(axis=(1, 3))


def _write_mosaic(run: _SceneRun, tmp: Path, source: ModelSource, report: SceneReport,
                  units_out: Units, on_progress: ProgressCallback | None) -> None:
    """Run every tile and stream the blended mosaic into ``tmp``."""
    grids, opts = run.grids, run.opts
    layout = tile_grid(*run.reader.shape, run.tile_lr, run.overlap_lr)
    total = sum(len(r) for r in layout)
    report.tiles = total
    out = grids.output
    profile = creation_profile(
        width=out.width, height=out.height, count=1, crs=out.crs, transform=out.transform
    )
    s = grids.scale
    done = 0
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.set_band_description(1, "lst")
        dst.set_band_unit(1, unit_tag(units_out))
        dst.update_tags(
            **source.tags(), scale=str(s), units=unit_tag(units_out),
            lst_source=_source_tag(run.reader.sources.lst_path),  # absolute: usable
            guidance_source=_source_tag(run.reader.sources.guidance_path),  # from anywhere
            grid=report.grid, conserve=str(opts.conserve).lower(), **_spread_tag(opts),
            hole_margin=str(run.reader.hole_margin),
            **reading_tags(run.reader.decoding, *linear(run.reader.sources.lst, run.reader.decoding,
                                                         path=run.reader.sources.lst_path),
                           run.reader.units),  # how the LST was read: the quicklook reads it so
        )
        sources = run.reader.sources
        dst.update_tags(**provenance_tags(sources.lst.tags(), sources.guidance and sources.guidance.tags()))
        dst.update_tags(**opts.tags)
        if source.interpolation is None and isinstance(run.predictor, TilePredictor):
            dst.update_tags(precision=run.predictor.precision)  # bf16/fp16 are not exact: say which ran
        mosaic = StreamingMosaic(
            dst, block_rows=BLOCK,
            on_finished=lambda rows, top: run.finish(rows, top, units_out),
        )
        # Batches are filled across tile rows (row-major order), so every forward pass is full.
        # One batch is in flight: it is submitted before the previous one is blended, so a GPU
        # computes while the CPU blends and writes. Rows are finished once no tile still to
        # come, or still in flight, starts above them.
        tiles = [tile for row in layout for tile in row]
        batch: list[tuple[Tile, TileData]] = []
        in_flight: tuple[list[tuple[Tile, TileData]], Prediction] | None = None
        for i, (tile, data) in enumerate(read_ahead(run.reader, tiles, lookahead=2 * opts.batch_size)):
            if data is None:
                report.tiles_skipped += 1
            else:
                batch.append((tile, data))
            last = i + 1 == len(tiles)
            if len(batch) == opts.batch_size or (last and batch):
                submitted = (batch, _submit_batch(run, batch))
                if in_flight is not None:
                    done += _blend_batch(run, mosaic, *in_flight)
                in_flight, batch = submitted, []
            if not batch:
                row = out.height if last else run.reader.output_origin(tiles[i + 1])[0]
                if in_flight is not None:
                    row = min(row, run.reader.output_origin(in_flight[0][0][0])[0])
                mosaic.finish_rows(row)
            if on_progress:
                on_progress(done + report.tiles_skipped, total)
        if in_flight is not None:
            done += _blend_batch(run, mosaic, *in_flight)
            if on_progress:
                on_progress(done + report.tiles_skipped, total)
        mosaic.close()


def _spread_tag(opts: DownscaleOptions) -> dict[str, str]:
    """``conserve_spread`` when the output is conserved: how the correction was spread."""
    return {"conserve_spread": opts.conserve_spread} if opts.conserve else {}


def _source_tag(path: Path | None) -> str:
    """An input's absolute path (or GDAL name) for the output's tags; ``none`` for no guidance."""
    return "none" if path is None else source_tag(path)


def _submit_batch(run: _SceneRun, batch: list[tuple[Tile, TileData]]) -> Prediction:
    lr = np.stack([d[0] for _, d in batch])
    guid = np.stack([d[1] for _, d in batch])
    return submit(run.predictor, lr, guid)


def _blend_batch(run: _SceneRun, mosaic: StreamingMosaic, batch: list[tuple[Tile, TileData]],
                 prediction: Prediction) -> int:
    """Check the batch's prediction and add it to the mosaic; returns the tiles blended."""
    s = run.grids.scale
    smooth = run.opts.conserve and run.opts.conserve_spread == "smooth"
    for (tile, (lr, _, invalid)), p in zip(batch, prediction.result()):
        OutputGuard.check_prediction(p, invalid, run.reader.sources.lst_path)
        p = np.where(invalid, np.nan, p)
        if smooth:  # finish then applies the exact block correction, now close to 1
            p = spread_smooth(p, lr, s)
        weights = blend_weights(tile, s, run.overlap_lr)
        mosaic.add(*run.reader.output_origin(tile), p, weights)
    return len(batch)

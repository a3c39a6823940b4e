"""Downscale one scene: LST + guidance rasters in, a georeferenced LST GeoTIFF out.

Tiles on the LR grid are read window by window, filled where nodata, run in batches through
the model, blended with smooth weights and written row band by row band, so memory does not
grow with the scene. Output pixels are NaN where the covering LR pixel or any guidance band is
nodata. The output goes to a temporary name and is renamed only when complete.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from pipelines.atomic import atomic_output
from pipelines.cog import finish_layout
from pipelines.conserve import conserve_blocks
from pipelines.errors import InputError
from pipelines.fill import fill_bands, fill_nearest
from pipelines.geotiff import (
    BLOCK, band_names, bounded_block_cache, creation_profile, open_raster,
)
from pipelines.grids import Grid, PairedGrids, pair_grids
from pipelines.infer import ModelSource
from pipelines.mosaic import StreamingMosaic
from pipelines.tiling import Tile, blend_weights, tile_grid
from pipelines.units import Units, detect_units, from_kelvin, to_kelvin, unit_tag

ProgressCallback = Callable[[int, int], None]  # (tiles done, tiles total)


@dataclass
class DownscaleOptions:
    """How to tile and run; sizes are in output pixels."""

    tile: int = 512
    overlap: int = 64
    batch_size: int = 4
    units: Units = Units.auto
    units_out: Units | None = None  # None: the input's unit
    conserve: bool = False
    overwrite: bool = False
    cog: bool = False  # write a Cloud-Optimized GeoTIFF (pipelines.cog)
    overviews: bool = False  # add internal overviews
    tags: dict[str, str] = field(default_factory=dict)  # written last, over the default tags


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
    extra: dict[str, object] = field(default_factory=dict)


def guidance_beside(lst_path: str | os.PathLike[str]) -> Path:
    """``X_lst.tif`` -> ``X_guidance.tif`` in the same folder (the scene naming convention)."""
    p = Path(lst_path)
    stem, suffix = p.stem, p.suffix
    if not stem.endswith("_lst"):
        raise InputError(
            p,
            "cannot find the guidance: the file name does not end in _lst",
            "name the pair X_lst.tif + X_guidance.tif or pass --guidance",
        )
    return p.with_name(stem[: -len("_lst")] + "_guidance" + suffix)


def _grid(src: rasterio.DatasetReader) -> Grid:
    return Grid(src.crs, src.transform, src.width, src.height)


def match_bands(
    guidance_path: str | os.PathLike[str], names: Sequence[str], wanted: Sequence[str]
) -> list[int]:
    """1-based band indexes of ``wanted`` in a raster whose bands are ``names``.

    Bands are matched by description (any order). A raster without descriptions is taken in
    order when its band count matches.
    """
    if not wanted:
        return []
    lookup = {n: i for i, n in enumerate(names, start=1)}
    if all(n == f"b{i}" for i, n in enumerate(names, start=1)):
        if len(names) == len(wanted):
            return list(range(1, len(wanted) + 1))
        raise InputError(
            guidance_path,
            f"has {len(names)} unnamed bands, the model needs {len(wanted)}: {', '.join(wanted)}",
            "set band descriptions or give a guidance raster with these bands",
        )
    missing = [w for w in wanted if w not in lookup]
    if missing:
        raise InputError(
            guidance_path,
            f"missing guidance band(s) {', '.join(missing)} (has {', '.join(names)})",
            "band descriptions must name the bands the model was trained with",
        )
    return [lookup[w] for w in wanted]


def _read_lr(src: rasterio.DatasetReader, window: Window, units: Units) -> np.ndarray:
    data = src.read(1, window=window, masked=True).astype(np.float32)
    arr = np.ma.filled(data, np.nan)
    arr[~np.isfinite(arr)] = np.nan
    return to_kelvin(arr, units)


def _read_guidance(
    src: rasterio.DatasetReader, bands: list[int], window: Window, factor: int
) -> np.ndarray:
    data = np.ma.filled(src.read(bands, window=window, masked=True).astype(np.float32), np.nan)
    data[~np.isfinite(data)] = np.nan
    if factor > 1:
        k, h, w = data.shape
        blocks = data.reshape(k, h // factor, factor, w // factor, factor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
            data = np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
    return data


def _detect_units(src: rasterio.DatasetReader, window: Window, declared: Units) -> Units:
    if declared is not Units.auto:
        return declared
    step = max(1, max(window.width, window.height) // 512)
    sample = src.read(1, window=window, masked=True, out_shape=(
        max(1, int(window.height) // step), max(1, int(window.width) // step)))
    return detect_units(np.ma.filled(sample.astype(np.float32), np.nan))


class _SceneRun:
    """The state of one scene's tiled run (sources, grids, model, mosaic)."""

    def __init__(self, lst, guidance, grids: PairedGrids, predictor, bands, units, opts):
        self.lst, self.guidance, self.grids = lst, guidance, grids
        self.predictor, self.bands, self.units, self.opts = predictor, bands, units, opts
        s = grids.scale
        self.tile_lr = max(1, opts.tile // s)
        self.overlap_lr = min(opts.overlap // s, max(0, self.tile_lr - 1))

    def lr_window(self, tile: Tile) -> Window:
        w = self.grids.lr_window
        return Window(w.col_off + tile.col, w.row_off + tile.row, tile.cols, tile.rows)

    def guidance_window(self, tile: Tile) -> Window:
        w, r = self.grids.guidance_window, self.grids.ratio
        return Window(w.col_off + tile.col * r, w.row_off + tile.row * r, tile.cols * r, tile.rows * r)

    def read_tile(self, tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(lr filled, guidance filled, invalid output mask), or None for an all-nodata tile."""
        s = self.grids.scale
        lr = _read_lr(self.lst, self.lr_window(tile), self.units)
        lr_filled = fill_nearest(lr)
        if lr_filled is None:
            return None
        guid = _read_guidance(
            self.guidance, self.bands, self.guidance_window(tile), self.grids.guidance_factor
        )
        invalid = np.repeat(np.repeat(np.isnan(lr), s, axis=0), s, axis=1)
        if guid.shape[0]:
            invalid |= np.isnan(guid).any(axis=0)
            guid_filled = fill_bands(guid)
            if guid_filled is None:
                return None
        else:
            guid_filled = guid
        return lr_filled, guid_filled, invalid

    def finish(self, rows: np.ndarray, top: int, units_out: Units) -> np.ndarray:
        """Post-process finished output rows (Kelvin): optional energy conservation, units."""
        if self.opts.conserve:
            s, w = self.grids.scale, self.grids.lr_window
            window = Window(w.col_off, w.row_off + top // s, w.width, rows.shape[0] // s)
            rows = conserve_blocks(rows, _read_lr(self.lst, window, self.units), s)
        return from_kelvin(rows, units_out)


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
    """Downscale one scene into ``out_path`` (atomically) and report what was done."""
    opts = options or DownscaleOptions()
    start = time.perf_counter()
    guidance_path = Path(guidance_path) if guidance_path else guidance_beside(lst_path)
    report = SceneReport(input=str(lst_path), output=str(out_path))
    with (
        bounded_block_cache(),
        open_raster(lst_path) as lst,
        open_raster(guidance_path) as guidance,
    ):
        if lst.count != 1:
            raise InputError(lst_path, f"has {lst.count} bands, expected 1 LST band")
        names = band_names(guidance)
        wanted = source.bands(names)
        bands = match_bands(guidance_path, names, wanted)
        grids = pair_grids(
            _grid(lst), _grid(guidance), scale=source.scale,
            lst_path=lst_path, guidance_path=guidance_path,
        )
        predictor = source.predictor(grids.scale, wanted)
        report.grid = grids.describe(_grid(guidance))
        if on_grid:
            on_grid(report.grid)
        units = _detect_units(lst, grids.lr_window, opts.units)
        units_out = opts.units_out or units
        report.units = f"{units.value} in, {units_out.value} out"
        run = _SceneRun(lst, guidance, grids, predictor, bands, units, opts)
        layout = tile_grid(
            int(grids.lr_window.height), int(grids.lr_window.width), run.tile_lr, run.overlap_lr
        )
        total = sum(len(r) for r in layout)
        report.tiles = total
        out = grids.output
        profile = creation_profile(
            width=out.width, height=out.height, count=1, crs=out.crs, transform=out.transform
        )
        s = grids.scale
        done = 0
        with atomic_output(out_path, overwrite=opts.overwrite) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.set_band_description(1, "lst")
                dst.set_band_unit(1, unit_tag(units_out))
                dst.update_tags(
                    **source.tags(), scale=str(s), units=unit_tag(units_out),
                    lst_source=str(lst_path), guidance_source=str(guidance_path),
                    grid=report.grid, conserve=str(opts.conserve).lower(),
                )
                dst.update_tags(**opts.tags)
                mosaic = StreamingMosaic(
                    dst, block_rows=BLOCK,
                    on_finished=lambda rows, top: run.finish(rows, top, units_out),
                )
                for i, tile_row in enumerate(layout):
                    batch: list[tuple[Tile, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
                    for tile in tile_row:
                        data = run.read_tile(tile)
                        if data is None:
                            report.tiles_skipped += 1
                        else:
                            batch.append((tile, data))
                        if len(batch) == opts.batch_size or (tile is tile_row[-1] and batch):
                            _run_batch(run, mosaic, batch)
                            done += len(batch)
                            batch = []
                        if on_progress:
                            on_progress(done + report.tiles_skipped, total)
                    nxt = layout[i + 1][0].row * s if i + 1 < len(layout) else out.height
                    mosaic.finish_rows(nxt)
                mosaic.close()
            finish_layout(tmp, cog=opts.cog, overviews=opts.overviews)
    report.seconds = round(time.perf_counter() - start, 3)
    report.megapixels = round(out.width * out.height / 1e6, 4)
    return report


def _run_batch(run: _SceneRun, mosaic, batch) -> None:
    s = run.grids.scale
    lr = np.stack([d[0] for _, d in batch])
    guid = np.stack([d[1] for _, d in batch])
    pred = run.predictor.predict(lr, guid)
    for (tile, (_, _, invalid)), p in zip(batch, pred):
        p = np.where(invalid, np.nan, p)
        weights = blend_weights(tile, s, run.overlap_lr)
        mosaic.add(tile.row * s, tile.col * s, p, weights)

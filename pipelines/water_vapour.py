"""Total column water vapour from a raster, for the split-window LST retrieval.

``[split_window] water_vapour`` in a ``--retrieval-config`` TOML may name a single-band GeoTIFF
(e.g. ERA5 TCWV or MODIS MOD05) instead of a scene-wide number. It is read in g cm-2 (kg m-2,
i.e. mm, divided by 10) as its band unit tag or ``water_vapour_units`` says (both read through
``lst_retrieval.UNIT_WORDS``), after the band's scale/offset (packed int16 ERA5), resampled
bilinearly onto the LST grid (water vapour fields are smooth), strip by strip as the LST is.
"""

from __future__ import annotations

import math
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window, from_bounds

from pipelines.errors import InputError
from pipelines.geotiff import (apply_scaling, band_scaling, mask_declared_nodata, open_raster, refuse_complex,
                              unreadable, warn_lossy)
from pipelines.grids import (UNRELATED_CRS_ERRORS, Grid, check_north_up, footprint_in, footprints_disjoint,
                            ordered_bounds, unrelated_crs_error)
from pipelines.lst_retrieval import TO_G_CM2, water_vapour_units
from pipelines.percent import percent
from pipelines.warping import grid_rows, warp_bands

VALID_G_CM2 = (0.0, 8.0)  # the wettest columns hold about 7 g cm-2 (see lst_retrieval._BOUNDS)
BLOCK_PIXELS = 1 << 20  # raster pixels check() reads at a time: memory stays flat on a large raster


@dataclass
class Summary:
    """Running count, minimum, maximum and sum of valid values (g cm-2), gathered block by block."""

    count: int = 0
    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0

    def add(self, values: np.ndarray) -> None:
        """Add a block's valid (finite) values."""
        if values.size:
            self.count += values.size
            self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))
            self.total += float(values.sum())


class WaterVapour:
    """A water vapour raster read onto the LST grid in g cm-2, with what it gave over the scene."""

    def __init__(self, src: rasterio.DatasetReader, units: str | None) -> None:
        if src.count != 1:
            raise InputError(src.name, f"{src.count} bands, a water vapour raster has one",
                             "give a single-band GeoTIFF of total column water vapour")
        if src.crs is None:
            raise InputError(src.name, "has no CRS", "the water vapour raster must be georeferenced")
        refuse_complex(src, src.name, "water vapour")
        warn_lossy(src, src.name)
        check_north_up(src.name, Grid.of(src))
        self.src, self.units = src, units or self._tagged_units(src)
        self.scaling = band_scaling(src, [1], src.name)  # (scale, offset): packed int16 ERA5 is unpacked
        self.total = 0.0  # sum of the values read onto the LST grid, for the scene mean
        self.pixels = self.missing = self.wanted = 0

    @classmethod
    def opened(cls, path: Path, units: str | None, stack: ExitStack) -> WaterVapour:
        """The raster at ``path``, closed with ``stack``."""
        return cls(stack.enter_context(open_raster(path)), units)

    @staticmethod
    def _tagged_units(src: rasterio.DatasetReader) -> str:
        """The band's unit tag as a known unit (none: g cm-2); an unknown one is refused."""
        tag = (src.units[0] or "").strip()
        if not tag:
            return "g/cm2"
        units = water_vapour_units(tag)
        if units is None:
            raise InputError(src.name, f"band unit {tag!r} is not a water vapour unit groklst knows",
                             'set water_vapour_units = "g/cm2" or "kg/m2" in [split_window] of the retrieval TOML')
        return units

    @property
    def name(self) -> str:
        return Path(self.src.name).name

    def check(self, lst_grid: Grid) -> None:
        """Refuse a raster that does not overlap ``lst_grid`` or has no values over it, and values
        over it outside ``VALID_G_CM2`` (naming the range found; kg/m2 read as g/cm2 is hinted)."""
        scene = ordered_bounds(lst_grid.bounds)
        own = ordered_bounds(tuple(self.src.bounds))
        box = self._scene_box(lst_grid, scene, own)
        if footprints_disjoint(box, own):
            raise InputError(self.src.name, f"does not overlap the scene: {self._footprints(lst_grid, scene, own)}",
                             "give a water vapour raster that covers it")
        found = self.summary_in(box)
        if found.count == 0:
            raise InputError(self.src.name, "has no water vapour values over the scene (all nodata)",
                             "give a water vapour raster that covers it")
        self._check_reaches_pixels(lst_grid, scene, own)
        low, high = found.low, found.high
        if low < VALID_G_CM2[0] or high > VALID_G_CM2[1]:
            raise InputError(self.src.name, f"water vapour over the scene is {low:.4g}..{high:.4g} g/cm2 (read as "
                             f"{self.units}), outside {VALID_G_CM2[0]:g}..{VALID_G_CM2[1]:g} g/cm2", self._hint(low, high))

    def _check_reaches_pixels(self, lst_grid: Grid, scene: tuple[float, float, float, float],
                              own: tuple[float, float, float, float]) -> None:
        """Refuse a raster that gives no LST pixel centre a value (it reaches less than a pixel into
        the scene, or only with nodata), before the write pass rather than after it: the raster is
        resampled onto the LST grid strip by strip until one pixel gets a value (a covering raster:
        the first strip). The whole grid, not the raster's footprint projected into the LST's CRS:
        a global raster's footprint (ERA5 on -180..180 or 0..360) projects to a meaningless box there."""
        for grid in _strips(lst_grid):
            if np.isfinite(self.on_grid(grid)).any():
                return
        raise InputError(self.src.name, "gives no LST pixel centre of the scene a water vapour value: "
                         f"{self._footprints(lst_grid, scene, own)}; it reaches less than a pixel into the scene, "
                         "or only with nodata",
                         "give a water vapour raster that covers the scene, e.g. ERA5 TCWV cropped around it")

    def _footprints(self, lst_grid: Grid, scene: tuple[float, float, float, float],
                    own: tuple[float, float, float, float]) -> str:
        """The raster's footprint and the ``scene``'s, both in the LST's CRS, as a refusal names them."""
        box = footprint_in(self.src.crs, own, lst_grid.crs, scene)
        return f"its footprint {_box(box)} against the scene's {_box(scene)} ({lst_grid.crs.to_string()})"

    def _scene_box(self, lst_grid: Grid, scene: tuple[float, float, float, float],
                   own: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """The LST's ``scene`` box in the raster's CRS; a CRS that PROJ cannot relate to the LST's
        (a local/engineering one) is refused in one line naming its short label, not its whole WKT."""
        try:
            return footprint_in(lst_grid.crs, scene, self.src.crs, own)
        except UNRELATED_CRS_ERRORS:
            raise self._unrelated_crs_error(lst_grid) from None

    def _unrelated_crs_error(self, lst_grid: Grid) -> InputError:
        """:func:`~pipelines.grids.unrelated_crs_error`; for a raster in a local CRS whose coordinates
        read as degrees the hint names EPSG:4326, the CRS ERA5 and MODIS water vapour come in, not
        the LST's (a scene's UTM zone)."""
        return unrelated_crs_error(self.src.name, self.src.crs, "the LST", lst_grid.crs,
                                   latlon="ERA5 and MODIS water vapour usually are", bounds=tuple(self.src.bounds))

    def _hint(self, low: float, high: float) -> str:
        """What to fix for values out of range: kg/m2 read as g/cm2 gives 10 times too much."""
        if self.units == "g/cm2" and low >= 0.0 and high <= 10 * VALID_G_CM2[1]:
            return 'values up to 80 look like kg/m2 (mm, as ERA5 TCWV): set water_vapour_units = "kg/m2"'
        return "total column water vapour in g/cm2 (0..8) or kg/m2 (0..80), with water_vapour_units saying which"

    def summary_in(self, box: tuple[float, float, float, float]) -> Summary:
        """The raster's valid values (g cm-2) in ``box`` (its own CRS), a pixel of margin around it
        for the bilinear resampling, read in blocks of rows (a scene-wide read of a fine raster
        took hundreds of MB)."""
        raw = from_bounds(*box, transform=self.src.transform)
        col0, row0 = max(math.floor(raw.col_off) - 1, 0), max(math.floor(raw.row_off) - 1, 0)
        col1 = min(math.ceil(raw.col_off + raw.width) + 1, self.src.width)
        row1 = min(math.ceil(raw.row_off + raw.height) + 1, self.src.height)
        found = Summary()
        step = max(BLOCK_PIXELS // max(col1 - col0, 1), 1)
        for top in range(row0, row1, step):
            values = self._read(Window(col0, top, col1 - col0, min(step, row1 - top)))
            found.add(values[np.isfinite(values)])
        return found

    def _read(self, window: Window) -> np.ndarray:
        """The raster's values (g cm-2) in ``window``, NaN at nodata."""
        try:
            band = mask_declared_nodata(self.src, self.src.read(1, window=window, masked=True), 1)
        except (RasterioError, CPLE_BaseError) as exc:
            raise unreadable(self.src.name, exc) from exc
        return self._g_cm2(np.ma.filled(band.astype(np.float64), np.nan))

    def _g_cm2(self, values: np.ndarray) -> np.ndarray:
        """Stored values (float64, NaN at nodata) unpacked by the band's scale/offset, in g cm-2."""
        return apply_scaling(values, self.scaling) * TO_G_CM2[self.units]

    def on_grid(self, grid: Grid) -> np.ndarray:
        """Water vapour (g cm-2) resampled bilinearly onto ``grid``, NaN where the raster has none."""
        try:
            warped = warp_bands(self.src, 1, grid, src_nodata=self.src.nodata, resampling=Resampling.bilinear)
        except (RasterioError, CPLE_BaseError) as exc:
            raise unreadable(self.src.name, exc) from exc
        return self._g_cm2(warped.astype(np.float64))

    def on(self, grid: Grid) -> np.ndarray:
        """:meth:`on_grid`, adding to the scene mean."""
        values = self.on_grid(grid)
        valid = np.isfinite(values)
        self.total += float(values[valid].sum())
        self.pixels += int(valid.sum())
        return values

    def count_missing(self, retrieved: np.ndarray, values: np.ndarray) -> None:
        """Count the pixels an LST would be retrieved at (``retrieved``) that have no water vapour."""
        self.wanted += int(retrieved.sum())
        self.missing += int((retrieved & ~np.isfinite(values)).sum())

    def uncovered_error(self) -> InputError | None:
        """The refusal when no LST pixel that would be retrieved got water vapour (a raster that
        overlaps the scene by less than a pixel, or only with nodata), else None: the TIS is not
        to blame for an all-NaN LST then."""
        if not self.wanted or self.missing < self.wanted:
            return None
        return InputError(self.src.name, f"no water vapour over the scene's {self.wanted} LST pixels (it overlaps "
                          "the scene by less than a pixel, or only with nodata)",
                          "give a water vapour raster that covers the scene")

    def describe(self) -> str:
        """The raster as the ``lst_method`` tag records it: its name and mean over the scene."""
        mean = self.total / self.pixels if self.pixels else math.nan
        return f"water_vapour={self.name} (raster, {self.units}; mean {mean:.3f} g/cm2 over the scene)"

    def report_missing(self, warning: type[Warning]) -> None:
        """Warn when LST pixels were left NaN for want of water vapour (count and share)."""
        if self.missing:
            share = percent(self.missing / self.wanted)
            warnings.warn(f"{self.name} has no water vapour under {int(self.missing)} LST pixels ({share}% of "
                          "those retrieved): the LST is NaN there; give a raster that covers the whole scene",
                          warning, stacklevel=3)


def _strips(grid: Grid) -> list[Grid]:
    """``grid`` in strips of rows of about ``BLOCK_PIXELS`` pixels."""
    step = max(BLOCK_PIXELS // grid.width, 1)
    return [grid_rows(grid, top, min(step, grid.height - top)) for top in range(0, grid.height, step)]


def _box(box: tuple[float, float, float, float]) -> str:
    """A ``(left, bottom, right, top)`` box as an error line gives it."""
    return "(" + ", ".join(f"{v:.1f}" for v in box) + ")"

"""A synthetic SDGSAT-1-like scene over the Heihe River Basin, for demos, tests and fixtures.

The scene is built at the guidance resolution (10 m for a 30 m LST and ``ratio`` 3) from a
land-cover layout that resembles the Zhangye oasis: the Heihe river, irrigated fields with
sharp edges, shelter-belt tree rows and farm tracks, a town with streets and buildings, a
highway, Gobi desert and the foothills of the Qilian mountains in the south.

Physics, kept simple but consistent so that the guidance really predicts LST:

- reflectances (MII B2..B7) are linear mixtures of water, vegetation, soil (darkened by
  moisture), roof and asphalt spectra; NDVI, NDWI and NDMVI are computed from them with
  :mod:`pipelines.indices`;
- the fine LST is air temperature with a 6.5 K/km lapse rate plus a surface excess per cover
  (cool water and transpiring vegetation, hot dry soil, roofs and asphalt) plus spatially
  correlated and white noise;
- the 30 m LST is the fine LST aggregated in radiance space (block mean of T^4, then the 4th
  root), as Wald's protocol asks for temperatures; a few pixels at the east edge are nodata.

Everything is deterministic per ``seed``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from pipelines import indices
from pipelines.atomic import check_writable, published_together
from pipelines.errors import InputError
from pipelines.geotiff import write_raster

BAND_NAMES = ("dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi")
BAND_UNITS = ("m", "1", "1", "1", "1", "1", "1", "1", "1", "1")
REFLECTANCE_BANDS = ("deepblue", "blue", "green", "red", "vre", "nir")  # MII B2..B7

SCENE_CRS = CRS.from_epsg(32647)  # WGS 84 / UTM zone 47N
SCENE_CENTRE = (625_684.5, 4_310_008.1)  # Zhangye, ~100.45 E 38.93 N, in EPSG:32647
GENERATOR = "groklst sample-scene"

LAPSE_RATE = 0.0065  # K per m
AIR_TEMPERATURE = 298.0  # K at REFERENCE_ELEVATION, a summer late morning
REFERENCE_ELEVATION = 1450.0  # m

# Land-cover classes of the layout (the ``cover`` map).
COVER_NAMES = ("water", "crop", "fallow", "tree_row", "track", "desert", "street", "roof",
               "yard", "highway", "mountain")
WATER, CROP, FALLOW, TREE_ROW, TRACK, DESERT, STREET, ROOF, YARD, HIGHWAY, MOUNTAIN = range(11)

# Endmember reflectances for MII B2..B7 (deep blue, blue, green, red, red edge, NIR).
_SPECTRA = {
    "water": (0.070, 0.062, 0.058, 0.042, 0.028, 0.018),
    "vegetation": (0.035, 0.040, 0.082, 0.036, 0.270, 0.450),
    "soil": (0.140, 0.165, 0.215, 0.270, 0.300, 0.320),
    "roof": (0.200, 0.210, 0.225, 0.240, 0.250, 0.255),
    "asphalt": (0.070, 0.080, 0.090, 0.100, 0.110, 0.120),
}
# Surface minus air temperature (K) for each pure endmember; soil depends on moisture.
_EXCESS = {"water": -3.0, "vegetation": 2.0, "dry_soil": 22.0, "wet_soil": 6.0,
           "roof": 20.0, "asphalt": 25.0}


@dataclass(frozen=True)
class SampleScene:
    """A generated scene: 30 m LST, 10 m guidance and the 10 m truth on nested grids."""

    lst: np.ndarray  # float32 (rows, cols), Kelvin, NaN = nodata
    guidance: np.ndarray  # float32 (10, rows*ratio, cols*ratio), bands in BAND_NAMES order
    lst_fine: np.ndarray  # float32 (rows*ratio, cols*ratio), Kelvin, NaN under nodata LST
    cover: np.ndarray  # uint8 (rows*ratio, cols*ratio), indices into COVER_NAMES
    crs: CRS
    lst_transform: Affine
    guidance_transform: Affine
    ratio: int
    seed: int

    def band(self, name: str) -> np.ndarray:
        """One guidance band by name."""
        return self.guidance[BAND_NAMES.index(name)]


class _Layout:
    """The scene being painted: per-pixel cover fractions, soil moisture, roof brightness, class."""

    def __init__(self, shape: tuple[int, int]):
        self.cover = np.full(shape, DESERT, dtype=np.uint8)
        self.water = np.zeros(shape)
        self.vegetation = np.zeros(shape)
        self.roof = np.zeros(shape)
        self.asphalt = np.zeros(shape)
        self.moisture = np.zeros(shape)
        self.roof_brightness = np.ones(shape)

    def paint(self, mask: np.ndarray, cover: int, **values: float | np.ndarray) -> None:
        """Set the class and the given fields (scalars or full-size arrays) where ``mask`` holds."""
        self.cover[mask] = cover
        for name, value in values.items():
            getattr(self, name)[mask] = value[mask] if isinstance(value, np.ndarray) else value

    @property
    def soil(self) -> np.ndarray:
        return np.clip(1.0 - self.water - self.vegetation - self.roof - self.asphalt, 0.0, 1.0)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian-correlated noise, zero mean and unit standard deviation (FFT filtering, periodic edges)."""
    white = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * np.pi**2 * max(sigma_px, 0.5) ** 2 * (ky**2 + kx**2))
    field = np.fft.irfft2(np.fft.rfft2(white) * kernel, s=shape)
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def _parcels(rng: np.random.Generator, n: int, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` pixels into runs of ``low..high`` pixels: (run index, offset in run) per pixel."""
    sizes = rng.integers(low, high + 1, size=n // max(low, 1) + 2)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    pixel = np.arange(n)
    index = np.searchsorted(starts, pixel, side="right") - 1
    return index, pixel - starts[index]


def _dem(rng: np.random.Generator, shape: tuple[int, int], res: float) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (m) and the mountain mask: a plain sloping north, Qilian foothills in the south."""
    rows, cols = shape
    t = np.linspace(0.0, 1.0, rows)[:, None]
    x = np.linspace(0.0, 1.0, cols)[None, :]
    foot = 0.74 + 0.05 * np.sin(2 * np.pi * (1.3 * x + rng.uniform()))
    ramp = np.clip((t - foot) / (1.0 - foot + 1e-9), 0.0, 1.0)
    relief = smooth_noise(rng, shape, 250.0 / res) + 0.5 * smooth_noise(rng, shape, 60.0 / res)
    plain = 1470.0 + 70.0 * t + 4.0 * smooth_noise(rng, shape, 400.0 / res)
    mountains = 900.0 * ramp**1.3 * (1.0 + 0.25 * relief)
    return plain + np.maximum(mountains, 0.0), ramp > 0.02


def _line_distance(shape: tuple[int, int], res: float, angle_deg: float, offset: float) -> np.ndarray:
    """Distance (m) to a straight line through the scene at ``angle_deg``, shifted by ``offset``."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64) * res
    a = np.deg2rad(angle_deg)
    cy, cx = rows * res / 2.0, cols * res / 2.0
    return np.abs((xx - cx) * np.sin(a) - (yy - cy) * np.cos(a) - offset)


def _river(rng: np.random.Generator, shape: tuple[int, int], res: float) -> tuple[np.ndarray, np.ndarray]:
    """The Heihe: a meandering channel ~60 m wide flowing north. Returns (centre column per row,
    distance to the centre line in m)."""
    rows, cols = shape
    t = np.arange(rows) / max(rows - 1, 1)
    phases = rng.uniform(size=2)
    centre = cols * (0.42 + 0.07 * np.sin(2 * np.pi * (1.2 * t + phases[0]))
                     + 0.02 * np.sin(2 * np.pi * (3.7 * t + phases[1])))
    return centre, np.abs(np.arange(cols)[None, :] - centre[:, None]) * res


def _desert(rng: np.random.Generator, layout: _Layout, res: float) -> None:
    """Gobi everywhere first: sparse shrubs on dry soil."""
    shape = layout.cover.shape
    everywhere = np.ones(shape, dtype=bool)
    layout.paint(everywhere, DESERT,
                 vegetation=np.clip(0.04 + 0.03 * smooth_noise(rng, shape, 40.0 / res), 0.0, 0.12),
                 moisture=np.clip(0.08 + 0.04 * smooth_noise(rng, shape, 300.0 / res), 0.0, 0.3))


def _oasis(rng: np.random.Generator, layout: _Layout, res: float, river_distance: np.ndarray,
           mountain: np.ndarray) -> None:
    """Irrigated parcels along the river: crops, fallow, farm tracks and poplar shelter belts."""
    shape = layout.cover.shape
    rows, cols = shape
    score = 1.0 - river_distance / (0.38 * cols * res) + 0.15 * smooth_noise(rng, shape, 300.0 / res)
    oasis = (score > 0.35) & ~mountain
    small, large = max(int(90 / res), 3), max(int(240 / res), 4)
    parcel_row, row_offset = _parcels(rng, rows, small, large)
    parcel_col, col_offset = _parcels(rng, cols, small, large)
    parcel = parcel_row[:, None] * (parcel_col.max() + 1) + parcel_col[None, :]
    n = int(parcel.max()) + 1
    state = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])  # dense crop, young crop, fallow
    veg = np.where(state == 0, rng.uniform(0.75, 0.95, n),
                   np.where(state == 1, rng.uniform(0.3, 0.6, n), rng.uniform(0.0, 0.12, n)))
    moisture = np.where(state < 2, rng.uniform(0.5, 0.9, n), rng.uniform(0.15, 0.35, n))
    tree_rows = rng.uniform(size=parcel_row.max() + 1) < 0.35
    field_veg = np.clip(veg[parcel] + 0.03 * smooth_noise(rng, shape, 20.0 / res), 0.0, 1.0)
    crop = state[parcel] < 2
    layout.paint(oasis & crop, CROP, vegetation=field_veg, moisture=moisture[parcel])
    layout.paint(oasis & ~crop, FALLOW, vegetation=field_veg, moisture=moisture[parcel])
    edge = (row_offset[:, None] == 0) | (col_offset[None, :] == 0)
    trees = (row_offset[:, None] == 0) & tree_rows[parcel_row][:, None]
    layout.paint(oasis & edge & ~trees, TRACK, vegetation=0.05, moisture=0.2)
    layout.paint(oasis & trees, TREE_ROW, vegetation=0.9, moisture=0.6)


def _town(rng: np.random.Generator, layout: _Layout, res: float, centre: np.ndarray,
          mountain: np.ndarray) -> None:
    """A town east of the river: street grid, buildings with varied roofs, green or bare yards."""
    shape = layout.cover.shape
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    town_row = 0.33 * rows
    town_col = centre[int(0.33 * (rows - 1))] + 0.14 * cols
    radius = 0.17 * min(rows, cols) * res
    distance = np.hypot(yy - town_row, xx - town_col) * res
    town = (distance < radius * (1.0 + 0.2 * smooth_noise(rng, shape, 150.0 / res))) & ~mountain
    small, large = max(int(60 / res), 4), max(int(110 / res), 5)
    block_row, row_offset = _parcels(rng, rows, small, large)
    block_col, col_offset = _parcels(rng, cols, small, large)
    block = block_row[:, None] * (block_col.max() + 1) + block_col[None, :]
    n = int(block.max()) + 1
    street_px = max(int(round(15.0 / res)), 1)
    street = (row_offset[:, None] < street_px) | (col_offset[None, :] < street_px)
    top = street_px + rng.integers(1, 3, size=n)
    left = street_px + rng.integers(1, 3, size=n)
    height, width = rng.integers(2, 6, n), rng.integers(2, 6, n)
    building = ((row_offset[:, None] >= top[block]) & (row_offset[:, None] < (top + height)[block])
                & (col_offset[None, :] >= left[block]) & (col_offset[None, :] < (left + width)[block]))
    brightness, yard_green = rng.uniform(0.45, 1.45, n)[block], rng.uniform(0.05, 0.6, n)[block]
    layout.paint(town & ~street & ~building, YARD, vegetation=yard_green, moisture=0.35)
    layout.paint(town & building & ~street, ROOF, vegetation=0.0, roof=1.0, roof_brightness=brightness)
    layout.paint(town & street, STREET, vegetation=0.03, asphalt=1.0)


def _mountains(rng: np.random.Generator, layout: _Layout, res: float, mountain: np.ndarray,
               dem: np.ndarray) -> None:
    """Bare slopes below ~2100 m, alpine meadow above."""
    shape = layout.cover.shape
    meadow = np.clip((dem - 2100.0) / 800.0, 0.0, 0.75) * (0.7 + 0.3 * smooth_noise(rng, shape, 80.0 / res))
    layout.paint(mountain, MOUNTAIN, vegetation=np.clip(meadow, 0.02, 0.9),
                 moisture=np.clip(0.2 + 0.4 * meadow, 0.0, 0.7), roof=0.0, asphalt=0.0)


def _layout(rng: np.random.Generator, shape: tuple[int, int], res: float,
            mountain: np.ndarray, dem: np.ndarray) -> _Layout:
    """Paint desert, oasis, town, highway, mountains and finally the river on the fine grid."""
    layout = _Layout(shape)
    centre, river_distance = _river(rng, shape, res)
    _desert(rng, layout, res)
    _oasis(rng, layout, res, river_distance, mountain)
    _town(rng, layout, res, centre, mountain)
    angle = 35.0 + rng.uniform(-10, 10)
    highway = (_line_distance(shape, res, angle, 0.2 * shape[1] * res) < 10.0) & ~mountain  # 20 m wide
    layout.paint(highway, HIGHWAY, vegetation=0.0, roof=0.0, asphalt=1.0)
    _mountains(rng, layout, res, mountain, dem)
    river = river_distance < 30.0
    layout.paint(river, WATER, water=1.0, vegetation=0.0, roof=0.0, asphalt=0.0)
    banks = (river_distance < 30.0 + res) & ~river
    layout.water[banks] = 0.3
    layout.vegetation = np.clip(layout.vegetation, 0.0, 1.0 - layout.water)
    layout.moisture = np.clip(layout.moisture, 0.0, 1.0)
    return layout


def _reflectances(rng: np.random.Generator, layout: _Layout, res: float) -> np.ndarray:
    """MII B2..B7 reflectance (6, rows, cols) as linear mixtures of the endmember spectra."""
    shape = layout.cover.shape
    wet_darkening = 1.0 - 0.45 * layout.moisture
    illumination = 1.0 + 0.03 * smooth_noise(rng, shape, 100.0 / res)
    bands = []
    for band in range(6):
        value = (layout.water * _SPECTRA["water"][band]
                 + layout.vegetation * _SPECTRA["vegetation"][band]
                 + layout.soil * _SPECTRA["soil"][band] * wet_darkening
                 + layout.roof * _SPECTRA["roof"][band] * layout.roof_brightness
                 + layout.asphalt * _SPECTRA["asphalt"][band])
        speckle = 1.0 + 0.02 * rng.standard_normal(shape)
        bands.append(np.clip(value * illumination * speckle, 0.005, 0.95))
    return np.stack(bands)


def _fine_lst(rng: np.random.Generator, layout: _Layout, dem: np.ndarray, res: float) -> np.ndarray:
    """10 m LST (K): lapse-rate air temperature + cover-driven surface excess + noise."""
    shape = dem.shape
    air = AIR_TEMPERATURE - LAPSE_RATE * (dem - REFERENCE_ELEVATION)
    soil_excess = _EXCESS["dry_soil"] + (_EXCESS["wet_soil"] - _EXCESS["dry_soil"]) * layout.moisture
    roof_excess = _EXCESS["roof"] * (1.6 - 0.6 * layout.roof_brightness)  # dark roofs run hotter
    excess = (layout.water * _EXCESS["water"] + layout.vegetation * _EXCESS["vegetation"]
              + layout.soil * soil_excess + layout.roof * roof_excess
              + layout.asphalt * _EXCESS["asphalt"])
    noise = 1.2 * smooth_noise(rng, shape, 150.0 / res) + 0.3 * rng.standard_normal(shape)
    return air + excess + noise


def aggregate_radiance(fine: np.ndarray, ratio: int) -> np.ndarray:
    """Block-aggregate temperatures in radiance space: (mean of T^4 over ratio x ratio)^(1/4)."""
    rows, cols = fine.shape[0] // ratio, fine.shape[1] // ratio
    t4 = np.asarray(fine, dtype=np.float64)[: rows * ratio, : cols * ratio] ** 4
    return t4.reshape(rows, ratio, cols, ratio).mean(axis=(1, 3)) ** 0.25


def _nodata_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A short run of nodata pixels along the east edge, like a swath border."""
    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    run = max(2, rows // 16)
    start = int(rng.integers(0, max(rows - run, 1)))
    mask[start:start + run, cols - 1] = True
    mask[start + run // 4:start + run - run // 4, max(cols - 2, 0)] = True
    return mask


# Most guidance pixels a generated scene may have: its generation holds about 280 bytes per
# guidance pixel (measured: 2.5 GB for 3000 x 3000), so this is about 4.5 GB of memory.
MAX_GUIDANCE_PIXELS = 16_000_000


def check_scene_size(lr_shape: tuple[int, int], ratio: int, option: str = "--size") -> None:
    """Refuse a scene too large to generate in memory, before any work (``option`` names it)."""
    rows, cols = lr_shape
    if rows * cols * ratio * ratio > MAX_GUIDANCE_PIXELS:
        most = math.isqrt(MAX_GUIDANCE_PIXELS // (ratio * ratio))
        raise InputError(option, f"a {rows}x{cols} px scene at --ratio {ratio} has more than the "
                         f"{MAX_GUIDANCE_PIXELS:,} guidance pixels a sample scene may have",
                         f"at most --size {most} at --ratio {ratio}")


def generate_scene(
    lr_shape: tuple[int, int] = (160, 160),
    seed: int = 0,
    ratio: int = 3,
    lst_resolution: float = 30.0,
) -> SampleScene:
    """Generate a deterministic synthetic Heihe scene of ``lr_shape`` LST pixels.

    The guidance grid is ``ratio`` times finer and shares the LST grid's origin, so each LST
    pixel covers exactly ``ratio x ratio`` guidance pixels.
    """
    rows, cols = (int(v) for v in lr_shape)
    if rows < 4 or cols < 4:
        raise InputError("--size", f"scene of {rows}x{cols} LST pixels is too small", "use at least 4x4")
    if int(ratio) != ratio or ratio < 1:
        raise InputError("--ratio", f"ratio must be a positive integer, got {ratio}")
    if lst_resolution <= 0:
        raise InputError("--lst-resolution", f"resolution must be positive, got {lst_resolution}")
    ratio = int(ratio)
    check_scene_size((rows, cols), ratio)
    rng = np.random.default_rng(seed)
    fine_shape = (rows * ratio, cols * ratio)
    res = lst_resolution / ratio

    dem, mountain = _dem(rng, fine_shape, res)
    layout = _layout(rng, fine_shape, res, mountain, dem)
    refl = _reflectances(rng, layout, res)
    deepblue, blue, green, red, vre, nir = refl
    guidance = np.stack([dem, deepblue, blue, green, red, vre, nir,
                         indices.ndmvi(red, nir), indices.ndvi(red, nir), indices.ndwi(green, nir)])

    lst_fine = _fine_lst(rng, layout, dem, res)
    lst = aggregate_radiance(lst_fine, ratio)
    nodata = _nodata_mask(rng, (rows, cols))
    lst[nodata] = np.nan
    lst_fine[np.repeat(np.repeat(nodata, ratio, axis=0), ratio, axis=1)] = np.nan

    west = round((SCENE_CENTRE[0] - cols * lst_resolution / 2) / lst_resolution) * lst_resolution
    north = round((SCENE_CENTRE[1] + rows * lst_resolution / 2) / lst_resolution) * lst_resolution
    return SampleScene(
        lst=lst.astype(np.float32),
        guidance=guidance.astype(np.float32),
        lst_fine=lst_fine.astype(np.float32),
        cover=layout.cover,
        crs=SCENE_CRS,
        lst_transform=Affine(lst_resolution, 0.0, west, 0.0, -lst_resolution, north),
        guidance_transform=Affine(res, 0.0, west, 0.0, -res, north),
        ratio=ratio,
        seed=int(seed),
    )


def scene_paths(out_dir: str | os.PathLike[str], name: str) -> dict[str, Path]:
    """Where :func:`write_scene`, :func:`write_truth` and :func:`write_dem` put scene ``name``."""
    base = Path(out_dir)
    return {"lst": base / f"{name}_lst.tif", "guidance": base / f"{name}_guidance.tif",
            "lst_fine": base / f"{name}_lst_fine.tif", "dem": base / f"{name}_dem.tif"}


def _tags(scene: SampleScene) -> dict[str, str]:
    return {"generator": GENERATOR, "seed": str(scene.seed), "synthetic": "yes",
            "ratio": str(scene.ratio), "region": "Heihe River Basin (Zhangye), synthetic"}


def write_scene(
    scene: SampleScene, out_dir: str | os.PathLike[str], name: str = "heihe_demo", overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``NAME_lst.tif`` and ``NAME_guidance.tif`` into ``out_dir``; return both paths.

    Both targets are checked before either is written, so a refusal leaves nothing behind.
    """
    paths = scene_paths(out_dir, name)
    for key in ("lst", "guidance"):
        check_writable(paths[key], overwrite)
    with published_together():  # never one file of a new pair beside one of an old
        write_raster(paths["lst"], scene.lst, crs=scene.crs, transform=scene.lst_transform,
                     descriptions=["lst"], units="K", tags=_tags(scene), overwrite=overwrite)
        write_raster(paths["guidance"], scene.guidance, crs=scene.crs, transform=scene.guidance_transform,
                     descriptions=list(BAND_NAMES), units=list(BAND_UNITS), tags=_tags(scene),
                     overwrite=overwrite)
    return paths["lst"], paths["guidance"]


def write_truth(
    scene: SampleScene, out_dir: str | os.PathLike[str], name: str = "heihe_demo", overwrite: bool = False
) -> Path:
    """Write the fine 'truth' LST as ``NAME_lst_fine.tif`` on the guidance grid."""
    path = scene_paths(out_dir, name)["lst_fine"]
    tags = {**_tags(scene), "truth": "fine LST before radiance aggregation"}
    return write_raster(path, scene.lst_fine, crs=scene.crs, transform=scene.guidance_transform,
                        descriptions=["lst"], units="K", tags=tags, overwrite=overwrite)


def write_dem(
    scene: SampleScene, out_dir: str | os.PathLike[str], name: str = "heihe_demo", overwrite: bool = False
) -> Path:
    """Write the scene's elevation alone as ``NAME_dem.tif`` (what ``groklst ingest --dem`` takes)."""
    path = scene_paths(out_dir, name)["dem"]
    return write_raster(path, scene.band("dem"), crs=scene.crs, transform=scene.guidance_transform,
                        descriptions=["dem"], units="m", tags=_tags(scene), overwrite=overwrite)

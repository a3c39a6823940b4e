"""Fake SDGSAT-1 product folders made from a generated scene, for tests and documentation.

Real products may not be redistributed, so tests ingest these instead. They follow the layout
of real L4 deliveries (see :mod:`pipelines.sdgsat`): a TIS folder with a 3-band ``.tiff`` (or,
as challenge data, one ``SDGSAT1_TIS_..._B<n>.tif`` per band) and an MII folder with camera mosaics ``_A.tif`` / ``_B.tif``, each with ``meta.xml`` and a
GBK-encoded ``calib.xml``. Pixel values invert the radiometry that ingest applies, so that
ingesting the fixture gives back the scene (up to DN quantisation):

- MII: reflectance -> radiance with the ESUN table, solar zenith and Earth-Sun distance ->
  DN with the fixture gains, B4/B5 optionally clipped at a saturation DN; cameras A (west) and
  B (east) overlap in the middle;
- TIS: the scene's 30 m LST -> B2/B3 brightness temperatures by inverting the split window
  (with a fixed B2 - B3 difference, optionally larger on bare soil), B1 a little cooler ->
  Planck radiance -> DN. A B3 misregistered against B2 is made from the fine scene seen
  through moved footprints (LST and emissivity alike), so it is not the output of the
  resampling that ingest undoes it with. A sensor PSF and noise can be added (the default is
  the scene's own, ideally sampled LST).

DN 0 is fill, as in real products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from pipelines import indices, lst_retrieval, sdgsat
from pipelines.atomic import atomic_output
from pipelines.fill import fill_nearest
from pipelines.sample_scene import REFLECTANCE_BANDS, SampleScene, aggregate_radiance
from pipelines.tis_image import open_tis

SATURATING_MII_BANDS = (4, 5)  # green and red, the bands the product notes say saturate often


@dataclass(frozen=True)
class FixtureSettings:
    """Acquisition and calibration of a fixture; TIS gains/biases are typical real values."""

    acquired: date = date(2022, 8, 15)
    solar_zenith: float = 32.5
    scene_id: str = "202200112233"
    tis_gain: tuple[float, ...] = (0.003947, 0.003946, 0.005329)
    tis_bias: tuple[float, ...] = (0.167126, 0.124622, 0.222530)
    mii_gain: tuple[float, ...] = (0.071, 0.068, 0.066, 0.062, 0.058, 0.049, 0.043)  # made up
    mii_bias: tuple[float, ...] = (0.0,) * 7
    split_difference: float = 0.8  # K, TIS B2 minus B3 brightness temperature
    split_difference_soil_k: float = 0.0  # K more on bare soil (real soils' band emissivities differ more than the model's)
    camera_split: tuple[float, float] = (0.6, 0.45)  # A covers x < 0.6 W, B covers x >= 0.45 W
    tis_offset_m: tuple[float, float] = (0.0, 0.0)  # (east, north) error of the TIS georeferencing
    tis_band_offset_m: tuple[float, float] = (0.0, 0.0)  # (east, north) error of TIS B3 against B2
    tis_psf_sigma_m: float = 0.0  # Gaussian PSF of the TIS pixels (0: ideal area sampling, the sharpest)
    tis_noise_k: float = 0.0  # white noise on each TIS brightness temperature (the sensor's NETD is 0.2 K)
    tis_stripes_k: float = 0.0  # RMS of B2's detector-line offsets (brightness temperature; 0: no stripes)
    tis_stripe_angle_deg: float = 10.0  # the detector lines' direction, clockwise from north (the ground track)
    mii_saturation_dn: int | None = None  # MII B4 and B5 clip at this DN (real products saturate there often)
    tis_per_band: bool = False  # TIS as challenge data deliver it: one GeoTIFF per band (SDGSAT1_TIS_..._B1.tif)


def scene_id_for(seed: int) -> str:
    """The 12-digit product scene id of the scene generated with ``seed``: seed 0 keeps the default
    id (the names the README and tests use), other seeds count on from it, so two seeds' product
    folders written into one folder do not collide."""
    return f"{(int(FixtureSettings.scene_id) + seed) % 10**12:012d}"


def folder_name(sensor: str, settings: FixtureSettings, crs: CRS | None = None) -> str:
    """A product folder name in the real pattern, centred near Zhangye; a per-band TIS product
    (``settings.tis_per_band``) is named as challenge data are, with the EPSG code of ``crs``."""
    if sensor == "TIS" and settings.tis_per_band:
        return f"SDGSAT1_TIS_{settings.acquired:%Y%m%d}_L1A_EPSG{crs.to_epsg()}_{settings.scene_id}"
    return f"KX10_{sensor}_{settings.acquired:%Y%m%d}_E100.45_N38.93_{settings.scene_id}_L4A"


def _meta_xml(sensor: str, settings: FixtureSettings) -> bytes:
    day = f"{settings.acquired:%Y-%m-%d}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ProductMetaData>\n'
        "  <SatelliteID>SDGSAT-1</SatelliteID>\n"
        f"  <SensorID>{sensor}</SensorID>\n  <ProductLevel>L4A</ProductLevel>\n"
        f"  <StartTime>{day} 03:12:01.250</StartTime>\n"
        f"  <CenterTime>{day} 03:12:05.750</CenterTime>\n"
        f"  <EndTime>{day} 03:12:10.125</EndTime>\n"
        f"  <SolarZenith>{settings.solar_zenith}</SolarZenith>\n"
        "  <SolarAzimuth>141.3</SolarAzimuth>\n</ProductMetaData>\n"
    ).encode("utf-8")


def _calib_xml(sensor: str, gains: tuple[float, ...], biases: tuple[float, ...]) -> bytes:
    lines = ['<?xml version="1.0" encoding="GB2312"?>', "<!-- 辐射定标系数: 辐亮度 = 增益 * DN + 偏置 -->",
             "<RADIOMETRIC_CALIBRATION>", f"  <{sensor}>", "    <VERSION>", "      <说明>定标版本 V1.0</说明>"]
    for band, (gain, bias) in enumerate(zip(gains, biases), start=1):
        lines += [f"      <RADIANCE_GAIN_BAND_{band}>{gain}</RADIANCE_GAIN_BAND_{band}>",
                  f"      <RADIANCE_BIAS_BAND_{band}>{bias}</RADIANCE_BIAS_BAND_{band}>"]
    lines += ["    </VERSION>", f"  </{sensor}>", "</RADIOMETRIC_CALIBRATION>", ""]
    return "\n".join(lines).encode("gbk")


def _write_uint16(path: Path, data: np.ndarray, crs, transform: Affine) -> None:
    profile = {"driver": "GTiff", "dtype": "uint16", "nodata": 0, "count": data.shape[0],
               "height": data.shape[1], "width": data.shape[2], "crs": crs, "transform": transform,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _write_folder(target: Path, sensor: str, images: dict[str, tuple[np.ndarray, Affine]], crs,
                  gains: tuple[float, ...], biases: tuple[float, ...], settings: FixtureSettings) -> Path:
    with atomic_output(target) as tmp:
        tmp.mkdir()
        stem = target.name
        (tmp / f"{stem}.meta.xml").write_bytes(_meta_xml(sensor, settings))
        (tmp / f"{stem}.calib.xml").write_bytes(_calib_xml(sensor, gains, biases))
        for suffix, (data, transform) in images.items():
            _write_uint16(tmp / f"{stem}{suffix}", data, crs, transform)
    return target


def _mii_dn(scene: SampleScene, settings: FixtureSettings) -> np.ndarray:
    """(7, rows, cols) MII DN from the scene's reflectances; B1 extrapolated from deep blue."""
    refl = [scene.band(name) for name in REFLECTANCE_BANDS]
    b1 = np.clip(refl[0] * 1.08, 0.0, 1.0)  # violet: a little brighter than deep blue (Rayleigh)
    calib = sdgsat.Calibration(dict(enumerate(settings.mii_gain, 1)), dict(enumerate(settings.mii_bias, 1)))
    dn = []
    for band, rho in enumerate([b1, *refl], start=1):
        radiance = rho / sdgsat.reflectance_factor(band, settings.solar_zenith, settings.acquired)
        dn.append(calib.dn(radiance, band))
    if settings.mii_saturation_dn is not None:
        for band in SATURATING_MII_BANDS:
            np.minimum(dn[band - 1], settings.mii_saturation_dn, out=dn[band - 1])
    return np.stack(dn)


def _moved(fine: np.ndarray, east_px: int, north_px: int) -> np.ndarray:
    """A fine (..., rows, cols) array as seen by pixels placed ``east_px`` east and ``north_px``
    north of where they look: each shows the ground that lies that far west and south (edges
    repeated)."""
    pad = max(abs(east_px), abs(north_px))
    width = [(0, 0)] * (fine.ndim - 2) + [(pad, pad), (pad, pad)]
    padded = np.pad(fine, width, mode="edge")
    rows, cols = fine.shape[-2:]
    top, left = pad + north_px, pad - east_px
    return padded[..., top:top + rows, left:left + cols]


def _fine_offset(settings: FixtureSettings, res: float) -> tuple[int, int]:
    """``tis_band_offset_m`` in whole guidance pixels (east, north)."""
    east, north = (v / res for v in settings.tis_band_offset_m)
    if not (float(east).is_integer() and float(north).is_integer()):
        raise ValueError(f"tis_band_offset_m {settings.tis_band_offset_m} is not a multiple of the {res:g} m guidance pixel")
    return int(east), int(north)


def _brightness_temperatures(lst: np.ndarray, mii_dn: np.ndarray, ratio: int, settings: FixtureSettings,
                             config: lst_retrieval.RetrievalConfig) -> tuple[np.ndarray, np.ndarray]:
    """(t2, t3) whose split-window retrieval gives ``lst`` (coarse), with the emissivity from the
    reflectance that ingest will read back from ``mii_dn`` (quantised, float32), so that NDVI
    near an emissivity threshold falls on the same side."""
    rows, cols = lst.shape

    def block_mean(band: int) -> np.ndarray:
        dn = mii_dn[band - 1].astype(np.float32)
        radiance = settings.mii_gain[band - 1] * dn + settings.mii_bias[band - 1]
        rho = radiance * sdgsat.reflectance_factor(band, settings.solar_zenith, settings.acquired)
        return rho.reshape(rows, ratio, cols, ratio).mean(axis=(1, 3))

    green, red, nir = (block_mean(band) for band in (4, 5, 7))
    ndvi = indices.ndvi(red, nir)
    e2, e3 = lst_retrieval.emissivity(ndvi, indices.ndwi(green, nir), config)
    soil = 1.0 - lst_retrieval.vegetation_proportion(ndvi, config)
    difference = settings.split_difference + settings.split_difference_soil_k * soil
    return lst_retrieval.split_window_inverse(lst.astype(np.float64), e2, e3, config, difference)


def _seen_lst(scene: SampleScene, settings: FixtureSettings, east_px: int = 0, north_px: int = 0) -> np.ndarray:
    """The coarse LST that TIS pixels placed (east_px, north_px) fine pixels off see: the fine LST
    through the sensor's PSF, area-aggregated (the scene's own coarse LST when neither applies)."""
    if not (east_px or north_px or settings.tis_psf_sigma_m):
        return scene.lst
    fine = scene.lst_fine.astype(np.float64)
    if settings.tis_psf_sigma_m:
        nodata = np.isnan(fine)
        fine = ndimage.gaussian_filter(fill_nearest(fine), settings.tis_psf_sigma_m / scene.guidance_transform.a)
        fine[nodata] = np.nan
    return aggregate_radiance(_moved(fine, east_px, north_px), scene.ratio)


def _stripes(shape: tuple[int, int], angle_deg: float, rms: float, seed: int) -> np.ndarray:
    """TIS B2's stripes (K): one normal offset (RMS ``rms``) per detector line, the lines a
    pixel apart running ``angle_deg`` clockwise from north, interpolated between the lines'
    centres as a bilinear map projection shows them."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    t = math.radians(angle_deg)
    across = cols * math.cos(t) + rows * math.sin(t)
    across -= np.floor(across.min())
    offsets = rms * rng.standard_normal(int(across.max()) + 2)
    return np.interp(across - 0.5, np.arange(offsets.size), offsets)


def _tis_dn(scene: SampleScene, settings: FixtureSettings, config: lst_retrieval.RetrievalConfig,
            mii_dn: np.ndarray) -> np.ndarray:
    """(3, rows, cols) TIS DN whose split-window retrieval gives the LST the TIS sees (the
    scene's 30 m LST by default); B3 sees the ground through footprints moved by
    ``tis_band_offset_m``."""
    t2, t3 = _brightness_temperatures(_seen_lst(scene, settings), mii_dn, scene.ratio, settings, config)
    east, north = _fine_offset(settings, scene.guidance_transform.a)
    if east or north:
        moved_mii = _moved(mii_dn, east, north)
        _, t3 = _brightness_temperatures(_seen_lst(scene, settings, east, north), moved_mii, scene.ratio,
                                         settings, config)
    temps = [t2 - 1.0, t2, t3]
    if settings.tis_stripes_k:
        temps[1] = t2 + _stripes(t2.shape, settings.tis_stripe_angle_deg, settings.tis_stripes_k, scene.seed + 1)
    if settings.tis_noise_k:
        rng = np.random.default_rng(scene.seed)
        temps = [t + settings.tis_noise_k * rng.standard_normal(t.shape) for t in temps]
    calib = sdgsat.Calibration(dict(enumerate(settings.tis_gain, 1)), dict(enumerate(settings.tis_bias, 1)))
    return np.stack([calib.dn(sdgsat.planck_radiance(t, band), band) for band, t in enumerate(temps, start=1)])


def write_product_fixture(
    scene: SampleScene,
    out_dir: str | Path,
    settings: FixtureSettings = FixtureSettings(),
    config: lst_retrieval.RetrievalConfig = lst_retrieval.RetrievalConfig(),
) -> tuple[Path, Path]:
    """Write a TIS and an MII product folder for ``scene`` into ``out_dir``; return (tis, mii)."""
    out_dir = Path(out_dir)
    dn = _mii_dn(scene, settings)
    misplaced = Affine.translation(*settings.tis_offset_m) @ scene.lst_transform  # TIS vs MII misregistration
    tis_dn = _tis_dn(scene, settings, config, dn)
    tis_images = ({f"_B{band}.tif": (tis_dn[band - 1:band], misplaced) for band in (1, 2, 3)}
                  if settings.tis_per_band else {".tiff": (tis_dn, misplaced)})
    tis = _write_folder(out_dir / folder_name("TIS", settings, scene.crs), "TIS", tis_images,
                        scene.crs, settings.tis_gain, settings.tis_bias, settings)
    width = dn.shape[2]
    a_end, b_start = int(width * settings.camera_split[0]), int(width * settings.camera_split[1])
    gt = scene.guidance_transform
    cameras = {"_A.tif": (dn[:, :, :a_end], gt),
               "_B.tif": (dn[:, :, b_start:], gt @ Affine.translation(b_start, 0))}
    mii = _write_folder(out_dir / folder_name("MII", settings), "MII", cameras,
                        scene.crs, settings.mii_gain, settings.mii_bias, settings)
    return tis, mii


def registered_tis_temperatures(tis_folder: Path, blur_b3_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """B2 and B3 brightness temperatures (K) of a TIS product as ingest reads them before a
    split window: B3 blurred ``blur_b3_px`` more than B2 where asked (a softer B3 than the
    fixture's, for the destriping checks), its offset to B2 measured on the coregistration
    crops and undone when ingest would undo it."""
    from pipelines import band_registration
    from pipelines.coregister import crops

    tis = sdgsat.read_product(tis_folder)
    with open_tis(tis) as src:
        dn = src.read().astype(np.float64)
    radiance = {b: np.where(dn[b - 1] == 0, np.nan, tis.calibration.radiance(dn[b - 1], b)) for b in (2, 3)}
    if blur_b3_px:
        valid = np.isfinite(radiance[3])
        blurred = ndimage.gaussian_filter(np.where(valid, radiance[3], np.nanmean(radiance[3])), blur_b3_px)
        radiance[3] = np.where(valid, blurred, np.nan)
    shift = band_registration.measure_shift([(radiance[2][t:t + h, l:l + w], radiance[3][t:t + h, l:l + w])
                                             for t, l, h, w in crops(*dn.shape[1:])])
    if shift.needed:
        radiance[3] = band_registration.shift_band(radiance[3], shift)
    return sdgsat.brightness_temperature(radiance[2], 2), sdgsat.brightness_temperature(radiance[3], 3)

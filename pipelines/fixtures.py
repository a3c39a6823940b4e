"""Fake SDGSAT-1 product folders made from a generated scene, for tests and documentation.

Real products may not be redistributed, so tests ingest these instead. They follow the layout
of real L4 deliveries (see :mod:`pipelines.sdgsat`): a TIS folder with a 3-band ``.tiff`` and
an MII folder with camera mosaics ``_A.tif`` / ``_B.tif``, each with ``meta.xml`` and a
GBK-encoded ``calib.xml``. Pixel values invert the radiometry that ingest applies, so that
ingesting the fixture gives back the scene (up to DN quantisation):

- MII: reflectance -> radiance with the ESUN table, solar zenith and Earth-Sun distance ->
  DN with the fixture gains; cameras A (west) and B (east) overlap in the middle;
- TIS: the scene's 30 m LST -> B2/B3 brightness temperatures by inverting the split window
  (with a fixed B2 - B3 difference), B1 a little cooler -> Planck radiance -> DN.

DN 0 is fill, as in real products.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from pipelines import indices, lst_retrieval, sdgsat
from pipelines.atomic import atomic_output
from pipelines.sample_scene import REFLECTANCE_BANDS, SampleScene


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
    camera_split: tuple[float, float] = (0.6, 0.45)  # A covers x < 0.6 W, B covers x >= 0.45 W
    tis_offset_m: tuple[float, float] = (0.0, 0.0)  # (east, north) error of the TIS georeferencing


def folder_name(sensor: str, settings: FixtureSettings) -> str:
    """A product folder name in the real pattern, centred near Zhangye."""
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
    return np.stack(dn)


def _tis_dn(scene: SampleScene, settings: FixtureSettings, config: lst_retrieval.RetrievalConfig,
            mii_dn: np.ndarray) -> np.ndarray:
    """(3, rows, cols) TIS DN whose split-window retrieval gives the scene's 30 m LST.

    The emissivity comes from the reflectance that ingest will read back from ``mii_dn``
    (quantised, float32), so that NDVI near an emissivity threshold falls on the same side.
    """
    r = scene.ratio
    rows, cols = scene.lst.shape

    def block_mean(band: int) -> np.ndarray:
        dn = mii_dn[band - 1].astype(np.float32)
        radiance = settings.mii_gain[band - 1] * dn + settings.mii_bias[band - 1]
        rho = radiance * sdgsat.reflectance_factor(band, settings.solar_zenith, settings.acquired)
        return rho.reshape(rows, r, cols, r).mean(axis=(1, 3))

    green, red, nir = (block_mean(band) for band in (4, 5, 7))
    e2, e3 = lst_retrieval.emissivity(indices.ndvi(red, nir), indices.ndwi(green, nir), config)
    t2, t3 = lst_retrieval.split_window_inverse(scene.lst.astype(np.float64), e2, e3, config,
                                                settings.split_difference)
    calib = sdgsat.Calibration(dict(enumerate(settings.tis_gain, 1)), dict(enumerate(settings.tis_bias, 1)))
    temps = (t2 - 1.0, t2, t3)
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
    tis = _write_folder(out_dir / folder_name("TIS", settings), "TIS",
                        {".tiff": (_tis_dn(scene, settings, config, dn), misplaced)},
                        scene.crs, settings.tis_gain, settings.tis_bias, settings)
    width = dn.shape[2]
    a_end, b_start = int(width * settings.camera_split[0]), int(width * settings.camera_split[1])
    gt = scene.guidance_transform
    cameras = {"_A.tif": (dn[:, :, :a_end], gt),
               "_B.tif": (dn[:, :, b_start:], gt @ Affine.translation(b_start, 0))}
    mii = _write_folder(out_dir / folder_name("MII", settings), "MII", cameras,
                        scene.crs, settings.mii_gain, settings.mii_bias, settings)
    return tis, mii

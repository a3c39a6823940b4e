"""QA s7: ``groklst mask`` copied the input's band statistics (GDAL's ``STATISTICS_*``, e.g. from
the ``.aux.xml`` QGIS or ``gdalinfo -stats`` leaves beside it) into the masked file, where QGIS,
gdalinfo and rasterio's ``statistics()`` read them as the masked pixels' (99.85 % valid for a
half-masked scene). Outputs that copy an input's metadata now leave them out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run

TRANSFORM = Affine(30.0, 0.0, 396_705.0, 0.0, -30.0, 5_763_315.0)


def _write(path: Path, data: np.ndarray, nodata: float | None, tags: dict[str, str] | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype.name, crs=CRS.from_epsg(32632), transform=TRANSFORM, nodata=nodata) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(1, **tags)
    return path


def test_mask_writes_no_statistics_of_the_unmasked_input(tmp_path: Path) -> None:
    lst = np.linspace(290.0, 320.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    stale = {"STATISTICS_MAXIMUM": "320", "STATISTICS_MINIMUM": "290", "STATISTICS_MEAN": "305",
             "STATISTICS_VALID_PERCENT": "100", "note": "kept"}
    source = _write(tmp_path / "lst.tif", lst, -9999.0, stale)
    cloud = np.zeros(lst.shape, np.uint8)
    cloud[20:] = 1  # the hotter half
    _write(tmp_path / "cloud.tif", cloud, None)
    assert run(["-q", "mask", str(source), str(tmp_path / "cloud.tif"), "-o", str(tmp_path / "masked.tif")]) == 0
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(tmp_path / "masked.tif") as src:
        tags = src.tags(1)
        masked = src.read(1, masked=True)
    assert not [key for key in tags if key.startswith("STATISTICS_")]
    assert tags["note"] == "kept"  # the input's other band tags are still copied
    assert masked.count() == 20 * 40 and float(masked.max()) < 305.1

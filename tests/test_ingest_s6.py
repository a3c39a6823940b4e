"""SDGSAT-1 ingest (s6): a --dem in a local/engineering CRS is refused before any pass over the
scene, a single-channel LST needs nothing of TIS B3 (a NaN or missing B3 gain included), no LST
method needs anything of TIS B1, and --skip-existing says it skipped a scene whose B3 is gone."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipelines import ingest
from tests.test_ingest_bands_s4 import _camera, _copy, _ingest, _lines, sample  # noqa: F401 - sample: a fixture

LOCAL = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')


def _local_dem(scene: Path, path: Path) -> Path:
    """A DEM on camera A's grid but in a local/engineering CRS (as a site survey delivers it)."""
    with rasterio.open(_camera(scene, "A")) as src:
        profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1, "dtype": "float32",
                   "crs": LOCAL, "transform": src.transform}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((profile["height"], profile["width"]), 1200.0, dtype=np.float32), 1)
    return path


def test_a_local_crs_dem_is_refused_before_any_pass(sample, tmp_path, capsys, monkeypatch):
    """Before, it was refused only after the MII saturation, TIS and coregistration passes."""
    scene = _copy(sample, tmp_path)
    dem = _local_dem(scene, tmp_path / "dem.tif")

    def long_pass(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a pass over the scene began")

    monkeypatch.setattr(ingest._Mii, "find_saturation", long_pass)
    monkeypatch.setattr(ingest._TisLst, "find_saturation", long_pass)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--dem", str(dem)) == 2
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {dem}: its CRS is a local/engineering CRS (\"site grid\") that cannot be "
                            "related to ")
    assert "gdal_edit.py -a_srs EPSG:32647" in error  # metre coordinates: the scene's CRS
    assert not (tmp_path / "out").exists()


def test_a_local_crs_dem_in_degrees_is_hinted_to_epsg_4326(sample, tmp_path, capsys):
    """SRTM and Copernicus DEM come on a lat/lon grid: a local DEM whose coordinates read as degrees
    was hinted to the scene's UTM zone (review R1)."""
    scene = _copy(sample, tmp_path)
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32", crs=LOCAL,
                       transform=Affine(0.01, 0, 100.0, 0, -0.01, 39.0)) as dst:
        dst.write(np.full((8, 8), 1200.0, np.float32), 1)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "out", "--dem", str(dem)) == 2
    [error] = _lines(capsys, "error:")
    assert error.endswith(f"(hint: if it is a lat/lon grid (SRTM and Copernicus DEM usually are), declare it: "
                          f"gdal_edit.py -a_srs EPSG:4326 {dem} (it edits {dem} in place: copy it first to keep "
                          "the original); else declare the CRS it was delivered in)"), error


def _set_tag(calib: Path, tag: str, value: str | None) -> None:
    """Set ``tag`` of calib.xml to ``value``, or drop the element (None); bytes, as it is GBK."""
    pattern = rb"<%s>[^<]*</%s>" % (tag.encode(), tag.encode())
    text, n = re.subn(pattern, b"" if value is None else b"<%s>%s</%s>" % (tag.encode(), value.encode(), tag.encode()),
                      calib.read_bytes())
    assert n == 1
    calib.write_bytes(text)


def _lst(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("edit", [{"RADIANCE_GAIN_BAND_3": "nan"}, {"RADIANCE_GAIN_BAND_3": "NaN",
                                                                  "RADIANCE_BIAS_BAND_3": "nan"},
                                  {"RADIANCE_BIAS_BAND_3": None}], ids=["nan gain", "nan gain and bias", "no bias"])
def test_single_channel_needs_nothing_of_b3s_calibration(sample, tmp_path, capsys, edit):
    """Before, a NaN B3 gain or bias, or a B3 gain without its bias, was refused for a single-channel
    LST, which never reads B3 (only a negative gain was let through)."""
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "whole", "--lst-method", "single-channel") == 0
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    for tag, value in edit.items():
        _set_tag(calib, tag, value)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "one", "--lst-method", "single-channel") == 0
    np.testing.assert_array_equal(_lst(tmp_path / "one" / "s_lst.tif"), _lst(tmp_path / "whole" / "s_lst.tif"))
    assert _ingest(scene, tmp_path / "split") == 2  # the split window reads B3: still refused
    [error] = _lines(capsys, "error:")
    assert error.startswith(f"error: {calib}: ")
    assert "BAND_3" in error


def test_no_method_needs_anything_of_b1(sample, tmp_path, capsys):
    """Before, a NaN TIS B1 gain was refused by both methods, though neither reads B1."""
    scene = _copy(sample, tmp_path)
    assert _ingest(scene, tmp_path / "whole") == 0
    calib = next(scene.glob("KX10_TIS_*/*.calib.xml"))
    _set_tag(calib, "RADIANCE_GAIN_BAND_1", "nan")
    _set_tag(calib, "RADIANCE_BIAS_BAND_1", None)
    capsys.readouterr()
    assert _ingest(scene, tmp_path / "split") == 0
    np.testing.assert_array_equal(_lst(tmp_path / "split" / "s_lst.tif"), _lst(tmp_path / "whole" / "s_lst.tif"))
    assert _ingest(scene, tmp_path / "single", "--lst-method", "single-channel") == 0
    assert _lines(capsys, "error:") == []

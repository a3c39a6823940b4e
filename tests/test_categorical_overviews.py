"""A guidance's class-code band (``--categorical ... --classes mode``) gets overviews of real
class codes with ``--overviews`` and ``--cog`` (QA: averaged overviews held 1.25, 1.5, 1.75 ...,
so a paletted style or a decimated read showed classes that do not exist). GDAL builds every
band's overviews with one method: nearest for a file with a class band (tagged
``overview_resampling``); files of continuous bands keep the area average."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

import pipelines.cog as cog_module
from groklst_cli.app import run
from pipelines.geotiff import write_raster

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_760_000.0
LST_SHAPE = (176, 180)  # 30 m; the guidance at x3, 528 x 540 px of 10 m, is over one COG block
CLASSES = (1, 2, 3, 4)
HOLE = (slice(101, 130), slice(201, 250))  # odd edges: blocks half in it  # nodata in the class map and the continuous source
LAYOUTS = ["--overviews", "--cog"]


def _inputs(folder: Path) -> tuple[Path, Path, Path]:
    """A 30 m LST, a 10 m class map of random classes 1-4 and a 10 m continuous band, both on the
    fine grid and with the same nodata hole (every 2 x 2 block holds several classes)."""
    rng = np.random.default_rng(7)
    lst = folder / "lst.tif"
    write_raster(lst, np.full(LST_SHAPE, 300.0), crs=UTM, transform=Affine(30, 0, X0, 0, -30, Y0),
                 descriptions=["lst"], units="K")
    fine = (LST_SHAPE[0] * 3, LST_SHAPE[1] * 3)
    classes = rng.choice(np.array(CLASSES, np.uint8), fine)
    classes[HOLE] = 255
    landcover = folder / "lc.tif"
    profile = {"driver": "GTiff", "width": fine[1], "height": fine[0], "count": 1, "dtype": "uint8",
               "crs": UTM, "transform": Affine(10, 0, X0, 0, -10, Y0), "nodata": 255}
    with rasterio.open(landcover, "w", **profile) as dst:
        dst.write(classes, 1)
    swir_values = rng.uniform(0.0, 1.0, fine)
    swir_values[HOLE] = np.nan
    swir = folder / "swir.tif"
    write_raster(swir, swir_values, crs=UTM, transform=Affine(10, 0, X0, 0, -10, Y0), descriptions=["swir"])
    return lst, landcover, swir


def _guidance(folder: Path, flag: str, *sources: str, classes: str = "mode") -> Path:
    """``groklst guidance`` at x3 with ``flag`` (a layout, or "" for none); the output's path."""
    lst, landcover, swir = _inputs(folder)
    out = folder / f"g{flag}.tif"
    args = [str({"swir": swir}.get(s, s)) for s in sources]
    layout = [flag] if flag else []
    code = run(["-q", "guidance", str(lst), *args, "--categorical", f"lc={landcover}", "--classes", classes,
                "--scale", "3", *layout, "-o", str(out)])
    assert code == 0
    return out


def _levels(path: Path, band: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Band ``band`` at full resolution and at each overview level."""
    with rasterio.open(path) as src:
        full, count = src.read(band), len(src.overviews(band))
    overviews = []
    for level in range(count):
        with rasterio.open(path, overview_level=level) as src:
            overviews.append(src.read(band))
    return full, overviews


def _blocks(full: np.ndarray, overview: np.ndarray) -> np.ndarray:
    """The full-resolution pixels under each overview pixel: (rows, cols, factor * factor)."""
    factor = full.shape[0] // overview.shape[0]
    assert overview.shape == (full.shape[0] // factor, full.shape[1] // factor)
    rows, cols = overview.shape
    return full.reshape(rows, factor, cols, factor).transpose(0, 2, 1, 3).reshape(rows, cols, -1)


def _assert_taken_from_block(full: np.ndarray, overview: np.ndarray) -> None:
    """Each overview pixel is one of the pixels under it: a value of the band, NaN where all are
    NaN (GDAL 3.10's mode wrote 0 there), NaN elsewhere only where one of them is."""
    blocks = _blocks(full, overview)
    assert np.isnan(overview[np.isnan(blocks).all(axis=2)]).all()
    assert np.isnan(blocks[np.isnan(overview)]).any(axis=1).all()
    valid = ~np.isnan(overview)
    assert (blocks[valid] == overview[valid][:, None]).any(axis=1).all()


@pytest.mark.parametrize("flag", LAYOUTS)
def test_a_class_band_alone_gets_overviews_of_its_classes(tmp_path: Path, flag: str) -> None:
    out = _guidance(tmp_path, flag)
    full, overviews = _levels(out, 1)
    assert overviews and set(np.unique(full[~np.isnan(full)])) == set(CLASSES)
    for overview in overviews:
        assert set(np.unique(overview[~np.isnan(overview)])) == set(CLASSES)  # old: 1.25, 1.5, 1.75 ...
        _assert_taken_from_block(full, overview)
    with rasterio.open(out) as src:
        assert src.tags()["overview_resampling"] == "nearest"


@pytest.mark.parametrize("flag", LAYOUTS)
def test_class_and_continuous_bands_get_nearest_overviews_and_the_tag(tmp_path: Path, flag: str) -> None:
    out = _guidance(tmp_path, flag, "swir")
    with rasterio.open(out) as src:
        assert src.descriptions == ("swir", "lc") and src.units == (None, "class")
        assert src.tags()["overview_resampling"] == "nearest"
        if flag == "--overviews":
            assert src.tags(ns="rio_overview") == {"resampling": "nearest"}
    for band in (1, 2):
        full, overviews = _levels(out, band)
        for overview in overviews:
            _assert_taken_from_block(full, overview)
    full, overviews = _levels(out, 2)
    assert set(np.unique(overviews[0][~np.isnan(overviews[0])])) == set(CLASSES)


@pytest.mark.parametrize("flag", LAYOUTS)
def test_class_fractions_are_continuous_and_keep_average_overviews(tmp_path: Path, flag: str) -> None:
    out = _guidance(tmp_path, flag, "swir", classes="fractions")
    with rasterio.open(out) as src:
        assert src.descriptions == ("swir", "lc_1", "lc_2", "lc_3", "lc_4")
        assert "overview_resampling" not in src.tags()
    full, overviews = _levels(out, 2)
    blocks = _blocks(full, overviews[0])
    whole = ~np.isnan(blocks).any(axis=2)
    np.testing.assert_allclose(overviews[0][whole], blocks[whole].mean(axis=1), atol=1e-6)
    assert np.isin(overviews[0][whole], [0.25, 0.75]).any()  # averaged shares, as before


@pytest.mark.parametrize("flag", LAYOUTS)
def test_continuous_only_outputs_are_as_before(tmp_path: Path, flag: str) -> None:
    """The step is the unchanged one, and its overviews are GDAL's area average of the file."""
    step = cog_module.layout(cog=flag == "--cog", overviews=flag == "--overviews", class_bands=[False, False])
    assert step.args == ((cog_module.to_cog if flag == "--cog" else cog_module.add_overviews),)
    lst, _, swir = _inputs(tmp_path)
    out, plain = tmp_path / "g.tif", tmp_path / "plain.tif"
    for path, layout in ((out, [flag]), (plain, [])):
        assert run(["-q", "guidance", str(lst), str(swir), "--scale", "3", *layout, "-o", str(path)]) == 0
    with rasterio.open(plain, "r+") as dst:
        dst.build_overviews([2], Resampling.average)
    with rasterio.open(out) as src:
        assert "overview_resampling" not in src.tags()
    full, overviews = _levels(out, 1)
    reference, expected = _levels(plain, 1)
    np.testing.assert_array_equal(full, reference)
    assert len(overviews) == 1
    np.testing.assert_array_equal(overviews[0], expected[0])


def test_the_overview_method_follows_the_band_kinds() -> None:
    assert cog_module.overview_resampling([]) is Resampling.average
    assert cog_module.overview_resampling([False, False]) is Resampling.average
    assert cog_module.overview_resampling([True]) is Resampling.nearest
    assert cog_module.overview_resampling([False, True]) is Resampling.nearest


def test_the_run_says_why_its_overviews_are_nearest(tmp_path: Path, capsys) -> None:
    lst, landcover, _ = _inputs(tmp_path)
    base = ["guidance", str(lst), "--categorical", f"lc={landcover}", "--classes", "mode", "--scale", "3"]
    assert run([*base, "--overviews", "-o", str(tmp_path / "a.tif")]) == 0
    assert "overviews: nearest for every band" in capsys.readouterr().err
    assert run([*base, "-o", str(tmp_path / "b.tif")]) == 0  # no overviews: nothing to say
    assert "overviews:" not in capsys.readouterr().err


def test_a_cog_of_one_tile_has_no_overviews_and_says_none(tmp_path: Path, capsys, monkeypatch) -> None:
    """Review: a COG too small for overviews was tagged (and said to have) nearest overviews."""
    monkeypatch.setattr(f"{__name__}.LST_SHAPE", (150, 160))  # 450 x 480 px at x3: one block
    lst, landcover, _ = _inputs(tmp_path)
    out = tmp_path / "small.tif"
    assert run(["guidance", str(lst), "--categorical", f"lc={landcover}", "--classes", "mode", "--scale", "3",
                "--cog", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert max(src.width, src.height) <= 512 and src.overviews(1) == []
        assert "overview_resampling" not in src.tags()
    assert "overviews:" not in capsys.readouterr().err

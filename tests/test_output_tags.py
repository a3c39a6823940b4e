"""Tags and layout of ``groklst mask`` and ``groklst guidance`` outputs say what the file is.

A masked COG stays a COG (overviews of the masked pixels, tagged anew), a masked file never
carries an ``overview_resampling`` tag for overviews it lacks, guidance band tags name their
source by a path that tells two dates' ``ST_B10.TIF`` apart, and index bands have a unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rio_cogeo.cogeo import cog_validate

from groklst_cli.app import run

UTM = CRS.from_epsg(32632)
X0, Y0 = 396_705.0, 5_763_315.0


def write(path: Path, data: np.ndarray, res: float, *, nodata: float | None = None, units: str | None = None,
          tags: dict[str, str] | None = None) -> Path:
    """One-band GeoTIFF of ``data`` at pixel size ``res`` on a shared UTM origin."""
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name,
                   crs=UTM, transform=Affine(res, 0, X0, 0, -res, Y0), nodata=nodata, tiled=True,
                   blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if units:
            dst.set_band_unit(1, units)
        dst.update_tags(**(tags or {}))
    return path


def cloud_mask(path: Path, shape: tuple[int, int], res: float) -> Path:
    """A 0/1 mask flagging a 40 x 50 block in the top-left corner."""
    flags = np.zeros(shape, np.uint8)
    flags[:40, :50] = 1
    return write(path, flags, res)


def test_a_masked_cog_with_a_class_band_stays_a_cog_with_nearest_overviews(tmp_path: Path) -> None:
    """guidance --cog with a mode band (nearest overviews, tagged) -> mask -> still a COG whose
    overviews hold only real classes and whose tag describes them."""
    rng = np.random.default_rng(0)
    lst = write(tmp_path / "lst.tif", rng.uniform(290, 310, (220, 220)).astype(np.float32), 30.0, units="K")
    classes = write(tmp_path / "lc.tif", rng.integers(1, 5, (660, 660)).astype(np.uint8), 10.0)
    cog = tmp_path / "g.tif"
    assert run(["-q", "guidance", str(lst), "--categorical", f"lc={classes}", "--classes", "mode",
                "--scale", "3", "--cog", "-o", str(cog)]) == 0
    out = tmp_path / "g_clear.tif"
    assert run(["-q", "mask", str(cog), str(cloud_mask(tmp_path / "m.tif", (660, 660), 10.0)), "-o", str(out)]) == 0
    valid, errors, _ = cog_validate(str(out), quiet=True)
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.tags()["overview_resampling"] == "nearest" and src.overviews(1) == [2]
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        full, overview = src.read(1), src.read(1, out_shape=(330, 330), resampling=Resampling.nearest)
    assert np.isnan(full[:40, :50]).all() and not np.isnan(full[40:, 50:]).any()
    assert set(np.unique(overview[~np.isnan(overview)])) <= {1.0, 2.0, 3.0, 4.0}  # real classes only
    assert np.isnan(overview[:20, :25]).all()  # the overviews are those of the masked pixels


def test_a_masked_file_without_overviews_drops_the_overview_tag(tmp_path: Path) -> None:
    """An input tagged overview_resampling=nearest but without overviews (e.g. an earlier mask's
    copy): the copy has none either, so it carries no such tag; other tags are kept."""
    data = np.linspace(290, 310, 60 * 80, dtype=np.float32).reshape(60, 80)
    tagged = write(tmp_path / "in.tif", data, 30.0, units="K",
                   tags={"overview_resampling": "nearest", "generator": "groklst guidance"})
    out = tmp_path / "out.tif"
    assert run(["-q", "mask", str(tagged), str(cloud_mask(tmp_path / "m.tif", (60, 80), 30.0)), "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.overviews(1) == [] and "overview_resampling" not in src.tags()
        assert src.tags()["generator"] == "groklst guidance" and src.tags()["masked_pixels"] == str(40 * 50)


def test_a_masked_integer_file_with_overviews_gets_average_overviews_of_the_masked_pixels(tmp_path: Path) -> None:
    """uint16 digital numbers with overviews (nodata 0): the copy has overviews again, built
    with the integer predictor (the floating-point one wrote an unreadable file), untagged
    because they are the area average."""
    dn = np.random.default_rng(1).integers(20_000, 50_000, (600, 700)).astype(np.uint16)
    st = write(tmp_path / "ST_B10.TIF", dn, 30.0, nodata=0)
    with rasterio.open(st, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.average)
    out = tmp_path / "st_clear.tif"
    assert run(["-q", "mask", str(st), str(cloud_mask(tmp_path / "m.tif", (600, 700), 30.0)), "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.dtypes == ("uint16",) and src.overviews(1) == [2, 4] and "overview_resampling" not in src.tags()
        full, overview = src.read(1), src.read(1, out_shape=(300, 350))
    expected = dn.copy()
    expected[:40, :50] = 0
    np.testing.assert_array_equal(full, expected)
    assert (overview[:20, :25] == 0).all() and 20_000 <= overview[20:, 25:].min() <= overview.max() <= 50_000


def test_guidance_tags_name_each_source_by_its_absolute_path(tmp_path: Path, monkeypatch) -> None:
    """Two dates' ST_B10.TIF as sources: their band tags differ, each naming its own file; the
    LST by its absolute path too (as downscale's lst_source), whatever the working folder."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    lst = write(tmp_path / "lst.tif", rng.uniform(290, 310, (20, 20)).astype(np.float32), 30.0, units="K")
    first, second = (tmp_path / date for date in ("20240626", "20240813"))
    for folder in (first, second):
        folder.mkdir()
        write(folder / "ST_B10.TIF", rng.uniform(290, 310, (60, 60)).astype(np.float32), 10.0, units="K")
    out = tmp_path / "g.tif"
    assert run(["-q", "guidance", "lst.tif", "a=20240626/ST_B10.TIF", "b=20240813/ST_B10.TIF",
                "--scale", "3", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.tags(1)["source"] == f"{first.resolve() / 'ST_B10.TIF'} band 1"
        assert src.tags(2)["source"] == f"{second.resolve() / 'ST_B10.TIF'} band 1"
        assert src.tags()["lst_source"] == str(lst.resolve())


def test_index_bands_are_tagged_dimensionless_and_untagged_sources_stay_untagged(tmp_path: Path, capsys) -> None:
    """An index gets unit '1' (as ingest and the dataset give indices); a source band without a
    unit (possibly digital numbers) gets none rather than an invented one; a tagged one keeps it."""
    rng = np.random.default_rng(3)
    lst = write(tmp_path / "lst.tif", rng.uniform(290, 310, (20, 20)).astype(np.float32), 30.0, units="K")
    red = write(tmp_path / "red.tif", rng.uniform(0.02, 0.1, (60, 60)).astype(np.float32), 10.0)
    nir = write(tmp_path / "nir.tif", rng.uniform(0.2, 0.4, (60, 60)).astype(np.float32), 10.0, units="1")
    out = tmp_path / "g.tif"
    assert run(["guidance", str(lst), f"red={red}", f"nir={nir}", "--index", "ndvi", "--scale", "3",
                "--json", "-o", str(out)]) == 0
    assert '"unit": "1"' in capsys.readouterr().out.split('"name": "ndvi"', 1)[1]
    with rasterio.open(out) as src:
        assert src.descriptions == ("red", "nir", "ndvi") and src.units == (None, "1", "1")

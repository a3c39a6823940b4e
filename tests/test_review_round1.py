"""Review round 1: ingest's source tags name product folders and the DEM absolutely, a fit's
no-DEM warning says what the constant band does to a fit, and a masked small COG keeps its
overviews (and a file its exact overview factors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.raster_names import retrieved_tis_folder

TRANSFORM = Affine(30.0, 0.0, 396_705.0, 0.0, -30.0, 5_763_315.0)


@pytest.fixture()
def products(tmp_path: Path, capsys, monkeypatch) -> tuple[Path, Path, Path]:
    """A 20 x 20 sample scene's TIS and MII product folders and DEM, the working folder set to
    ``tmp_path/elsewhere`` (so that a bare name would not find them again)."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "20", "--seed", "2", "--products"]) == 0
    tis, mii, dem = (Path(p) for p in capsys.readouterr().out.split()[2:5])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tis, mii, dem


def _tags(path: Path) -> dict[str, str]:
    with rasterio.open(path) as src:
        return src.tags()


def test_ingest_tags_name_the_folders_and_dem_by_absolute_path(tmp_path: Path, products, capsys) -> None:
    """lst_source and mii_source named the product folders by bare name, dem_source the DEM by its
    file name: none could be found from another folder."""
    tis, mii, dem = (Path("..") / p.relative_to(tmp_path) for p in products)
    assert run(["-q", "ingest", str(tis), str(mii), "--dem", str(dem), "--out-dir", "in", "--name", "s"]) == 0
    lst, guidance = _tags(Path("in/s_lst.tif")), _tags(Path("in/s_guidance.tif"))
    raw = tmp_path.resolve() / "raw"
    assert lst["lst_source"] == str(raw / tis.name)
    assert lst["mii_source"] == guidance["mii_source"] == str(raw / mii.name)
    assert guidance["dem_source"] == str(raw / dem.name)


def test_a_fit_from_products_says_the_constant_dem_tells_it_nothing(tmp_path: Path, products, capsys) -> None:
    """The kept no-DEM warning of a fit said "downscale gives a model its training mean elevation",
    which a fit does not do; the output's source tags name the folders as ingest's do."""
    tis, mii, _ = products
    assert run(["-q", "ingest", str(tis), str(mii), "--out-dir", "in", "--name", "s"]) == 0
    capsys.readouterr()
    assert run(["-q", "downscale", str(tis), str(mii), "--out-dir", "o", "--fit", "--fit-seconds", "3", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    no_dem = [w for w in line["warnings"] if w.startswith("no --dem given")]
    assert no_dem == ["no --dem given: the dem band is filled with the constant 0 m (a constant band carries "
                      "no information for the fit: give --dem for it to learn from elevation)"]
    out, ingested = _tags(Path(line["output"])), _tags(Path("in/s_lst.tif"))
    assert retrieved_tis_folder(out["lst_source"]) == ingested["lst_source"] == str(tis.resolve())
    assert out["guidance_source"] == ingested["mii_source"] == str(mii.resolve())


def _raster(path: Path, size: int) -> Path:
    """A float32 LST of ``size`` x ``size`` pixels, 280..329 K."""
    data = (np.arange(size * size, dtype=np.float32).reshape(size, size) % 50) + 280
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
                       crs=CRS.from_epsg(32632), transform=TRANSFORM, nodata=np.nan) as dst:
        dst.write(data, 1)
    return path


def _mask_of(path: Path, size: int) -> Path:
    """A 0/1 mask flagging the top-left 10 x 10 pixels."""
    flags = np.zeros((size, size), np.uint8)
    flags[:10, :10] = 1
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8",
                       crs=CRS.from_epsg(32632), transform=TRANSFORM) as dst:
        dst.write(flags, 1)
    return path


@pytest.mark.parametrize(("options", "factors", "block"), [
    ({"BLOCKSIZE": 256}, [2], 256),  # the driver's own choice for 400 px at 256
    ({"BLOCKSIZE": 128, "OVERVIEW_COUNT": 2}, [2, 4], 128),
    ({"BLOCKSIZE": 128, "OVERVIEWS": "NONE"}, [], 128),
])
def test_a_masked_small_cog_keeps_its_tiles_and_overviews(tmp_path: Path, options, factors, block) -> None:
    """A 400 x 400 COG tiled 256 with overviews [2] came out of groklst mask tiled 512 without any."""
    cog = tmp_path / "cog.tif"
    rasterio.shutil.copy(_raster(tmp_path / "plain.tif", 400), cog, driver="COG", **options)
    with rasterio.open(cog) as src:
        assert src.overviews(1) == factors and src.block_shapes == [(block, block)]
    assert run(["-q", "mask", str(cog), str(_mask_of(tmp_path / "m.tif", 400)), "-o", str(tmp_path / "o.tif"),
                "--values", "1"]) == 0
    with rasterio.open(tmp_path / "o.tif") as out:
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert out.overviews(1) == factors and out.block_shapes == [(block, block)]
        assert np.isnan(out.read(1)[:10, :10]).all() and out.read(1)[10, 10] == 280 + (10 * 400 + 10) % 50
        if factors:  # the overviews are the masked pixels' averages
            first = out.read(1, out_shape=(200, 200))
            assert np.isnan(first[:5, :5]).all()
            assert first[10, 10] == pytest.approx(out.read(1)[20:22, 20:22].mean())


def test_a_masked_geotiff_keeps_its_exact_overview_factors(tmp_path: Path) -> None:
    """A 600 px GeoTIFF with overviews [2, 4, 8] came out of groklst mask with [2] only."""
    tif = _raster(tmp_path / "in.tif", 600)
    with rasterio.open(tif, "r+") as dst:
        dst.build_overviews([2, 4, 8])
    assert run(["-q", "mask", str(tif), str(_mask_of(tmp_path / "m.tif", 600)), "-o", str(tmp_path / "o.tif"),
                "--values", "1"]) == 0
    with rasterio.open(tmp_path / "o.tif") as out:
        assert out.overviews(1) == [2, 4, 8] and "LAYOUT" not in out.tags(ns="IMAGE_STRUCTURE")

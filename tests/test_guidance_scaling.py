"""Guidance stored as scaled integers (Sentinel-2 L2A: uint16 digital numbers with scale 0.0001 and
offset -0.1 in the metadata) is read as the values its metadata say, wherever groklst reads
guidance: ``guidance`` (and its indices), ``downscale`` with the default model, with ``--align`` and
with ``--fit``, and ``prepare``. Each run on the DNs must match the same run on the same values
stored as float32; a DN equal to the file's nodata stays nodata (it is not scaled into a value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from groklst_cli.app import run
from pipelines import indices
from pipelines.dataset import open_prepared
from pipelines.errors import InputError
from pipelines.fixtures import write_product_fixture
from pipelines.geotiff import read_values, write_raster
from pipelines.ingest import IngestWarning, ingest_product
from pipelines.sample_scene import BAND_NAMES, generate_scene, write_scene
from pipelines.scene_fit import read_scene
from tests.conftest import UTM
from tests.test_fit import QUICK, nonlinear_scene, write_pair

REFLECTANCE = (0.0001, -0.1)  # Sentinel-2 L2A since processing baseline 04.00
INDEX = (0.0001, -1.0)
DEM = (0.1, 0.0)
HOLES = (slice(40, 43), slice(50, 53))  # guidance pixels whose DN is the nodata value 0


def quantize(values: np.ndarray, scaling: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 DNs, the float32 values they stand for) of a (bands, rows, cols) stack; HOLES get DN 0
    (nodata) and NaN."""
    dn = np.empty(values.shape, np.uint16)
    exact = np.empty(values.shape, np.float32)
    for i, (scale, offset) in enumerate(scaling):
        dn[i] = np.clip(np.round((values[i] - offset) / scale), 1, 65535)
        exact[i] = dn[i].astype(np.float64) * scale + offset
    dn[(slice(None), *HOLES)] = 0
    exact[(slice(None), *HOLES)] = np.nan
    return dn, exact


def write_dn(path: Path, dn: np.ndarray, scaling: list[tuple[float, float]], like: Path,
             names: list[str]) -> Path:
    """``dn`` as a uint16 GeoTIFF on ``like``'s grid, nodata 0, with per-band scale/offset."""
    with rasterio.open(like) as src:
        crs, transform = src.crs, src.transform
    with rasterio.open(path, "w", driver="GTiff", dtype="uint16", nodata=0, count=dn.shape[0],
                       width=dn.shape[2], height=dn.shape[1], crs=crs, transform=transform) as dst:
        dst.write(dn)
        dst.scales, dst.offsets = zip(*scaling)
        for band, name in enumerate(names, start=1):
            dst.set_band_description(band, name)
    return path


def write_float(path: Path, values: np.ndarray, like: Path, names: list[str]) -> Path:
    with rasterio.open(like) as src:
        return write_raster(path, values, crs=src.crs, transform=src.transform, descriptions=names)


def read_all(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_read_values_scales_stored_numbers_and_keeps_nodata(tmp_path: Path) -> None:
    dn = np.array([[[0, 1334, 4728], [1000, 65535, 1]]], np.uint16)
    lst = write_raster(tmp_path / "lst.tif", np.zeros((2, 3)), crs=UTM,
                       transform=Affine(10, 0, 500_000, 0, -10, 5_000_000), descriptions=["lst"])
    path = write_dn(tmp_path / "red.tif", dn, [REFLECTANCE], lst, ["red"])
    with rasterio.open(path) as src:
        values = read_values(src, 1, Window(0, 0, 3, 2), path)
    assert values.dtype == np.float32
    expected = np.array([[np.nan, 0.0334, 0.3728], [0.0, 6.4535, -0.0999]], np.float32)
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)  # NaN where the DN is nodata
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.0,)
    with rasterio.open(path) as src, pytest.raises(InputError, match="scale 0"):
        read_values(src, 1, Window(0, 0, 3, 2), path)


def test_guidance_writes_values_and_indices_from_dns(tmp_path: Path) -> None:
    """10 m red/NIR DNs onto the 10 m grid of a 30 m LST: the output holds the reflectances
    themselves, as float32 without scale/offset, and NDVI computed from them."""
    rng = np.random.default_rng(1)
    lst = write_raster(tmp_path / "lst.tif", 300 + rng.normal(0, 1, (30, 30)), crs=UTM,
                       transform=Affine(30, 0, 500_000, 0, -30, 5_000_000), descriptions=["lst"], units="K")
    fine = write_raster(tmp_path / "grid.tif", np.zeros((90, 90)), crs=UTM,
                        transform=Affine(10, 0, 500_000, 0, -10, 5_000_000), descriptions=["x"])
    reflectance = np.stack([rng.uniform(0.02, 0.35, (90, 90)), rng.uniform(0.01, 0.5, (90, 90))])
    dn, exact = quantize(reflectance, [REFLECTANCE, REFLECTANCE])
    dn_src = write_dn(tmp_path / "s2.tif", dn, [REFLECTANCE, REFLECTANCE], fine, ["red", "nir"])
    float_src = write_float(tmp_path / "refl.tif", exact, fine, ["red", "nir"])
    outputs = []
    for name, src in (("dn", dn_src), ("float", float_src)):
        out = tmp_path / f"guidance_{name}.tif"
        assert run(["-q", "guidance", str(lst), str(src), "--index", "ndvi", "--scale", "3", "-o", str(out)]) == 0
        with rasterio.open(out) as ds:
            assert ds.dtypes == ("float32",) * 3 and ds.descriptions == ("red", "nir", "ndvi")
            assert ds.scales == (1.0,) * 3 and ds.offsets == (0.0,) * 3
            outputs.append(ds.read())
            tags = ds.tags(1)["source"]
        assert tags == (f"{dn_src.resolve()} band 1 (stored * 0.0001 - 0.1)" if name == "dn"
                        else f"{float_src.resolve()} band 1")
    from_dn, from_float = outputs
    np.testing.assert_allclose(from_dn[:2], exact, rtol=1e-6)  # the grids coincide: values kept
    np.testing.assert_allclose(from_dn, from_float, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(from_dn[2], indices.ndvi(exact[0], exact[1]), rtol=1e-5, atol=1e-6)
    assert np.isnan(from_dn[(slice(None), *HOLES)]).all() and np.isnan(from_dn).sum() == 3 * 9
    assert -1 < np.nanmin(from_dn[2]) < 0 < np.nanmax(from_dn[2]) < 1 and np.nanmax(from_dn[:2]) < 0.5


@pytest.fixture(scope="module")
def heihe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, np.ndarray]:
    """A generated 60 x 60 px scene with its ten guidance bands as DNs and as float values."""
    folder = tmp_path_factory.mktemp("heihe")
    lst, guidance = write_scene(generate_scene((60, 60), seed=9), folder, name="heihe")
    scaling = [DEM if n == "dem" else INDEX if n.startswith("nd") else REFLECTANCE for n in BAND_NAMES]
    dn, exact = quantize(read_all(guidance).astype(np.float64), scaling)
    names = list(BAND_NAMES)
    return (lst, write_dn(folder / "dn.tif", dn, scaling, guidance, names),
            write_float(folder / "float.tif", exact, guidance, names), exact)


@pytest.mark.parametrize("align", [False, True])
def test_default_model_gives_the_same_lst_from_dns(heihe, tmp_path: Path, align: bool) -> None:
    """The model normalises by its recorded band statistics: unscaled DNs would be refused as far
    outside them (or give nonsense); scaled, they give the float guidance's output."""
    lst, dn_guidance, float_guidance, _ = heihe
    outputs = []
    for name, guidance in (("dn", dn_guidance), ("float", float_guidance)):
        out = tmp_path / f"{name}.tif"
        assert run(["-q", "downscale", str(lst), "-g", str(guidance), *(["--align"] if align else []),
                    "-o", str(out)]) == 0
        outputs.append(read_all(out)[0])
    from_dn, from_float = outputs
    assert from_dn.shape == (180, 180)
    np.testing.assert_array_equal(np.isnan(from_dn), np.isnan(from_float))
    assert np.isnan(from_dn[HOLES]).all() and np.isfinite(from_dn).mean() > 0.5
    np.testing.assert_allclose(from_dn, from_float, atol=1e-3)
    assert 250 < np.nanmin(from_dn) and np.nanmax(from_dn) < 350


def test_fit_reads_dns_as_values(tmp_path: Path) -> None:
    fine, guidance = nonlinear_scene(90, 2)
    lst, grid = write_pair(tmp_path, fine, guidance, 3, ["g1", "g2"])
    scaling = [(0.001, -10.0), (0.0005, -5.0)]
    dn, exact = quantize(guidance.astype(np.float64), scaling)
    float_guidance = write_float(tmp_path / "float.tif", exact, grid, ["g1", "g2"])
    dn_guidance = write_dn(tmp_path / "dn.tif", dn, scaling, grid, ["g1", "g2"])
    scene = read_scene(lst, dn_guidance)
    np.testing.assert_allclose(scene.native, exact, rtol=1e-6)
    np.testing.assert_allclose(scene.stats.band_mean, np.nanmean(exact, axis=(1, 2)), rtol=1e-5)
    outputs = []
    for name, path in (("dn", dn_guidance), ("float", float_guidance)):
        out = tmp_path / f"fit_{name}.tif"
        assert run(["-q", "downscale", str(lst), "-g", str(path), "--fit", "--model", "gwr", *QUICK,
                    "-o", str(out)]) == 0
        outputs.append(read_all(out)[0])
    np.testing.assert_array_equal(np.isnan(outputs[0]), np.isnan(outputs[1]))
    assert np.isnan(outputs[0][HOLES]).all()
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-3)


def test_prepare_stores_values_and_their_statistics(tmp_path: Path) -> None:
    """10 m red/NIR DNs for a 30 m HR grid: patches are area averages of the values, and NDMVI is
    recomputed from them with the scene's minima (read lazily, scaled too)."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:48, 0:48]
    stack = np.stack([rng.uniform(0.02, 0.35, (144, 144)), rng.uniform(0.01, 0.5, (144, 144))])
    dn, exact = quantize(stack, [REFLECTANCE, REFLECTANCE])
    ndmvi = indices.ndmvi(exact[0], exact[1], np.nanmin(exact[0]), np.nanmin(exact[1]))
    dn_ndmvi = np.where(np.isnan(ndmvi), 0, np.round((np.nan_to_num(ndmvi) + 1) / 0.0001)).astype(np.uint16)
    ndmvi = np.where(dn_ndmvi == 0, np.nan, dn_ndmvi * 0.0001 - 1).astype(np.float32)
    scaling = [REFLECTANCE, REFLECTANCE, INDEX]
    names = ["red", "nir", "ndmvi"]
    datasets = []
    for name in ("dn", "float"):
        folder = tmp_path / name
        folder.mkdir()
        lst = write_raster(folder / "s_lst.tif", 290 + 0.2 * xx + np.sin(yy / 4), crs=UTM,
                           transform=Affine(30, 0, 500_000, 0, -30, 5_000_000), descriptions=["lst"], units="K")
        grid = write_raster(folder / "grid.tif", np.zeros((144, 144)), crs=UTM,
                            transform=Affine(10, 0, 500_000, 0, -10, 5_000_000), descriptions=["x"])
        if name == "dn":
            write_dn(folder / "s_guidance.tif", np.concatenate([dn, dn_ndmvi[None]]), scaling, grid, names)
        else:
            write_float(folder / "s_guidance.tif", np.concatenate([exact, ndmvi[None]]), grid, names)
        grid.unlink()
        assert run(["-q", "prepare", str(lst), "--out", str(tmp_path / f"ds_{name}"), "--scales", "2",
                    "--patch", "8", "--stride", "8", "--split", "1:0:0", "--max-nodata", "1"]) == 0
        datasets.append(open_prepared(tmp_path / f"ds_{name}"))
    from_dn, from_float = datasets
    assert len(from_dn) == len(from_float) > 10
    for i in range(len(from_dn)):
        guidance_dn, guidance_float = from_dn.read(i, 2)[1], from_float.read(i, 2)[1]
        np.testing.assert_allclose(guidance_dn, guidance_float, rtol=1e-5, atol=1e-6)
        assert np.nanmax(guidance_dn[:2]) < 0.5
    np.testing.assert_allclose(from_dn.stats.band_mean, from_float.stats.band_mean, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:the offset between TIS B2 and B3")  # a scene too small to measure it
def test_ingest_scales_a_dem_stored_in_decimetres(tmp_path: Path) -> None:
    scene = generate_scene((16, 20), seed=5)
    products = write_product_fixture(scene, tmp_path / "products")
    metres = scene.band("dem").astype(np.float64)
    decimetres = np.round(metres / 0.1).astype(np.int16)
    decimetres[:3, :4] = -32768  # nodata
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", dtype="int16", nodata=-32768, count=1, width=metres.shape[1],
                       height=metres.shape[0], crs=scene.crs, transform=scene.guidance_transform) as dst:
        dst.write(decimetres, 1)
        dst.scales, dst.units = (0.1,), ("m",)
    with pytest.warns(IngestWarning, match=r"dem.tif has no data on 0.4 % of the scene \(outside it or in "
                                           r"its nodata\): dem is nodata there"):  # 12 of 48 x 60 guidance px
        _, guidance = ingest_product(list(products), tmp_path / "out", name="s", dem=dem)
    with rasterio.open(guidance) as src:
        band = src.read(1)
    assert np.isnan(band[:3, :4]).all() and np.isfinite(band[3:]).all()
    np.testing.assert_allclose(band[3:], decimetres[3:] * 0.1, rtol=1e-6)
    assert 1000 < np.nanmin(band) and np.nanmax(band) < 4000  # metres, not decimetres

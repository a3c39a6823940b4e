"""``groklst prepare`` and the options that say how to read an LST file (--scale-factor, --offset,
--nodata, --mask-implausible, --units).

From SDGSAT-1 product folders groklst retrieves the LST in Kelvin itself, so these options are
refused before anything is written (QA: --scale-factor 1.1 made every training target 31 K too
hot, with exit 0). On LST files they decode the stored values once: a declared --scale-factor
replaces the file's own scale metadata, never multiplies it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from groklst_cli.app import run

PRODUCT_ERROR = "does not apply to SDGSAT-1 product folders: groklst retrieves their LST in Kelvin itself"
SMALL = ["--patch", "16", "--stride", "16", "--scales", "2"]
LANDSAT_SCALE, LANDSAT_OFFSET = 0.00341802, 149.0


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-pixel sample scene: its LST and guidance, TIS and MII product folders and DEM."""
    raw = tmp_path_factory.mktemp("raw")
    assert run(["-q", "sample-scene", str(raw / "s"), "--size", "32", "--seed", "1", "--products"]) == 0
    return raw / "s"


def _folders(sample: Path) -> list[str]:
    return [str(next(sample.glob(f"KX10_{sensor}_*"))) for sensor in ("TIS", "MII")]


def _hr_lst(dataset: Path) -> np.ndarray:
    return xr.open_zarr(dataset / "data.zarr").hr_lst.values


@pytest.mark.parametrize("option", [["--scale-factor", "1.1"], ["--offset", "-273.15"], ["--nodata", "0"],
                                    ["--mask-implausible"], ["--units", "kelvin"]])
def test_lst_file_options_are_refused_for_product_folders(tmp_path: Path, sample: Path, capsys,
                                                          option: list[str]) -> None:
    out = tmp_path / "new" / "ds"
    code = run(["-q", "prepare", *_folders(sample), "--dem", str(sample / "heihe_demo_dem.tif"),
                "--out", str(out), *SMALL, *option])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {option[0]}: {PRODUCT_ERROR} (hint: drop {option[0]})"]
    assert list(tmp_path.iterdir()) == []  # no dataset, no folder, no hidden ingest folder


def test_mixed_inputs_say_where_lst_files_go(tmp_path: Path, sample: Path, capsys) -> None:
    """With LST files beside the folders the option would still rescale the retrieved LST too."""
    code = run(["-q", "prepare", *_folders(sample), str(sample / "heihe_demo_lst.tif"),
                "--out", str(tmp_path / "ds"), *SMALL, "--units", "celsius"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --units: {PRODUCT_ERROR} (hint: drop --units; LST files that need it: "
        "prepare them without the product folders)")
    assert list(tmp_path.iterdir()) == []


def test_product_folders_without_the_options_still_prepare(tmp_path: Path, sample: Path) -> None:
    out = tmp_path / "ds"
    assert run(["-q", "prepare", *_folders(sample), "--dem", str(sample / "heihe_demo_dem.tif"),
                "--out", str(out), *SMALL]) == 0
    assert 250 < float(np.nanmean(_hr_lst(out))) < 350


def _scene(sample: Path, folder: Path, name: str, values: np.ndarray, dtype: str, nodata: float | None,
           scale: tuple[float, float] | None = None) -> str:
    """``values`` written as NAME_lst.tif on the sample's grid (with scale metadata when given),
    the sample's guidance beside it."""
    with rasterio.open(sample / "heihe_demo_lst.tif") as src:
        profile = src.profile
    profile.update(dtype=dtype, nodata=nodata)
    lst = folder / f"{name}_lst.tif"
    with rasterio.open(lst, "w", **profile) as dst:
        dst.write(values.astype(dtype), 1)
        if scale is not None:
            dst.scales, dst.offsets = (scale[0],), (scale[1],)
    shutil.copy(sample / "heihe_demo_guidance.tif", folder / f"{name}_guidance.tif")
    return str(lst)


@pytest.fixture(scope="module")
def kelvin(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, Path]:
    """The sample's HR LST as prepare makes it from the Kelvin file, the LST itself, and a folder."""
    folder = tmp_path_factory.mktemp("kelvin")
    assert run(["-q", "prepare", str(sample / "heihe_demo_lst.tif"), "--out", str(folder / "ref"), *SMALL]) == 0
    with rasterio.open(sample / "heihe_demo_lst.tif") as src:
        lst = src.read(1).astype("float64")
    return _hr_lst(folder / "ref"), lst, folder


BOTH = ["--scale-factor", str(LANDSAT_SCALE), "--offset", str(LANDSAT_OFFSET)]


@pytest.mark.parametrize(("metadata", "declared"), [(True, BOTH), (True, BOTH[:2]), (False, BOTH)])
def test_declared_scale_is_applied_once(kelvin, sample: Path, metadata: bool, declared: list[str]) -> None:
    """Stored Landsat-C2-style integers read as stored * scale + offset in Kelvin, whether or not
    the file also declares that scale (no double scaling); --offset defaults to the file's."""
    reference, lst, folder = kelvin
    stored = np.where(np.isnan(lst), 0, np.round((lst - LANDSAT_OFFSET) / LANDSAT_SCALE))
    name = f"m{int(metadata)}o{len(declared)}"
    path = _scene(sample, folder, name, stored, "uint16", 0,
                  (LANDSAT_SCALE, LANDSAT_OFFSET) if metadata else None)
    assert run(["-q", "prepare", path, "--out", str(folder / name), *SMALL, *declared]) == 0
    np.testing.assert_allclose(_hr_lst(folder / name), reference, atol=LANDSAT_SCALE, equal_nan=True)


def test_declared_celsius_is_converted(kelvin, sample: Path) -> None:
    reference, lst, folder = kelvin
    path = _scene(sample, folder, "celsius", lst - 273.15, "float32", None)
    assert run(["-q", "prepare", path, "--out", str(folder / "c"), *SMALL, "--units", "celsius"]) == 0
    np.testing.assert_allclose(_hr_lst(folder / "c"), reference, atol=1e-3, equal_nan=True)

"""``downscale TIS_FOLDER MII_FOLDER``: options that say how to read an LST file are refused (groklst
retrieves the LST in Kelvin itself), and every option is checked before the run plans its output,
makes a folder or skips an existing output (QA: a bad --tile was skipped with exit 0, and a refused
``-o newdir/x.tif --out-dir other`` left ``newdir`` behind)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run

PRODUCT_ERROR = "does not apply to SDGSAT-1 product folders: groklst retrieves their LST in Kelvin itself"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """A 32-pixel sample scene's TIS and MII product folders and its DEM."""
    raw = tmp_path_factory.mktemp("raw")
    assert run(["-q", "sample-scene", str(raw / "s"), "--size", "32", "--seed", "1", "--products"]) == 0
    folders = [str(next((raw / "s").glob(f"KX10_{sensor}_*"))) for sensor in ("TIS", "MII")]
    return folders, str(raw / "s" / "heihe_demo_dem.tif")


def _downscale(scene: tuple[list[str], str], *args: str) -> int:
    folders, dem = scene
    return run(["-q", "downscale", *folders, "--dem", dem, "--model", "bicubic", *args])


def _band(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


@pytest.mark.parametrize("option", [["--scale-factor", "1.1"], ["--offset", "-273.15"], ["--nodata", "0"],
                                    ["--mask-implausible"], ["--units", "kelvin"]])
def test_lst_file_options_are_refused(tmp_path: Path, scene, capsys, option: list[str]) -> None:
    """QA: --scale-factor 1.1 wrote an output 31 K too hot with exit 0."""
    out = tmp_path / "new" / "o.tif"
    assert _downscale(scene, "-o", str(out), *option) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {option[0]}: {PRODUCT_ERROR} (hint: drop {option[0]})"]
    assert list(tmp_path.iterdir()) == []  # no output, no folder, no hidden ingest folder


def test_units_out_still_converts_the_output(tmp_path: Path, scene, capsys) -> None:
    """--units-out says how to write, so it keeps working on product folders."""
    assert _downscale(scene, "-o", str(tmp_path / "k.tif")) == 0
    assert _downscale(scene, "-o", str(tmp_path / "c.tif"), "--units-out", "celsius") == 0
    kelvin, celsius = _band(tmp_path / "k.tif"), _band(tmp_path / "c.tif")
    assert 250 < float(kelvin.mean()) < 350
    np.testing.assert_allclose(celsius.filled(np.nan), kelvin.filled(np.nan) - 273.15, atol=1e-3)


@pytest.mark.parametrize("bad", [["--tile", "10"], ["--out-dir", "other"]])
def test_skip_existing_does_not_hide_a_bad_option(tmp_path: Path, scene, capsys, bad: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: with the output there, --skip-existing said ``skipped`` (exit 0) before the options
    were checked, while a raster input with the same options is refused."""
    monkeypatch.chdir(tmp_path)
    assert _downscale(scene, "-o", "a.tif") == 0
    before = (tmp_path / "a.tif").read_bytes()
    capsys.readouterr()
    assert _downscale(scene, "-o", "a.tif", "--skip-existing", "--json", *bad) == 2
    line = json.loads(capsys.readouterr().out)
    expected = ("--tile 10 at x3 is 9 output px (3 LR px): tiles under 24 output px" if bad[0] == "--tile"
                else "-o: give either -o/--output or --out-dir, not both")
    assert line["status"] == "error" and line["error"].startswith(expected)
    assert (tmp_path / "a.tif").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_a_refused_run_leaves_no_output_folder(tmp_path: Path, scene, capsys) -> None:
    """QA: the output's folder was made while planning, before -o and --out-dir were found to clash."""
    code = _downscale(scene, "-o", str(tmp_path / "newdir" / "x.tif"), "--out-dir", str(tmp_path / "other"))
    assert code == 2
    assert "give either -o/--output or --out-dir, not both" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_model_is_refused_before_the_ingest(tmp_path: Path, scene, capsys) -> None:
    """The model choice is checked before the scene is ingested (which warns of a missing --dem)."""
    folders, _ = scene
    assert run(["-q", "downscale", *folders, "--model", "nosuch", "-o", str(tmp_path / "c" / "c.tif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --model: unknown model 'nosuch'")
    assert list(tmp_path.iterdir()) == []

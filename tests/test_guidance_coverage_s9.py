"""What the s8 coverage checks left out: a guidance nodata over part of the LST's data was said only
through ``valid_fraction`` (no warning, ``lst_covered_fraction`` absent); with ``--align`` an
all-nodata guidance was refused by the alignment ("has no valid pixels inside the LST footprint":
no hint, no ``lst_covered_fraction``), and with ``--fit --align`` its --json line lacked the scene
keys every other scene line carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.geotiff import write_raster

BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndvi", "ndwi", "ndbi"]
X0, Y0 = 500000.0, 4300000.0
HINT = ("give a guidance with data wherever the LST has data: an optical scene of the same area with no "
        "clouds or gaps over it")
SCENE_KEYS = ["input", "output", "status", "seconds", "megapixels", "error", "grid", "units", "tiles",
              "tiles_skipped", "valid_fraction", "hole_margin", "warnings"]


def _scene(folder: Path, size: int, guidance_nan_cols: int) -> tuple[Path, Path]:
    """A 30 m LST ``size`` pixels square, valid everywhere, and a 10 m guidance over its whole
    grid, NaN in its first ``guidance_nan_cols`` LST columns (all bands)."""
    rng = np.random.default_rng(0)
    crs = CRS.from_epsg(32647)
    lst = folder / "a_lst.tif"
    write_raster(lst, (300 + rng.normal(0, 1, (size, size))).astype(np.float32), crs=crs,
                 transform=Affine(30.0, 0, X0, 0, -30.0, Y0), descriptions=["lst"], units="K", overwrite=True)
    data = rng.normal(0, 1, (len(BANDS), 3 * size, 3 * size)).astype(np.float32)
    data[:, :, :3 * guidance_nan_cols] = np.nan
    guidance = folder / "g.tif"
    write_raster(guidance, data, crs=crs, transform=Affine(10.0, 0, X0, 0, -10.0, Y0), descriptions=BANDS,
                 overwrite=True)
    return lst, guidance


def _missed(lst: Path, guidance: Path, valid: int) -> str:
    return (f"{lst}: none of the LST's {valid:,} valid pixels has guidance data: the guidance {guidance} is nodata "
            f"wherever the LST has data (hint: {HINT})")


def test_guidance_nodata_over_part_of_the_lsts_data_is_warned_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guidance NaN over the west half of an LST valid everywhere: written (exit 0), with a
    warning saying half the LST's data had no guidance and is NaN, and the share on the line."""
    lst, guidance = _scene(tmp_path, 16, guidance_nan_cols=8)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    said = (f"{lst}: 50 % of its valid pixels inside the guidance {guidance} are NaN in the output: the guidance "
            f"has no data over them (clouds, gaps); {HINT}")
    assert (line["status"], line["valid_fraction"], line["lst_without_guidance_fraction"]) == ("ok", 0.5, 0.5)
    assert line["warnings"] == [said] and "lst_covered_fraction" not in line
    assert f"warning: {said}" in captured.err.replace("\n", " ")


def test_a_guidance_with_data_over_all_the_lsts_data_has_no_such_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lst, guidance = _scene(tmp_path, 16, guidance_nan_cols=0)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["valid_fraction"], line["warnings"]) == (1.0, [])
    assert "lst_without_guidance_fraction" not in line


def test_align_refuses_an_all_nodata_guidance_as_without_align(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--align, guidance NaN everywhere: exit 2, the guidance named as typed, the hint, and
    ``lst_covered_fraction`` 0.0 (the alignment's own refusal had neither); nothing written."""
    lst, guidance = _scene(tmp_path, 16, guidance_nan_cols=16)
    out = tmp_path / "o.tif"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic", "--align",
                "-o", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["error"], line["lst_covered_fraction"]) == (
        "error", _missed(lst, guidance, 256), 0.0)
    assert f"error: {_missed(lst, guidance, 256)}" in captured.err.replace("\n", " ")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["a_lst.tif", "g.tif"]


def test_fit_align_refuses_it_with_a_scene_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fit --align: the same error, on a line with every scene key (the whole-command error
    line it was lacked seconds, grid, valid_fraction ...) and ``lst_covered_fraction`` 0.0."""
    lst, guidance = _scene(tmp_path, 40, guidance_nan_cols=40)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--fit", "-m", "tsharp", "--align",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert list(line) == [*SCENE_KEYS, "lst_covered_fraction"]
    assert (line["status"], line["error"], line["lst_covered_fraction"], line["valid_fraction"]) == (
        "error", _missed(lst, guidance, 1600), 0.0, None)
    assert not (tmp_path / "o.tif").exists()

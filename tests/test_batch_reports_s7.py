"""What a batch run of ``downscale`` says about itself: an LST the shared guidance covers only
in part, and the tally after several scenes."""

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
BICUBIC = ["--model", "bicubic"]


def _scene(folder: Path, name: str, rows: int = 12, cols: int = 16, guidance_cols: int | None = None,
           nodata_from_col: int | None = None) -> tuple[Path, Path]:
    """A 30 m LST and a 10 m guidance from its top-left corner, ``guidance_cols`` LST columns wide
    (default: all); LST columns from ``nodata_from_col`` on are NaN."""
    rng = np.random.default_rng(0)
    lst = (300 + rng.normal(0, 1, (rows, cols))).astype(np.float32)
    if nodata_from_col is not None:
        lst[:, nodata_from_col:] = np.nan
    crs = CRS.from_epsg(32647)
    lst_path = folder / f"{name}_lst.tif"
    write_raster(lst_path, lst, crs=crs, transform=Affine(30.0, 0, X0, 0, -30.0, Y0), descriptions=["lst"],
                 units="K", overwrite=True)
    width = 3 * (cols if guidance_cols is None else guidance_cols)
    guidance = rng.normal(0, 1, (len(BANDS), 3 * rows, width)).astype(np.float32)
    guidance_path = folder / f"{name}_guidance.tif"
    write_raster(guidance_path, guidance, crs=crs, transform=Affine(10.0, 0, X0, 0, -10.0, Y0),
                 descriptions=BANDS, overwrite=True)
    return lst_path, guidance_path


def test_a_guidance_covering_part_of_the_lst_is_warned_about_and_measured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The output is cropped to the guidance: half the scene was lost with ``valid_fraction`` 1.0
    and exit 0, said only by the grid line's size."""
    lst, half = _scene(tmp_path, "a", guidance_cols=8)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(half), *BICUBIC, "-o", str(tmp_path / "o.tif"),
                "--json"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["valid_fraction"], line["lst_covered_fraction"]) == ("ok", 1.0, 0.5)
    said = (f"{lst}: 50 % of its valid pixels lie outside the guidance {half} and are not in the output, "
            "which covers only the part of the scene the guidance covers; give a guidance with data wherever "
            "the LST has data: an optical scene of the same area with no clouds or gaps over it")
    assert line["warnings"] == [said]
    assert f"warning: {said}" in captured.err.replace("\n", " ")


@pytest.mark.parametrize("guidance_cols, nodata_from_col", [(None, None), (8, 8)])
def test_an_lst_whose_valid_pixels_the_guidance_covers_is_not_warned_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], guidance_cols: int | None,
        nodata_from_col: int | None) -> None:
    """Valid pixels count, not the grid: a guidance that stops where the LST's data stops loses
    nothing; the key is there only where the output misses some (as ``quicklook`` or ``fit``)."""
    lst, guidance = _scene(tmp_path, "a", guidance_cols=guidance_cols, nodata_from_col=nodata_from_col)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), *BICUBIC, "-o", str(tmp_path / "o.tif"),
                "--json"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert "lst_covered_fraction" not in line and line["warnings"] == []
    assert "warning" not in captured.err


def test_a_batch_ends_with_its_tally_on_stderr_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One stderr line after several scenes, with the exit status of a mixed batch (a bad input: 2);
    stdout keeps one JSON line per scene, and one scene has no tally."""
    a, _ = _scene(tmp_path, "a")
    b, _ = _scene(tmp_path, "b")
    missing = tmp_path / "c_lst.tif"
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["downscale", str(a), str(b), str(missing), *BICUBIC, "--out-dir", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    assert [json.loads(line)["status"] for line in captured.out.splitlines()] == ["ok", "ok", "error"]
    assert captured.err.splitlines()[-1] == "3 scenes: 2 written, 1 failed (exit 2)"
    assert run(["downscale", str(a), str(b), *BICUBIC, "--out-dir", str(out), "--skip-existing"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # both skipped: no output written
    assert captured.err.splitlines()[-1] == "2 scenes: 2 skipped"
    assert run(["downscale", str(a), *BICUBIC, "--out-dir", str(out), "--overwrite"]) == 0
    assert "scene" not in capsys.readouterr().err.splitlines()[-1]


def test_a_batch_of_unreadable_scenes_ends_with_its_tally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every scene refused before the model loads: the tally still closes the run."""
    capsys.readouterr()
    assert run(["downscale", str(tmp_path / "a_lst.tif"), str(tmp_path / "b_lst.tif"), *BICUBIC,
                "--out-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "2 scenes: 2 failed (exit 2)"


def _guidance_right_of(folder: Path, name: str, lst_col: int, rows: int = 12, cols: int = 8) -> Path:
    """A 10 m guidance ``cols`` LST columns wide from LST column ``lst_col`` on (the shared
    --guidance of a batch, over only part of an LST)."""
    data = np.random.default_rng(1).normal(0, 1, (len(BANDS), 3 * rows, 3 * cols)).astype(np.float32)
    path = folder / f"{name}.tif"
    write_raster(path, data, crs=CRS.from_epsg(32647), transform=Affine(10.0, 0, X0 + 30.0 * lst_col, 0, -10.0, Y0),
                 descriptions=BANDS, overwrite=True)
    return path


def test_a_guidance_over_only_the_lsts_nodata_is_an_error_not_an_empty_scene(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The LST has data (its left half) but the guidance covers only its NaN right half: the scene
    was reported ``empty`` (exit 3, "the LST has no valid pixel"), which a pipeline sets aside as
    no data. It is the guidance that is wrong: an error (exit 2) naming it, nothing written."""
    lst, _ = _scene(tmp_path, "a", nodata_from_col=8)
    right = _guidance_right_of(tmp_path, "right", 8)
    out = tmp_path / "o.tif"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(right), *BICUBIC, "-o", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    said = (f"{lst}: none of the LST's 96 valid pixels lie inside the guidance {right}: it covers only the "
            "LST's nodata part (hint: give a guidance with data wherever the LST has data: an optical scene of "
            "the same area with no clouds or gaps over it)")
    assert (line["status"], line["error"], line["lst_covered_fraction"]) == ("error", said, 0.0)
    assert line["warnings"] == [] and not out.exists()
    assert f"error: {said}" in captured.err.replace("\n", " ")


def test_an_lst_with_no_valid_pixel_stays_empty_beside_one_the_guidance_misses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A batch with a shared guidance over the LSTs' right half: an all-NaN LST is still ``empty``
    (no coverage key: nothing of it is lost), the LST with data on its left only is the error,
    and the run exits 2 (it exited 3, as if no scene had data)."""
    empty, _ = _scene(tmp_path, "a", nodata_from_col=0)
    missed, _ = _scene(tmp_path, "b", nodata_from_col=8)
    right = _guidance_right_of(tmp_path, "right", 8)
    capsys.readouterr()
    assert run(["downscale", str(empty), str(missed), "--guidance", str(right), *BICUBIC,
                "--out-dir", str(tmp_path / "out"), "--json"]) == 2
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(line["status"], line.get("lst_covered_fraction")) for line in lines] == [("empty", None),
                                                                                     ("error", 0.0)]
    assert lines[0]["error"] == f"{empty}: the LST has no valid pixel (all nodata)"
    assert lines[1]["error"].startswith(f"{missed}: none of the LST's 96 valid pixels lie inside the guidance")
    assert captured.err.splitlines()[-1] == "2 scenes: 1 empty, 1 failed (exit 2)"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("nodata_from_col, status, code", [(8, "error", 2), (0, "empty", 3)])
def test_fit_tells_a_guidance_that_misses_the_lsts_data_from_an_empty_lst(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nodata_from_col: int, status: str, code: int) -> None:
    """--fit scans the shared footprint itself and said ``empty`` for an LST whose data the
    guidance misses (20928c2's follow-up); an all-NaN LST is still empty."""
    lst, _ = _scene(tmp_path, "a", nodata_from_col=nodata_from_col)
    right = _guidance_right_of(tmp_path, "right", 8)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--guidance", str(right), "--fit", "-m", "tsharp",
                "-o", str(tmp_path / "o.tif"), "--json"]) == code
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line.get("lst_covered_fraction")) == (status, 0.0 if status == "error" else None)
    assert not (tmp_path / "o.tif").exists()

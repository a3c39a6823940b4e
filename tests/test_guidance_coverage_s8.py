"""A guidance that spans the LST but is nodata where the LST has data: it covers none (or only part)
of the scene's data as surely as one whose extent misses it. It was reported ``empty`` (exit 3,
which pipelines set aside as "no data in this scene") or written with no warning of what was lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

import pipelines.scene_fit
from groklst_cli.app import run
from pipelines.coregister_scene import coregister_scene
from pipelines.downscale import DownscaleOptions
from pipelines.errors import InputError
from pipelines.geotiff import write_raster
from pipelines.scenes import GuidanceMissesLst
from pipelines.units import Units

BANDS = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndvi", "ndwi", "ndbi"]
X0, Y0 = 500000.0, 4300000.0
ROWS, COLS = 12, 16
HINT = ("give a guidance with data wherever the LST has data: an optical scene of the same area with no "
        "clouds or gaps over it")


def _scene(folder: Path, lst_cols: int = COLS, guidance_nan_cols: int = 0, rows: int = ROWS,
           cols: int = COLS) -> tuple[Path, Path]:
    """A 30 m LST valid in its first ``lst_cols`` columns (NaN after) and a 10 m guidance over the
    whole LST grid, NaN in the first ``guidance_nan_cols`` LST columns."""
    rng = np.random.default_rng(0)
    lst = (300 + rng.normal(0, 1, (rows, cols))).astype(np.float32)
    lst[:, lst_cols:] = np.nan
    crs = CRS.from_epsg(32647)
    lst_path = folder / "a_lst.tif"
    write_raster(lst_path, lst, crs=crs, transform=Affine(30.0, 0, X0, 0, -30.0, Y0), descriptions=["lst"],
                 units="K", overwrite=True)
    guidance = rng.normal(0, 1, (len(BANDS), 3 * rows, 3 * cols)).astype(np.float32)
    guidance[:, :, :3 * guidance_nan_cols] = np.nan
    guidance_path = folder / "g.tif"
    write_raster(guidance_path, guidance, crs=crs, transform=Affine(10.0, 0, X0, 0, -10.0, Y0),
                 descriptions=BANDS, overwrite=True)
    return lst_path, guidance_path


def _missed(lst: Path, guidance: Path, valid: int = 96) -> str:
    return (f"{lst}: none of the LST's {valid:,} valid pixels has guidance data: the guidance {guidance} is nodata "
            f"wherever the LST has data (hint: {HINT})")


@pytest.mark.parametrize("extra", [[], ["--align"]])
def test_a_guidance_nodata_over_all_the_lsts_data_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    """LST valid in its west half, guidance data only in its east half: exit 2 naming the guidance
    (the user's file, not --align's copy), ``lst_covered_fraction`` 0.0, nothing written."""
    lst, guidance = _scene(tmp_path, lst_cols=8, guidance_nan_cols=8)
    out = tmp_path / "o.tif"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic", *extra,
                "-o", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["error"], line["lst_covered_fraction"]) == ("error", _missed(lst, guidance), 0.0)
    assert not out.exists()
    assert f"error: {_missed(lst, guidance)}" in captured.err.replace("\n", " ")


def test_fit_refuses_such_a_guidance_before_fitting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """--fit: the same error (exit 2, the JSON line's key), and the fit is not run for it."""
    lst, guidance = _scene(tmp_path, lst_cols=20, guidance_nan_cols=20, rows=40, cols=40)
    fits: list[object] = []
    monkeypatch.setattr(pipelines.scene_fit, "read_scene", lambda *a, **k: fits.append(a) or 1 / 0)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--fit", "-m", "tsharp",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["error"], line["lst_covered_fraction"]) == (
        "error", _missed(lst, guidance, 800), 0.0)
    assert fits == [] and not (tmp_path / "o.tif").exists()


def test_a_guidance_nodata_over_part_of_the_lsts_data_is_warned_with_its_share(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guidance NaN over a quarter of the LST's columns: written (exit 0), the loss in
    ``valid_fraction`` and, counted exactly over the tiles' masks (no second guidance read),
    warned of with its share in ``lst_without_guidance_fraction``."""
    lst, guidance = _scene(tmp_path, guidance_nan_cols=4)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    said = (f"{lst}: 25 % of its valid pixels inside the guidance {guidance} are NaN in the output: the guidance "
            f"has no data over them (clouds, gaps); {HINT}")
    assert (line["status"], line["valid_fraction"], line["warnings"]) == ("ok", 0.75, [said])
    assert line["lst_without_guidance_fraction"] == 0.25 and "lst_covered_fraction" not in line


def test_a_striped_guidance_has_data_over_every_lst_pixel(tmp_path: Path) -> None:
    """Review: data in one 10 m column of every three: a nearest pick of one guidance pixel per
    LST pixel called it empty (coregister refused it) or full, depending on which column."""
    from pipelines.lst_values import LstDecoding
    from pipelines.scenes import guidance_misses_lst

    lst, guidance = _scene(tmp_path)
    for column in range(3):
        def striped(data: np.ndarray, keep: int = column) -> None:
            for drop in {0, 1, 2} - {keep}:
                data[:, :, drop::3] = np.nan

        _scene(tmp_path)  # the guidance whole again
        _with_guidance(guidance, striped)
        assert guidance_misses_lst(lst, guidance, None, LstDecoding()) is None
    _with_guidance(guidance, lambda data: data.__setitem__(Ellipsis, np.nan))
    assert str(guidance_misses_lst(lst, guidance, None, LstDecoding())) == _missed(lst, guidance, ROWS * COLS)


def test_a_guidance_nodata_only_over_the_lsts_nodata_is_not_warned_about(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lst, guidance = _scene(tmp_path, lst_cols=8, guidance_nan_cols=0)
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert "lst_covered_fraction" not in line and line["warnings"] == []


def test_coregister_refuses_a_guidance_nodata_over_the_lsts_data(tmp_path: Path) -> None:
    """coregister measured its offset on crops the guidance had no data in: an error naming the
    guidance, not a placement."""
    lst, guidance = _scene(tmp_path, lst_cols=8, guidance_nan_cols=8)
    with pytest.raises(GuidanceMissesLst) as caught:
        coregister_scene(lst, guidance, tmp_path / "c.tif")
    assert str(caught.value) == _missed(lst, guidance)
    assert not (tmp_path / "c.tif").exists()


def test_units_are_taken_in_any_case() -> None:
    assert DownscaleOptions(units="Kelvin").units is Units.kelvin  # type: ignore[arg-type]
    assert DownscaleOptions(units_out="CELSIUS").units_out is Units.celsius  # type: ignore[arg-type]


def test_a_spread_without_conserve_is_refused() -> None:
    with pytest.raises(InputError, match="conserve_spread='smooth' needs conserve=True"):
        DownscaleOptions(conserve_spread="smooth")
    assert DownscaleOptions(conserve_spread="smooth", conserve=True).conserve_spread == "smooth"
    assert DownscaleOptions().conserve_spread == "block"


def _with_guidance(path: Path, edit) -> None:
    """``path``'s guidance rewritten with ``edit`` applied to its (bands, rows, cols) array."""
    import rasterio

    with rasterio.open(path) as src:
        data, crs, transform = src.read(), src.crs, src.transform
    edit(data)
    write_raster(path, data, crs=crs, transform=transform, descriptions=BANDS, overwrite=True)


def test_one_band_without_data_is_named_not_the_whole_guidance(tmp_path: Path, capsys) -> None:
    """One all-NaN band (the others fine) is that band's fault, named as before 4ed72b3 (which
    blamed the whole guidance): the empty output's message (whether the model reads it), and
    --fit's refusal before its fit."""
    lst, guidance = _scene(tmp_path, lst_cols=20, rows=20, cols=20)  # --fit needs 18 x 18 at x3
    _with_guidance(guidance, lambda data: data.__setitem__(7, np.nan))
    for model, status, said in (
            (["--model", "bicubic"], 3, f"no output pixel has a value: guidance band(s) ndvi of {guidance}"),
            (["--fit", "-m", "tsharp"], 2, f"{guidance}: guidance band 8 ('ndvi') has no valid pixel over the LST")):
        capsys.readouterr()
        assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), *model,
                    "-o", str(tmp_path / "o.tif"), "--json"]) == status
        line = json.loads(capsys.readouterr().out)
        assert said in line["error"] and "lst_covered_fraction" not in line
        assert not (tmp_path / "o.tif").exists()


def test_bands_whose_gaps_together_cover_the_lsts_data_are_an_error(tmp_path: Path, capsys) -> None:
    """Review: band 1 nodata over the top half, band 2 over the bottom: no LST pixel has data in
    every band, yet each band has some; it was ``empty`` (exit 3), and --fit fitted first."""
    lst, guidance = _scene(tmp_path, lst_cols=COLS)

    def halves(data: np.ndarray) -> None:
        data[0, : data.shape[1] // 2] = np.nan
        data[1, data.shape[1] // 2:] = np.nan

    _with_guidance(guidance, halves)
    said = (f"{lst}: none of the LST's {ROWS * COLS} valid pixels has data in every band of the guidance {guidance}: "
            f"its bands' gaps together cover all of the LST's data (hint: {HINT})")
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif"), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["error"], line["lst_covered_fraction"]) == ("error", said, 0.0)


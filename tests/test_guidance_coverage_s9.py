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


# The count of LST pixels without guidance is exact (commit 44f8214 estimated it from the
# output's valid pixels, so LST holes that grow in the output, by bicubic's support or a
# network's hole margin, were said to be the guidance's: a false warning on every cloudy scene).

SIZE = 40


def _holed_scene(folder: Path, lst_holes: list[tuple[slice, slice]], guidance_holes: list[tuple[slice, slice]],
                 guidance_cols: slice = slice(0, SIZE)) -> tuple[Path, Path]:
    """A 30 m LST ``SIZE`` pixels square, NaN in ``lst_holes`` (LST rows, cols), and a 10 m guidance
    over its columns ``guidance_cols``, NaN (all bands) under ``guidance_holes`` (LST rows, cols)."""
    rng = np.random.default_rng(1)
    crs = CRS.from_epsg(32647)
    values = (300 + rng.normal(0, 1, (SIZE, SIZE))).astype(np.float32)
    for hole in lst_holes:
        values[hole] = np.nan
    lst = folder / "a_lst.tif"
    write_raster(lst, values, crs=crs, transform=Affine(30.0, 0, X0, 0, -30.0, Y0), descriptions=["lst"],
                 units="K", overwrite=True)
    data = rng.normal(0, 1, (len(BANDS), 3 * SIZE, 3 * SIZE)).astype(np.float32)
    for rows, cols in guidance_holes:
        data[:, 3 * rows.start:3 * rows.stop, 3 * cols.start:3 * cols.stop] = np.nan
    first, last = guidance_cols.start, guidance_cols.stop
    guidance = folder / "g.tif"
    write_raster(guidance, data[:, :, 3 * first:3 * last], crs=crs,
                 transform=Affine(10.0, 0, X0 + 30.0 * first, 0, -10.0, Y0), descriptions=BANDS, overwrite=True)
    return lst, guidance


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_downscale_learned import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "lite.pt", bands=BANDS)


def _line(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert run(["downscale", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


LST_HOLES = [(slice(10, 14), slice(10, 14)), (slice(25, 26), slice(5, 35))]  # 16 + 30 LST px


@pytest.mark.parametrize("model", [["--model", "bicubic"], ["-c", "CKPT"]])
def test_lst_holes_under_a_full_guidance_are_not_the_guidances(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path, model: list[str]) -> None:
    """LST NaN in two holes, guidance with data everywhere: no warning, no key. Under a network
    the holes grow in the output by its 9 px hole margin, which is no guidance's fault (the
    estimate of 44f8214 said so on every cloudy scene)."""
    lst, guidance = _holed_scene(tmp_path, LST_HOLES, [])
    model = [str(tiny_checkpoint) if arg == "CKPT" else arg for arg in model]
    line = _line(capsys, str(lst), "--guidance", str(guidance), *model, "-o", str(tmp_path / "o.tif"))
    lst_share = 1 - 46 / SIZE ** 2
    assert line["status"] == "ok"
    if "--model" in model:  # bicubic: the output's NaN is the LST's
        assert line["valid_fraction"] == pytest.approx(lst_share)
    else:
        assert line["valid_fraction"] < lst_share
    assert line["warnings"] == [] and "lst_without_guidance_fraction" not in line


GUIDANCE_HOLES = [(slice(5, 15), slice(20, 30)),  # 100 LST px, all valid
                  (slice(8, 12), slice(12, 13))]  # 4 LST px, in LST_HOLES[0]'s columns 12: 2 valid (rows 8, 9)
WITHOUT = 100 + 2  # LST pixels with data and no guidance, counted by hand
VALID = SIZE ** 2 - 46


@pytest.mark.parametrize("extra", [["--model", "bicubic"], ["--model", "bicubic", "--tile", "30", "--overlap", "15"],
                                   ["-c", "CKPT"], ["-c", "CKPT", "--tile", "30", "--overlap", "15"]])
def test_guidance_nodata_over_lst_data_is_counted_exactly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path, extra: list[str]) -> None:
    """Guidance NaN over 102 of the LST's 1554 valid pixels (and 2 of its nodata ones): that exact
    share, whatever the model (its hole margin not counted) and however many overlapping tiles
    (--tile 30 --overlap 15: 10 LR px tiles overlapping by 5, each pixel counted once)."""
    lst, guidance = _holed_scene(tmp_path, LST_HOLES, GUIDANCE_HOLES)
    extra = [str(tiny_checkpoint) if arg == "CKPT" else arg for arg in extra]
    line = _line(capsys, str(lst), "--guidance", str(guidance), *extra, "-o", str(tmp_path / "o.tif"))
    share = round(WITHOUT / VALID, 6)
    assert (line["status"], line["lst_without_guidance_fraction"]) == ("ok", share)
    said = (f"{lst}: {round(share * 100, 1):g} % of its valid pixels inside the guidance {guidance} are NaN in the "
            f"output: the guidance has no data over them (clouds, gaps); {HINT}")
    assert line["warnings"] == [said] and "lst_covered_fraction" not in line
    assert line["tiles"] == (49 if "--tile" in extra else 1)  # 7 x 7 overlapping tiles


def test_the_lst_beyond_the_guidance_is_not_counted_as_without_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A guidance over the LST's columns 4 to 39 only (the output's footprint; the LST's columns 2
    and 3 are read as context, where the guidance is NaN): only its own hole counts, against
    the LST's valid pixels inside it, and the cropped share is said apart."""
    lst, guidance = _holed_scene(tmp_path, [], GUIDANCE_HOLES[:1], guidance_cols=slice(4, SIZE))
    line = _line(capsys, str(lst), "--guidance", str(guidance), "--model", "bicubic", "--tile", "30",
                 "--overlap", "15", "-o", str(tmp_path / "o.tif"))
    inside = SIZE * (SIZE - 4)
    assert (line["lst_covered_fraction"], line["lst_without_guidance_fraction"]) == (
        round(inside / SIZE ** 2, 6), round(100 / inside, 6))
    assert len(line["warnings"]) == 2


@pytest.mark.parametrize(("length", "tile", "overlap"), [(40, 10, 5), (333, 170, 21), (7, 10, 3), (101, 33, 16)])
def test_tiles_own_each_pixel_once(length: int, tile: int, overlap: int) -> None:
    """Each tile owns the pixels from its start to the next tile's (the last one to its end), so
    the owned parts partition the window: per-tile counts add up without counting overlaps twice."""
    from pipelines.tiling import tile_grid

    rows = tile_grid(length, length, tile, overlap)
    owned = np.zeros((length, length), int)
    for t in (t for row in rows for t in row):
        own_rows, own_cols = t.owned()
        owned[t.row:t.row + own_rows, t.col:t.col + own_cols] += 1
    assert (owned == 1).all()


def test_one_pixel_in_millions_is_no_share_of_zero() -> None:
    """Review: one output pixel without guidance in a 3.24 Mpx output was reported as 0.0 (a
    share of 3e-7 rounded to 6 decimals) beside a warning: a script summing losses read none."""
    from pipelines.scenes import LstCoverage

    coverage = LstCoverage(inside=360_000, total=360_000, per_pixel=9)
    assert coverage.without_guidance(1) == 1e-6
    assert coverage.without_guidance(0) == 0.0
    assert coverage.without_guidance(324_000) == 0.1


def test_one_lst_pixel_in_millions_outside_the_guidance_is_no_full_cover() -> None:
    """Review R4: one valid LST pixel of 2,248,501 outside the guidance was rounded to a cover of
    1.0, so no warning and no lst_covered_fraction: a pixel dropped without a word."""
    from pipelines.scenes import LstCoverage

    assert LstCoverage(inside=2_248_500, total=2_248_501, per_pixel=9).covered_fraction == 0.999999
    assert LstCoverage(inside=10, total=10, per_pixel=9).covered_fraction == 1.0
    assert LstCoverage(inside=1, total=4, per_pixel=9).covered_fraction == 0.25

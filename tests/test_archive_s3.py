"""Archive reruns with ``downscale --skip-existing`` (QA s3): a quick-look PNG or COG cut short
by an interrupted run is no finished scene, a --dem naming the output is refused before any
skip, and the --json lines name paths as typed (the output also on a --device refusal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """A small sample LST raster (guidance beside it), the working folder being ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "sample-scene", "ras", "--size", "24", "--seed", "1"]) == 0
    capsys.readouterr()
    return "ras/heihe_demo_lst.tif"


def _downscale(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    """Exit status, the one --json line and stderr of a bicubic downscale."""
    status = run(["downscale", *args, "-m", "bicubic", "--json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


def _finished(capsys: pytest.CaptureFixture[str], lst: str, *args: str) -> None:
    assert _downscale(capsys, lst, *args)[0] == 0


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda png: b"", "is empty"),
    (lambda png: png[:-1], "is a PNG cut short (it does not end in its IEND chunk)"),
    (lambda png: png[: len(png) // 2], "is a PNG cut short (it does not end in its IEND chunk)"),
])
def test_a_quicklook_cut_short_is_the_scenes_error_and_is_kept(scene: str, capsys, damage, problem) -> None:
    _finished(capsys, scene, "-o", "o.tif", "--quicklook", "q.png")
    output, png = Path("o.tif").read_bytes(), Path("q.png").read_bytes()
    Path("q.png").write_bytes(damage(png))
    status, line, err = _downscale(capsys, scene, "-o", "./o.tif", "--quicklook", "./q.png", "--skip-existing")
    assert status == 2 and line["status"] == "error" and line["output"] == "./o.tif"
    assert line["error"] == (f"./q.png: exists but {problem}, so it is no finished quick look (hint: redraw it "
                             "with groklst quicklook ./o.tif -o ./q.png --overwrite, or remove it)")
    assert f"error: {line['error']} (scene {scene})" in err
    assert Path("q.png").read_bytes() == damage(png) and Path("o.tif").read_bytes() == output
    Path("q.png").write_bytes(png)  # a complete one is the finished scene's
    status, line, _ = _downscale(capsys, scene, "-o", "o.tif", "--quicklook", "q.png", "--skip-existing")
    assert (status, line["status"], line["quicklook"]) == (0, "skipped", "q.png")
    assert Path("q.png").read_bytes() == png


def test_a_file_that_is_no_png_is_kept_and_said_not_to_be_the_quicklook(scene: str, capsys) -> None:
    """A user's file at the PNG's name is no quick look: the skipped line says none is there."""
    _finished(capsys, scene, "-o", "o.tif")
    Path("q.png").write_text("my notes\n")
    status, line, err = _downscale(capsys, scene, "-o", "o.tif", "--quicklook", "./q.png", "--skip-existing")
    said = "./q.png: is no PNG (left as it is), and none was drawn, as the scene was skipped (--skip-existing)"
    assert (status, line["status"], line["quicklook"], line["warnings"]) == (0, "skipped", None, [said])
    assert f"warning: {said}" in err and Path("q.png").read_text() == "my notes\n"


def test_a_skipped_quicklook_is_named_as_typed(scene: str, capsys) -> None:
    _finished(capsys, scene, "-o", "o.tif")
    status, line, err = _downscale(capsys, scene, "-o", "./o.tif", "--quicklook", "./q.png", "--skip-existing")
    said = ("./q.png: not drawn, as the scene was skipped (--skip-existing); "
            "groklst quicklook ./o.tif -o ./q.png draws it")
    assert (status, line["status"], line["warnings"], line["quicklook"]) == (0, "skipped", [said], None)
    assert f"warning: {said}" in err and not Path("q.png").exists()


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5])
def test_a_cog_missing_its_last_bytes_is_no_finished_scene(scene: str, capsys, cut: int) -> None:
    _finished(capsys, scene, "-o", "c.tif", "--cog")
    whole = Path("c.tif").read_bytes()
    Path("c.tif").write_bytes(whole[:-cut])
    status, line, _ = _downscale(capsys, scene, "-o", "c.tif", "--cog", "--skip-existing")
    assert status == 2 and line["status"] == "error"
    assert line["error"].startswith("c.tif: exists but is a GeoTIFF ")
    assert "cut short" in line["error"] and "so it is no finished scene" in line["error"]
    assert Path("c.tif").read_bytes() == whole[:-cut]  # never replaced without --overwrite


def test_a_cog_with_zeros_for_its_block_trailer_is_no_finished_scene(scene: str, capsys) -> None:
    """A preallocated copy holds the right size but zeros where the last tile's trailer belongs."""
    _finished(capsys, scene, "-o", "c.tif", "--cog")
    whole = Path("c.tif").read_bytes()
    assert _downscale(capsys, scene, "-o", "c.tif", "--cog", "--skip-existing")[1]["status"] == "skipped"
    Path("c.tif").write_bytes(whole[:-4] + b"\0" * 4)
    status, line, _ = _downscale(capsys, scene, "-o", "c.tif", "--cog", "--skip-existing")
    assert status == 2 and "is a GeoTIFF cut short" in line["error"]


def test_a_cog_given_overviews_in_place_is_still_a_finished_scene(scene: str, capsys) -> None:
    """Review R2: overviews added in place (gdaladdo, rasterio r+) are appended without block
    trailers, and GDAL marks the file KNOWN_INCOMPATIBLE_EDITION=YES; 36a8514 then asked for a
    trailer after the last block and refused the valid file as cut short (exit 2)."""
    import rasterio

    _finished(capsys, scene, "-o", "c.tif", "--cog")
    with rasterio.open("c.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        dst.build_overviews([2, 4])
    assert b"KNOWN_INCOMPATIBLE_EDITION=YES" in Path("c.tif").read_bytes()[:400]
    edited = Path("c.tif").read_bytes()
    status, line, _ = _downscale(capsys, scene, "-o", "c.tif", "--cog", "--skip-existing")
    assert (status, line["status"]) == (0, "skipped") and Path("c.tif").read_bytes() == edited
    Path("c.tif").write_bytes(edited[:-1])  # cut short still is, where its last block ends
    status, line, _ = _downscale(capsys, scene, "-o", "c.tif", "--cog", "--skip-existing")
    assert status == 2 and "is a GeoTIFF cut short" in line["error"]


@pytest.mark.parametrize("layout", [[], ["--overviews"]])
def test_a_plain_geotiff_missing_its_last_byte_is_no_finished_scene(scene: str, capsys, layout: list[str]) -> None:
    _finished(capsys, scene, "-o", "o.tif", *layout)
    whole = Path("o.tif").read_bytes()
    Path("o.tif").write_bytes(whole[:-1])
    status, line, _ = _downscale(capsys, scene, "-o", "o.tif", "--skip-existing", *layout)
    assert status == 2 and "cut short" in line["error"]
    assert Path("o.tif").read_bytes() == whole[:-1]


def test_a_dem_naming_the_output_is_refused_before_a_skip(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "sample-scene", "raw", "--size", "12", "--seed", "2", "--products"]) == 0
    folders, dem = capsys.readouterr().out.split()[2:4], "raw/heihe_demo_dem.tif"
    _finished(capsys, folders[0], folders[1], "--dem", dem, "-o", "p.tif")
    written = Path("p.tif").read_bytes()
    refused = ("p.tif: the output is one of the inputs; it would be overwritten "
               "(hint: write the output under another name)")
    for rerun in ([], ["--skip-existing"]):  # refused alike, never skipped
        status, line, _ = _downscale(capsys, *folders, "--dem", "./p.tif", "-o", "p.tif", *rerun)
        assert (status, line["status"], line["error"]) == (2, "error", refused)
    assert Path("p.tif").read_bytes() == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif", "raw"]  # no ingest folder left


def test_a_device_refusal_names_the_one_output(scene: str, capsys) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: --device cuda is not refused")
    for args, output in ((["--out-dir", "./od/"], "./od/heihe_demo_lst_downscaled.tif"),
                         ([], "heihe_demo_lst_downscaled.tif"), (["-o", "./x.tif"], "./x.tif")):
        status, line, _ = _downscale(capsys, scene, *args, "--device", "cuda")
        assert (status, line["input"], line["output"]) == (2, scene, output)
        assert line["error"].startswith("--device: cuda was asked for but no CUDA device is available")
    assert not Path("od").exists()

"""``downscale --tile/--overlap``: checked on the sizes a scene is run with (whole LR pixels), at
each run's scale, for every model; tiles too small to be worth their per-tile overhead refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.tiling import MIN_OVERLAP, MIN_TILE, TileSizes, check_tile_sizes, seam_warning
from tests.test_downscale import but_guidance_gaps, make_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """A 24 x 24 px x3 generator scene (72 x 72 px output) the shipped model knows."""
    folder = tmp_path_factory.mktemp("tiling")
    assert run(["-q", "sample-scene", str(folder), "--size", "24", "--seed", "3"]) == 0
    return folder / "heihe_demo_lst.tif"


def _refusal(capsys, argv: list[str]) -> str:
    """The one error line of a refused run (exit 2)."""
    assert run(argv) == 2, argv
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_qa_pair_is_judged_on_the_same_used_sizes(scene: Path, tmp_path: Path, capsys) -> None:
    """QA: --tile 10 --overlap 5 was accepted and --tile 9 --overlap 5 refused, though at x3 both
    run 9 px tiles with 3 px overlap; now both are refused as tiles of 9 px, saying so."""
    out = ["-o", str(tmp_path / "o.tif")]
    for model in ([], ["--model", "bicubic"]):  # the shipped x3 model, and the grids' x3
        ten = _refusal(capsys, ["downscale", str(scene), *out, *model, "--tile", "10", "--overlap", "5"])
        nine = _refusal(capsys, ["downscale", str(scene), *out, *model, "--tile", "9", "--overlap", "5"])
        assert ten.startswith("error: --tile 10 at x3 is 9 output px (3 LR px): tiles under 24 output px")
        assert nine.startswith("error: --tile 9 at x3 (3 LR px): tiles under 24 output px")
        assert ten.endswith("(hint: pass --tile 24 or more; the default 768 is fastest)")
    assert not (tmp_path / "o.tif").exists()


def test_qa_tiny_tile_is_refused_before_any_work(scene: Path, tmp_path: Path, capsys) -> None:
    """QA: --tile 8 ran 648 s on 0.03 Mpx with only a warning; now one --json error line."""
    assert run(["downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--tile", "8", "--overlap", "4",
                "--json"]) == 2
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["status"] == "error"
    assert line["error"] == ("--tile 8 at x3 is 6 output px (2 LR px): tiles under 24 output px cost mostly "
                             "per-tile overhead (measured on the sample scene: 12 px tiles took 50x the default's "
                             "time, 6 px 240x, with the shipped model; bicubic 35x and 70x) "
                             "(hint: pass --tile 24 or more; the default 768 is fastest)")
    assert not (tmp_path / "o.tif").exists()


def test_half_tile_overlap_is_checked_on_the_sizes_used(scene: Path, tmp_path: Path, capsys) -> None:
    """--tile 29 --overlap 15 runs 27 px tiles with 15 px overlap at x3 (refused), but 28/14 at x2."""
    line = _refusal(capsys, ["downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--model", "bicubic",
                             "--tile", "29", "--overlap", "15"])
    assert line == ("error: --overlap 15 at x3 (5 LR px) with --tile 29 at x3 is 27 output px (9 LR px): the "
                    "overlap is more than half the tile, so tiles would mostly recompute their neighbours "
                    "(hint: pass --overlap 12 or less, or a larger --tile)")
    assert run(["-q", "downscale", str(scene), "-o", str(tmp_path / "s2.tif"), "--model", "bicubic",
                "--scale", "2", "--tile", "29", "--overlap", "15"]) == 0
    assert (tmp_path / "s2.tif").is_file()


def test_the_guidance_grid_gives_an_interpolators_scale(tmp_path: Path, capsys) -> None:
    """Without --scale or a checkpoint, each scene's pixel-size ratio decides the sizes used:
    --tile 31 --overlap 17 runs 30/15 px at x3 (fine), 30/16 px at x2 (more than half)."""
    lst2, _ = make_scene(tmp_path, "x2", scale=2)
    lst3, _ = make_scene(tmp_path, "x3", scale=3)
    tiling = ["--model", "bicubic", "--tile", "31", "--overlap", "17"]
    assert run(["-q", "downscale", str(lst3), "-o", str(tmp_path / "o3.tif"), *tiling]) == 0
    assert but_guidance_gaps(capsys.readouterr().err) == []  # no tiling warning
    line = _refusal(capsys, ["downscale", str(lst3), str(lst2), "--out-dir", str(tmp_path / "both"), *tiling])
    assert line.startswith("error: --overlap 17 at x2 is 16 output px (8 LR px) with --tile 31 at x2 is 30 "
                           "output px (15 LR px): the overlap is more than half the tile")
    assert not (tmp_path / "both").exists()


def test_tiny_tiles_by_scale_say_what_to_pass(capsys, tmp_path: Path, scene: Path) -> None:
    """The smallest accepted --tile is MIN_TILE once rounded: 25 at x5, where --tile 24 is 20 px."""
    line = _refusal(capsys, ["downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--model", "bicubic",
                             "--scale", "5", "--tile", "24", "--overlap", "0"])
    assert line.startswith("error: --tile 24 at x5 is 20 output px (4 LR px): ")
    assert line.endswith("(hint: pass --tile 25 or more; the default 768 is fastest)")
    assert run(["-q", "downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--model", "bicubic",
                "--scale", "5", "--tile", "25", "--overlap", "0"]) == 0


@pytest.mark.parametrize("scale", range(2, 101))
def test_the_default_and_tiles_of_64_px_are_accepted_at_every_scale(scale: int) -> None:
    """No reasonable setting is refused, whatever the scale rounds it to."""
    for tile, overlap in [(768, 64), (64, 0), (64, 16), (64, 32), (100, 50)]:
        used = check_tile_sizes(tile, overlap, scale)
        assert used.tile * scale >= MIN_TILE and 2 * used.overlap <= used.tile


def test_seams_are_warned_about_on_the_overlap_used(scene: Path, tmp_path: Path, capsys) -> None:
    """--overlap 17 is 15 px at x3 (no seams measured); --overlap 15 is 14 px at x2 (warned: pass 16)."""
    base = ["-q", "downscale", str(scene), "-o", str(tmp_path / "o.tif"), "--model", "bicubic", "--overwrite",
            "--tile", "48"]
    assert run([*base, "--overlap", "17"]) == 0
    assert "seams" not in capsys.readouterr().err
    assert run([*base, "--overlap", "15", "--scale", "2"]) == 0
    assert capsys.readouterr().err.strip() == (
        "warning: --overlap 15 at x2 is 14 output px (7 LR px) leaves visible seams at tile borders (several K "
        "were measured at 0, for learned models and bicubic alike); pass --overlap 16 or more")
    assert seam_warning(48, 16, 2) is None and seam_warning(48, 15, 3) is None
    assert seam_warning(48, 14, 3).startswith("--overlap 14 at x3 is 12 output px (4 LR px) leaves")


def test_a_seam_warning_names_a_tile_that_holds_the_overlap_it_asks_for() -> None:
    """Review: --tile 26 alone at x3 (its default overlap half the tile) was told to pass --overlap
    15, which that tile refuses as over half of it."""
    assert seam_warning(26, 13, 3).endswith("pass --overlap 15 or more with --tile 30 or more")
    check_tile_sizes(30, 15, 3)  # what it names is taken
    assert seam_warning(48, 14, 3).endswith("pass --overlap 15 or more")
    assert MIN_OVERLAP == 15


def test_an_overlap_as_large_as_the_tile_is_refused_when_no_scene_gives_a_scale(tmp_path: Path,
                                                                                 capsys) -> None:
    """An unreadable scene gives no scale; the overlap is too large at any."""
    lst = tmp_path / "a_lst.tif"
    lst.write_bytes(b"")
    line = _refusal(capsys, ["downscale", str(lst), "--model", "bicubic", "--overlap", "900"])
    assert line == ("error: --overlap 900 is not smaller than --tile 768 "
                    "(hint: pass an --overlap of at most half the tile)")


def test_checks_raise_input_errors_naming_the_option() -> None:
    with pytest.raises(InputError, match=r"^--tile 23 at x3 is 21 output px \(7 LR px\): "):
        check_tile_sizes(23, 0, 3)
    assert check_tile_sizes(24, 12, 3) == TileSizes(8, 4, 3)


def test_product_folders_are_checked_before_the_ingest_or_on_its_grids(tmp_path: Path, capsys,
                                                                       monkeypatch) -> None:
    """A checkpoint's scale is known before the (slow) ingest; an interpolator's comes from the
    ingested rasters, checked before any scene runs."""
    from groklst_cli.commands import downscale as command

    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    folders = capsys.readouterr().out.split()[2:4]  # the TIS and MII folders
    tiny = ["--tile", "10", "--overlap", "5", "-o", str(tmp_path / "o.tif")]
    ingest = command.ingest_scene
    monkeypatch.setattr(command, "ingest_scene", lambda *a: pytest.fail("ingested before the refusal"))
    line = _refusal(capsys, ["-q", "downscale", *folders, *tiny])
    assert line.startswith("error: --tile 10 at x3 is 9 output px (3 LR px): tiles under 24 output px")
    monkeypatch.setattr(command, "ingest_scene", ingest)
    assert run(["-q", "downscale", *folders, "--model", "bicubic", *tiny]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the ingest's warnings
    assert line.startswith("error: --tile 10 at x3 is 9 output px (3 LR px): tiles under 24 output px")
    assert not (tmp_path / "o.tif").exists()

"""Option refusals are one line that says what was typed and what to pass, before any note
(QA audit of the options; fixer N)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from tests.conftest import write_canonical_scene


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _refused(argv: list[str], capsys, root: Path) -> str:
    """The one stderr line of a refused command (exit 2), which wrote nothing under ``root``."""
    before = _files(root)
    assert run(argv) == 2, argv
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert captured.out == ""
    assert _files(root) == before
    return lines[0]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch) -> Path:
    """A small scene, with the current folder inside ``tmp_path`` (so that an output written
    into it unasked is seen)."""
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path, "a", shape=(24, 24))
    return lst


@pytest.mark.parametrize("argv, message", [
    (["downscale", "{lst}", "--model", "bicubic", "-o", ""],
     "-o: is empty (hint: name the file, e.g. DIR/scene_10m.tif, or give --out-dir DIR)"),
    (["downscale", "{lst}", "--model", "bicubic", "-o", "o.tif", "--quicklook", ""],
     "--quicklook: is empty (hint: name the PNG, e.g. DIR/look.png)"),
    (["mask", "{lst}", "{lst}", "-o", ""], "-o: is empty (hint: name the file, e.g. DIR/masked_lst.tif)"),
    (["downscale", "{lst}", "--model", "bicubic", "--out-dir", ""],
     "--out-dir: is empty (hint: name a folder, e.g. --out-dir out, or drop --out-dir to write into the "
     "current folder)"),
    (["ingest", "{lst}", "--out-dir", ""],
     "--out-dir: is empty (hint: name a folder, e.g. --out-dir scenes (. for the current folder))"),
    (["train", "{lst}", "-o", "run", "--config", ""],
     "--config: is empty (hint: name a TOML or YAML file, or drop --config)"),
])
def test_an_empty_name_is_refused(scene: Path, capsys, argv: list[str], message: str) -> None:
    """QA: ``-o ''`` was refused as "is a folder" after a note; ``--out-dir ''`` wrote into the
    current folder and ``--config ''`` was read as the current folder."""
    argv = [a.format(lst=scene) for a in argv]
    assert _refused(argv, capsys, scene.parent) == f"error: {message}"


@pytest.mark.parametrize("argv, hint", [
    (["downscale", "{lst}", "--model", "bicubic", "-o", "{folder}"],
     "name the file, e.g. DIR/scene_10m.tif, or give --out-dir DIR"),
    (["mask", "{lst}", "{lst}", "-o", "{folder}", "--overwrite"], "name the file, e.g. DIR/masked_lst.tif"),
    (["guidance", "{lst}", "--scale", "3", "-o", "{folder}"], "name the file, e.g. DIR/X_guidance.tif"),
])
def test_a_folder_as_the_file_to_write_gets_the_commands_own_hint(
        scene: Path, capsys, argv: list[str], hint: str) -> None:
    """QA: ``mask -o FOLDER`` hinted ``--out-dir``, which mask does not have."""
    folder = scene.parent / "fine"
    folder.mkdir()
    argv = [a.format(lst=scene, folder=folder) for a in argv]
    line = _refused(argv, capsys, scene.parent)
    assert line == f"error: {folder}: is a folder; an output file never replaces a folder (hint: {hint})"


@pytest.mark.parametrize("argv, message", [
    (["downscale", "{lst}", "--model", "bicubic", "--overlap", "9000000000000"],
     "--overlap 9000000000000 is not smaller than --tile 768 (hint: pass an --overlap of at most half the "
     "tile)"),
    (["downscale", "{lst}", "--model", "bicubic", "--offset", "-1e30"],
     "--offset: -1e+30 is outside the plausible range -1000..1000 (hint: an offset is the temperature a "
     "stored 0 reads as, e.g. 149.0 for Landsat C2 ST, 273.15 between degC and K, 0 for MODIS)"),
    (["downscale", "{lst}", "--fit", "--fit-lr", "nan"],
     "Invalid value for '--fit-lr': 'nan' is not a number (hint: groklst downscale --help)"),
    (["sample-scene", "out", "--tis-stripes=NaN"],
     "Invalid value for '--tis-stripes': 'NaN' is not a number (hint: groklst sample-scene --help)"),
    (["downscale", "{lst}", "--model", "BICUBICX"],  # choices are read lower-cased, quoted as typed
     "--model: unknown model 'BICUBICX' (hint: use bicubic or bilinear, or --checkpoint CKPT for a trained "
     "network (groklst models lists the networks))"),
    (["downscale", "{lst}", "--units", "nan"],  # a choice: the choices, not "is not a number"
     "Invalid value for '--units': 'nan' is not one of 'kelvin', 'celsius', 'auto'. (hint: groklst downscale "
     "--help)"),
    (["downscale", "{lst}", "--batch-size", "inf"],
     "Invalid value for '--batch-size': 'inf' is not finite (hint: groklst downscale --help)"),
    (["--threads", "0", "models"],
     "Invalid value for '--threads': Input should be greater than or equal to 1 (hint: groklst --help)"),
])
def test_a_value_is_named_as_typed(scene: Path, capsys, argv: list[str], message: str) -> None:
    """QA: ``--overlap 9e12`` was said to be 765 px, ``--offset -1e30`` was refused per scene after
    two notes with a hint to pass ``--nodata 0``, NaN was "should be less than or equal to 5" and
    ``--threads 0`` named the environment variable."""
    argv = [a.format(lst=scene) for a in argv]
    assert _refused(argv, capsys, scene.parent) == f"error: {message}"


def test_a_choice_typed_in_capitals_changes_no_other_option_s_message(scene: Path, capsys) -> None:
    """Reviewer: '--device CPU' made another option's message say host 'CPU' for host 'cpu'."""
    line = _refused(["downscale", str(scene), "--model", "bicubic", "--device", "CPU", "--dask-scheduler",
                     "tcp://cpu:8786"], capsys, scene.parent)
    assert "the host 'cpu' is not known" in line


def test_threads_from_the_environment_names_the_variable(scene: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GROKLST_THREADS", "0")
    assert _refused(["models"], capsys, scene.parent) == (
        "error: Invalid value for '--threads' (env var: 'GROKLST_THREADS'): Input should be greater than or "
        "equal to 1 (hint: groklst --help)")


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One scene's fake SDGSAT-1 TIS and MII product folders (24 px)."""
    root = tmp_path_factory.mktemp("products")
    assert run(["-q", "sample-scene", str(root), "--size", "24", "--products"]) == 0
    return sorted(str(p) for p in root.iterdir() if p.is_dir())


@pytest.mark.parametrize("extra, message", [
    (["--fit", "--fit-select", "foo"], "--fit-select: unknown selection 'foo' (hint: use one of blend, best)"),
    (["--fit", "--fit-psf", "1000"],
     "--fit-psf: gaussian:1000 is 333 LST pixels wide (the width is in guidance pixels, 3 per LST pixel "
     "here); at most 10 LST pixels (30) is taken (hint: use auto, or a width up to 30)"),
    (["--model", "bicubic", "--overlap", "500"],
     "--overlap 500 at x3 is 498 output px (166 LR px) with --tile 768 at x3 (256 LR px): the overlap is more "
     "than half the tile, so tiles would mostly recompute their neighbours (hint: pass --overlap 384 or less, "
     "or a larger --tile)"),
])
def test_product_folders_are_refused_before_the_ingest_speaks(
        products: list[str], tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    """QA: from product folders these came after the ingest's warning and "ingested" lines."""
    argv = ["downscale", *products, "--out-dir", str(tmp_path / "out"), *extra]
    assert _refused(argv, capsys, tmp_path) == f"error: {message}"
    assert not any(".groklst-ingest" in p.name for p in Path(products[0]).parent.iterdir())


@pytest.mark.parametrize("command", [
    ["guidance", "{lst}", "{folder}", "--scale", "3", "-o", "g.tif"],
    ["mask", "{lst}", "{folder}", "-o", "m.tif"],
    ["compare", "{lst}", "{folder}"],
])
def test_a_folder_given_where_a_raster_belongs_says_rasters_only(scene: Path, capsys, command: list[str]) -> None:
    """QA: the hint said SDGSAT-1 product folders are given alone, which these commands never take."""
    folder = scene.parent / "products"
    folder.mkdir()
    argv = [a.format(lst=scene, folder=folder) for a in command]
    assert _refused(argv, capsys, scene.parent) == (
        f"error: {folder}: is a folder; groklst {command[0]} takes raster files only (hint: give a GeoTIFF; "
        "for SDGSAT-1 product folders run groklst ingest first)")


def test_choices_are_read_case_insensitively(scene: Path, capsys) -> None:
    """QA: --fit-candidates BICUBIC was accepted but --model BICUBIC refused."""
    out = scene.parent / "o.tif"
    assert run(["-q", "downscale", str(scene), "--model", "BICUBIC", "--precision", "FP32", "-o", str(out)]) == 0
    assert out.is_file()
    assert capsys.readouterr().err == ""


def test_an_unknown_scheduler_host_is_refused_at_once(scene: Path, capsys) -> None:
    """QA: --dask-scheduler foo:1 waited for the client's 15 s timeout."""
    argv = ["downscale", str(scene), "--model", "bicubic", "--dask-scheduler", "no-such-host.invalid:1"]
    assert _refused(argv, capsys, scene.parent) == (
        "error: --dask-scheduler: no-such-host.invalid:1: the host 'no-such-host.invalid' is not known "
        "(hint: give a running dask scheduler's address, such as tcp://HOST:8786)")


def test_prepare_refuses_an_hr_resolution_coarser_than_the_scene(scene: Path, capsys) -> None:
    """QA: ``--hr-res 1e300`` was refused as "no overlap between the LST and the guidance"."""
    argv = ["prepare", str(scene), "-o", str(scene.parent / "ds"), "--hr-res", "1e300"]
    assert _refused(argv, capsys, scene.parent) == (
        f"error: --hr-res: 1e+300 is coarser than the whole scene {scene} (24 x 24 pixels of 30 m) "
        "(hint: pass the LST's own 30 or a multiple of it, or leave --hr-res out)")


def test_warnings_name_inputs_as_typed(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: the duplicate-input warning and --fit's own warning printed ``a_lst.tif`` for ``./a_lst.tif``."""
    monkeypatch.chdir(tmp_path)
    write_canonical_scene(tmp_path, "a", shape=(18, 18))
    assert run(["downscale", "./a_lst.tif", "a_lst.tif", "--fit", "--fit-candidates", "bicubic,tsharp",
                "-o", "o.tif"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings[:2] == [
        "warning: a_lst.tif: given more than once (as ./a_lst.tif); downscaled once",
        "warning: ./a_lst.tif: the choice rests on 9 held-out blocks only (a small scene): a weak verdict; "
        "check it against --model bicubic on data you trust"]

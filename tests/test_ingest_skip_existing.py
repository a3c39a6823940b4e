"""``groklst ingest --skip-existing`` (task h13): an operator re-running ingest over an archive got
exit 2 "output already exists" for every scene already ingested, and the --json error line said
``"output": null`` although its message named the output. A complete pair is now ``skipped``
(exit 0, nothing touched, no raster of the products read); a pair that is not a complete ingest
is the scene's error, left as it is; error lines name the LST as ``output``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene, write_scene

NAME = "KX10_20220815_E100.45_N38.93_202200112233_L4A"
HINT = "remove it, or pass --overwrite instead of --skip-existing"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder of SDGSAT-1 products and a folder holding its finished ingest."""
    root = tmp_path_factory.mktemp("h13")
    write_product_fixture(generate_scene((16, 20), seed=5), root / "products")
    assert run(["-q", "ingest", str(root / "products"), "--out-dir", str(root / "done")]) == 0
    return root / "products", root / "done"


@pytest.fixture
def scene(archive: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """The products, and a copy of the finished pair (LST, guidance) to re-run over."""
    products, done = archive
    shutil.copytree(done, tmp_path / "out")
    return products, tmp_path / "out" / f"{NAME}_lst.tif", tmp_path / "out" / f"{NAME}_guidance.tif"


def _ingest(capsys: pytest.CaptureFixture[str], products: Path, out_dir: Path, *options: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = run(["-q", "ingest", str(products), "--out-dir", str(out_dir), "--json", *options])
    return code, json.loads(capsys.readouterr().out)


def _state(*paths: Path) -> list[tuple[bytes, int] | None]:
    """Each file's bytes and modification time (None: absent), to tell nothing was touched."""
    return [(p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None for p in paths]


def test_a_finished_pair_is_skipped_untouched(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    before = _state(lst, guidance)
    code, line = _ingest(capsys, products, lst.parent, "--skip-existing")
    assert code == 0
    assert line == {"input": str(products), "output": str(lst), "status": "skipped", "lst": str(lst),
                    "guidance": str(guidance), "warnings": []}
    assert _state(lst, guidance) == before
    assert sorted(p.name for p in lst.parent.iterdir()) == sorted([lst.name, guidance.name])


def test_a_skipped_scene_prints_its_two_paths(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    capsys.readouterr()
    assert run(["ingest", str(products), "--out-dir", str(lst.parent), "--skip-existing"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(lst), str(guidance)]
    assert f"{lst}: skipped, the scene is already ingested (--skip-existing)" in err


def test_the_skip_reads_no_raster_of_the_products(scene: tuple[Path, Path, Path], tmp_path: Path,
                                                  capsys) -> None:
    products, lst, guidance = scene
    damaged = shutil.copytree(products, tmp_path / "damaged")
    for image in damaged.rglob("*.tif*"):
        image.write_bytes(b"")  # any read of the products would fail
    code, line = _ingest(capsys, damaged, lst.parent, "--skip-existing")
    assert (code, line["status"]) == (0, "skipped")


def test_without_outputs_the_scene_is_ingested(archive: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    products, done = archive
    code, line = _ingest(capsys, products, tmp_path / "new", "--skip-existing")
    assert (code, line["status"], line["output"]) == (0, "ok", str(tmp_path / "new" / f"{NAME}_lst.tif"))
    assert (tmp_path / "new" / f"{NAME}_lst.tif").read_bytes() == (done / f"{NAME}_lst.tif").read_bytes()


def _refused(capsys, products: Path, lst: Path, guidance: Path, error: str) -> None:
    before = _state(lst, guidance)
    code, line = _ingest(capsys, products, lst.parent, "--skip-existing")
    assert (code, line["status"], line["output"], line["error"]) == (2, "error", str(lst), error)
    assert _state(lst, guidance) == before


@pytest.mark.parametrize("keep", [2 / 3, 0.95])
def test_a_cut_short_guidance_is_the_scenes_error(scene: tuple[Path, Path, Path], capsys, keep: float) -> None:
    products, lst, guidance = scene
    data = guidance.read_bytes()
    guidance.write_bytes(data[:int(len(data) * keep)])  # an rsync cut short (its header is written last)
    _refused(capsys, products, lst, guidance,
             f"{guidance}: exists but is not a readable GeoTIFF, so it is no finished ingest (hint: {HINT})")


def test_an_empty_lst_is_the_scenes_error(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    lst.write_bytes(b"")
    _refused(capsys, products, lst, guidance,
             f"{lst}: exists but is not a readable GeoTIFF, so it is no finished ingest (hint: {HINT})")


def test_a_guidance_of_another_tool_is_the_scenes_error(scene: tuple[Path, Path, Path], tmp_path: Path,
                                                        capsys) -> None:
    products, lst, guidance = scene
    other = write_scene(generate_scene((16, 20), seed=5), tmp_path / "sample", "s")  # same bands, sample-scene's
    shutil.copy(other[1], guidance)
    _refused(capsys, products, lst, guidance,
             f"{guidance}: exists but was not written by groklst ingest (generator tag 'groklst sample-scene'), "
             f"so it is no finished ingest (hint: {HINT})")


def test_a_guidance_with_other_bands_is_the_scenes_error(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    shutil.copy(lst, guidance)
    _refused(capsys, products, lst, guidance,
             f"{guidance}: exists but has 1 band(s) ('lst'), not an ingested guidance's 10 bands ('dem', "
             f"'deepblue', 'blue', 'green', 'red', 'vre', 'nir', 'ndmvi', 'ndvi', 'ndwi'), so it is no "
             f"finished ingest (hint: {HINT})")


@pytest.mark.parametrize("left", ["lst", "guidance"])
def test_one_of_the_pair_alone_is_the_scenes_error(scene: tuple[Path, Path, Path], capsys, left: str) -> None:
    products, lst, guidance = scene
    there, gone = (lst, guidance) if left == "lst" else (guidance, lst)
    gone.unlink()
    _refused(capsys, products, lst, guidance,
             f"{there}: exists but {gone} does not, so it is no finished ingest (hint: {HINT})")


def test_skip_existing_with_overwrite_is_refused(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    before = _state(lst, guidance)
    code, line = _ingest(capsys, products, lst.parent, "--skip-existing", "--overwrite")
    assert (code, line["status"], line["output"], line["error"]) == (
        2, "error", str(lst), "--skip-existing: give --skip-existing or --overwrite, not both "
                              "(hint: --skip-existing keeps existing outputs, --overwrite replaces them)")
    assert _state(lst, guidance) == before


def test_the_error_line_names_the_output(scene: tuple[Path, Path, Path], capsys) -> None:
    products, lst, guidance = scene
    code, line = _ingest(capsys, products, lst.parent)
    assert line == {"input": str(products), "output": str(lst), "status": "error",
                    "error": f"{lst}: output already exists (hint: pass --overwrite to replace it)", "warnings": []}
    assert code == 2


@pytest.mark.parametrize("options", [["--saturated", "sometimes"], ["--mii-saturation-dn", "many"],
                                     ["--retrieval-config", "missing.toml"]])
def test_bad_ingest_options_are_refused_before_a_skip(scene: tuple[Path, Path, Path], capsys,
                                                      options: list[str]) -> None:
    """A finished pair was skipped (exit 0) before the options were checked, so a typo in one
    passed unnoticed in every rerun; downscale checks every option before skipping too."""
    products, lst, guidance = scene
    before = _state(lst, guidance)
    code, line = _ingest(capsys, products, lst.parent, "--skip-existing", *options)
    assert code == 2 and line["status"] == "error", line
    assert line["error"].startswith(options[0] if options[0] != "--retrieval-config" else options[1]), line
    assert _state(lst, guidance) == before


@pytest.mark.parametrize("option", ["--dem", "--lst"])
def test_a_missing_dem_or_lst_is_refused_before_a_skip(scene: tuple[Path, Path, Path], capsys,
                                                       tmp_path: Path, option: str) -> None:
    """A typo in --dem or --lst was skipped with exit 0 on every finished scene (review R3)."""
    products, lst, guidance = scene
    missing = tmp_path / "no_such.tif"
    before = _state(lst, guidance)
    code, line = _ingest(capsys, products, lst.parent, "--skip-existing", option, str(missing))
    assert (code, line["status"], line["error"]) == (2, "error", f"{missing}: file not found (hint: check the path)")
    assert _state(lst, guidance) == before


def test_downscale_of_products_refuses_a_missing_dem_before_a_skip(archive: tuple[Path, Path], tmp_path: Path,
                                                                   capsys) -> None:
    products, _ = archive
    out = tmp_path / "fine.tif"
    assert run(["-q", "downscale", str(products), "-m", "bicubic", "-o", str(out)]) == 0
    before = _state(out)
    capsys.readouterr()
    missing = tmp_path / "no_such_dem.tif"
    assert run(["-q", "downscale", str(products), "-m", "bicubic", "-o", str(out), "--skip-existing",
                "--dem", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: file not found (hint: check the path)"
    assert _state(out) == before

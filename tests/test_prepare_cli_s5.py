"""``groklst prepare`` from the command line: a scene named as typed in its warnings, and product
folders whose meta.xml times end in a zone groklst does not read warned about once."""

from __future__ import annotations

from pathlib import Path

from groklst_cli.app import run
from pipelines.sample_scene import generate_scene, write_scene
from tests.test_ingest_bands_s4 import _copy, _lines, sample  # noqa: F401 - sample: a fixture
from tests.test_ingest_review_s5 import NOT_READ, _set_times

PREPARE = ["--scales", "3", "--patch", "24", "--stride", "12", "--split-block", "24"]


def test_prepare_names_a_scene_too_small_for_the_patch_as_typed(tmp_path: Path, monkeypatch, capsys) -> None:
    """The CLI folded the typed paths before prepare saw them: ``scenes/small_lst.tif``."""
    monkeypatch.chdir(tmp_path)
    write_scene(generate_scene((48, 48), seed=1), tmp_path / "scenes", name="s1")
    write_scene(generate_scene((16, 16), seed=2), tmp_path / "scenes", name="small")
    assert run(["prepare", "./scenes//s1_lst.tif", "./scenes//small_lst.tif", "-o", "ds", *PREPARE]) == 0
    assert [line for line in _lines(capsys, "warning:") if "smaller than" in line] == [
        "warning: ./scenes//small_lst.tif: the scene is smaller than the 24 px patch (16 x 16 HR pixels of "
        "30 m); no patch is taken from it"]


def test_prepare_from_products_warns_once_of_a_zone_not_read(sample, tmp_path: Path, capsys) -> None:
    """Both times in one unread zone are compared as written (d35ef0f): prepare said each product's
    time was compared by date alone, once per file, as it read them before pairing."""
    scene = _copy(sample, tmp_path)
    _set_times(scene, "2022-08-15 23:59:58 CST", "2022-08-16 00:00:02 CST")
    capsys.readouterr()
    products = [str(p) for p in sorted(scene.glob("KX10_*"))]
    assert run(["prepare", *products, "-o", str(tmp_path / "ds"), "--scales", "2", "--patch", "16",
                "--stride", "8", "--split-block", "16", "--max-nodata", "1", "--split", "1:0:0"]) == 0
    warned = [line for line in _lines(capsys, "warning:") if NOT_READ in line]
    assert len(warned) == 1 and "their times are compared as written" in warned[0]

"""Review R7 findings: a PNG beside an unreadable output is not blamed for it, two case variants of
a product's own file are refused saying so, a per-band folder's browse subfolder is not a product,
prepare names one scene whose MII folder keeps a backup subfolder, and a hand-edited run config
does not crash ``train``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines import sdgsat
from pipelines.errors import InputError
from pipelines.fixtures import FixtureSettings, write_product_fixture
from pipelines.ingest import find_products
from pipelines.run_layout import CONFIG_FILE
from pipelines.sample_scene import generate_scene
from tests.conftest import write_canonical_scene
from tests.test_faults_train import copy_of, saved_run, train  # noqa: F401 - saved_run: a fixture
from tests.test_train import dataset  # noqa: F401 - dataset: a fixture


def test_a_png_beside_an_unreadable_output_leaves_the_error_to_the_output(tmp_path: Path, capsys) -> None:
    lst, _ = write_canonical_scene(tmp_path, "s")
    (tmp_path / "a.tif").write_text("junk")
    (tmp_path / "a.png").write_bytes(b"not drawn by this run")
    assert run(["downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "a.tif"),
                "--quicklook", str(tmp_path / "a.png"), "--skip-existing"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'a.tif'}: exists but is not a readable GeoTIFF" in err and "a.png" not in err
    assert (tmp_path / "a.png").read_bytes() == b"not drawn by this run"


def test_two_case_variants_of_the_products_own_image_are_refused(tmp_path: Path) -> None:
    tis, _ = write_product_fixture(generate_scene((12, 12), seed=1), tmp_path)
    own = next(tis.glob("*.tiff"))
    shutil.copy(own, own.with_suffix(".TIFF"))
    with pytest.raises(InputError, match=r"\.tiff?, .*\.TIFF are named after the folder but for the case|"
                                         r"\.TIFF, .*\.tiff are named after the folder but for the case"):
        sdgsat.read_product(tis)


def test_a_per_band_folders_browse_subfolder_is_not_a_product(tmp_path: Path) -> None:
    tis, mii = write_product_fixture(generate_scene((12, 12), seed=1), tmp_path, FixtureSettings(tis_per_band=True))
    (tis / "browse").mkdir()
    (tis / "browse" / f"{tis.name}_B1_thumb.jpg").write_bytes(b"jpeg")
    shutil.copy(next(tis.glob("*_B1.tif")), tis / "browse" / f"{tis.name}_B1.tif")
    assert [p.folder for p in find_products([tis, mii])] == [tis, mii]


def test_prepare_names_one_scene_whose_mii_keeps_a_backup_subfolder(tmp_path: Path, capsys) -> None:
    tis, mii = write_product_fixture(generate_scene((24, 24), seed=3), tmp_path / "p")
    (mii / "backup").mkdir()
    for image in mii.glob("*_[AB].tif"):
        shutil.copy(image, mii / "backup" / image.name)
    next(tis.glob("*calib.xml")).unlink()  # the run fails: its error line names the scene
    assert run(["prepare", str(tis), str(mii), "-o", str(tmp_path / "ds"), "--scales", "2", "--patch", "8",
                "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["input"] == f"{tis}, {mii}"


def test_a_run_config_whose_train_section_is_not_a_table_does_not_crash(dataset: Path, saved_run: Path,  # noqa: F811
                                                                          tmp_path: Path, capsys) -> None:
    out = copy_of(saved_run, tmp_path)
    record = json.loads((out / CONFIG_FILE).read_text())
    record["train"] = None
    (out / CONFIG_FILE).write_text(json.dumps(record))
    assert train(dataset, out) == 2
    assert "internal error" not in capsys.readouterr().err


def test_a_missing_mii_half_is_named_after_an_upper_case_sibling(tmp_path: Path) -> None:
    """The expected name of a missing camera image comes from the other camera's scene name, also
    when that one reads ``.TIF``."""
    _, mii = write_product_fixture(generate_scene((12, 12), seed=1), tmp_path)
    a, b = sorted(mii.glob("*_[AB].tif"))
    a.rename(mii / "SCENE_X_A.TIF")
    b.unlink()
    with pytest.raises(InputError) as refused:
        sdgsat.read_product(mii)
    assert refused.value.path == str(mii / "SCENE_X_B.tif")

"""``ingest --json`` and ``downscale`` of product folders (task F7, s4): the error line's
``output`` named the LST only for errors after the products were read; a missing calib.xml or
a meta.xml of another date left it ``null``, though the folders' names give the scene. It now
names the LST (or the downscaled output) whenever the folder names or ``--name`` give the scene,
as typed; ``null`` stays only where no scene name can be known."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene

NAME = "KX10_20220815_E100.45_N38.93_202200112233_L4A"  # the product fixture's scene
CALIB_MISSING = "calib.xml not found"


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one scene's TIS and MII product folders."""
    root = tmp_path_factory.mktemp("f7")
    write_product_fixture(generate_scene((16, 20), seed=5), root / "products")
    return root / "products"


@pytest.fixture
def products(delivered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of the products under the working folder (``p/``): the TIS and MII folders."""
    shutil.copytree(delivered, tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    return Path("p") / NAME.replace("KX10_", "KX10_TIS_"), Path("p") / NAME.replace("KX10_", "KX10_MII_")


def _error_line(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    """The --json error line of a refused run (exit 2)."""
    assert run(["-q", *args, "--json"]) == 2
    return json.loads(capsys.readouterr().out)


def _drop_calib(folder: Path) -> None:
    next(folder.glob("*.calib.xml")).unlink()


def test_ingest_names_the_lst_when_the_mii_calib_xml_is_missing(products, capsys) -> None:
    tis, mii = products
    _drop_calib(mii)
    line = _error_line(capsys, "ingest", str(tis), str(mii), "--out-dir", "./sc/")
    assert (line["status"], line["output"]) == ("error", f"./sc/{NAME}_lst.tif")
    assert line["input"] == f"{tis}, {mii}" and CALIB_MISSING in line["error"]


def test_ingest_names_the_lst_when_a_meta_xml_date_is_not_the_folders(products, capsys) -> None:
    tis, mii = products
    meta = next(tis.glob("*.meta.xml"))
    meta.write_text(meta.read_text().replace("2022-08-15", "2021-01-01"))
    line = _error_line(capsys, "ingest", "p", "--out-dir", "sc")
    assert line["output"] == f"sc/{NAME}_lst.tif"
    assert line["error"].startswith(f"{meta}: ") and "is not the date in the folder name" in line["error"]


def test_ingest_names_the_lst_after_name_when_a_product_is_unreadable(products, capsys) -> None:
    tis, _ = products
    _drop_calib(tis)
    line = _error_line(capsys, "ingest", "p", "--out-dir", "sc", "--name", "z")
    assert line["output"] == "sc/z_lst.tif" and CALIB_MISSING in line["error"]


def test_ingest_of_a_renamed_mii_folder_names_the_lst_after_its_images(products, capsys) -> None:
    tis, mii = products
    renamed = mii.rename(Path("p") / "mii")
    _drop_calib(renamed)
    line = _error_line(capsys, "ingest", str(tis), str(renamed), "--out-dir", "sc")
    assert line["output"] == f"sc/{NAME}_lst.tif" and CALIB_MISSING in line["error"]


def test_ingest_names_no_lst_when_no_scene_name_can_be_known(products, capsys) -> None:
    tis, mii = products
    _drop_calib(mii)
    line = _error_line(capsys, "ingest", str(tis), str(mii), "--out-dir", "sc", "--name", "a/b")
    assert line["output"] is None and CALIB_MISSING in line["error"]
    line = _error_line(capsys, "ingest", str(tis), "--out-dir", "sc")  # no MII product: no scene name
    assert line["output"] is None and "no MII product given" in line["error"]


def test_downscale_of_products_names_its_output_when_the_calib_xml_is_missing(products, capsys) -> None:
    tis, mii = products
    _drop_calib(mii)
    line = _error_line(capsys, "downscale", str(tis), str(mii), "--out-dir", "./o")
    assert line["output"] == f"./o/{NAME}_lst_downscaled.tif" and CALIB_MISSING in line["error"]
    line = _error_line(capsys, "downscale", "p")
    assert line["output"] == f"{NAME}_lst_downscaled.tif"
    line = _error_line(capsys, "downscale", "p", "-o", "./x.tif")
    assert line["output"] == "./x.tif" and CALIB_MISSING in line["error"]
    assert not Path("o").exists()  # a refused run writes nothing


def test_downscale_of_products_names_its_output_when_an_option_is_refused(products, capsys) -> None:
    """A bad --dem or --guidance with product folders is refused before the products are planned:
    the error line names the output the folder names give, as ingest's names its LST."""
    tis, mii = products
    line = _error_line(capsys, "downscale", str(tis), str(mii), "--dem", "nope.tif", "--out-dir", "./o")
    assert line["output"] == f"./o/{NAME}_lst_downscaled.tif" and "nope.tif" in line["error"]
    line = _error_line(capsys, "downscale", str(tis), str(mii), "--guidance", "g.tif")
    assert line["output"] == f"{NAME}_lst_downscaled.tif" and "--guidance" in line["error"]
    assert not Path("o").exists()

"""Every command's --json line (and plain result line) names its paths exactly as typed
(``./x.tif``, ``d//x.tif``, ``../t/d/x.tif``, ``arch/s1/``), not as pathlib folds them: shell
pipelines join the lines back to the names they passed (``jq -r .input``). QA s3 found
``ingest arch/s1/ --json`` naming ``arch/s1`` and ``-o ./q.png`` reported as ``q.png``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.fixtures import write_product_fixture
from pipelines.sample_scene import generate_scene
from tests.conftest import write_canonical_scene

NAME = "KX10_20220815_E100.45_N38.93_202200112233_L4A"  # the product fixture's scene


def _spellings(tmp_path: Path, relative: str) -> list[str]:
    """``relative`` (under ``tmp_path``, the working folder) as a user may type it."""
    folder, name = relative.rsplit("/", 1)
    return [f"./{relative}", f"{folder}//{name}", f"../{tmp_path.name}/{relative}", f"{tmp_path}/{folder}//{name}"]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A canonical scene under ``d/`` of the working folder, and a 0/1 mask on its LST grid."""
    (tmp_path / "d").mkdir()
    monkeypatch.chdir(tmp_path)
    lst, _ = write_canonical_scene(tmp_path / "d", "s")
    with rasterio.open(lst) as src:
        profile = {**src.profile, "dtype": "uint8", "nodata": None}
    flags = np.zeros((32, 32), dtype="uint8")
    flags[:4] = 1
    with rasterio.open(tmp_path / "d" / "m.tif", "w", **profile) as dst:
        dst.write(flags, 1)
    capsys.readouterr()
    return tmp_path


def _json(capsys, args: list[str], status: int = 0) -> dict:
    assert run(["-q", *args, "--json"]) == status
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("spelling", range(4), ids=["dot", "double-slash", "dot-dot", "absolute"])
def test_mask_names_raster_mask_and_output_as_typed(scene: Path, capsys, spelling: int) -> None:
    raster, flags, out = (_spellings(scene, p)[spelling] for p in ("d/s_lst.tif", "d/m.tif", "d/o.tif"))
    line = _json(capsys, ["mask", raster, flags, "-o", out])
    assert (line["input"], line["mask"], line["output"], line["masked"]) == (raster, flags, out, 4 * 32)
    assert run(["-q", "mask", raster, flags, "-o", out, "--overwrite"]) == 0
    assert capsys.readouterr().out == f"{out}\n"


def test_an_error_line_names_the_paths_as_typed(scene: Path, capsys) -> None:
    line = _json(capsys, ["mask", "./d/none.tif", "./d/m.tif", "-o", "./d//o.tif"], status=2)
    assert (line["status"], line["input"], line["output"]) == ("error", "./d/none.tif", "./d//o.tif")


def test_guidance_names_the_lst_output_and_sources_as_typed(scene: Path, capsys) -> None:
    lst, source, out = "./d/s_lst.tif", "d//s_guidance.tif", f"../{scene.name}/d//g.tif"
    line = _json(capsys, ["guidance", lst, source, "-o", out, "--scale", "3"])
    assert (line["input"], line["output"], line["width"]) == (lst, out, 96)
    assert [band["source"] for band in line["bands"]][:2] == [f"{source} band 1", f"{source} band 2"]
    assert run(["-q", "guidance", lst, source, "-o", out, "--scale", "3", "--overwrite"]) == 0
    assert capsys.readouterr().out == f"{out}\n"


def test_coregister_names_lst_guidance_and_output_as_typed(scene: Path, capsys) -> None:
    lst, guidance, out = "./d/s_lst.tif", "d//s_guidance.tif", f"{scene}/d/./c.tif"
    line = _json(capsys, ["coregister", lst, guidance, "-o", out])
    assert (line["input"], line["guidance"], line["output"]) == (lst, guidance, out)
    assert Path("d/c.tif").is_file()


def test_compare_names_reference_and_candidates_as_typed(scene: Path, capsys) -> None:
    (scene / "d" / "copy.tif").write_bytes((scene / "d" / "s_lst.tif").read_bytes())
    reference, candidates = "./d/s_lst.tif", ["d//copy.tif", f"../{scene.name}/d/copy.tif"]
    line = _json(capsys, ["compare", reference, *candidates])
    assert (line["input"], line["reference"]) == (reference, reference)
    assert [row["candidate"] for row in line["rows"]] == candidates
    assert [row["rmse"] for row in line["rows"]] == [0.0, 0.0]


def test_quicklook_names_the_png_as_typed(scene: Path, capsys) -> None:
    assert run(["-q", "downscale", "d/s_lst.tif", "--model", "bicubic", "-o", "d/o.tif"]) == 0
    capsys.readouterr()
    assert run(["-q", "quicklook", "./d//o.tif", "-o", "./q.png"]) == 0
    assert capsys.readouterr().out == "./q.png\n" and Path("q.png").is_file()
    assert run(["-q", "quicklook", "./d//o.tif"]) == 0  # the default PNG: beside the output, as typed
    assert capsys.readouterr().out == "./d//o.png\n" and Path("d/o.png").is_file()


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of SDGSAT-1 products."""
    root = tmp_path_factory.mktemp("typed")
    write_product_fixture(generate_scene((16, 20), seed=5), root / "arch")
    return root


def test_ingest_names_products_and_outputs_as_typed(products: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys) -> None:
    monkeypatch.chdir(products)
    line = _json(capsys, ["ingest", "arch/", "--out-dir", "./out/"])
    lst, guidance = f"./out/{NAME}_lst.tif", f"./out/{NAME}_guidance.tif"
    assert (line["input"], line["output"], line["lst"], line["guidance"]) == ("arch/", lst, lst, guidance)
    assert run(["-q", "ingest", "./arch", "--out-dir", "./out", "--skip-existing"]) == 0
    assert capsys.readouterr().out == f"./out/{NAME}_lst.tif\n./out/{NAME}_guidance.tif\n"

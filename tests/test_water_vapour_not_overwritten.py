"""A water vapour raster named by ``--retrieval-config`` is an input of a run on SDGSAT-1 product
folders: no output of ``downscale`` (``-o``, ``--fit``'s ``--save-checkpoint``) or ``prepare``
may replace it (QA R5: ``-o tcwv.tif --overwrite`` replaced it with the downscaled LST)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run

CLASH = "the output is one of the inputs; it would be overwritten"


@pytest.fixture()
def scene(tmp_path: Path, capsys) -> tuple[list[str], Path, Path]:
    """A sample scene's TIS and MII product folders, a water vapour raster on the TIS grid and a
    retrieval TOML naming it (relative to the TOML's folder)."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    folders = capsys.readouterr().out.split()[2:4]
    tis_image = next(Path(folders[0]).glob("*.tiff"))
    vapour = tmp_path / "tcwv.tif"
    with rasterio.open(tis_image) as tis:
        profile = dict(driver="GTiff", width=tis.width, height=tis.height, count=1, dtype="float32",
                       crs=tis.crs, transform=tis.transform)
    with rasterio.open(vapour, "w", **profile) as dst:
        dst.write(np.full((profile["height"], profile["width"]), 1.5, np.float32), 1)
    config = tmp_path / "r.toml"
    config.write_text('[split_window]\nwater_vapour = "tcwv.tif"\n')
    return folders, vapour, config


def refused(args: list[str], vapour: Path, capsys) -> str:
    """Run ``args``; assert exit 2 and the water vapour raster's bytes unchanged; the one error
    line (the last: an ingest's warnings may come before it)."""
    before = vapour.read_bytes()
    assert run(["-q", *args]) == 2
    assert vapour.read_bytes() == before
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    return errors[0]


@pytest.mark.parametrize("how", [["--model", "bicubic", "--scale", "2"], ["--fit", "--model", "tsharp"]])
def test_downscale_output_onto_the_water_vapour_raster_is_refused(scene, how, capsys) -> None:
    folders, vapour, config = scene
    line = refused(["downscale", *folders, *how, "--retrieval-config", str(config), "-o", str(vapour),
                    "--overwrite"], vapour, capsys)
    assert line == (f"error: {vapour}: {CLASH} (hint: write the output under another name) "
                    f"(scene {', '.join(folders)})")


def test_save_checkpoint_onto_the_water_vapour_raster_is_refused(tmp_path: Path, scene, capsys) -> None:
    folders, vapour, config = scene
    out = tmp_path / "out.tif"
    line = refused(["downscale", *folders, "--fit", "--model", "mocolsk-lite", "--fit-iters", "1",
                    "--retrieval-config", str(config), "-o", str(out), "--save-checkpoint", str(vapour),
                    "--overwrite"], vapour, capsys)
    assert line == f"error: {vapour}: {CLASH} (hint: write the output under another name)"
    assert not out.exists()


def test_prepare_never_replaces_the_water_vapour_raster(scene, capsys) -> None:
    folders, vapour, config = scene
    line = refused(["prepare", *folders, "--retrieval-config", str(config), "--out", str(vapour), "--overwrite"],
                   vapour, capsys)
    assert line == (f"error: {vapour}: exists and is not a folder; a dataset never replaces a file "
                    "(hint: choose another output folder)")


@pytest.mark.parametrize("typed", ["..tif", "...tif"])
def test_an_output_whose_stem_is_a_dot_names_unnamed_products(tmp_path: Path, scene, typed, capsys) -> None:
    """Products that name no scene take the output's stem as the ingest's scene name: ``.`` and
    ``..`` were refused as a ``--name``, an option downscale does not have (QA R5)."""
    folders, _, _ = scene
    mii = Path(folders[1]).rename(tmp_path / "mii")
    for path in mii.iterdir():  # KX10_MII_..._A.tif -> x_A.tif: no delivered name left
        path.rename(mii / ("x" + path.name[path.name.index("_L4A") + 4:]))
    out = tmp_path / typed
    assert run(["-q", "downscale", folders[0], str(mii), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.tags()["guidance_source"] == str(mii.resolve())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [typed]  # no ingest left

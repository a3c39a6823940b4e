"""An empty path (QA s6 f11): typer reads ``''`` as pathlib's ``.``, so ``compare REF ''``,
``checkpoint-info ''`` and the like said ``.: is a folder`` (or named a directory with a hint about
SDGSAT-1 product folders) instead of naming the empty option or argument; ``ingest --name ''``
fell back to the default name; ``train --config FOLDER`` said ``config file not found``; and
``downscale --save-checkpoint ''`` (or a folder) was refused with a hint at a .tif and --out-dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from groklst_cli.console import state
from pipelines.errors import InputError
from pipelines.sample_scene import generate_scene, write_scene

LST, GUIDANCE = "s/e_lst.tif", "s/e_guidance.tif"

CASES = {
    "compare candidate": (["compare", LST, ""],
                          "CANDIDATES: is empty (hint: name the LST rasters to score, e.g. scene_10m.tif)"),
    "compare reference": (["compare", "", LST],
                          "REFERENCE: is empty (hint: name the reference LST raster, e.g. truth.tif)"),
    "mask mask": (["mask", LST, "", "-o", "m.tif"],
                  "MASK: is empty (hint: name the QA or mask raster, e.g. QA_PIXEL.tif)"),
    "mask raster": (["mask", "", GUIDANCE, "-o", "m.tif"],
                    "RASTER: is empty (hint: name the raster to mask, e.g. X_lst.tif)"),
    "guidance source": (["guidance", LST, "", "-o", "g.tif"],
                        "SOURCES: is empty (hint: name a guidance raster as PATH or NAME=PATH)"),
    "guidance lst": (["guidance", "", GUIDANCE, "-o", "g.tif"],
                     "LST: is empty (hint: name the LST raster the guidance nests in, e.g. X_lst.tif)"),
    "guidance categorical": (["guidance", LST, "--categorical", "", "-o", "g.tif"],
                             "--categorical: is empty (hint: name a class map as [NAME=]PATH, or drop --categorical)"),
    "checkpoint-info": (["checkpoint-info", ""], "CHECKPOINT: is empty (hint: name a checkpoint file, "
                                                 "e.g. models/pretrained/mocolsk-lite-x3-sdgsat.pt)"),
    "coregister lst": (["coregister", "", GUIDANCE, "-o", "c.tif"],
                       "LST: is empty (hint: name the LST raster, e.g. X_lst.tif)"),
    "coregister guidance": (["coregister", LST, "", "-o", "c.tif"], "GUIDANCE: is empty "
                            "(hint: name the guidance raster groklst guidance built, e.g. X_guidance.tif)"),
    "ingest products": (["ingest", "", "--out-dir", "o"], "PRODUCTS: is empty (hint: name the SDGSAT-1 "
                        "product folders or a folder holding them; . is the current folder)"),
    "ingest dem": (["ingest", "p", "--out-dir", "o", "--dem", ""],
                   "--dem: is empty (hint: name a DEM GeoTIFF, or drop --dem)"),
    "ingest lst": (["ingest", "p", "--out-dir", "o", "--lst", ""],
                   "--lst: is empty (hint: name an LST GeoTIFF, or drop --lst)"),
    "ingest name": (["ingest", "p", "--out-dir", "o", "--name", ""],
                    "--name: is empty (hint: give a plain name, e.g. heihe_demo, or drop --name for the MII folder's name)"),
    "downscale inputs": (["downscale", "", "-m", "bicubic"], "INPUTS: is empty (hint: name an LST raster "
                         "X_lst.tif, - for paths on stdin, or SDGSAT-1 product folders)"),
    "downscale guidance": (["downscale", LST, "-g", "", "-m", "bicubic", "-o", "o.tif"],
                           "--guidance: is empty (hint: name a guidance raster, or drop --guidance)"),
    "downscale dem": (["downscale", LST, "--dem", "", "-m", "bicubic", "-o", "o.tif"],
                      "--dem: is empty (hint: name a DEM GeoTIFF, or drop --dem)"),
    "downscale save-checkpoint": (["downscale", LST, "-o", "o.tif", "--fit", "-m", "mocolsk-lite", "--fit-iters", "1",
                                   "--save-checkpoint", ""],
                                  "--save-checkpoint: is empty (hint: name the checkpoint file, e.g. DIR/fit.pt)"),
    "downscale save-checkpoint folder": (["downscale", LST, "-o", "o.tif", "--fit", "-m", "mocolsk-lite",
                                          "--fit-iters", "1", "--save-checkpoint", "adir"],
                                         "adir: is a folder; an output file never replaces a folder "
                                         "(hint: name the checkpoint file, e.g. DIR/fit.pt)"),
    "quicklook output": (["quicklook", ""], "OUTPUT: is empty (hint: name a downscaled GeoTIFF)"),
    "quicklook lst": (["quicklook", "o.tif", "--lst", ""],
                      "--lst: is empty (hint: name the input LST, or drop --lst for the output's lst_source tag)"),
    "train config folder": (["train", "ds", "-o", "r", "--config", "adir"], "adir: is a folder, not a config file "
                            "(hint: name a TOML or YAML file, e.g. --config adir/train.toml, or drop --config)"),
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a scene under ``s/``, an empty folder ``adir`` and a folder ``p``."""
    write_scene(generate_scene((24, 24), seed=3), tmp_path / "s", name="e")
    (tmp_path / "adir").mkdir()
    (tmp_path / "p").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_an_empty_path_is_named_as_empty(case: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, line = CASES[case]
    assert run(args) == 2
    errors = [text for text in capsys.readouterr().err.splitlines() if text.startswith("error:")]
    assert errors == [f"error: {line}"]
    assert sorted(p.name for p in folder.iterdir()) == ["adir", "p", "s"]  # nothing written


@pytest.mark.parametrize("value, line", [
    ("", "--save-checkpoint: is empty (hint: name the checkpoint file, e.g. DIR/fit.pt)"),
    ("adir", "adir: is a folder; an output file never replaces a folder (hint: name the checkpoint file, "
             "e.g. DIR/fit.pt)"),
], ids=["empty", "folder"])
def test_save_checkpoint_names_the_option_and_a_pt_file(value: str, line: str, folder: Path) -> None:
    """downscale's --save-checkpoint parser: the refusal is raised when the command names its files."""
    from groklst_cli.commands._downscale_fit import save_checkpoint_name

    assert save_checkpoint_name(value) == Path(value)
    with pytest.raises(InputError) as refused:
        state.working_on("s/e_lst.tif", "o.tif")
    assert str(refused.value) == line

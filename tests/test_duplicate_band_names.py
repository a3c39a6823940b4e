"""A guidance file (or a prepared dataset) with two bands of one name is refused by every command.

QA: ``prepare``, ``downscale`` and ``evaluate`` accepted such a file and silently ignored one of
the bands, differently in each: downscale took the last band of the name, evaluate the first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint
from pipelines.downscale import match_bands
from pipelines.errors import InputError
from pipelines.evaluate import checkpoint_predictor

HINT = ("(hint: give each band its own name: name them in file order with --guidance-bands, "
        "or set distinct band descriptions)")
NAMES = "dem,deepblue,blue,green,red,vre,nir,ndmvi,ndvi,ndwi"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated x3 scene and a copy of its guidance with an 11th band also called ``DEM ``
    (the dem plus 500 m), which names normalise to ``dem``."""
    root = tmp_path_factory.mktemp("dup")
    assert run(["-q", "sample-scene", str(root / "sc"), "--name", "a", "--size", "64", "--seed", "9",
                "--ratio", "3"]) == 0
    with rasterio.open(root / "sc" / "a_guidance.tif") as src:
        bands, names, profile = src.read(), list(src.descriptions), dict(src.profile, count=11)
    doubled = root / "g.tif"
    with rasterio.open(doubled, "w", **profile) as out:
        out.write(np.concatenate([bands, bands[:1] + 500]))
        for i, name in enumerate(names + ["DEM "], start=1):
            out.set_band_description(i, name)
    return root / "sc" / "a_lst.tif", doubled


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one line a command refusing with exit status 2 writes."""
    capsys.readouterr()
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    return err


def test_prepare_refuses_and_writes_nothing(scene: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    err = refusal(capsys, ["-q", "prepare", str(lst), "-g", str(guidance), "-o", str(tmp_path / "ds"),
                           "--scales", "3", "--patch", "30", "--split", "1:0:0"])
    assert err == f"error: {guidance}: band name 'dem' appears twice (bands 1 and 11) {HINT}"
    assert not (tmp_path / "ds").exists()


def test_prepare_accepts_the_bands_renamed(scene: tuple[Path, Path], tmp_path: Path) -> None:
    lst, guidance = scene
    assert run(["-q", "prepare", str(lst), "-g", str(guidance), "-o", str(tmp_path / "ds"), "--scales", "3",
                "--patch", "30", "--split", "1:0:0", "--guidance-bands", NAMES + ",dem2"]) == 0


@pytest.mark.parametrize("model", [[], ["--model", "bicubic"]], ids=["default model", "bicubic"])
def test_downscale_refuses_and_writes_nothing(scene: tuple[Path, Path], tmp_path: Path, capsys,
                                              model: list[str]) -> None:
    lst, guidance = scene
    out = tmp_path / "out.tif"
    err = refusal(capsys, ["-q", "downscale", str(lst), "-g", str(guidance), "-o", str(out), *model])
    assert err == f"error: {guidance}: band name 'dem' appears twice (bands 1 and 11) {HINT} (scene {lst})"
    assert not out.exists()


def test_downscale_accepts_the_bands_renamed(scene: tuple[Path, Path], tmp_path: Path) -> None:
    lst, guidance = scene
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "-g", str(guidance), "-o", str(out),
                "--guidance-bands", NAMES + ",dem2"]) == 0
    assert out.exists()


def test_three_bands_of_one_name_are_all_named() -> None:
    with pytest.raises(InputError) as refused:
        match_bands("g.tif", ["nir", "red", "nir", "nir"], ["red"])
    assert str(refused.value) == f"g.tif: band name 'nir' appears 3 times (bands 1, 3 and 4) {HINT}"


def test_two_bands_matching_one_key_are_no_match_and_an_exact_name_wins() -> None:
    """Names that differ only by band_key (deep_blue, deep-blue) are not duplicates: the exact name
    is taken, and a band that only their shared key would match is missing (no guess)."""
    with pytest.raises(InputError, match=r"^g\.tif: missing guidance band\(s\) deepblue \(has dem, deep_blue, "):
        match_bands("g.tif", ["dem", "deep_blue", "deep-blue"], ["deepblue", "dem"])
    assert match_bands("g.tif", ["deep_blue", "deepblue"], ["deepblue"]) == [2]
    assert match_bands("g.tif", ["dem", "deep_blue"], ["deepblue", "dem"]) == [2, 1]


def test_a_model_reading_one_name_twice_is_refused() -> None:
    """A checkpoint trained on a dataset prepared before duplicate names were refused."""
    with pytest.raises(InputError, match=r"^ckpt\.pt: the model's guidance band name 'dem' appears twice "
                                         r"\(bands 1 and 3\) \(hint: use a model trained on distinct band names\)$"):
        match_bands("g.tif", ["dem", "nir", "dem2"], ["dem", "nir", "dem"], model_path="ckpt.pt")


def test_train_refuses_a_dataset_with_two_bands_of_one_name() -> None:
    """Review: train took such a dataset (prepared before prepare refused it) and wrote a
    checkpoint that downscale then refused."""
    from pipelines.train import _check_source
    from pipelines.train_config import TrainConfig

    with pytest.raises(InputError) as refused:
        _check_source(_Dataset(), TrainConfig(model="mocolsk-lite", scale=3))
    assert str(refused.value) == ("dataset: guidance band name 'dem' appears twice (bands 1 and 3) (hint: "
                                  "prepare the dataset again from guidance whose bands have distinct names "
                                  "(name them in file order with prepare --guidance-bands))")


class _Dataset:
    """Just the bands of a dataset prepared before prepare refused two bands of one name."""

    bands = ["dem", "nir", "dem"]
    stats = None


def test_evaluate_refuses_a_dataset_with_two_bands_of_one_name() -> None:
    ckpt = Checkpoint.untrained("bicubic", 3, ["dem", "nir"])
    expected = ("ckpt.pt: the dataset's guidance band name 'dem' appears twice (bands 1 and 3) (hint: prepare "
                "the dataset again from guidance whose bands have distinct names (name them in file order "
                "with prepare --guidance-bands))")
    with pytest.raises(InputError) as refused:
        ckpt.band_indices("ckpt.pt", _Dataset.bands)
    assert str(refused.value) == expected
    with pytest.raises(InputError) as refused:
        checkpoint_predictor(ckpt, "ckpt.pt", _Dataset(), 3, torch.device("cpu"))
    assert str(refused.value) == expected
    assert ckpt.band_indices("ckpt.pt", ["nir", "x", "dem"]) == [2, 0]

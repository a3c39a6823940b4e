"""Train's validation record and the checkpoint card say over how many patches CC and RSD are
averaged (undefined on a flat patch, as ``evaluate`` reports ``cc_images``), and show a mean
over no patch as ``n/a`` (null in JSON), never ``nan``; a checkpoint from before the counts
still shows its card."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint, load_checkpoint
from pipelines.checkpoint_card import checkpoint_card, format_card
from pipelines.run_layout import LAST, METRICS_FILE
from pipelines.train import fit
from tests.test_train import SCALE, FakeSource, config

WHY = "undefined on a constant truth, CC also on a constant prediction"


class FlatValSource(FakeSource):
    """FakeSource whose patch 5, a constant 300 K, validates with patch 4 or alone."""

    def __init__(self, val: list[int]) -> None:
        super().__init__()
        self.val = val
        lr, guidance, hr = self.items[5]
        self.items[5] = (np.full_like(lr, 300.0), guidance, np.full_like(hr, 300.0))

    def indices(self, split: str) -> list[int]:
        return self.val if split == "val" else super().indices(split)


def validation_line(path: Path) -> str:
    """The card's validation line of the checkpoint at ``path``."""
    return next(line for line in format_card(checkpoint_card(path)) if line.startswith("validation"))


def card_json(path: Path, capsys) -> dict:
    """``groklst checkpoint-info --json`` of ``path``."""
    capsys.readouterr()
    assert run(["checkpoint-info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_flat_val_patch_is_counted_out_of_cc_and_rsd_in_the_record_and_the_card(tmp_path: Path, capsys) -> None:
    outcome = fit(FlatValSource([4, 5]), config(iters=2, val_every=2), tmp_path)
    record = outcome.history[-1]
    assert (record["val_images"], record["val_cc_images"], record["val_rsd_images"]) == (2, 1, 1)
    logged = json.loads((tmp_path / METRICS_FILE).read_text().splitlines()[-1])
    assert (logged["val_cc_images"], logged["val_rsd_images"]) == (1, 1)
    assert (outcome.best["cc_images"], outcome.best["rsd_images"]) == (1, 1)
    val = load_checkpoint(tmp_path / LAST).config["val"]
    assert list(val)[-4:] == ["images", "cc_images", "rsd_images", "pixels"]  # as evaluate --json
    assert validation_line(tmp_path / LAST).endswith(f", on 2 images (CC over 1, RSD over 1: {WHY})")
    assert card_json(tmp_path / LAST, capsys)["config"]["val"]["cc_images"] == 1


def test_cc_and_rsd_over_no_patch_read_n_a_and_null(tmp_path: Path, capsys) -> None:
    fit(FlatValSource([5]), config(iters=2, val_every=2), tmp_path)
    assert math.isnan(load_checkpoint(tmp_path / LAST).config["val"]["cc"])  # the record keeps NaN
    line = validation_line(tmp_path / LAST)
    assert "nan" not in line
    assert f", CC n/a, RSD n/a, on 1 image (CC over 0, RSD over 0: {WHY})" in line
    val = card_json(tmp_path / LAST, capsys)["config"]["val"]
    assert (val["cc"], val["rsd"], val["cc_images"], val["rsd_images"], val["images"]) == (None, None, 0, 0, 1)
    logged = json.loads((tmp_path / METRICS_FILE).read_text().splitlines()[-1])
    assert (logged["val_cc"], logged["val_cc_images"]) == (None, 0)


def test_a_checkpoint_recorded_without_counts_still_shows_its_card(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.pt"
    val = {"rmse": 1.5, "mae": 1.0, "bias": 0.0, "cc": float("nan"), "rsd": 0.25, "images": 3, "pixels": 300}
    Checkpoint.untrained("bicubic", SCALE, ["a"], config={"iteration": 4, "iters": 4, "val": val}).save(path)
    assert validation_line(path) == "validation  RMSE 1.5, MAE 1, BIAS 0, CC n/a, RSD 0.25, on 3 images"
    shown = card_json(path, capsys)["config"]["val"]
    assert shown == {**val, "cc": None}  # as recorded: no counts made up
    assert run(["checkpoint-info", str(path)]) == 0
    assert "CC n/a" in capsys.readouterr().out

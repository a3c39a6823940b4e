"""``groklst prepare``: no pixel of another split reaches a patch, not even through the MTF kernel.

The QA experiment in small: add +10 K under every test patch, prepare again with the same split
and compare the train and val patches; and every LR pixel against a Gaussian recomputed here
from the HR scene over the pixels of the patch's own split.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pipelines.patches import BlockSplit
from pipelines.prepare import PrepareOptions, prepare
from tests.conftest import write_canonical_scene

ROWS, COLS, BLOCK, PATCH, SCALES = 64, 96, 32, 8, (2, 4)
MARGIN = 8  # HR pixels of MTF context at x4 (4 sigma = 7.9 px, in whole LR pixels)


def _lst(shift: float = 0.0) -> np.ndarray:
    """A field with structure at the scale of the kernel, so a changed context shows."""
    yy, xx = np.mgrid[0:ROWS, 0:COLS]
    return 290.0 + 0.3 * xx + 8.0 * np.sin(yy / 4.0 + shift) * np.cos(xx / 5.0)


def _prepared(folder: Path, scenes: dict[str, tuple[np.ndarray, tuple[float, float]]], degrade: str) -> xr.Dataset:
    """Scenes (name: LST, origin) written to ``folder`` and prepared: 6 blocks of 32 px, seed 0."""
    folder.mkdir()
    paths = [write_canonical_scene(folder, name, shape=(ROWS, COLS), lst=lst, origin=origin, bands=("red", "nir"))[0]
             for name, (lst, origin) in scenes.items()]
    prepare(paths, folder / "ds", PrepareOptions(scales=SCALES, patch=PATCH, stride=4, split_block=BLOCK,
                                                 degrade=degrade, aggregate="kelvin", seed=0))
    return xr.open_zarr(folder / "ds" / "data.zarr").load()


def _under(ds: xr.Dataset, scene: str, split: str) -> np.ndarray:
    """HR pixels of ``scene`` under the patches of ``split``."""
    mask = np.zeros((ROWS, COLS), bool)
    for i in np.flatnonzero((ds.scene.values == scene) & (ds.split.values == split)):
        r, c = int(ds.row_off[i]), int(ds.col_off[i])
        mask[r : r + PATCH, c : c + PATCH] = True
    return mask


@pytest.mark.parametrize("degrade", ["area", "mtf"])
def test_test_split_pixels_reach_no_train_or_val_patch(tmp_path: Path, degrade: str) -> None:
    # Scene b is the same place on another date, its grid half a pixel off the blocks.
    origin = (500_000.0, 5_760_000.0)
    scenes = {"a": (_lst(), origin), "b": (_lst(1.0), (origin[0] + 15.0, origin[1] - 15.0))}
    before = _prepared(tmp_path / "before", scenes, degrade)
    test = {name: _under(before, name, "test") for name in scenes}
    perturbed = {name: (lst + 10.0 * test[name], at) for name, (lst, at) in scenes.items()}
    after = _prepared(tmp_path / "after", perturbed, degrade)
    assert (after.split.values == before.split.values).all()
    kept = before.split.values != "test"
    assert {"train", "val"} <= set(before.split.values[kept])
    # Not vacuous: test pixels lie within the kernel's reach of train/val patches of both scenes.
    for name in scenes:
        reach = np.pad(test[name], MARGIN)
        near = [reach[r : r + PATCH + 2 * MARGIN, c : c + PATCH + 2 * MARGIN].any()
                for r, c in zip(before.row_off.values, before.col_off.values)]
        assert np.any(np.array(near) & kept & (before.scene.values == name))
    for name in ("hr_lst", "guidance", *(f"lr_lst_x{s}" for s in SCALES)):
        np.testing.assert_array_equal(after[name].values[kept], before[name].values[kept], err_msg=name)
    assert np.nanmin(after.hr_lst.values[~kept] - before.hr_lst.values[~kept]) == pytest.approx(10.0, abs=1e-4)


def _gaussian(length: int, centre: float, sigma: float) -> np.ndarray:
    """Weights of fine pixels 0..length-1 for a coarse pixel centred at ``centre``, cut at 4 sigma."""
    distance = np.arange(length) + 0.5 - centre
    return np.where(np.abs(distance) <= 4 * sigma + 0.5, np.exp(-0.5 * (distance / sigma) ** 2), 0.0)


def _mtf(hr: np.ndarray, allowed: np.ndarray, row: int, col: int, scale: int) -> np.ndarray:
    """The LR pixels of the patch at (row, col): Gaussian with MTF 0.3 at the LR Nyquist,
    normalised over the ``allowed`` HR pixels of the scene."""
    sigma = scale * math.sqrt(-2.0 * math.log(0.3)) / math.pi
    n = PATCH // scale
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            w = np.outer(_gaussian(ROWS, row + (i + 0.5) * scale, sigma),
                         _gaussian(COLS, col + (j + 0.5) * scale, sigma)) * allowed
            out[i, j] = (w * hr).sum() / w.sum()
    return out


def test_mtf_lr_is_the_gaussian_over_the_patch_s_own_split(tmp_path: Path) -> None:
    lst = _lst()
    ds = _prepared(tmp_path / "one", {"a": (lst, (500_000.0, 5_760_000.0))}, "mtf")
    # Block (row, col) of 32 px -> split, from the patches lying inside one block.
    split = {}
    for r, c, s in zip(ds.row_off.values, ds.col_off.values, ds.split.values):
        if r % BLOCK <= BLOCK - PATCH and c % BLOCK <= BLOCK - PATCH:
            assert split.setdefault((r // BLOCK, c // BLOCK), s) == s
    assert split == {(0, 0): "train", (0, 1): "train", (0, 2): "train", (1, 0): "val", (1, 1): "test",
                     (1, 2): "test"}  # seed 0; the test relies on both borders below
    blocks = np.repeat(np.repeat(np.array([[split[(i, j)] for j in range(3)] for i in range(2)]), BLOCK, 0), BLOCK, 1)
    whole, cut_short = np.ones((ROWS, COLS), bool), 0
    for k, (r, c, s) in enumerate(zip(ds.row_off.values, ds.col_off.values, ds.split.values)):
        for scale in SCALES:
            expected = _mtf(lst, blocks == s, r, c, scale)
            np.testing.assert_allclose(ds[f"lr_lst_x{scale}"].values[k], expected, atol=2e-4)
            cut_short += not np.allclose(expected, _mtf(lst, whole, r, c, scale), atol=1e-3)
    assert cut_short > 0  # patches at a border with another split lost that side of the kernel
    # A train patch whose kernel crosses into the neighbouring train block (and no other split's)
    # gets the Gaussian over the whole scene: as before the fix.
    inner = np.flatnonzero((ds.row_off.values == 12) & (ds.col_off.values == 28))
    for scale in SCALES:
        np.testing.assert_allclose(ds[f"lr_lst_x{scale}"].values[inner[0]], _mtf(lst, whole, 12, 28, scale), atol=2e-4)


def test_block_split_foreign_pixels_straddle_block_edges() -> None:
    blocks = BlockSplit((0.0, 0.0), 10.0, {("c", 0, -1): "train", ("c", 1, -1): "test", ("c", 0, -2): "val"})
    # 4 columns of 5 units from x = 2.5 (the second straddles x = 10, the fourth x = 20), 3 rows
    # from y = 0 down; the last row lies in blocks (0, -2) of val and (1, -2) of no split.
    foreign = blocks.foreign("c", np.arange(5) * 5.0 + 2.5, -np.arange(4) * 5.0, "train")
    expected = np.array([[False, True, True, True],
                         [False, True, True, True],
                         [True, True, False, False]])
    np.testing.assert_array_equal(foreign, expected)
    # A block no patch touched (column 2) belongs to no split and is not foreign.
    assert not blocks.foreign("c", np.array([20.0, 25.0]), np.array([0.0, -5.0]), "train").any()

"""Training's batches are read as ``downscale`` reads a tile, on data with holes.

QA: ``load_batch`` filled LR and guidance nodata with the training mean, which ``downscale``
never feeds a network (it fills from the nearest valid pixel), and kept the HR pixels under LR
or guidance nodata as targets, which ``downscale`` never writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from groklst_cli.app import run
from pipelines.augment import augment
from pipelines.dataset import NormStats, PreparedDataset, open_prepared
from pipelines.sample_scene import generate_scene, write_scene
from pipelines.train_data import load_batch, sample_index
from tests.test_evaluate_holes import SCALE, _cut_holes

PATCH = 32
SEED = 7


def _prepare(root: Path, holes: bool) -> PreparedDataset:
    """Four generated 64 px scenes (the evaluate fixture's), with or without its holes, at x2."""
    scenes = []
    for seed in (3, 4, 5, 6):
        lst, guidance = write_scene(generate_scene((64, 64), seed=seed), root / "scenes", name=f"s{seed}")
        if holes:
            _cut_holes(lst, guidance, seed)
        scenes.append(str(lst))
    assert run(["-q", "prepare", *scenes, "-o", str(root / "ds"), "--scales", str(SCALE), "--patch", str(PATCH),
                "--stride", "16", "--split", "2:1:1", "--split-by", "scene", "--max-nodata", "0.1"]) == 0
    return open_prepared(root / "ds")


@pytest.fixture(scope="module")
def holed(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return _prepare(tmp_path_factory.mktemp("train_holes"), holes=True)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return _prepare(tmp_path_factory.mktemp("train_no_holes"), holes=False)


def _under(lr: np.ndarray, guidance: np.ndarray) -> np.ndarray:
    """HR pixels whose LR pixel or guidance (any band) is nodata."""
    return np.kron(np.isnan(lr), np.ones((SCALE, SCALE), bool)) | np.isnan(guidance).any(axis=0)


def _stored_orientation(batch: np.ndarray, k: int) -> np.ndarray:
    """The batch array (2-D) turned back to the stored patch's orientation (inverse of dihedral ``k``)."""
    if k >= 4:
        batch = batch[:, ::-1]
    return np.rot90(batch, -(k % 4))


def _orientation(batch_lr: np.ndarray, stored_lr: np.ndarray) -> int:
    """Which of the eight rotations and mirror images (:func:`_stored_orientation`) turns the
    batch's LR back into the stored one (on its valid pixels)."""
    valid = np.isfinite(stored_lr)
    matches = [k for k in range(8) if np.array_equal(_stored_orientation(batch_lr, k)[valid], stored_lr[valid])]
    assert len(matches) == 1, matches
    return matches[0]


def _is_nearest_fill(filled: np.ndarray, stored: np.ndarray) -> bool:
    """``filled`` keeps ``stored``'s valid pixels, and each NaN of it holds the value of one of
    its valid pixels at the least Euclidean distance (any of them: ties may go either way)."""
    valid = np.isfinite(stored)
    if not np.array_equal(filled[valid], stored[valid]):
        return False
    rows, cols = np.nonzero(valid)
    for r, c in zip(*np.nonzero(~valid)):
        d2 = (rows - r) ** 2 + (cols - c) ** 2
        nearest = stored[rows[d2 == d2.min()], cols[d2 == d2.min()]]
        if not np.any(nearest == filled[r, c]):
            return False
    return True


def _normalised(lr: np.ndarray, guidance: np.ndarray, stats: NormStats) -> tuple[np.ndarray, np.ndarray]:
    """The z-scores the network is given, in float32 (NaN kept)."""
    mean = np.asarray(stats.band_mean, np.float32)[:, None, None]
    std = np.asarray(stats.band_std, np.float32)[:, None, None]
    lr_n = (lr - stats.lst_mean) / stats.lst_std
    return lr_n.astype(np.float32), ((guidance - mean) / std).astype(np.float32)


def _whole_patch_sample(ds: PreparedDataset, index: int) -> tuple[np.ndarray, ...]:
    """Stored patch ``index`` and its sample in a batch cropped to the whole patch, turned back."""
    lr_b, guidance_b, hr_b = load_batch(ds, [index], [0], scale=SCALE, crop=PATCH, seed=SEED, stats=ds.stats)
    lr, guidance, hr = ds.read(index, SCALE)
    lr_n, guidance_n = _normalised(lr, guidance, ds.stats)
    k = _orientation(lr_b[0, 0], lr_n)
    back = [_stored_orientation(a, k) for a in (lr_b[0, 0], *guidance_b[0], hr_b[0, 0])]
    return lr_n, guidance_n, hr, back[0], np.stack(back[1:-1]), back[-1]


def test_inputs_are_filled_from_the_nearest_pixel_and_targets_under_nodata_left_out(holed: PreparedDataset) -> None:
    lr_holes = guidance_holes = 0
    for index in range(len(holed)):
        lr_n, guidance_n, hr, lr_b, guidance_b, hr_b = _whole_patch_sample(holed, index)
        lr_holes += int(np.isnan(lr_n).any())
        guidance_holes += int(np.isnan(guidance_n).any())
        assert _is_nearest_fill(lr_b, lr_n), index
        assert all(_is_nearest_fill(b, s) for b, s in zip(guidance_b, guidance_n)), index
        under = _under(lr_n, guidance_n)
        assert np.array_equal(np.isnan(hr_b), np.isnan(hr) | under), index
        assert np.array_equal(hr_b[~np.isnan(hr_b)], hr[~np.isnan(hr_b)]), index
    assert lr_holes and guidance_holes  # the fixture has patches with either kind of hole


def test_the_fixture_had_targets_under_nodata(holed: PreparedDataset) -> None:
    """What the old loss learned from: valid HR pixels under LR and under guidance nodata."""
    under_lr = under_guidance = 0
    for index in range(len(holed)):
        lr, guidance, hr = holed.read(index, SCALE)
        under_lr += int((np.isfinite(hr) & np.kron(np.isnan(lr), np.ones((SCALE, SCALE), bool))).sum())
        under_guidance += int((np.isfinite(hr) & np.isnan(guidance).any(axis=0)).sum())
    assert under_lr > 0 and under_guidance > 0


def test_batches_without_nodata_are_bit_identical_to_the_mean_fill_path(whole: PreparedDataset) -> None:
    indices = list(range(len(whole)))
    positions = list(range(20, 26))
    lr_b, guidance_b, hr_b = load_batch(whole, indices, positions, scale=SCALE, crop=24, seed=SEED,
                                        stats=whole.stats)
    for i, position in enumerate(positions):
        lr, guidance, hr = whole.read(sample_index(indices, SEED, position), SCALE)
        assert np.isfinite(lr).all() and np.isfinite(guidance).all() and np.isfinite(hr).all()
        rng = np.random.default_rng([SEED, 1, position])
        lr, guidance, hr = augment(*_normalised(lr, guidance, whole.stats), hr, SCALE, 24, rng)
        assert np.array_equal(lr_b[i, 0], lr) and np.array_equal(guidance_b[i], guidance)
        assert np.array_equal(hr_b[i, 0], hr)


class _BandGone:
    """One 8x8 LR patch whose second guidance band is all nodata: ``downscale`` writes nothing."""

    bands = ["a", "b"]
    stats = NormStats(lst_mean=300.0, lst_std=5.0, band_mean=[0.2, 0.3], band_std=[0.1, 0.1])

    def indices(self, split: str) -> list[int]:
        return [0]

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        lr = rng.uniform(290, 310, (8, 8)).astype(np.float32)
        guidance = np.stack([rng.uniform(0, 1, (16, 16)), np.full((16, 16), np.nan)]).astype(np.float32)
        return lr, guidance, rng.uniform(290, 310, (16, 16)).astype(np.float32)


def test_a_patch_downscale_writes_nothing_of_has_no_target() -> None:
    source = _BandGone()
    lr_b, guidance_b, hr_b = load_batch(source, [0], [0], scale=SCALE, crop=16, seed=SEED, stats=source.stats)
    assert np.isnan(hr_b).all()
    assert np.isfinite(lr_b).all() and np.isfinite(guidance_b).all()
    assert (guidance_b[0, 1] == 0).all()  # the band keeps the mean fill: nothing nearer exists

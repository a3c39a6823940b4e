"""The geographically weighted regression and the ``gwr`` sharpener, on scenes with a known
relation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from pipelines.degrade import block_mean
from pipelines.local_regression import (BANDWIDTH, TRUNCATE, apply_coefficients,
                                        global_coefficients, local_coefficients)
from pipelines.sharpen import Sharpener


def field(shape: tuple[int, int], seed: int, sigma: float = 1.5) -> np.ndarray:
    values = gaussian_filter(np.random.default_rng(seed).normal(0, 1, shape), sigma)
    return values / values.std()


def test_global_coefficients_recover_a_linear_relation_and_skip_nan() -> None:
    x = np.stack([field((40, 50), 0), field((40, 50), 1)])
    y = 2.5 * x[0] - 1.25 * x[1] + 300.0
    y[3:9, 4:20] = np.nan
    x[1, 30:, 40:] = np.nan
    np.testing.assert_allclose(global_coefficients(x, y), [2.5, -1.25, 300.0], atol=1e-9)


def test_local_coefficients_of_a_global_relation_are_the_global_ones_everywhere() -> None:
    x = field((30, 30), 2)[None]
    y = 4.0 * x[0] + 290.0
    prior = global_coefficients(x, y)
    local = local_coefficients(x, y, prior)
    np.testing.assert_allclose(local[0], 4.0, atol=1e-8)
    np.testing.assert_allclose(local[1], 290.0, atol=1e-6)


def test_a_pixel_without_valid_neighbours_gets_the_prior() -> None:
    x = field((40, 40), 3)[None]
    y = 1.0 + 3.0 * x[0] * np.linspace(0.5, 1.5, 40)[None, :]  # a slope that varies
    y[10:30, 10:30] = np.nan  # wider than the window's reach
    prior = np.array([7.0, -2.0])
    local = local_coefficients(x, y, prior)
    np.testing.assert_allclose(local[:, 20, 20], prior, atol=1e-12)
    assert abs(local[0, 2, 38] - prior[0]) > 1.0  # where there is data, the data speak


def test_coefficients_are_local_so_tiles_agree_with_the_whole_scene_inside() -> None:
    x = np.stack([field((48, 56), 4), field((48, 56), 5)])
    y = 300 + x[0] * np.linspace(-2, 3, 56)[None, :] + 0.5 * x[1] + 0.1 * field((48, 56), 6)
    prior = global_coefficients(x, y)
    whole = local_coefficients(x, y, prior)
    rows, cols = slice(8, 40), slice(10, 46)
    tile = local_coefficients(x[:, rows, cols], y[rows, cols], prior)
    reach = math.ceil(TRUNCATE * BANDWIDTH) + 1
    inner = (slice(reach, -reach), slice(reach, -reach))
    np.testing.assert_allclose(tile[(slice(None), *inner)],
                               whole[:, rows, cols][(slice(None), *inner)], atol=1e-9)


def test_apply_coefficients_of_a_constant_map_is_the_linear_relation() -> None:
    fine = field((24, 32), 7)[None]
    coefficients = np.broadcast_to(np.array([2.0, 5.0])[:, None, None], (2, 6, 8))
    np.testing.assert_allclose(apply_coefficients(coefficients, fine, 4), 2.0 * fine[0] + 5.0,
                               atol=1e-5)


def test_gwr_beats_tsharp_where_the_slope_changes_across_the_scene() -> None:
    g = field((256, 256), 8, sigma=2.0).astype(np.float32)
    slope = np.linspace(-3.0, 5.0, 256)[None, :]  # e.g. dry fields in the west, wet in the east
    fine = (300 + slope * g).astype(np.float32)
    lr = block_mean(fine, 4)
    errors, outputs = {}, {}
    for name in ("tsharp", "gwr"):
        sharpener = Sharpener(name, 4, ["g"]).fit(lr, g[None])
        outputs[name] = sharpener.predict_scene(lr, g[None])
        errors[name] = float(np.sqrt(np.mean((outputs[name] - fine) ** 2)))
    assert errors["gwr"] < 0.5 * errors["tsharp"], errors
    np.testing.assert_allclose(block_mean(outputs["gwr"], 4), lr, atol=1e-3)


def test_gwr_needs_the_lr_lst() -> None:
    g = field((32, 32), 9)[None].astype(np.float32)
    lr = block_mean(300 + 2 * g[0], 4)
    sharpener = Sharpener("gwr", 4, ["g"]).fit(lr, g)
    with pytest.raises(ValueError, match="gwr needs the LR LST"):
        sharpener.relation(g)
    assert np.isfinite(sharpener.relation(g, lr)).all()


def test_strips_give_the_same_coefficients_as_one_block() -> None:
    x = np.stack([field((70, 40), 10), field((70, 40), 11)])
    y = 300 + x[0] * np.linspace(-2, 3, 70)[:, None] + 0.1 * field((70, 40), 12)
    y[20:26, 5:15] = np.nan
    prior = global_coefficients(x, y)
    whole = local_coefficients(x, y, prior, strip_rows=70)
    for rows in (1, 7, 16, 69):
        np.testing.assert_allclose(local_coefficients(x, y, prior, strip_rows=rows), whole,
                                   rtol=0, atol=1e-10)

"""The classic sharpeners, residual correction, the PSF estimate and the candidate selection,
on small generated scenes with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from pipelines.degrade import block_mean
from pipelines.fit_select import select, simplex_weights
from pipelines.pixel_mlp import PixelMLP, consistency_loss
from pipelines.psf import PsfEstimate, _blurred_block_means, _cv_rmse, blur, estimate_psf, moffat_kernel
from pipelines.psf_shape import Psf
from pipelines.residual import correct_residual
from pipelines.sharpen import Sharpener, fitted_with_twin


def smooth_field(size: int, seed: int, sigma: float = 2.0, amplitude: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(0, 1, (size, size)), sigma)
    return (amplitude * field / field.std()).astype(np.float32)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def test_tsharp_recovers_a_linear_ndvi_relation_exactly() -> None:
    ndvi = np.clip(0.45 + 0.2 * smooth_field(96, 0), -0.2, 0.95)
    fine = (318.0 - 22.0 * ndvi).astype(np.float32)  # LST = a * NDVI + b at the fine scale
    lr = block_mean(fine, 4)
    sharpener = Sharpener("tsharp", 4, ["ndvi"]).fit(lr, ndvi[None])
    assert sharpener.samples == lr.size
    np.testing.assert_allclose(sharpener.relation(ndvi[None]), fine, atol=2e-3)
    out = sharpener.predict_scene(lr, ndvi[None])
    assert rmse(out, fine) < 1e-3
    # The relation is what was learnt: no residual is left to correct.
    np.testing.assert_allclose(block_mean(out, 4), lr, atol=1e-3)


def test_dms_beats_tsharp_on_a_piecewise_relation() -> None:
    g = 2.0 * smooth_field(128, 1)
    fine = np.where(g > 0, 300 + 6.0 * g, 300 - 1.0 * g).astype(np.float32) + 0.2 * g**2
    lr = block_mean(fine, 4)
    errors = {}
    for name in ("tsharp", "dms"):
        sharpener = Sharpener(name, 4, ["g"], residual="none").fit(lr, g[None])
        errors[name] = rmse(sharpener.predict_scene(lr, g[None]), fine)
    assert errors["dms"] < 0.5 * errors["tsharp"], errors


@pytest.mark.parametrize("relation, twin_leaf", [("piecewise", 2), ("linear plus LR noise", 20)])
def test_dms_leaf_size_is_chosen_by_twins_one_scale_coarser(relation: str, twin_leaf: int) -> None:
    """A real piecewise relation wants small leaves; noise in the LR pixels, which small leaves
    would learn, wants large ones. The written trees cover the ground of the chosen twin's
    leaves (s^2 LR pixels per twin pixel), so they hold about as many leaves."""
    g = 2.0 * smooth_field(512, 1)
    if relation == "piecewise":
        lr = block_mean(np.where(g > 0, 300 + 6.0 * g, 300 - 1.0 * g).astype(np.float32), 4)
    else:
        fine = (300 + 2.0 * g + 5 * smooth_field(512, 2, sigma=30)).astype(np.float32)
        lr = block_mean(fine, 4) + np.random.default_rng(3).normal(0, 0.5, (128, 128)).astype(np.float32)
    native, twin = fitted_with_twin("dms", 4, ["g"], lr, g[None], block_mean(lr, 4), block_mean(g, 4)[None],
                                    psf=Psf())
    assert (twin.min_leaf, native.min_leaf) == (twin_leaf, 16 * twin_leaf)
    leaves = lambda s: np.mean([t.get_n_leaves() for t in s._learner.trees.estimators_])  # noqa: E731
    assert 0.5 < leaves(native) / leaves(twin) < 2.0, (leaves(native), leaves(twin))


def test_dms_in_threads_builds_the_same_trees_as_one_job() -> None:
    import pipelines.sharpen as sharpen
    from pipelines.threads import thread_limit

    g = np.stack([2.0 * smooth_field(96, 1), smooth_field(96, 2)])
    fine = (300 + 4.0 * np.tanh(g[0]) + g[1] ** 2).astype(np.float32)
    lr = block_mean(fine, 4)
    out = {}
    for jobs in (1, 2):
        with thread_limit(jobs):  # what groklst --threads N sets
            sharpener = Sharpener("dms", 4, ["a", "b"]).fit(lr, g)
        trees = sharpener._learner.trees
        assert trees.n_jobs == jobs and len(trees.estimators_) == sharpen.DMS_TREES
        out[jobs] = (sharpener.predict_scene(lr, g), [t.tree_.threshold for t in trees.estimators_])
    np.testing.assert_allclose(out[2][0], out[1][0], rtol=0, atol=1e-6)
    for a, b in zip(out[1][1], out[2][1]):
        np.testing.assert_array_equal(a, b)


def test_consistency_loss_is_zero_for_a_perfect_prediction() -> None:
    import torch

    fine = torch.from_numpy(300 + 5 * smooth_field(32, 10)).double()
    lr = torch.from_numpy(fine.numpy().reshape(8, 4, 8, 4).mean(axis=(1, 3)))  # float64 means
    blocks = fine.reshape(8, 4, 8, 4).permute(0, 2, 1, 3).reshape(64, 16)
    assert float(consistency_loss(blocks, lr.reshape(64))) < 1e-20
    # Detail that averages out inside each LR pixel costs nothing; a shift costs its square.
    swapped = blocks.flip(1)
    assert float(consistency_loss(swapped, lr.reshape(64))) < 1e-20
    assert float(consistency_loss(blocks + 0.5, lr.reshape(64))) == pytest.approx(0.25, rel=1e-9)


def test_mlp_learns_a_non_linear_relation_through_the_block_mean() -> None:
    # LST = f(g) with f curved inside an LR pixel's range of g: regressing LR LST on the LR
    # mean of g (tsharp) cannot get it; the block mean of a learnt f can.
    g = 2.0 * smooth_field(96, 9, sigma=1.0)
    fine = (300 + 3.0 * g**2).astype(np.float32)
    lr = block_mean(fine, 4)
    tsharp = Sharpener("tsharp", 4, ["g"], residual="none").fit(lr, g[None])
    mlp = PixelMLP(4, ["g"], steps=200).fit(lr, g[None])
    assert mlp.samples == lr.size
    errors = {"tsharp": rmse(tsharp.relation(g[None]), fine), "mlp": rmse(mlp.relation(g[None]), fine)}
    assert errors["mlp"] < 0.3 * errors["tsharp"], errors
    again = PixelMLP(4, ["g"], steps=200).fit(lr, g[None]).relation(g[None])
    np.testing.assert_array_equal(again, mlp.relation(g[None]))  # seeded: repeatable


@pytest.mark.parametrize("mode", ["smooth", "block"])
@pytest.mark.parametrize("space", ["kelvin", "radiance"])
def test_residual_correction_aggregates_exactly_to_the_lr_input(mode: str, space: str) -> None:
    rng = np.random.default_rng(2)
    lr = rng.normal(300, 4, (12, 10)).astype(np.float32)
    lr[3, 4] = np.nan  # nodata LR pixel: its block is left as it is
    hr = (295 + 10 * smooth_field(48, 3)[:, :40]).astype(np.float32)
    hr[0, 0] = np.nan
    out = correct_residual(hr, lr, 4, mode=mode, space=space)
    values = out.astype(np.float64) if space == "kelvin" else out.astype(np.float64) ** 4
    means = block_mean(values, 4, propagate_nodata=False).astype(np.float64)
    means = means if space == "kelvin" else means**0.25
    ok = np.isfinite(lr)
    np.testing.assert_allclose(means[ok], lr[ok], atol=2e-3)
    np.testing.assert_array_equal(out[12:16, 16:20], hr[12:16, 16:20])
    assert np.isnan(out[0, 0])
    if mode == "smooth":  # spread smoothly: smaller jumps at LR-pixel edges than block-constant
        block = correct_residual(hr, lr, 4, mode="block", space=space)
        edge = lambda a: np.nanmean(np.abs(np.diff(a, axis=1))[:, 3::4])  # noqa: E731
        assert edge(out) < edge(block)


def test_smooth_residual_next_to_an_lr_hole_continues_the_field_instead_of_ringing() -> None:
    """A relation 5 K too cold everywhere: the residual is 5 K, also beside the LR hole."""
    truth = (295 + 10 * smooth_field(48, 3)).astype(np.float32)
    lr = block_mean(truth, 4)
    lr[5:7, 5:7] = np.nan
    out = correct_residual(truth - 5, lr, 4, mode="smooth")
    around = np.repeat(np.repeat(np.isfinite(lr), 4, axis=0), 4, axis=1)
    np.testing.assert_allclose(out[around], truth[around], atol=1e-3)
    np.testing.assert_array_equal(out[~around], truth[~around] - 5)  # the hole is left as it is


@pytest.mark.parametrize("sensor", [Psf(2.0), Psf(3.0, 2.0)], ids=["gaussian", "moffat"])
def test_psf_estimate_recovers_the_shape_and_width_of_the_blur(sensor: Psf) -> None:
    g = np.stack([smooth_field(128, 4, sigma=1.0), smooth_field(128, 5, sigma=1.0)])
    sharp = 300 + 3.0 * g[0] - 2.0 * g[1]
    lr = block_mean(blur(sharp[None], sensor)[0], 4)  # a sensor with this PSF
    found = estimate_psf(lr, g, 4).psf
    assert found.shape == sensor.shape and found.width == pytest.approx(sensor.width, abs=0.5)
    none = estimate_psf(block_mean(sharp.astype(np.float32), 4), g, 4)
    assert none.psf == Psf() and none.curve["0"] == min(none.curve.values())


def test_psf_estimate_says_when_it_chose_the_widest_width_it_tries() -> None:
    """A sensor blurrier than the widest width tried (1.5 LR px) gets that widest width, and the
    estimate says so (the fit line prints it); one within the range does not."""
    g = np.stack([smooth_field(128, 4, sigma=1.0), smooth_field(128, 5, sigma=1.0)])
    sharp = (300 + 3.0 * g[0] - 2.0 * g[1])[None]
    wide = estimate_psf(block_mean(blur(sharp, Psf(12.0))[0], 4), g, 4)
    assert (wide.psf.width, wide.widest, wide.at_widest) == (6.0, 6.0, True)
    assert wide.summary()["at_widest"] is True
    within = estimate_psf(block_mean(blur(sharp, Psf(2.0))[0], 4), g, 4)
    assert within.psf.width == 2.0 and not within.at_widest and within.widest == 6.0
    assert not PsfEstimate(Psf(6.0), {}).at_widest  # given, not estimated


@pytest.mark.parametrize("sensor", [Psf(3.5, 2.5), Psf(4.5, 3.0)], ids=["3.5:2.5", "4.5:3"])
def test_psf_estimate_finds_widths_and_tails_between_quarter_scale_steps(sensor: Psf) -> None:
    """The Muenster dates' PSFs fell between the quarter-scale widths of the first grid."""
    g = np.stack([smooth_field(128, 4, sigma=1.0), smooth_field(128, 5, sigma=1.0)])
    lr = block_mean(blur((300 + 3.0 * g[0] - 2.0 * g[1])[None], sensor)[0], 4)
    assert estimate_psf(lr, g, 4).psf == sensor


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_blurred_block_means_equal_blur_then_block_mean(scale: int) -> None:
    """The polyphase FFT path gives the reference values on sizes that are not FFT-friendly."""
    rng = np.random.default_rng(scale)
    z = gaussian_filter(rng.standard_normal((3, 37 * scale, 53 * scale)), (0, 1.5, 1.5))
    z = ((z - z.mean()) / z.std()).astype(np.float32)
    psfs = [Psf(), Psf(0.5 * scale), Psf(1.5 * scale), Psf(0.5 * scale, 2.0), Psf(1.5 * scale, 2.5)]
    means = list(_blurred_block_means(z, scale, psfs))
    assert len(means) == len(psfs)
    for psf, got in zip(psfs, means):
        reference = block_mean(blur(z, psf), scale)
        np.testing.assert_allclose(got, reference, atol=1e-4, err_msg=psf.spec)


def test_psf_cross_validation_ignores_rounding_of_bands_that_sum_to_one() -> None:
    """Class fractions sum to 1, collinear with the intercept: float32 rounding must not count."""
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 1, 4000), rng.uniform(0, 1, 4000)
    fractions = np.stack([a, b, 1 - a - b]).astype(np.float32).astype(np.float64).T
    target = 300 + 3 * a - 2 * b + rng.normal(0, 0.5, 4000)
    folds = np.arange(4000) % 5
    rounded = fractions + rng.normal(0, 1e-7, fractions.shape)  # another float32 computation
    assert _cv_rmse(rounded, target, folds) == pytest.approx(_cv_rmse(fractions, target, folds),
                                                            abs=1e-6)


@pytest.mark.parametrize("collinear", [False, True])
def test_psf_cross_validation_equals_a_least_squares_solve_per_fold(collinear: bool) -> None:
    """The Gram-matrix form scores what lstsq per fold (same singular-value cut) scores."""
    from pipelines.psf import RCOND

    rng = np.random.default_rng(4)
    features = rng.normal(0, 1, (6000, 5))
    if collinear:  # the last three sum to 1 up to float32 rounding
        f = rng.dirichlet(np.ones(3), 6000).astype(np.float32).astype(np.float64)
        features[:, 2:] = f
    target = 290 + features @ rng.normal(0, 2, 5) + rng.normal(0, 0.4, 6000)
    folds = rng.integers(0, 5, 6000)
    design = np.column_stack([features, np.ones(6000)])
    squared = 0.0
    for fold in range(5):
        train, test = folds != fold, folds == fold
        coef, *_ = np.linalg.lstsq(design[train], target[train], rcond=RCOND)
        squared += float(((design[test] @ coef - target[test]) ** 2).sum())
    assert _cv_rmse(features, target, folds) == pytest.approx(np.sqrt(squared / 6000), abs=1e-8)


def test_moffat_kernel_is_normalised_symmetric_and_heavier_tailed_than_a_gaussian() -> None:
    kernel = moffat_kernel(2.0, 2.0)
    assert kernel.shape == (17, 17) and kernel.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(kernel, kernel.T)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1])
    impulse = np.zeros((1, 41, 41), np.float32)
    impulse[0, 20, 20] = 1
    moffat, gauss = blur(impulse, Psf(2.0, 2.0))[0], blur(impulse, Psf(2.0))[0]
    assert moffat.sum() == pytest.approx(1.0, abs=1e-5)
    assert moffat[20, 20] > gauss[20, 20] and moffat[20, 28] > 10 * gauss[20, 28]


def test_psf_specs_round_trip_and_bad_ones_are_refused() -> None:
    for psf in (Psf(), Psf(2.5), Psf(3.0, 2.0)):
        assert Psf.parse(psf.spec) == psf
    assert Psf.parse("2.5") == Psf.parse("gaussian:2.5") == Psf(2.5)
    for bad in ("wide", "moffat:3", "moffat:3:1", "-1", "nan", "gaussian:1:2"):
        with pytest.raises(ValueError):
            Psf.parse(bad)


def test_simplex_weights_find_a_known_mixture() -> None:
    rng = np.random.default_rng(6)
    a, b, c = rng.normal(0, 1, (3, 4000))
    weights = simplex_weights(np.stack([a, b, c]), 0.7 * a + 0.3 * b)
    np.testing.assert_allclose(weights, [0.7, 0.3, 0.0], atol=1e-3)


def test_selection_picks_the_clearly_best_candidate() -> None:
    rng = np.random.default_rng(7)
    target = 300 + 5 * smooth_field(64, 8)
    blocks = np.full(target.shape, -1)
    for i in range(16):  # 16 test blocks of 8 x 8 pixels on the diagonal band
        r, c = divmod(i, 4)
        blocks[r * 16 : r * 16 + 8, c * 16 : c * 16 + 8] = i
    good = target + rng.normal(0, 0.2, target.shape)
    poor = target + rng.normal(0, 1.5, target.shape)
    biased = target + 2.0
    names = ["poor", "good", "biased"]
    result = select(names, [poor, good, biased], target, blocks, mode="best")
    assert result.best == "good" and result.written == "good"
    assert result.weights == [0.0, 1.0, 0.0]
    assert result.metrics[1]["rmse"] == pytest.approx(0.2, rel=0.1)
    assert result.blocks == 16 and result.pixels == 16 * 64
    blended = select(names, [poor, good, biased], target, blocks, mode="blend")
    assert blended.blend_weights[1] > 0.9 and blended.blend_weights[2] < 0.05
    # The blend is written only when its cross-fitted error beats the best candidate's.
    assert (blended.written == "blend") == (blended.blend["rmse"] < blended.metrics[1]["rmse"])


@pytest.mark.parametrize("name", ["tsharp", "dms"])
def test_a_patch_whose_side_is_not_a_multiple_of_the_scale_is_sharpened(name: str) -> None:
    """QA: evaluate's baselines failed on 48 px patches at x3 (16 LR px: no whole twin pixels
    at the edge); the twins use the whole ones and the patch is sharpened whole."""
    from pipelines.sharpen import patch_predictor

    g = smooth_field(48, 4)
    lr = block_mean((300 + 4.0 * g).astype(np.float32), 3)
    out = patch_predictor(name, 3, ["g"])(lr, g[None])
    assert out.shape == (48, 48) and np.isfinite(out).all()
    np.testing.assert_allclose(block_mean(out, 3), lr, atol=2e-3)

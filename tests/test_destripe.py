"""Destriping TIS B2 against B3 (pipelines.destripe)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from pipelines import band_registration
from pipelines.coregister import crops
from pipelines.destripe import (BLOCK_ROWS, Destriping, StripeDirection, StripeProfile, destripe,
                                measure_direction)
from pipelines.fixtures import FixtureSettings, registered_tis_temperatures, write_product_fixture
from pipelines.sample_scene import generate_scene

SIZE = 384


def _scene(size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unstriped (b2, b3) brightness temperatures: a smooth field with a lake (10 K cooler,
    sharp shores) and fields (3 K warmer); B3 shows the contrasts 7 % weaker, 1 K cooler, with
    a smooth atmospheric term and another emissivity over water; 0.15 K noise on each."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    lake = (rows - 0.6 * size) ** 2 + (cols - 0.3 * size) ** 2 < (0.15 * size) ** 2
    fields = ((cols // 23 + rows // 37) % 3 == 0) & ~lake
    ground = 295.0 + 170.0 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 12) + 3.0 * fields - 10.0 * lake
    b2 = ground + 0.15 * rng.standard_normal(ground.shape)
    b3 = (294.0 + 0.93 * (ground - 295.0) + 0.3 * np.sin(cols / size * 3 + rows / size) + 0.4 * lake
          + 0.15 * rng.standard_normal(ground.shape))
    return b2, b3


def _stripes(shape: tuple[int, int], angle_deg: float, rms: float, seed: int = 1,
             projection: str = "nearest") -> np.ndarray:
    """One random offset (``rms``) per detector line, the lines a pixel apart and running
    ``angle_deg`` clockwise from north, as a map projection shows them: ``nearest``, hard
    steps between lines; ``bilinear``, interpolated between the lines' centres."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    t = math.radians(angle_deg)
    across = cols * math.cos(t) + rows * math.sin(t) + 0.3
    across -= np.floor(across.min())
    offsets = rms * rng.standard_normal(int(across.max()) + 2)
    if projection == "nearest":
        return offsets[np.floor(across).astype(np.int64)]
    return np.interp(across - 0.5, np.arange(offsets.size), offsets)


def _destripe_whole(b2: np.ndarray, b3: np.ndarray) -> tuple[StripeDirection, Destriping, np.ndarray]:
    """What ingest does, on one array: direction on the five coregistration crops, profile, correction."""
    found = measure_direction([(b2[t:t + h, l:l + w], b3[t:t + h, l:l + w], t, l)
                               for t, l, h, w in crops(*b2.shape)])
    profile = StripeProfile(b2.shape, found)
    profile.add(b2, b3, 0)
    result = profile.result()
    return found, result, destripe(b2, result, 0)


def _rms(a: np.ndarray) -> float:
    return math.sqrt(float(np.nanmean(a ** 2)))


@pytest.mark.parametrize("angle, projection, tolerance", [
    (0.0, "nearest", 0.15), (8.0, "nearest", 0.25), (-13.0, "nearest", 0.25),
    (8.0, "bilinear", 0.3), (-13.0, "bilinear", 0.3)])
def test_stripes_at_a_known_angle_are_found_and_removed(angle, projection, tolerance):
    """0.5 K RMS stripes (0.4 K once bilinear): their direction within 0.01 deg, their RMS
    within 10 %, B3's gain, and B2 within ``tolerance`` times the stripes' RMS of the
    unstriped truth (0.11-0.22 measured), on the lake's shore too. What is left is mostly the
    profile's noise on 384 rows and the stripes' slow part, which the high-pass cannot tell
    from the scene. The stripes' mean is calibration, not striping, and stays (so does B2's
    mean)."""
    b2, b3 = _scene()
    stripes = _stripes(b2.shape, angle, 0.5, projection=projection)
    direction, result, out = _destripe_whole(b2 + stripes, b3)
    assert direction.angle_deg == pytest.approx(angle, abs=0.01)
    assert direction.gain == pytest.approx(1 / 0.93, abs=0.01)
    assert result.applied and result.agreement > 0.9
    assert result.rms_k == pytest.approx(float(stripes.std()), rel=0.1)
    assert float(out.mean()) == pytest.approx(float((b2 + stripes).mean()), abs=0.005)
    error = out - (b2 + stripes.mean())
    assert _rms(error) < tolerance * stripes.std()
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    shore = np.abs(np.hypot(rows - 0.6 * SIZE, cols - 0.3 * SIZE) - 0.15 * SIZE) < 3
    assert _rms(error[shore]) < 1.3 * tolerance * stripes.std()
    assert f"removed ({direction.crops} crops within" in result.describe()


def test_weak_stripes_are_reduced_and_the_noise_of_a_small_image_is_what_remains():
    """0.2 and 0.1 K RMS stripes on 384 rows: the profile's own noise (about 0.05 K here, less
    on taller images) is most of what is left (0.33 and 0.56 of the stripes measured)."""
    b2, b3 = _scene(seed=2)
    for rms, left in ((0.2, 0.4), (0.1, 0.7)):
        stripes = _stripes(b2.shape, 9.5, rms, seed=3)
        _, result, out = _destripe_whole(b2 + stripes, b3)
        assert result.applied
        assert _rms(out - b2 - stripes.mean()) < left * stripes.std()


def test_a_straight_shore_along_the_stripes_is_not_made_worse():
    """The hardest edge: a shore running exactly along the stripes through the whole image,
    the sea 12 K cooler and 0.7 K warmer in B3 than B2 (emissivity). Pixels around a step are
    left out of the profile, so the shore's residue does not become a stripe: next to the
    shore the stripes are kept (0.26 against 0.32 K RMS within 16 px measured), and the
    image as a whole is destriped less well than without the shore (0.39 of the stripes)."""
    rng = np.random.default_rng(4)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    t = math.radians(8.0)
    across = (cols - SIZE / 2) * math.cos(t) + (rows - SIZE / 2) * math.sin(t)
    sea = across > 0
    ground = 300.0 + 170.0 * ndimage.gaussian_filter(rng.standard_normal((SIZE, SIZE)), 12) - 12.0 * sea
    b2 = ground + 0.15 * rng.standard_normal(ground.shape)
    b3 = 299.0 + 0.93 * (ground - 300.0) + 0.7 * sea + 0.15 * rng.standard_normal(ground.shape)
    stripes = _stripes(b2.shape, 8.0, 0.3, seed=4)
    _, result, out = _destripe_whole(b2 + stripes, b3)
    assert result.applied
    error, before = out - b2 - stripes.mean(), stripes - stripes.mean()
    for width in (4, 8, 16, 32):
        shore = np.abs(across) < width
        assert _rms(error[shore]) <= _rms(before[shore]) + 0.005
    assert _rms(error) < 0.45 * stripes.std()


def test_strips_give_the_whole_image_result_bit_for_bit():
    """Strips of any height (here none a multiple of the block) and a window that does not
    start at the image's first row: the same profile and the same destriped pixels, pixels by
    B3's edges left out alike."""
    b2, b3 = _scene()
    striped = b2 + _stripes(b2.shape, -7.3, 0.4)
    direction = StripeDirection(-7.3, gain=1.07, given=True, max_structure_k=3.0)
    top = 20  # the window starts at image row 20
    whole = StripeProfile((SIZE + top, SIZE), direction)
    whole.add(striped, b3, top)
    strips = StripeProfile((SIZE + top, SIZE), direction)
    edges = [0, 5, 50, 127, 128, 301, SIZE]
    assert all((e + top) % BLOCK_ROWS for e in edges[1:-1])
    for a, b in zip(edges[:-1], edges[1:]):
        strips.add(striped[a:b], b3[a:b], top + a)
    expected, got = whole.result(), strips.result()
    assert got.applied
    np.testing.assert_array_equal(got.profile, expected.profile)
    assert (got.rms_k, got.agreement) == (expected.rms_k, expected.agreement)
    pieces = np.vstack([destripe(striped[a:b], got, top + a) for a, b in zip(edges[:-1], edges[1:])])
    np.testing.assert_array_equal(pieces, destripe(striped, expected, top))


def test_strips_must_follow_each_other():
    b2, b3 = _scene(96)
    profile = StripeProfile(b2.shape, StripeDirection(5.0, given=True))
    profile.add(b2[:40], b3[:40], 0)
    with pytest.raises(ValueError, match="does not follow"):
        profile.add(b2[50:], b3[50:], 50)


@pytest.mark.parametrize("seed", [0, 5])
def test_a_scene_without_stripes_comes_out_unchanged(seed):
    b2, b3 = _scene(seed=seed)
    direction, result, out = _destripe_whole(b2, b3)
    assert not result.applied and out is b2
    assert result.describe().startswith("TIS B2 not destriped: ")


def test_stripes_too_weak_to_matter_are_left_alone():
    """0.02 K RMS (a tenth of the NETD): not worth a correction, the image is kept."""
    b2, b3 = _scene()
    weak = b2 + _stripes(b2.shape, 8.0, 0.02)
    _, result, out = _destripe_whole(weak, b3)
    assert not result.applied and out is weak


def test_fill_is_kept_and_does_not_disturb_the_profile():
    """A swath rotated in its north-up frame (fill corners, 17 % of the image) and a hole: fill
    stays NaN, and the rest is destriped about as well as without fill."""
    b2, b3 = _scene()
    stripes = _stripes(b2.shape, 8.0, 0.5)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    t = math.radians(8.0)
    across = (cols - SIZE / 2) * math.cos(t) + (rows - SIZE / 2) * math.sin(t)
    fill = (np.abs(across) > 0.42 * SIZE) | ((rows - 100) ** 2 + (cols - 250) ** 2 < 30 ** 2)
    _, result, out = _destripe_whole(np.where(fill, np.nan, b2 + stripes), np.where(fill, np.nan, b3))
    assert result.applied
    np.testing.assert_array_equal(np.isnan(out), fill)
    truth = b2 + stripes[~fill].mean()
    without_fill = _destripe_whole(b2 + stripes, b3)[2]
    assert _rms((out - truth)[~fill]) < 1.15 * _rms((without_fill - truth)[~fill])


def test_a_given_direction_needs_no_crops_and_a_tiny_image_is_not_confirmed():
    b2, b3 = _scene(96)
    direction = StripeDirection(8.0, given=True)
    assert direction.found
    profile = StripeProfile(b2.shape, direction)
    profile.add(b2[:BLOCK_ROWS], b3[:BLOCK_ROWS], 0)  # one block: no halves to compare
    result = profile.result()
    assert not result.applied and result.blocks == 1
    assert result.describe() == ("TIS B2 not destriped: stripes along 8.0 deg east of north (direction given) "
                                 f"not confirmed, the image has too few full blocks of {BLOCK_ROWS} rows to "
                                 f"compare (at least {2 * BLOCK_ROWS} rows)")
    profile = StripeProfile(b2.shape, direction)
    profile.add(b2, b3, 0)  # a full block and a short one: still no halves (they gave "nan K RMS")
    assert profile.result().describe().endswith(f"too few full blocks of {BLOCK_ROWS} rows to compare "
                                                f"(at least {2 * BLOCK_ROWS} rows)")


def test_descriptions():
    none = StripeDirection(0.0)
    assert Destriping(none, math.nan, math.nan, 0).describe() == (
        "TIS B2 not destriped: no crop of 32 x 32 pixels with 50% valid to look for stripes on")
    scattered = StripeDirection(3.0, rms_k=0.2, spread_deg=2.4, crops=5)
    assert Destriping(scattered, math.nan, math.nan, 0).describe() == (
        "TIS B2 not destriped: stripes of 0.20 K RMS on 5 crops disagree on their direction (2.4 deg apart)")
    west = StripeDirection(-12.96, rms_k=0.31, spread_deg=0.012, crops=5)
    assert Destriping(west, 0.304, 0.97, 30, np.zeros(3)).describe("B2") == (
        "B2 destriped: stripes of 0.30 K RMS along 13.0 deg west of north removed (5 crops within 0.01 deg, "
        "halves and alternate blocks agree r=0.97)")
    assert Destriping(west, 0.05, 0.2, 30, np.zeros(3)).describe() == (
        "TIS B2 not destriped: stripes along 13.0 deg west of north (5 crops within 0.01 deg) not confirmed "
        "on the image (0.05 K RMS, halves and alternate blocks agree r=0.20)")
    residue = StripeDirection(10.0, rms_k=0.3, crops=5, max_structure_k=1.16)
    assert Destriping(residue, 0.3, 0.9, 30, np.zeros(3)).describe() == (
        "TIS B2 destriped: stripes of 0.30 K RMS along 10.0 deg east of north removed (5 crops within 0.00 deg, "
        "pixels by B3 edges over 1.2 K left out, halves and alternate blocks agree r=0.90)")
    assert StripeDirection(0.04).where() == "north-south"


# --- products whose B3 was misregistered (then registered as ingest does) or blurred --------------

PRODUCT_SIZE = 240  # TIS pixels a side: the QA reproduction's scene (seed 3)


@pytest.fixture(scope="module")
def product_scene():
    return generate_scene((PRODUCT_SIZE, PRODUCT_SIZE), seed=3, ratio=3, lst_resolution=30.0)


def _product_temperatures(scene, folder, settings: FixtureSettings,
                          blur3_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """B2 and B3 of a fake TIS product as ingest reads them (B3 registered onto B2)."""
    return registered_tis_temperatures(write_product_fixture(scene, folder, settings)[0], blur3_px)


@pytest.mark.parametrize("offset, blur", [((10.0, 0.0), 0.0), ((20.0, -10.0), 0.0), ((-10.0, 20.0), 0.2),
                                          ((0.0, 0.0), 0.4)])
def test_a_clean_product_with_a_registered_or_blurred_b3_is_returned_unchanged(product_scene, tmp_path,
                                                                                 offset, blur):
    """The QA false positive: B3 10-20 m off (made from the scene seen through moved
    footprints, then registered) or blurred a little more than B2 leaves residue along the
    scene's north-south field edges, which was taken for 0.6-0.7 K of stripes 0.1-0.2 deg off
    north. That residue sits where B3 has structure across the row, so those pixels are left
    out: B2 comes back as the same array."""
    b2, b3 = _product_temperatures(product_scene, tmp_path, FixtureSettings(tis_band_offset_m=offset), blur)
    direction, result, out = _destripe_whole(b2, b3)
    assert not result.applied and out is b2
    assert direction.max_structure_k < math.inf or blur  # the residue was seen and left out
    assert result.describe().startswith("TIS B2 not destriped: ")


@pytest.mark.parametrize("angle, left", [(10.0, 0.85), (0.0, 0.5)])
def test_stripes_on_a_product_with_a_registered_b3_are_found(product_scene, tmp_path, angle, left):
    """0.4 K stripes on a product whose B3 was 20 m east and 10 m south of B2, with 0.2 K of
    noise: the direction is the stripes' (not the residue's, as it was), and B2 comes closer to
    the unstriped product (``left`` of the stripes' RMS; measured 0.78 and 0.35: on 240 rows
    the residue still left in the profile is most of the error)."""
    settings = FixtureSettings(tis_band_offset_m=(20.0, -10.0), tis_noise_k=0.2, tis_stripe_angle_deg=angle)
    truth = _product_temperatures(product_scene, tmp_path / "clean", settings)[0]
    striped = FixtureSettings(**{**settings.__dict__, "tis_stripes_k": 0.4})
    b2, b3 = _product_temperatures(product_scene, tmp_path / "striped", striped)
    direction, result, out = _destripe_whole(b2, b3)
    assert result.applied
    assert direction.angle_deg == pytest.approx(angle, abs=0.05)
    offset = float(np.nanmean(b2 - truth))
    assert _rms(out - truth - offset) < left * _rms(b2 - truth - offset)


def test_strong_stripes_are_mostly_removed():
    """3 K RMS stripes: the edge threshold grows with the stripes found, so the stripes are not
    themselves taken for edges and left out (44 % removed before; 88 % measured)."""
    b2, b3 = _scene()
    stripes = _stripes(b2.shape, 8.0, 3.0)
    direction, result, out = _destripe_whole(b2 + stripes, b3)
    assert result.applied and direction.edge_k > 1.0
    assert _rms(out - b2 - stripes.mean()) < 0.2 * stripes.std()


def test_a_window_whose_first_block_is_short_confirms_stripes():
    """A window of 128 rows starting at image row 40: blocks are counted from the image's first
    row, so its first block has 24 rows and fills hardly any fine bin (MIN_BLOCK_SAMPLES). Such
    a block is left out of the comparison, so the halves are the two fuller blocks and agree
    (the halves gave NaN before, and the stripes were not confirmed)."""
    b2, b3 = _scene(2 * BLOCK_ROWS)
    stripes = _stripes(b2.shape, 8.0, 0.5)
    top = 40
    profile = StripeProfile((top + b2.shape[0], b2.shape[1]), StripeDirection(8.0, gain=1 / 0.93, given=True))
    profile.add(b2 + stripes, b3, top)
    result = profile.result()
    assert result.blocks == 3
    assert result.applied and result.agreement > 0.8
    assert result.rms_k == pytest.approx(float(stripes.std()), rel=0.15)


def _grid_product(east_fine_px: int, seed: int, size: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """(b2, b3) of a field grid whose edges run north-south through the whole image: parcels
    of 3-8 pixels, each its own temperature, a hot farm track (a third of a pixel wide) along
    every parcel's west edge. Each TIS pixel is the mean of 3 x 3 fine pixels; B3 sees
    footprints ``east_fine_px`` fine pixels east (10 m each) and is then registered as ingest
    does. 0.1 K of noise on each band."""
    rng = np.random.default_rng(seed)
    n = 3 * size + 6

    def runs() -> tuple[np.ndarray, np.ndarray]:
        sizes = rng.integers(9, 25, n // 9 + 2)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        index = np.searchsorted(starts, np.arange(n), side="right") - 1
        return index, np.arange(n) - starts[index]

    (parcel_row, _), (parcel_col, col_offset) = runs(), runs()
    parcel = parcel_row[:, None] * (parcel_col.max() + 1) + parcel_col[None, :]
    fine = 300.0 + rng.uniform(-3, 3, parcel.max() + 1)[parcel] + 4.0 * (col_offset[None, :] == 0)
    fine += 0.3 * rng.standard_normal(fine.shape)

    def seen(east: int) -> np.ndarray:
        return fine[3:3 + 3 * size, 3 + east:3 + east + 3 * size].reshape(size, 3, size, 3).mean(axis=(1, 3))

    b2 = seen(0) + 0.1 * rng.standard_normal((size, size))
    b3 = 299.0 + 0.93 * (seen(east_fine_px) - 300.0) + 0.1 * rng.standard_normal((size, size))
    shift = band_registration.measure_shift([(b2[t:t + h, l:l + w], b3[t:t + h, l:l + w])
                                             for t, l, h, w in crops(size, size, 128)])
    return b2, band_registration.shift_band(b3, shift) if shift.needed else b3


@pytest.mark.parametrize("east", [1, 2, -1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_field_grid_along_north_with_a_registered_b3_is_at_most_touched(east, seed):
    """The hardest residue: field edges and tracks running north-south through the whole
    image, so the residue a registered B3 leaves repeats along the track as stripes would.
    0.35-0.43 K RMS of "stripes" were removed from each of these nine before; now six come
    back as the same array and three lose 0.05 K RMS (measured 0.046-0.051): pixels by B3's
    edges, and by the registered B3's extrapolated edge columns, are left out, but some residue
    stays in the pixels kept. Stripes on such a product are never made worse."""
    b2, b3 = _grid_product(east, seed)
    _, result, out = _destripe_whole(b2, b3)
    assert out is b2 or _rms(out - b2) < 0.06
    stripes = _stripes(b2.shape, 10.0, 0.4)
    _, _, destriped = _destripe_whole(b2 + stripes, b3)
    assert _rms(destriped - b2 - stripes.mean()) <= stripes.std() + 1e-9

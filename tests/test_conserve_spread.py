"""downscale --conserve-spread: block (each LR cell scaled alone, as --conserve) or smooth (each
tile's residual spread with a spline first); both aggregate exactly back to the LR input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from groklst_cli.app import run
from pipelines.conserve import conserve_blocks
from tests.test_downscale import make_scene, read

ROWS, COLS, SCALE = 40, 50, 3
TILING = ["--tile", "60", "--overlap", "18"]  # several tiles, so the spread crosses tile seams


def downscale(lst: Path, out: Path, *extra: str) -> np.ndarray:
    """The bicubic output of ``lst`` with ``extra`` options, float64 Kelvin."""
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), *TILING, *extra]) == 0
    return read(out)[0].astype(np.float64)


def lr_of(lst: Path) -> np.ndarray:
    with rasterio.open(lst) as src:
        return src.read(1).astype(np.float64)


def block_jump(hr: np.ndarray) -> float:
    """Mean |step| between fine pixels across LR block borders minus that within blocks (both axes)."""
    jumps = []
    for field in (hr, hr.T):
        steps = np.abs(np.diff(field, axis=1))
        border = np.arange(steps.shape[1]) % SCALE == SCALE - 1
        jumps.append(np.nanmean(steps[:, border]) - np.nanmean(steps[:, ~border]))
    return float(np.mean(jumps))


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A smooth LST with nodata in one corner, its guidance with a nodata patch."""
    return make_scene(tmp_path)[0]


@pytest.mark.parametrize("spread", ["block", "smooth"])
def test_spread_aggregates_exactly_to_the_lr_input(scene: Path, tmp_path: Path, spread: str) -> None:
    out = tmp_path / f"{spread}.tif"
    hr = downscale(scene, out, "--conserve-spread", spread)
    lr = lr_of(scene)
    blocks = hr.reshape(ROWS, SCALE, COLS, SCALE)
    ok = np.isfinite(lr) & np.isfinite(blocks).all(axis=(1, 3))
    assert ok.sum() > 0.9 * lr.size
    agg = np.mean(blocks**4, axis=(1, 3)) ** 0.25
    np.testing.assert_allclose(agg[ok], lr[ok], atol=1e-3)
    tags = read(out)[2]
    assert (tags["conserve"], tags["conserve_spread"]) == ("true", spread)


def test_smooth_hides_the_lr_grid_and_keeps_the_nodata(scene: Path, tmp_path: Path) -> None:
    plain = downscale(scene, tmp_path / "plain.tif")
    block = downscale(scene, tmp_path / "block.tif", "--conserve")
    smooth = downscale(scene, tmp_path / "smooth.tif", "--conserve-spread", "smooth")
    # measured: plain -0.0385 K, block 0.0417 K, smooth -0.0038 K: the block factors add 0.080 K
    # of steps at the LR borders, the smooth spread 0.035 K
    block_excess, smooth_excess = block_jump(block) - block_jump(plain), block_jump(smooth) - block_jump(plain)
    assert block_excess > 0.07
    assert smooth_excess < 0.5 * block_excess
    np.testing.assert_array_equal(np.isnan(smooth), np.isnan(plain))
    assert np.isnan(plain).sum() > 0
    assert "conserve_spread" not in read(tmp_path / "plain.tif")[2]


def test_conserve_alone_is_the_block_correction_of_the_plain_output(scene: Path, tmp_path: Path) -> None:
    plain = downscale(scene, tmp_path / "plain.tif").astype(np.float32)
    conserved = downscale(scene, tmp_path / "conserved.tif", "--conserve").astype(np.float32)
    expected = conserve_blocks(plain, lr_of(scene).astype(np.float32), SCALE)
    np.testing.assert_array_equal(conserved, expected)
    assert read(tmp_path / "conserved.tif")[2]["conserve_spread"] == "block"


def test_spread_with_fit_is_refused_in_one_line(scene: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.tif"
    capsys.readouterr()
    status = run(["-q", "downscale", str(scene), "--fit", "--conserve-spread", "smooth", "-o", str(out)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2
    assert len(lines) == 1 and "--conserve-spread" in lines[0] and "--fit-residual" in lines[0]
    assert not out.exists()


def test_unknown_spread_is_refused(scene: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    status = run(["-q", "downscale", str(scene), "--model", "bicubic", "--conserve-spread", "wavy",
                  "-o", str(tmp_path / "out.tif")])
    assert status == 2
    assert "unknown spread 'wavy'" in capsys.readouterr().err

"""``mask --fill V`` refuses a value that clear pixels hold before writing anything (it refused
only after the whole write pass), with the same message; ``--categorical`` class listing reads
row chunks bounded in bytes (512 rows at a time grew with the map's width)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import pipelines.guidance as guidance
import pipelines.masking as masking
from groklst_cli.app import run
from pipelines.grids import Grid
from pipelines.guidance import SourceSpec
from pipelines.masking import MaskRule, mask_raster

TRANSFORM = Affine(30.0, 0.0, 400_000.0, 0.0, -30.0, 5_760_000.0)


def write(path: Path, data: np.ndarray, transform: Affine = TRANSFORM, **options: object) -> Path:
    """``data`` (rows, cols) as a one-band GeoTIFF in UTM 32N."""
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype.name, crs="EPSG:32632", transform=transform, **options) as dst:
        dst.write(data[None])
    return path


def scene(tmp_path: Path) -> tuple[Path, Path]:
    """A 600x300 uint16 raster of 1000..1999 (two pixels 5, one flagged) and its 0/1 mask."""
    data = (1000 + np.arange(600 * 300) % 1000).astype(np.uint16).reshape(600, 300)
    data[550, 7] = data[3, 3] = 5  # one in the last row block, clear; one flagged
    qa = np.zeros((600, 300), np.uint8)
    qa[3, 3] = qa[100:110] = 1
    return write(tmp_path / "dn.tif", data), write(tmp_path / "qa.tif", qa)


def test_held_fill_refused_with_the_same_message_and_nothing_left(tmp_path: Path, capsys) -> None:
    dn, qa = scene(tmp_path)
    out = tmp_path / "new" / "m.tif"
    assert run(["mask", str(dn), str(qa), "--fill", "5", "-o", str(out)]) == 2
    line = capsys.readouterr().err.strip()
    assert line == (f"error: --fill: 5 occurs in 1 valid pixel(s) of {dn} that the mask does not flag: they would "
                    "become nodata too (hint: give a value outside the data's range 5..1999, e.g. --fill 0 "
                    "(uint16's extreme))")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dn.tif", "qa.tif"]  # no folder, no temporary file


def test_held_fill_refused_before_the_output_is_opened(tmp_path: Path, monkeypatch) -> None:
    dn, qa = scene(tmp_path)

    def no_output(*args: object, **kwargs: object) -> None:
        raise AssertionError("the output was opened before the refusal")

    monkeypatch.setattr(masking, "geotiff_output", no_output)
    with pytest.raises(masking.InputError, match="--fill: 5 occurs in 1 valid pixel"):
        mask_raster(dn, qa, tmp_path / "m.tif", MaskRule(), fill=5)


@pytest.mark.parametrize("fill", [0, 5])  # 5: held by a flagged pixel only, so free
def test_free_fill_writes_the_masked_copy(tmp_path: Path, fill: int) -> None:
    dn, qa = scene(tmp_path)
    with rasterio.open(dn) as src:
        data = src.read(1)
    if fill == 5:
        data[550, 7] = 7
        write(dn, data)
    report = mask_raster(dn, qa, tmp_path / "m.tif", MaskRule(), fill=fill)
    expected = data.copy()
    expected[3, 3] = expected[100:110] = fill
    with rasterio.open(tmp_path / "m.tif") as got:
        np.testing.assert_array_equal(got.read(1), expected)
        assert got.nodata == fill
    assert (report.valid_before, report.masked) == (180_000, 3_001)


def classes_in(path: Path) -> list[int]:
    """The classes ``_Categorical`` lists for the map at ``path`` over its own grid."""
    with rasterio.open(path) as src:
        return guidance._Categorical(SourceSpec(path, (), True), src, Grid.of(src), "fractions", ())._classes_found(
            Grid.of(src))


def wide_map(tmp_path: Path) -> Path:
    """A 12000x600 uint8 class map at 0.5 m (classes 1..5, one 9 in the last row), nodata 0, tiled."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 6, (600, 12_000), dtype=np.uint8)
    data[599, 11_999] = 9
    return write(tmp_path / "wide.tif", data, Affine(0.5, 0.0, 400_000.0, 0.0, -0.5, 5_760_000.0), nodata=0,
                 tiled=True, blockxsize=256, blockysize=256)


def test_class_listing_memory_is_bounded_in_bytes_not_rows(tmp_path: Path, monkeypatch) -> None:
    """512 rows of a 12000 px wide map held ~6 MB and its copies (61 MB peak); chunks of
    1 MiB keep the scan within a few MB, the classes the same."""
    source = wide_map(tmp_path)
    monkeypatch.setattr(guidance, "_SCAN_CHUNK_BYTES", 2**20, raising=False)
    tracemalloc.start()
    try:
        found = classes_in(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [1, 2, 3, 4, 5, 9]
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MB"


@pytest.mark.parametrize("budget", [1, 50_000, 10**12])  # one row a chunk, a few, the whole map
def test_class_listing_is_the_same_for_any_chunk_size(tmp_path: Path, monkeypatch, budget: int) -> None:
    source = wide_map(tmp_path)
    monkeypatch.setattr(guidance, "_SCAN_CHUNK_BYTES", budget, raising=False)
    assert classes_in(source) == [1, 2, 3, 4, 5, 9]


def test_too_many_classes_still_refused_in_chunks(tmp_path: Path, monkeypatch) -> None:
    data = (np.arange(40 * 300) % 40 + 1).astype(np.uint8).reshape(40, 300)
    source = write(tmp_path / "many.tif", data, Affine(0.5, 0.0, 400_000.0, 0.0, -0.5, 5_760_000.0), nodata=0)
    monkeypatch.setattr(guidance, "_SCAN_CHUNK_BYTES", 3000, raising=False)
    with pytest.raises(guidance.InputError, match=f"more than {guidance.MAX_CLASSES} distinct values"):
        classes_in(source)

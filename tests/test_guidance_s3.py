"""Guidance memory on high-resolution class maps, and float64 sources that only their scale brings
into float32's range.

A class map's strip was read whole at the map's resolution (a 1 m map for a 10 m grid: 100 times
the strip's pixels, several copies of them), so memory grew with the map's resolution; it is now
warped in row chunks of a byte budget, with the very values of the one-pass warp. A float64 source
holding 1e39 with scale 1e-38 (10.0) was warped into float32 first, where 1e39 became inf, so the
source was refused as having no valid pixels; such bands are now warped and scaled in float64.
"""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import pipelines.guidance as guidance
from pipelines.guidance import GuidanceOptions, SourceSpec, build_guidance

CRS = "EPSG:32633"
LST_TRANSFORM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)
LST_SIZE = 20  # LST pixels across and down; --scale 3 gives a 60x60 grid of 10 m pixels


def write_lst(path: Path) -> Path:
    """A 20x20 30 m LST."""
    with rasterio.open(path, "w", driver="GTiff", width=LST_SIZE, height=LST_SIZE, count=1, dtype="float32",
                       crs=CRS, transform=LST_TRANSFORM, nodata=np.nan) as dst:
        dst.write(np.full((1, LST_SIZE, LST_SIZE), 300.0, np.float32))
    return path


def class_map(size: int, seed: int = 0) -> np.ndarray:
    """Classes 1..4 in 4-pixel patches with 20% salt, and a 0 (nodata) box."""
    rng = np.random.default_rng(seed)
    patches = np.kron(rng.integers(1, 5, (size // 4 + 1, size // 4 + 1)), np.ones((4, 4), np.int64))
    data = patches[:size, :size].astype(np.uint8)
    salt = rng.random((size, size)) < 0.2
    data[salt] = rng.integers(1, 5, int(salt.sum()))
    data[size // 5:size // 4, size // 2:size // 2 + size // 8] = 0
    return data


def write_classes(path: Path, data: np.ndarray, transform: Affine) -> Path:
    """``data`` as a tiled uint8 class map, nodata 0."""
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="uint8", crs=CRS, transform=transform, nodata=0, tiled=True,
                       blockxsize=64, blockysize=64) as dst:
        dst.write(data[None])
    return path


def build(tmp_path: Path, source: Path, name: str, *, classes: str = "fractions", categorical: bool = True,
          strip_rows: int | None = None, class_values: tuple[int, ...] = ()) -> np.ndarray:
    """The guidance of ``source`` on the LST's x3 grid, as read back."""
    out = tmp_path / f"{name}.tif"
    build_guidance(write_lst(tmp_path / "lst.tif"), [SourceSpec(source, (), categorical)], out,
                   GuidanceOptions(scale=3, classes=classes, overwrite=True, strip_rows=strip_rows,
                                   class_values=class_values))
    with rasterio.open(out) as src:
        return src.read()


# 1 m pixels on the grid's edges, 0.7 m off them, and 20 m pixels (coarser: the mode is nearest)
MAPS = {
    "aligned_1m": (Affine(1.0, 0.0, 499990.0, 0.0, -1.0, 4000010.0), 620),
    "offset_1m": (Affine(1.0, 0.0, 499989.3, 0.0, -1.0, 4000010.7), 620),
    "coarser_20m": (Affine(20.0, 0.0, 499970.0, 0.0, -20.0, 4000030.0), 34),
}


@pytest.mark.parametrize("classes", ["fractions", "mode"])
@pytest.mark.parametrize("case", sorted(MAPS))
def test_class_map_chunks_give_the_one_pass_values(tmp_path: Path, monkeypatch, case: str, classes: str) -> None:
    transform, size = MAPS[case]
    source = write_classes(tmp_path / "classes.tif", class_map(size), transform)
    monkeypatch.setattr(guidance, "_CLASS_CHUNK_BYTES", 10**12, raising=False)
    whole = build(tmp_path, source, "whole", classes=classes)
    monkeypatch.setattr(guidance, "_CLASS_CHUNK_BYTES", 20_000, raising=False)  # a few source rows a chunk
    chunked = build(tmp_path, source, "chunked", classes=classes)
    np.testing.assert_array_equal(chunked, whole)
    assert np.isnan(whole).any()  # the nodata box
    assert np.isfinite(whole).mean() > 0.95


def test_aligned_fractions_are_block_means_of_the_indicators(tmp_path: Path, monkeypatch) -> None:
    transform, size = MAPS["aligned_1m"]
    data = class_map(size)
    source = write_classes(tmp_path / "classes.tif", data, transform)
    monkeypatch.setattr(guidance, "_CLASS_CHUNK_BYTES", 20_000, raising=False)
    got = build(tmp_path, source, "chunked")
    blocks = data[10:610, 10:610].reshape(60, 10, 60, 10)  # the grid starts 10 px into the map
    valid = (blocks > 0).sum(axis=(1, 3))
    for band, value in enumerate(range(1, 5)):
        share = (blocks == value).sum(axis=(1, 3)) / np.where(valid > 0, valid, 1)
        expected = np.where(valid > 0, share, np.nan).astype(np.float32)
        np.testing.assert_allclose(got[band], expected, rtol=1e-6, equal_nan=True)


def test_class_map_memory_does_not_grow_with_its_resolution(tmp_path: Path, monkeypatch) -> None:
    """A 0.5 m map (1200x1200 px for the 60x60 10 m grid): the one-pass strip held its whole
    window several times (~20 MB); chunks of 1 MB hold a few MB at most. The classes are given,
    so that the class scan (512 source rows at a time) is not measured."""
    source = write_classes(tmp_path / "classes.tif", class_map(1220),
                           Affine(0.5, 0.0, 499995.0, 0.0, -0.5, 4000005.0))
    monkeypatch.setattr(guidance, "_CLASS_CHUNK_BYTES", 2**20, raising=False)
    write_lst(tmp_path / "lst.tif")
    tracemalloc.start()
    try:
        build(tmp_path, source, "chunked", class_values=(1, 2, 3, 4))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MB"


def write_float64(path: Path, bands: np.ndarray, scales: tuple[float, ...]) -> Path:
    """``bands`` as a float64 GeoTIFF on the x3 grid itself, with per-band scales."""
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                       count=bands.shape[0], dtype="float64", crs=CRS,
                       transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)) as dst:
        dst.write(bands)
        dst.scales = scales
        dst.offsets = (0.0,) * len(scales)
    return path


def test_float64_beyond_float32_brought_into_range_by_its_scale(tmp_path: Path) -> None:
    huge = np.full((60, 60), 1e39)
    huge[:5] = 5e38
    tiny = np.full((60, 60), 1e-42)  # float32 holds it only as a subnormal, to 3 digits
    normal = np.linspace(1.0, 2.0, 3600).reshape(60, 60) * 1e-3
    source = write_float64(tmp_path / "f64.tif", np.stack([huge, tiny, normal]), (1e-38, 1e40, 7.0))
    got = build(tmp_path, source, "guidance", categorical=False, strip_rows=16)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[0][:5], 5.0)
    np.testing.assert_array_equal(got[0][5:], 10.0)
    np.testing.assert_array_equal(got[1], np.float32(0.01))
    # a band of ordinary values keeps the float32 warp's values: stored rounded to float32, then scaled
    expected = (normal.astype(np.float32).astype(np.float64) * 7.0).astype(np.float32)
    np.testing.assert_array_equal(got[2], expected)


# Review F10: a map whose pixel edges meet the grid's edges at odd ratios, far from the CRS origin
# (5.76e6 m, where a chunk's own transform was rounded by ~1e-10 px); (x, y) offsets from the LST corner
FAR_LST = Affine(30.0, 0.0, 400000.0, 0.0, -30.0, 5760000.0)
ODD_MAPS = {
    "9m_-17_+3": (9.0, -17.0, 3.0),
    "7m_-17_+3": (7.0, -17.0, 3.0),
    "9m_-4_+14": (9.0, -4.0, 14.0),
    "7m_-0.7_+1.3": (7.0, -0.7, 1.3),
    "2.7m_-10_+3.6": (2.7, -10.0, 3.6),  # edges meet in decimal, not in binary
}


def write_far_lst(path: Path) -> Path:
    """A 20x20 30 m LST at 5.76e6 m northing."""
    with rasterio.open(path, "w", driver="GTiff", width=LST_SIZE, height=LST_SIZE, count=1, dtype="float32",
                       crs=CRS, transform=FAR_LST, nodata=np.nan) as dst:
        dst.write(np.full((1, LST_SIZE, LST_SIZE), 300.0, np.float32))
    return path


@pytest.mark.parametrize("classes", ["fractions", "mode"])
@pytest.mark.parametrize("case", sorted(ODD_MAPS))
def test_odd_ratio_chunks_give_exactly_the_one_pass_values(tmp_path: Path, monkeypatch, case: str,
                                                           classes: str) -> None:
    """With a 13 kB budget (a few source rows a chunk) 44 of 3600 mode classes differed from the
    one-pass read for the 9 m map, in rows at chunk ends where a grid edge meets a pixel edge, and
    fractions by up to 1e-10; budgets of 5-21 kB put chunk ends on other rows."""
    res, dx, dy = ODD_MAPS[case]
    size = math.ceil((LST_SIZE * 30 + 40) / res)
    data = np.random.default_rng(2).integers(1, 5, (size, size)).astype(np.uint8)
    data[5:9, 20:30] = 0  # nodata
    source = write_classes(tmp_path / "classes.tif", data, Affine(res, 0.0, FAR_LST.c + dx, 0.0, -res, FAR_LST.f + dy))
    lst = write_far_lst(tmp_path / "lst.tif")
    got = {}
    budgets = (5_000, 13_000, 21_000)
    for budget in (10**12, *budgets):
        monkeypatch.setattr(guidance, "_CLASS_CHUNK_BYTES", budget, raising=False)
        out = tmp_path / f"{budget}.tif"
        build_guidance(lst, [SourceSpec(source, (), True)], out,
                       GuidanceOptions(scale=3, classes=classes, overwrite=True))
        with rasterio.open(out) as src:
            got[budget] = src.read()
    # 2.7 m edges meet 10 m ones only in decimal: in floats the pixel a grid edge ends on keeps a
    # sliver of ~1e-11 of its area, whose fraction the chunks round differently by <= 4e-15
    sliver = 1e-14 if classes == "fractions" and res == 2.7 else 0.0
    for budget in budgets:
        np.testing.assert_allclose(got[budget], got[10**12], rtol=0, atol=sliver, err_msg=f"budget {budget}")
    assert np.isnan(got[10**12]).any() and np.isfinite(got[10**12]).mean() > 0.95
    if classes == "fractions":  # the classes' fractions still add up to one where there is data
        total = got[10**12].sum(axis=0)
        np.testing.assert_allclose(total[np.isfinite(total)], 1.0, rtol=1e-6)


@pytest.mark.parametrize("refine", ["cubic", "bilinear"])
def test_a_masked_source_interpolates_as_the_same_source_unmasked(tmp_path: Path, refine: str) -> None:
    """Review R4 of 9eaf213: the shifted frame of the chunked masked warp changed GDAL's cubic
    kernel where the source reaches one pixel past the grid: up to 8.3 on 0..100
    against the same all-valid source without a mask. The interpolations stay in map coordinates."""
    import rasterio
    from affine import Affine

    from groklst_cli.app import run

    crs = "EPSG:32632"
    with rasterio.open(tmp_path / "lst.tif", "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
                       crs=crs, transform=Affine(30, 0, 400030, 0, -30, 5759970), nodata=-9999) as dst:
        dst.write(np.full((1, 10, 10), 300, np.float32))
    data = np.random.default_rng(0).integers(0, 100, (1, 12, 12)).astype(np.float32)
    outputs = []
    for name, masked in (("plain", False), ("masked", True)):
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
                tmp_path / f"{name}.tif", "w", driver="GTiff", width=12, height=12, count=1, dtype="float32",
                crs=crs, transform=Affine(30, 0, 400000, 0, -30, 5760000), nodata=-9999) as dst:
            dst.write(data)
            if masked:
                dst.write_mask(np.full((12, 12), 255, np.uint8))  # every pixel valid
        out = tmp_path / f"g_{name}.tif"
        assert run(["-q", "guidance", str(tmp_path / "lst.tif"), f"v={tmp_path / f'{name}.tif'}", "--scale", "3",
                    "--refine", refine, "-o", str(out)]) == 0
        with rasterio.open(out) as src:
            outputs.append(src.read(1))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_a_source_missing_one_pixel_is_not_said_to_cover_100_percent(tmp_path: Path, capsys) -> None:
    """Review R6: one nodata pixel in 14,400 was reported as "has data on 100.0% of the LST
    footprint", a warning contradicting itself; shares are written as pipelines.percent does."""
    from groklst_cli.app import run

    assert run(["-q", "sample-scene", str(tmp_path), "--size", "40"]) == 0
    with rasterio.open(tmp_path / "heihe_demo_guidance.tif") as src:
        profile, band = {**src.profile, "count": 1}, src.read(1)
    band[7, 9] = np.nan
    with rasterio.open(tmp_path / "one.tif", "w", **profile) as dst:
        dst.write(band, 1)
    capsys.readouterr()
    assert run(["guidance", str(tmp_path / "heihe_demo_lst.tif"), f"v={tmp_path / 'one.tif'}", "--scale", "3",
                "-o", str(tmp_path / "g.tif")]) == 0
    err = capsys.readouterr().err
    assert "one.tif has data on 99.99% of the LST footprint" in err, err

"""The source value check of ``groklst guidance`` in bounded memory (224830f's check).

224830f refused +-inf and beyond-float32 source pixels by reading each strip's whole source
window, every band at once, as stored (plus mask arrays): after ba1f040 bounded the masked warp,
that read was most of the ~460 MB peak on a 3900x3900x4 1 m uint16 source, and grew with the
source's resolution (tens of GB for an orthophoto). It now reads one band at a time in row
chunks of a byte budget, and not at all for integer bands without scale/offset (no value of
theirs can be inf or beyond float32's range: the read only repeated the warp's). These tests pin
the reads and that refusals name the same band, pixel and count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

import pipelines.guidance as guidance
from groklst_cli.app import run
from pipelines.geotiff import read_stored

CRS = "EPSG:32647"
LST_TRANSFORM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4300000.0)
SOURCE_TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4300000.0)  # the --scale 3 grid itself
SIZE = 60  # source pixels across and down: 4 blocks of 16 rows (the last one short)


def write(path: Path, bands: np.ndarray, transform: Affine = SOURCE_TRANSFORM, *, nodata: float | None = None,
          scale: float | None = None) -> Path:
    """A GeoTIFF of ``bands`` (bands, rows, cols), tiled in 16x16 blocks when large enough."""
    profile = {"driver": "GTiff", "width": bands.shape[2], "height": bands.shape[1], "count": bands.shape[0],
               "dtype": bands.dtype.name, "crs": CRS, "transform": transform, "nodata": nodata}
    if bands.shape[1] >= 16:
        profile |= {"tiled": True, "blockxsize": 16, "blockysize": 16}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        if scale is not None:
            dst.scales = [scale] * bands.shape[0]
    return path


@pytest.fixture
def lst(tmp_path: Path) -> Path:
    return write(tmp_path / "lst.tif", np.full((1, SIZE // 3, SIZE // 3), 300.0, np.float32), LST_TRANSFORM)


def reflectances(dtype: str = "float32", count: int = 3) -> np.ndarray:
    return np.random.default_rng(3).uniform(5, 50, (count, SIZE, SIZE)).astype(dtype)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, Window]]:
    """Every read of the check, as (bands, window); chunks of one 16-row block (60 columns x
    10 bytes x 16 rows is 9600 bytes: float32, its mask, nodata hits and the float copy)."""
    seen: list[tuple[object, Window]] = []

    def recording(src, bands, window, path):
        seen.append((bands, window))
        return read_stored(src, bands, window, path)

    monkeypatch.setattr(guidance, "read_stored", recording)
    monkeypatch.setattr(guidance, "_CHECK_CHUNK_BYTES", 9600, raising=False)
    return seen


def build(lst: Path, src: Path, tmp_path: Path) -> int:
    return run(["-q", "guidance", str(lst), str(src), "--scale", "3", "-o", str(tmp_path / "g.tif")])


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_check_reads_one_band_and_one_block_row_at_a_time(lst, tmp_path, reads) -> None:
    """Every band of every 16-row chunk, once, chunk by chunk (was: one read of all 3 bands x 60 rows)."""
    assert build(lst, write(tmp_path / "s.tif", reflectances()), tmp_path) == 0
    got = [(band, w.row_off, w.height, w.col_off, w.width) for band, w in reads]
    assert got == [(band, top, min(16, SIZE - top), 0, SIZE) for top in (0, 16, 32, 48) for band in (1, 2, 3)]


def test_a_larger_budget_takes_whole_blocks(lst, tmp_path, reads, monkeypatch) -> None:
    """A budget of 2.5 blocks' rows reads 2 blocks' rows at a time: no block is split between chunks."""
    monkeypatch.setattr(guidance, "_CHECK_CHUNK_BYTES", 24000, raising=False)
    assert build(lst, write(tmp_path / "s.tif", reflectances(count=1)), tmp_path) == 0
    assert [(band, w.row_off, w.height) for band, w in reads] == [(1, 0, 32), (1, 32, 28)]


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint8", "int32"])
def test_integer_bands_without_scaling_are_not_read(lst, tmp_path, reads, dtype) -> None:
    """No integer holds inf, nor a value beyond float32's range: the read only repeated the warp's."""
    assert build(lst, write(tmp_path / "s.tif", reflectances(dtype), nodata=0), tmp_path) == 0
    assert reads == []


def test_integer_bands_with_a_scale_are_still_checked(lst, tmp_path, reads, capsys) -> None:
    """int32 stored 10000 at row 50, column 9 and row 52, column 3, scaled by 1e35: 1e39, beyond
    float32's range (the other values, 5..50, stay below 5e36). int32 takes 14 bytes a pixel
    (its float copy is float64): chunks of 11 rows, the pixels in the one of rows 44..54."""
    bands = reflectances("int32")
    bands[2, 50, 9] = bands[2, 52, 3] = 10000
    assert build(lst, write(tmp_path / "s.tif", bands, scale=1e35), tmp_path) == 2
    assert refusal(capsys).startswith(
        f"error: {tmp_path / 's.tif'}: band 3 holds values beyond float32's range once scaled "
        "(stored * 1e+35 + 0), e.g. 10000: 2 pixels in rows 44..54, columns 0..59 (the part read so far), "
        "the first at row 50, column 9; no reflectance, elevation or index is that large")
    assert [(band, w.row_off, w.height) for band, w in reads][-3:] == [(1, 44, 11), (2, 44, 11), (3, 44, 11)]


def test_refusal_names_the_first_infinite_pixel_and_counts_the_rows_read(lst, tmp_path, reads, capsys) -> None:
    """-inf at row 20, column 7 and at row 30, column 2 (chunk 16..31), +inf at row 40 (chunk
    32..47, never read): 2 pixels in rows 16..31, as many as those rows hold; the first at row 20."""
    bands = reflectances()
    bands[1, 20, 7] = bands[1, 30, 2] = -np.inf
    bands[1, 40, 1] = np.inf
    src = write(tmp_path / "s.tif", bands)
    assert build(lst, src, tmp_path) == 2
    assert refusal(capsys).startswith(
        f"error: {src}: band 2 holds infinite values (-inf): 2 pixels in rows 16..31, columns 0..59 (the part "
        "read so far), the first at row 20, column 7; infinity is no value and no nodata (hint: declare them "
        "nodata: gdal_edit.py -a_nodata -inf FILE")
    assert [(band, w.row_off) for band, w in reads][-1] == (2, 16)  # stopped there


def test_refusal_unchanged_when_the_window_fits_one_chunk(lst, tmp_path, capsys) -> None:
    """With the default budget the whole window is one chunk: the message 224830f gave."""
    bands = reflectances()
    bands[0, 59, 58] = np.inf
    src = write(tmp_path / "s.tif", bands)
    assert build(lst, src, tmp_path) == 2
    assert refusal(capsys).startswith(
        f"error: {src}: band 1 holds infinite values (+inf): 1 pixel in rows 0..59, columns 0..59 (the part read "
        "so far), the first at row 59, column 58; infinity is no value and no nodata")


def test_infinity_declared_nodata_is_kept_across_chunks(lst, tmp_path, reads) -> None:
    """A declared -inf nodata is nodata in every chunk, not a refusal."""
    bands = reflectances()
    bands[:, 5, 5] = bands[:, 50, 50] = -np.inf
    assert build(lst, write(tmp_path / "s.tif", bands, nodata=-np.inf), tmp_path) == 0
    assert len(reads) == 12


@pytest.mark.parametrize(("row_off", "height", "rows", "expected"), [
    (0, 60, 16, [(0, 16), (16, 16), (32, 16), (48, 12)]),
    (5, 40, 16, [(5, 11), (16, 16), (32, 13)]),  # cut at multiples of 16, the file's block rows
    (5, 3, 16, [(5, 3)]),
    (7, 5, 1, [(7, 1), (8, 1), (9, 1), (10, 1), (11, 1)]),
])
def test_row_chunks_cover_the_window_once(row_off, height, rows, expected) -> None:
    chunks = guidance._row_chunks(Window(3, row_off, 9, height), rows)
    assert [(w.row_off, w.height) for w in chunks] == expected
    assert all((w.col_off, w.width) == (3, 9) for w in chunks)

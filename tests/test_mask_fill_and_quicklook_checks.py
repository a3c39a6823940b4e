"""``mask --fill V`` refuses a value real pixels hold; ``quicklook`` refuses an output that is no
LST (a guidance stack, digital numbers) instead of drawing it under "LST (K)"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from groklst_cli.app import run

TRANSFORM = Affine(30.0, 0.0, 400_000.0, 0.0, -30.0, 5_760_000.0)


def write(path: Path, data: np.ndarray, **tags: str) -> Path:
    """``data`` (bands, rows, cols) or (rows, cols) as a GeoTIFF in UTM 32N, no nodata declared."""
    bands = data if data.ndim == 3 else data[None]
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                       count=bands.shape[0], dtype=bands.dtype.name, crs="EPSG:32632",
                       transform=TRANSFORM) as dst:
        dst.write(bands)
        dst.update_tags(**tags)
    return path


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_fill_value_unflagged_pixels_hold_is_refused_and_nothing_written(tmp_path: Path, capsys) -> None:
    """QA's case: 45000 is pixel 1's (flagged) and pixel 2's (clear) value; the copy would have
    made pixel 2 nodata too (2 valid pixels left while --json said 3)."""
    dn = write(tmp_path / "dn.tif", np.array([[45000, 45000, 46000, 47000]], np.uint16))
    qa = write(tmp_path / "qa.tif", np.array([[1, 0, 0, 0]], np.uint8))
    out = tmp_path / "m.tif"
    assert run(["mask", str(dn), str(qa), "--fill", "45000", "-o", str(out)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--fill: 45000 occurs in 1 valid pixel(s) of" in line and "dn.tif" in line
    assert "data's range 45000..47000, e.g. --fill 0 (uint16's extreme)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dn.tif", "qa.tif"]  # no output, no temp file


def test_a_fill_value_only_flagged_pixels_hold_is_accepted(tmp_path: Path, capsys) -> None:
    """The flagged pixel becomes nodata anyway, so its value is free to be the fill."""
    dn = write(tmp_path / "dn.tif", np.array([[45000, 46000, 46000, 47000]], np.uint16))
    qa = write(tmp_path / "qa.tif", np.array([[1, 0, 0, 0]], np.uint8))
    out = tmp_path / "m.tif"
    assert run(["mask", str(dn), str(qa), "--fill", "45000", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["valid_before"], report["masked"], report["valid_after"]) == (4, 1, 3)
    with rasterio.open(out) as src:
        assert src.nodata == 45000 and int(src.read(1, masked=True).count()) == 3


def test_a_fill_value_in_any_band_is_refused(tmp_path: Path, capsys) -> None:
    """Band 2 holds the fill value in a clear pixel, band 1 nowhere: still refused."""
    stack = np.array([[[10, 20, 30]], [[5, 0, 7]]], np.int16)
    raster = write(tmp_path / "stack.tif", stack)
    qa = write(tmp_path / "qa.tif", np.array([[1, 0, 0]], np.uint8))
    assert run(["mask", str(raster), str(qa), "--fill", "0", "-o", str(tmp_path / "m.tif")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--fill: 0 occurs in 1 valid pixel(s)" in line and "e.g. --fill -32768 (int16's extreme)" in line
    assert not (tmp_path / "m.tif").exists()


def test_the_hint_fits_float_data_and_a_type_with_no_free_value(tmp_path: Path, capsys) -> None:
    qa = write(tmp_path / "qa.tif", np.zeros((1, 256), np.uint8))
    floats = write(tmp_path / "f.tif", np.linspace(280, 300, 256, dtype=np.float32)[None])
    assert run(["mask", str(floats), str(qa), "--fill", "280", "-o", str(tmp_path / "a.tif")]) == 2
    assert "leave out --fill (masked pixels get NaN), or give a value outside the data's range 280..300" \
        in one_line_error(capsys.readouterr().err)
    full = write(tmp_path / "u8.tif", np.arange(256, dtype=np.uint8)[None])
    assert run(["mask", str(full), str(qa), "--fill", "7", "-o", str(tmp_path / "b.tif")]) == 2
    assert "the data use every uint8 value (0..255): convert it to a wider type first" \
        in one_line_error(capsys.readouterr().err)


def lst(tmp_path: Path) -> Path:
    return write(tmp_path / "lst.tif", np.full((20, 20), 300.0, np.float32)
                 + np.arange(20, dtype=np.float32)[None, :], units="K")


def test_quicklook_refuses_a_multi_band_output(tmp_path: Path, capsys) -> None:
    """A 10-band guidance stack (band 1 a DEM, 1600..2400 m) was drawn as "LST (K)"."""
    stack = np.repeat(np.linspace(1600, 2400, 400, dtype=np.float32).reshape(1, 20, 20), 10, axis=0)
    guidance = write(tmp_path / "guidance.tif", stack)
    png = tmp_path / "g.png"
    assert run(["quicklook", str(guidance), "--lst", str(lst(tmp_path)), "-o", str(png)]) == 2
    assert "guidance.tif: has 10 bands, expected 1 LST band" in one_line_error(capsys.readouterr().err)
    assert not png.exists()


def test_quicklook_refuses_an_output_with_no_plausible_temperature(tmp_path: Path, capsys) -> None:
    """Digital numbers (~45000) read as K are no land-surface temperature: refused, no PNG."""
    dn = write(tmp_path / "dn.tif", np.full((20, 20), 45000.0, np.float32) + np.arange(20)[None, :])
    png = tmp_path / "g.png"
    assert run(["quicklook", str(dn), "--lst", str(lst(tmp_path)), "-o", str(png)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "dn.tif: reads as 45000..45019 K, none of it a plausible land-surface temperature (150-400 K)" in line
    assert "give groklst downscale's output" in line
    assert not png.exists()


def test_quicklook_warns_about_an_output_with_some_implausible_values(tmp_path: Path, capsys) -> None:
    """Two stray pixels among temperatures: drawn, with the input panel's kind of warning."""
    values = np.full((20, 20), 300.0, np.float32)
    values[0, :2] = 45000.0
    out = write(tmp_path / "out.tif", values, units="K")
    png = tmp_path / "g.png"
    assert run(["quicklook", str(out), "--lst", str(lst(tmp_path)), "-o", str(png), "--width", "400"]) == 0
    err = capsys.readouterr().err
    assert "out.tif: the output panel shows values 300..45000 K, not all plausible" in err
    assert png.exists()

"""coregister and quicklook as users met them (QA round s3): an offset at the edge of the search
says which --max-shift to rerun with, the copy keeps the LST options it was read with, an
ingested LST is drawn (a GCP-placed LST's missing CRS: tests/test_gcp_crs_messages_s3.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run


@pytest.fixture
def scene(tmp_path: Path, capsys) -> tuple[Path, Path]:
    """The 48 px sample scene: 30 m LST (K) and 10 m guidance nesting in it."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "48"]) == 0
    capsys.readouterr()
    return tmp_path / "heihe_demo_lst.tif", tmp_path / "heihe_demo_guidance.tif"


def rewritten(lst: Path, out: Path, values: np.ndarray, *, east: float = 0.0, **profile: object) -> Path:
    """``lst``'s grid (moved ``east``) holding ``values``, with ``profile`` changes."""
    with rasterio.open(lst) as src:
        changed = {**src.profile, "transform": Affine.translation(east, 0) @ src.transform,
                   "dtype": values.dtype, **profile}
    with rasterio.open(out, "w", **changed) as dst:
        dst.write(values, 1)
    return out


def kelvin(lst: Path) -> np.ndarray:
    with rasterio.open(lst) as src:
        return src.read(1).astype(np.float64)


def test_an_offset_at_the_search_edge_says_which_max_shift_to_rerun_with(scene, tmp_path: Path, capsys) -> None:
    """QA: an LST 3 LST pixels off, searched 3 each way, was 'not measurable' (R² 0.92 there):
    the shift was merely as large as the search."""
    lst, guidance = scene
    off = rewritten(lst, tmp_path / "off.tif", kelvin(lst).astype(np.float32), east=90.0)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(off), str(guidance), "-o", str(out), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["at_search_edge"] is True and line["moved"] is False
    assert line["placement"] == ("at the edge of the search, kept as delivered (best offset 90 m west, R² 0.92, "
                                 "searched ±90 m): the LST may be off by more than was searched")
    assert line["warnings"] == [f"{off}: offset to {guidance} {line['placement']}; "
                                "rerun with --max-shift 6 to search further"]
    with rasterio.open(out) as got:
        assert got.tags()["coregistration"] == line["placement"]
    # the rerun it names finds the offset
    assert run(["-q", "coregister", str(off), str(guidance), "-o", str(out), "--max-shift", "6",
                "--overwrite", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["moved"], line["east"], line["at_search_edge"]) == (True, -90.0, False)


def test_the_widest_search_names_no_wider_one() -> None:
    from groklst_cli.commands.coregister import _wider_search

    assert _wider_search(12) == "rerun with --max-shift 20 to search further"
    assert _wider_search(20).startswith("--max-shift 20 is the widest search: check the LST's georeferencing")


def test_the_copy_records_the_scale_offset_nodata_and_unit_it_was_read_with(scene, tmp_path: Path,
                                                                             capsys) -> None:
    """QA: centi-Kelvin read with --scale-factor 0.01 --nodata -9999 was copied with neither, so
    the copy read as 29000 K (refused) unless the options were given again."""
    lst, guidance = scene
    values = kelvin(lst)
    stored = np.where(np.isnan(values), -9999, np.round(np.nan_to_num(values) * 100)).astype(np.int16)
    stored[0, :5] = -9999
    centi = rewritten(lst, tmp_path / "centi.tif", stored, nodata=None)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(centi), str(guidance), "-o", str(out), "--scale-factor", "0.01",
                "--nodata", "-9999", "--units", "kelvin"]) == 0
    capsys.readouterr()
    with rasterio.open(out) as got:
        np.testing.assert_array_equal(got.read(1), stored)  # stored values bit for bit
        assert (got.scales, got.offsets, got.nodata, got.units) == ((0.01,), (0.0,), -9999.0, ("K",))
    again = tmp_path / "again.tif"
    assert run(["-q", "coregister", str(out), str(guidance), "-o", str(again), "--json"]) == 0  # no options
    assert json.loads(capsys.readouterr().out)["placement"].startswith("aligned as delivered")


def test_pixels_masked_as_implausible_become_the_copys_nodata(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    values = kelvin(lst).astype(np.float32)
    values[5, 5:9] = 0.0
    zeros = rewritten(lst, tmp_path / "zeros.tif", values, nodata=None)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(zeros), str(guidance), "-o", str(out), "--mask-implausible"]) == 0
    with rasterio.open(out) as got:
        copied = got.read(1)
        assert np.isnan(got.nodata) and np.isnan(copied[5, 5:9]).all()
        np.testing.assert_array_equal(np.delete(copied.ravel(), np.arange(5 * 48 + 5, 5 * 48 + 9)),
                                      np.delete(values.ravel(), np.arange(5 * 48 + 5, 5 * 48 + 9)))
    capsys.readouterr()
    assert run(["-q", "coregister", str(out), str(guidance), "-o", str(tmp_path / "again.tif")]) == 0


def test_a_plain_copy_keeps_the_files_own_metadata(scene, tmp_path: Path) -> None:
    lst, guidance = scene
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(lst), str(guidance), "-o", str(out)]) == 0
    with rasterio.open(out) as got, rasterio.open(lst) as src:
        np.testing.assert_array_equal(got.read(1), src.read(1))
        assert (got.scales, got.offsets, got.units) == (src.scales, src.offsets, src.units)
        assert np.isnan(got.nodata) and np.isnan(src.nodata)


def test_quicklook_draws_an_ingested_lst(tmp_path: Path, capsys) -> None:
    """QA: an ingest output's lst_source tag names the TIS product folder it came from; quicklook
    said that folder 'is not there' (exit 2). The LST is drawn, alone."""
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "12", "--seed", "2", "--products"]) == 0
    assert run(["-q", "ingest", str(tmp_path), "--out-dir", str(tmp_path / "in"), "--name", "s"]) == 0
    capsys.readouterr()
    png = tmp_path / "q.png"
    assert run(["quicklook", str(tmp_path / "in" / "s_lst.tif"), "-o", str(png)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{png}\n" and "error" not in captured.err and "warning" not in captured.err
    from pipelines.quicklook import figure_size

    header = png.read_bytes()[:24]  # the PNG signature, then IHDR: width and height
    with rasterio.open(tmp_path / "in" / "s_lst.tif") as src:
        assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == \
            figure_size(1200, src.height, src.width, 1)


# --- review R2 of 9ec4a26: the copy's nodata, the file's own mask, the unit tags ----------------

def centi_uint16(lst: Path, out: Path, step: float = 0.01) -> np.ndarray:
    """``lst`` as uint16 multiples of ``step`` K (no nodata declared); its stored values."""
    stored = np.round(np.nan_to_num(kelvin(lst)) / step).astype(np.uint16)
    rewritten(lst, out, stored, nodata=None)
    return stored


@pytest.mark.parametrize("declared", [["-9999", "0"], ["nan", "0"], ["0.5", "0"]])
def test_the_copys_nodata_is_the_first_declared_value_its_type_holds(scene, tmp_path: Path, capsys,
                                                                   declared: list[str]) -> None:
    """R2: a uint16 LST read with --nodata -9999 --nodata 0 failed as an internal error (-9999 is
    no uint16, exit 1); --nodata 0.5 --nodata 0 wrote a uint16 copy with nodata 0.5."""
    lst, guidance = scene
    src = tmp_path / "u16.tif"
    stored = centi_uint16(lst, src)
    out = tmp_path / "c.tif"
    options = [a for value in declared for a in ("--nodata", value)]
    assert run(["-q", "coregister", str(src), str(guidance), "-o", str(out), "--scale-factor", "0.01", *options]) == 0
    with rasterio.open(out) as got:
        assert (got.nodata, got.dtypes, got.scales) == (0.0, ("uint16",), (0.01,))
        np.testing.assert_array_equal(got.read(1), stored)  # the 0 fills already hold the nodata
    capsys.readouterr()
    assert run(["-q", "coregister", str(out), str(guidance), "-o", str(tmp_path / "again.tif")]) == 0  # no options


def test_no_declared_value_the_type_holds_falls_back_to_its_free_extreme(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    src = tmp_path / "u16.tif"
    stored = centi_uint16(lst, src)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(src), str(guidance), "-o", str(out), "--scale-factor", "0.01",
                "--nodata", "0.5", "--mask-implausible"]) == 0
    with rasterio.open(out) as got:
        assert got.nodata == 65535.0
        np.testing.assert_array_equal(got.read(1), np.where(stored == 0, 65535, stored))


def test_a_valid_pixel_holding_the_fallback_nodata_is_refused_not_made_nodata(scene, tmp_path: Path,
                                                                              capsys) -> None:
    """The scan sees only the guidance's footprint: a pixel beyond it holding the type's extreme
    (65535 x 0.005: a plausible 327.7 K) would have turned nodata in the copy."""
    lst, guidance = scene
    src = tmp_path / "u16.tif"
    stored = centi_uint16(lst, src, 0.005)
    stored[40, 3] = 65535
    rewritten(lst, src, stored, nodata=None)
    with rasterio.open(guidance) as g:
        top = {**g.profile, "height": 96}
        rows = g.read(window=rasterio.windows.Window(0, 0, g.width, 96))
        names = g.descriptions
    part = tmp_path / "top.tif"
    with rasterio.open(part, "w", **top) as dst:  # covers LST rows 0..31
        dst.write(rows)
        dst.descriptions = names
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(src), str(part), "-o", str(out), "--scale-factor", "0.005",
                "--mask-implausible"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src}: valid pixels hold 65535, the value its coregistered copy needs as nodata")
    assert err.endswith("(hint: add --nodata V, a uint16 value no valid pixel holds: it becomes the copy's nodata)\n")
    assert not out.exists()


def masked(lst: Path, out: Path, *, sidecar: bool) -> tuple[np.ndarray, np.ndarray]:
    """``lst`` (no nodata) with its top-left 10 x 10 pixels masked by a GDAL mask, internal or a
    ``.msk`` sidecar, holding 280 K under the mask; its values and mask."""
    values = np.nan_to_num(kelvin(lst), nan=290.0).astype(np.float32)
    values[:10, :10] = 280.0
    mask = np.full(values.shape, 255, np.uint8)
    mask[:10, :10] = 0
    with rasterio.open(lst) as src:
        profile = {**src.profile, "nodata": None}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=not sidecar):
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(values, 1)
            dst.write_mask(mask)
    assert Path(f"{out}.msk").exists() is sidecar
    return values, mask


@pytest.mark.parametrize("sidecar", [False, True])
def test_the_copy_keeps_the_lsts_own_mask(scene, tmp_path: Path, capsys, sidecar: bool) -> None:
    """R2: an LST whose nodata is a GDAL mask (no nodata value) was copied without it: its masked
    pixels read as 280 K data."""
    lst, guidance = scene
    src = tmp_path / "masked.tif"
    values, mask = masked(lst, src, sidecar=sidecar)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(src), str(guidance), "-o", str(out)]) == 0
    assert not Path(f"{out}.msk").exists()  # internal: it is renamed into place with the copy
    with rasterio.open(out) as got:
        assert got.nodata is None
        np.testing.assert_array_equal(got.read(1), values)
        np.testing.assert_array_equal(got.read_masks(1), mask)
    from pipelines.geotiff import open_raster, read_stored

    with open_raster(out) as got:
        assert int(np.ma.getmaskarray(read_stored(got, 1, rasterio.windows.Window(0, 0, 48, 48), out)).sum()) == 100


def test_pixels_the_options_drop_leave_a_masked_lsts_mask_too(scene, tmp_path: Path, capsys) -> None:
    lst, guidance = scene
    src = tmp_path / "masked.tif"
    values, mask = masked(lst, src, sidecar=False)
    values[20, 20:23] = 0.0
    with rasterio.open(src, "r+") as dst:
        dst.write(values, 1)
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(src), str(guidance), "-o", str(out), "--mask-implausible"]) == 0
    with rasterio.open(out) as got:
        copied, copied_mask = got.read(1), got.read_masks(1)
        assert np.isnan(got.nodata) and np.isnan(copied[20, 20:23]).all()
        assert (copied[:10, :10] == 280.0).all()  # the file's masked pixels keep their values
        mask[20, 20:23] = 0
        np.testing.assert_array_equal(copied_mask, mask)


def test_a_copy_read_in_another_unit_retags_the_datasets_units(scene, tmp_path: Path, capsys) -> None:
    """R2: a Celsius LST tagged units=K (dataset-level, as rioxarray writes it) read with --units
    celsius kept units=K beside its band unit degC."""
    lst, guidance = scene
    src = rewritten(lst, tmp_path / "c_tagged.tif", (kelvin(lst) - 273.15).astype(np.float32))
    with rasterio.open(src, "r+") as dst:
        dst.update_tags(units="K")
    out = tmp_path / "c.tif"
    assert run(["-q", "coregister", str(src), str(guidance), "-o", str(out), "--units", "celsius"]) == 0
    with rasterio.open(out) as got:
        assert (got.units, got.tags()["units"]) == (("degC",), "degC")


def test_ingest_names_a_wider_search_it_can_run() -> None:
    """R2: ingest has no --max-shift; its warning for an offset at the search edge names the
    coregister run that searches further."""
    from pipelines.coregister import ShiftEstimate
    from pipelines.ingest import IngestWarning, _report_placement

    edge = ShiftEstimate(0, -9, 0.9, 0.2, 9, False)
    with pytest.warns(IngestWarning) as caught:
        placed = _report_placement(edge, 10.0, ())
    assert placed.startswith("at the edge of the search, kept as delivered (best offset 90 m west")
    assert [str(w.message) for w in caught] == [
        f"TIS and MII: {placed}; to search further, run groklst coregister on the LST and guidance groklst "
        "ingest writes, with --max-shift 6"]

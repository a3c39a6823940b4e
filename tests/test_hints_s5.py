"""Task s5/f5: printed GDAL hints that misled or cost silently. A 0/1 mask whose nodata is 0, its
only clear value, flags every pixel (GDAL's rule): the refusal and the warp hint now say so and give
``gdal_edit.py -unsetnodata`` (before: "the mask flags every valid pixel" with no hint, or only the
rewrite route, which flags every pixel too). The guidance rewrite route for a masked file writes
uncompressed Float64 copies (3 x 9.6 GB for a 10-band 10980^2 tile) without a word: the hint now
states the space and the folder."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from pipelines.geotiff import FileFacts
from tests.test_gdal_hints_s3 import guidance_values, refusal, variant
from tests.test_guidance_rewrite_s4 import (HELD, masked, require_gdal_tools, route_as_printed, scene,  # noqa: F401
                                           typed_masked)
from tests.test_mask import mask, write
from tests.test_mask_values_s4 import X0, Y0, lst, masked_count


def zero_nodata_mask(path: Path, transform: Affine | None = None) -> tuple[Path, int]:
    """A uint8 0/1 mask over the 10 x 10 raster (30 m, or ``transform``) declaring nodata 0: (file, its 1s)."""
    data = np.zeros((10, 10), np.uint8)
    data[2:4, 3:6] = 1
    extra = {} if transform is None else {"transform": transform}
    return write(path, data, nodata=0, **extra), int(data.sum())


def test_a_0_1_mask_with_nodata_0_is_told_to_drop_the_tag(tmp_path: Path, capsys) -> None:
    """Same grid: every pixel flagged (exit 3) as before, now with the gdal_edit.py fix, which, run,
    leaves exactly the 6 cloud pixels flagged."""
    source, out = lst(tmp_path, shape=(10, 10)), tmp_path / "out.tif"
    flags, clouds = zero_nodata_mask(tmp_path / "m.tif")
    capsys.readouterr()
    assert mask(source, flags, "-o", out) == 3
    line = capsys.readouterr().err.strip()
    assert line.endswith(f"{source}: the mask flags every valid pixel (a value other than 0 in {flags}); nothing "
                         f"written (hint: {flags} declares nodata 0, the value that means clear in a 0/1 mask, so "
                         "every pixel is unknown and flagged: if its 0s mean clear, drop that nodata tag "
                         f"(gdal_edit.py -unsetnodata {flags}))"), line
    if shutil.which("gdal_edit.py") is None:
        pytest.skip("GDAL's gdal_edit.py is not installed: the printed command is not run")
    command = re.search(r"\((gdal_edit\.py -unsetnodata \S+)\)\)$", line).group(1)
    subprocess.run(shlex.split(command), check=True, capture_output=True)
    assert masked_count(capsys, source, flags, "-o", out) == clouds


def test_other_masks_get_no_such_words(tmp_path: Path, capsys) -> None:
    """A class mask (--values) with nodata 0 (Sentinel-2 SCL's NO_DATA) is right to call 0 unknown."""
    source, out = lst(tmp_path, shape=(10, 10)), tmp_path / "out.tif"
    flags, _ = zero_nodata_mask(tmp_path / "m.tif")
    capsys.readouterr()
    assert mask(source, flags, "-o", out, "--values", "1") == 3
    assert "(hint:" not in capsys.readouterr().err


def test_the_nesting_refusal_of_such_a_mask_names_the_tag(tmp_path: Path, capsys) -> None:
    """A 20 m mask over the 30 m raster: the hint's long route would flag every pixel too, so the refusal
    names the tag before the hint."""
    source, out = lst(tmp_path, shape=(10, 10)), tmp_path / "out.tif"
    flags, _ = zero_nodata_mask(tmp_path / "m.tif", Affine(20, 0, X0, 0, -20, Y0))
    capsys.readouterr()
    assert mask(source, flags, "-o", out) == 2
    line = capsys.readouterr().err.strip()
    assert (f"{flags}: does not nest in the grid of {source} (pixel size 20 x 20 m against 30 x 30 m: one must be a "
            "whole multiple of the other, the same in x and y); also, "
            f"{flags} declares nodata 0, the value that means clear in a 0/1 mask, so every pixel is unknown "
            f"and flagged: if its 0s mean clear, drop that nodata tag (gdal_edit.py -unsetnodata {flags}) first (hint: "
            "use the mask delivered with the data, or copy it on its own grid") in line, line


def test_a_mask_in_an_archive_gets_a_copy_without_the_tag(tmp_path: Path, capsys, monkeypatch) -> None:
    """gdal_edit.py cannot change a file inside a zip: the hint writes a copy without the tag instead."""
    import zipfile
    monkeypatch.chdir(tmp_path)
    source, out = lst(tmp_path, shape=(10, 10)), tmp_path / "out.tif"
    flags, clouds = zero_nodata_mask(tmp_path / "m.tif")
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as archive:
        archive.write(flags, "m.tif")
    capsys.readouterr()
    assert mask(source, "/vsizip/m.zip/m.tif", "-o", out) == 3
    line = capsys.readouterr().err.strip()
    assert ("drop that nodata tag (gdal_translate -a_nodata none /vsizip/m.zip/m.tif mask_clear.tif, then give "
            "mask_clear.tif))") in line, line
    if shutil.which("gdal_translate") is None:
        pytest.skip("GDAL's gdal_translate is not installed: the printed command is not run")
    command = re.search(r"\((gdal_translate -a_nodata none \S+ mask_clear\.tif)", line).group(1)
    subprocess.run(shlex.split(command), check=True, capture_output=True)
    assert masked_count(capsys, source, "mask_clear.tif", "-o", out) == clouds


TILE = 10 * 10980 * 10980  # a Sentinel-2 tile's 10 bands: 9.6 GB per Float64 copy


@pytest.mark.parametrize("facts, expected", [
    (FileFacts(masked=True, scaling=((1.0, 0.0),) * 10, values=TILE),
     " (disk: this writes MASKED.tif and FIXED.tif as uncompressed Float64 into the folder it is run in, 9.6 GB "
     "each: 19.3 GB free space needed there; delete MASKED.tif once FIXED.tif is written)"),
    (FileFacts(masked=True, scaling=((1.0, 0.0),) * 9 + ((2.0, 0.0),), beyond_bands=(10,), values=TILE),
     " (disk: this writes MASKED.tif, UNSCALED.tif and FIXED.tif as uncompressed Float64 into the folder it is run "
     "in, 9.6 GB each: 28.9 GB free space needed there; delete MASKED.tif and UNSCALED.tif once FIXED.tif is "
     "written)"),
    (FileFacts(scaling=((1.0, 0.0),), calc_type="Float64", values=10 * 1000 * 1000),
     " (disk: this writes FIXED.tif as uncompressed Float64 into the folder it is run in, 80.0 MB free space "
     "needed there)"),
])
def test_the_rewrite_states_the_space_its_float64_copies_need(facts: FileFacts, expected: str) -> None:
    """Sizes from the file's width x height x bands, 8 bytes each, for every Float64 file the route writes."""
    assert facts.rewrite().endswith(expected), facts.rewrite()


def test_a_float32_rewrite_costs_no_words(tmp_path: Path) -> None:
    """gdal_calc.py on a float32 file writes FIXED.tif as float32: no scratch copy, no note."""
    assert "disk:" not in FileFacts(scaling=((1.0, 0.0),), values=TILE).rewrite()


def test_a_masked_guidance_refusal_states_its_scratch(scene, tmp_path: Path, capsys) -> None:  # noqa: F811
    """The 10-band 120 x 120 guidance with a mask and an inf: two 1.2 MB Float64 files, as written."""
    lst_path, guidance = scene
    bad = masked(variant(guidance, tmp_path / "bad.tif", {(3, 10, 12): np.inf}))
    line = refusal(lst_path, bad, tmp_path, capsys)
    assert ("(disk: this writes MASKED.tif and FIXED.tif as uncompressed Float64 into the folder it is run in, "
            "1.2 MB each: 2.3 MB free space needed there; delete MASKED.tif once FIXED.tif is written)") in line, line
    fixed = route_as_printed(line, bad, tmp_path)
    for path in (tmp_path / "masked.tif", fixed):
        with rasterio.open(path) as written:
            assert written.dtypes == ("float64",) * 10 and path.stat().st_size >= 10 * 120 * 120 * 8
    assert np.isnan(guidance_values(fixed)[2, 10, 12])


def test_a_float32_nodata_float32_cannot_hold_survives_the_float64_copy(scene, tmp_path: Path,  # noqa: F811
                                                                        capsys) -> None:
    """A float32 file declaring nodata 0.1 holds 0.10000000149011612 in those pixels; the Float64 copy
    keeps that number, so the hint must declare it, not 0.1, or the 100 nodata pixels read as data."""
    lst_path, guidance = scene
    bad, stored = typed_masked(guidance, tmp_path / "bad.tif", "float32", 0.1)
    line = refusal(lst_path, bad, tmp_path, capsys)
    assert "gdal_edit.py -a_nodata 0.10000000149011612 MASKED.tif" in line, line
    require_gdal_tools()
    values = guidance_values(route_as_printed(line, bad, tmp_path))
    np.testing.assert_array_equal(np.isnan(values).sum(axis=(1, 2)), [100] * 6 + [101, 200] + [100] * 2)
    assert np.isnan(values[7, HELD[0], HELD[1]]).all()

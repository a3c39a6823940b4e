"""Review round 2, hints that led nowhere.

A compare candidate holding two fill values was told to declare the other one as nodata, each
time: a GeoTIFF holds one nodata, and compare's LST options reach only the reference, so the
hints went round in circles. Where the file already declares a nodata, the hint now sets the
second fill to it with ``groklst mask`` on the file itself (a copy keeping scale/offset), a
command that works when pasted. And ``groklst guidance`` called a source placed only by GCPs
"raster has no CRS" where downscale says what it is: no geotransform, only GCPs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint

from groklst_cli.app import run

LANDSAT = (0.00341802, 149.0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scene")
    assert run(["-q", "sample-scene", str(folder / "s"), "--size", "60"]) == 0
    return folder / "s" / "heihe_demo_lst.tif"


def two_fills(reference: Path, out: Path, nodata: int, scaled: bool = True, second: int = 65535) -> Path:
    """The reference as Landsat C2 ST digital numbers (scale/offset declared when ``scaled``) with
    rows 0..2 at 0 and rows 5..7 at ``second``, declaring ``nodata``."""
    with rasterio.open(reference) as src:
        kelvin, profile = src.read(1), src.profile
    dn = np.round((np.nan_to_num(kelvin, nan=300.0) - LANDSAT[1]) / LANDSAT[0]).astype("uint16")
    dn[0:3], dn[5:8] = 0, second
    profile.update(dtype="uint16", nodata=nodata)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(dn, 1)
        if scaled:
            dst.scales, dst.offsets = [LANDSAT[0]], [LANDSAT[1]]
    return out


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def compare_refused(reference: Path, cand: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a compare of ``cand`` that is refused (exit 2)."""
    assert run(["-q", "compare", str(reference), str(cand)]) == 2
    return one_error(capsys)


def paste_mask_hint(line: str) -> Path:
    """Run the ``groklst mask ...`` command the hint gives, as pasted; the copy it wrote."""
    argv = shlex.split(re.search(r"groklst (mask .*? -o \S+?)[,)]", line).group(1))
    assert run(argv) == 0
    return Path(argv[-1])


def test_a_second_fill_at_the_type_extreme_is_set_to_the_declared_nodata(reference: Path, tmp_path: Path,
                                                                        capsys) -> None:
    cand = two_fills(reference, tmp_path / "cand.tif", nodata=0)
    line = compare_refused(reference, cand, capsys)
    assert line == (
        f"error: {cand}: the stored value 65535 (read as 373 K), the largest its uint16 data type holds, fills "
        "180 of 3,420 valid pixels (5.3%) and is not declared as nodata (hint: no product stores a measurement "
        "at its data type's extreme: it looks like a fill value or a saturation flag: the file already declares "
        f"nodata 0 (a GeoTIFF holds one), so set these pixels to it: groklst mask {cand} {cand} --values 65535 "
        f"-o {tmp_path / 'cand_masked.tif'})")
    copy = paste_mask_hint(line)
    with rasterio.open(copy) as src:
        assert (src.nodata, src.scales, src.offsets) == (0, (LANDSAT[0],), (LANDSAT[1],))
        assert int(np.count_nonzero(src.read(1) == 65535)) == 0
    capsys.readouterr()
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_a_second_fill_read_as_149_k_is_set_to_the_declared_nodata(reference: Path, tmp_path: Path, capsys) -> None:
    cand = two_fills(reference, tmp_path / "cand.tif", nodata=65535)
    line = compare_refused(reference, cand, capsys)
    assert line == (
        f"error: {cand}: LST values 149..324.464 K are not all plausible land-surface temperatures (150..400 K; "
        "about 5.3% outside) (hint: the value 149 fills 5.3% of the scene and looks like a fill value: the file "
        "already declares nodata 65535 (a GeoTIFF holds one), so set these pixels to it: groklst mask "
        f"{cand} {cand} --values 0 -o {tmp_path / 'cand_masked.tif'})")
    copy = paste_mask_hint(line)
    capsys.readouterr()
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_raw_numbers_with_a_second_fill_are_masked_then_declared_in_the_copy(reference: Path, tmp_path: Path,
                                                                            capsys) -> None:
    cand = two_fills(reference, tmp_path / "dn.tif", nodata=0, scaled=False, second=1)
    line = compare_refused(reference, cand, capsys)
    copy = tmp_path / "dn_masked.tif"
    assert line == (
        f"error: {cand}: stored values 1..51335 (no scale/offset declared) are not all plausible land-surface "
        "temperatures (150..400 K; about 100.0% outside) (hint: the value 1 fills 5.3% of the scene and the rest "
        "look like unscaled digital numbers: the file already declares nodata 0 (a GeoTIFF holds one): set the "
        f"fill value to it, groklst mask {cand} {cand} --values 1 -o {copy}, then declare the encoding in the "
        f"copy: gdal_edit.py -scale 0.00341802 -offset 149.0 {copy} (Landsat Collection-2 ST: 288.1..324.5 K))")
    assert paste_mask_hint(line) == copy
    with rasterio.open(copy, "r+") as dst:  # what the gdal_edit.py step does
        dst.scales, dst.offsets = [LANDSAT[0]], [LANDSAT[1]]
    capsys.readouterr()
    assert run(["-q", "compare", str(reference), str(copy)]) == 0


def test_a_file_without_nodata_is_still_told_to_declare_the_fill(reference: Path, tmp_path: Path, capsys) -> None:
    cand = two_fills(reference, tmp_path / "cand.tif", nodata=None)
    assert compare_refused(reference, cand, capsys).endswith(
        f"saturation flag: declare it as the file's nodata: gdal_edit.py -a_nodata 65535 {cand})")


def gcp_source(reference: Path, out: Path) -> Path:
    """A 3x finer float band placed only by four GCPs (no geotransform, no CRS of its own)."""
    with rasterio.open(reference) as src:
        t, crs, width, height = src.transform, src.crs, src.width, src.height
    rows, cols = height * 3, width * 3
    gcps = [GroundControlPoint(r, c, *(t @ (c / 3, r / 3))) for r, c in
            [(0, 0), (0, cols), (rows, 0), (rows, cols)]]
    with rasterio.open(out, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       gcps=gcps, crs=crs) as dst:
        dst.write(np.full((rows, cols), 0.3, dtype="float32"), 1)
    with rasterio.open(out) as placed:
        assert placed.crs is None and len(placed.gcps[0]) == 4
    return out


GCP_PROBLEM = ("has no geotransform, only GCPs (hint: warp it onto a grid first: gdalwarp -r near IN.tif "
               "OUT.tif (onto the GCPs' CRS))")


def test_guidance_names_a_gcp_source_as_downscale_does(reference: Path, tmp_path: Path, capsys) -> None:
    source = gcp_source(reference, tmp_path / "gcp.tif")
    out = tmp_path / "g.tif"
    assert run(["-q", "guidance", str(reference), str(source), "-o", str(out), "--scale", "3"]) == 2
    assert one_error(capsys) == f"error: {source}: {GCP_PROBLEM}"
    assert not out.exists()


def test_downscale_align_names_a_gcp_guidance_so(reference: Path, tmp_path: Path, capsys) -> None:
    source = gcp_source(reference, tmp_path / "gcp.tif")
    assert run(["-q", "downscale", str(reference), "-g", str(source), "-o", str(tmp_path / "d.tif"),
                "--align"]) == 2
    assert one_error(capsys) == f"error: {source}: {GCP_PROBLEM} (scene {reference})"

"""QA s4 F4: compare's gdalwarp hints work when pasted for a streamed reference and an archived
candidate. A reference read from a stream (``cat ref.tif | groklst compare /dev/stdin cand.tif``) in a
CRS without an EPSG code got ``gdalsrsinfo -o wkt /dev/stdin > ...``, which reads the stream compare
had already read; it is now saved to ``REF.tif`` first. A candidate inside an archive
(``/vsizip/a.zip/cand.tif``, ``/vsitar/``, ``/vsigzip/``) got an output inside the archive, which
gdalwarp cannot write; it is now a plain file in the current folder."""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio.warp
from rasterio.crs import CRS

from groklst_cli.app import run
from tests.test_compare import raster
from tests.test_nest_hints_s3 import X0, Y0, compare_json, field, only_error, run_printed

GROKLST = shlex.join([sys.executable, "-m", "groklst_cli", "--threads", "1"])
CUSTOM = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9995 +x_0=500000 +y_0=0 +datum=WGS84 +units=m")


def piped_compare(folder: Path, reference: str, candidate: str, *options: str) -> subprocess.CompletedProcess:
    """``cat REFERENCE | groklst compare /dev/stdin CANDIDATE`` run by a shell in ``folder``."""
    command = f"cat {reference} | {GROKLST} -q compare {shlex.join(options)} /dev/stdin {candidate}"
    return subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True)


def test_a_streamed_reference_is_saved_to_a_file_before_gdalsrsinfo_reads_it(tmp_path: Path) -> None:
    raster(tmp_path / "ref.tif", np.full((20, 20), 300.0), origin=(X0, Y0), crs=CUSTOM)
    (x,), (y,) = rasterio.warp.transform(CUSTOM, CRS.from_epsg(32632), [X0], [Y0])
    raster(tmp_path / "cand.tif", np.full((30, 30), 300.0), origin=(round(x) - 150, round(y) + 150), nodata=-9999.0)
    refused = piped_compare(tmp_path, "ref.tif", "cand.tif")
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    assert "/dev/stdin >" not in line, line
    assert ("(hint: save the reference's stream to a file (REF.tif) first, then write the reference's CRS "
            "(gdalsrsinfo -o wkt REF.tif > reference_crs.wkt) and warp it onto a grid that nests: gdalwarp "
            "-t_srs reference_crs.wkt -r bilinear -te 396585 5762595 397455 5763465 -tr 30 30 cand.tif "
            "cand_on_grid.tif, then compare that ") in line, line
    if shutil.which("gdalsrsinfo") is None or shutil.which("gdalwarp") is None:
        pytest.skip("GDAL's tools are not installed: the printed commands are not run")
    shutil.copyfile(tmp_path / "ref.tif", tmp_path / "REF.tif")  # what saving the stream gives
    srsinfo = re.search(r"\((gdalsrsinfo .*?)\)", line).group(1)
    subprocess.run(srsinfo, shell=True, check=True, cwd=tmp_path)
    warp = re.search(r"(gdalwarp .*?), then compare", line).group(1)
    subprocess.run(["gdalwarp", "-q", *shlex.split(warp)[1:]], check=True, cwd=tmp_path)
    scored = piped_compare(tmp_path, "ref.tif", "cand_on_grid.tif", "--json")
    assert scored.returncode == 0, scored.stderr
    assert '"rmse": 0.0' in scored.stdout, scored.stdout


def archived(tmp_path: Path, kind: str, candidate: Path) -> str:
    """The GDAL name of ``candidate`` put into an archive of ``kind`` in ``tmp_path``."""
    if kind == "zip":
        with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
            archive.write(candidate, "in/cand.tif")
        return "/vsizip/archive.zip/in/cand.tif"
    if kind == "absolute zip":  # pathlib folds /vsizip//abs into /vsizip/abs, which GDAL reads relative
        with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
            archive.write(candidate, "cand.tif")
        return f"/vsizip/{tmp_path / 'archive.zip'}/cand.tif"
    if kind == "tar":
        with tarfile.open(tmp_path / "archive.tar", "w") as archive:
            archive.add(candidate, "cand.tif")
        return "/vsitar/archive.tar/cand.tif"
    (tmp_path / "cand.tif.gz").write_bytes(gzip.compress(candidate.read_bytes()))
    return "/vsigzip/cand.tif.gz"


@pytest.mark.parametrize("kind", ["zip", "absolute zip", "tar", "gzip"])
def test_an_archived_candidate_is_warped_into_the_current_folder(tmp_path: Path, capsys, monkeypatch,
                                                                 kind: str) -> None:
    monkeypatch.chdir(tmp_path)
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    out = tmp_path / "out"
    out.mkdir()
    name = archived(tmp_path, kind, raster(out / "cand.tif", field((40, 40), (30, 30), origin), origin=origin))
    capsys.readouterr()
    assert run(["compare", "ref.tif", name]) == 2
    line = only_error(capsys)
    assert line.endswith(
        "(hint: warp it onto a grid that nests: gdalwarp -r bilinear -te 396735 5762115 397905 5763285 -tr 30 30 "
        f"{name} cand_on_grid.tif, then compare that (bilinear: its pixel size stays and the grid only moves; "
        "average where pixels grow))"), line
    run_printed(line, ", then compare")
    assert compare_json(capsys, reference, tmp_path / "cand_on_grid.tif")["rows"][0]["rmse"] < 1e-3

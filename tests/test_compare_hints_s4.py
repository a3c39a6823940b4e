"""QA s4 F4 and F9: compare's gdalwarp hints work when pasted for a streamed reference and an archived
candidate. A reference read from a stream (``cat ref.tif | groklst compare /dev/stdin cand.tif``) in a
CRS without an EPSG code got ``gdalsrsinfo -o wkt /dev/stdin > ...``, which reads the stream compare
had already read; it is now saved to ``REF.tif`` first. A candidate inside an archive
(``/vsizip/a.zip/cand.tif``, ``/vsitar/``, ``/vsigzip/``) got an output inside the archive, which
gdalwarp cannot write; it is now a plain file in the current folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.crs import CRS

from groklst_cli.app import run
from pipelines.compare import _streamed
from tests.test_compare import raster
from tests.test_nest_hints_s3 import X0, Y0, compare_json, field, only_error, run_printed

GROKLST = shlex.join([sys.executable, "-m", "groklst_cli", "--threads", "1"])
CUSTOM = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9995 +x_0=500000 +y_0=0 +datum=WGS84 +units=m")


def piped_compare(folder: Path, reference: str, candidate: str, *options: str) -> subprocess.CompletedProcess:
    """``cat REFERENCE | groklst compare /dev/stdin CANDIDATE`` run by a shell in ``folder``."""
    command = f"cat {reference} | {GROKLST} -q compare {shlex.join(options)} /dev/stdin {candidate}"
    return subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True)


def custom_crs_pair(folder: Path) -> None:
    """``ref.tif`` in a CRS without an EPSG code and ``cand.tif`` in EPSG:32632 over it (nodata -9999)."""
    raster(folder / "ref.tif", np.full((20, 20), 300.0), origin=(X0, Y0), crs=CUSTOM)
    (x,), (y,) = rasterio.warp.transform(CUSTOM, CRS.from_epsg(32632), [X0], [Y0])
    raster(folder / "cand.tif", np.full((30, 30), 300.0), origin=(round(x) - 150, round(y) + 150), nodata=-9999.0)


def test_a_streamed_reference_is_saved_to_a_file_before_gdalsrsinfo_reads_it(tmp_path: Path) -> None:
    custom_crs_pair(tmp_path)
    refused = piped_compare(tmp_path, "ref.tif", "cand.tif")
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    assert "/dev/stdin >" not in line, line
    assert ("(hint: save the reference's stream (/dev/stdin) to a file (REF.tif) first, then write the reference's CRS "
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


def on_grid(words: str, absolute: str) -> str:
    """The output a hint names for a GDAL name: its readable ``words`` and the first 6 hex digits of the
    SHA-256 of the name with its local file absolute (``absolute``), which tell apart names of like words."""
    return f"{words}_{hashlib.sha256(absolute.encode()).hexdigest()[:6]}_on_grid.tif"


def archived(tmp_path: Path, kind: str, candidate: Path) -> tuple[str, str]:
    """The GDAL name of ``candidate`` put into an archive of ``kind`` in ``tmp_path``, and the output the hint
    names (after the archive's and the member's words, and the name's hash)."""
    if kind == "zip":
        with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
            archive.write(candidate, "in/cand.tif")
        absolute = f"/vsizip/{tmp_path}/archive.zip/in/cand.tif"
        return "/vsizip/archive.zip/in/cand.tif", on_grid("archive_in_cand", absolute)
    if kind == "absolute zip":  # pathlib folds /vsizip//abs into /vsizip/abs, which GDAL reads relative
        with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
            archive.write(candidate, "cand.tif")
        absolute = f"/vsizip/{tmp_path / 'archive.zip'}/cand.tif"
        return absolute, on_grid("archive_cand", absolute)
    if kind == "tar":
        with tarfile.open(tmp_path / "archive.tar", "w") as archive:
            archive.add(candidate, "cand.tif")
        return "/vsitar/archive.tar/cand.tif", on_grid("archive_cand", f"/vsitar/{tmp_path}/archive.tar/cand.tif")
    (tmp_path / "cand.tif.gz").write_bytes(gzip.compress(candidate.read_bytes()))
    return "/vsigzip/cand.tif.gz", on_grid("cand", f"/vsigzip/{tmp_path}/cand.tif.gz")


@pytest.mark.parametrize("kind", ["zip", "absolute zip", "tar", "gzip"])
def test_an_archived_candidate_is_warped_into_the_current_folder(tmp_path: Path, capsys, monkeypatch,
                                                                 kind: str) -> None:
    monkeypatch.chdir(tmp_path)
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    out = tmp_path / "out"
    out.mkdir()
    name, output = archived(tmp_path, kind, raster(out / "cand.tif", field((40, 40), (30, 30), origin), origin=origin))
    capsys.readouterr()
    assert run(["compare", "ref.tif", name]) == 2
    line = only_error(capsys)
    assert line.endswith(
        "(hint: warp it onto a grid that nests: gdalwarp -r bilinear -te 396735 5762115 397905 5763285 -tr 30 30 "
        f"{name} {output}, then compare that (bilinear: its pixel size stays and the grid only moves; "
        "average where pixels grow))"), line
    run_printed(line, ", then compare")
    assert compare_json(capsys, reference, tmp_path / output)["rows"][0]["rmse"] < 1e-3


# F9: a regular file under /dev/shm is no stream; an absolute archive's integer candidate keeps its zeros;
# members of two archives with one name, and two streams, are told apart.


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm here")
def test_files_under_dev_shm_are_named_in_the_hint_not_saved_from_a_stream(tmp_path: Path) -> None:
    """A reference and a candidate in /dev/shm got 'save the reference's stream to a file (REF.tif)'
    and 'IN.tif': /dev/shm is tmpfs, its files are read and written like any other."""
    folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        custom_crs_pair(folder)
        done = subprocess.run([*shlex.split(GROKLST), "-q", "compare", "ref.tif", "cand.tif"], cwd=folder,
                              capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert ("(hint: write the reference's CRS (gdalsrsinfo -o wkt ref.tif > reference_crs.wkt) and warp it "
                "onto a grid that nests: gdalwarp -t_srs reference_crs.wkt -r bilinear -te 396585 5762595 397455 "
                "5763465 -tr 30 30 cand.tif cand_on_grid.tif, then compare that ") in done.stderr, done.stderr
        absolute = subprocess.run([*shlex.split(GROKLST), "-q", "compare", str(folder / "ref.tif"),
                                   str(folder / "cand.tif")], capture_output=True, text=True)
        assert f"gdalsrsinfo -o wkt {folder / 'ref.tif'} > reference_crs.wkt" in absolute.stderr, absolute.stderr
        assert f"{folder / 'cand.tif'} {folder / 'cand_on_grid.tif'}, then compare" in absolute.stderr
        if shutil.which("gdalsrsinfo") is None or shutil.which("gdalwarp") is None:
            pytest.skip("GDAL's tools are not installed: the printed commands are not run")
        line = done.stderr.strip()
        subprocess.run(re.search(r"\((gdalsrsinfo .*?)\)", line).group(1), shell=True, check=True, cwd=folder)
        warp = re.search(r"(gdalwarp .*?), then compare", line).group(1)
        subprocess.run(["gdalwarp", "-q", *shlex.split(warp)[1:]], check=True, cwd=folder)
        scored = subprocess.run([*shlex.split(GROKLST), "-q", "compare", "--json", "ref.tif", "cand_on_grid.tif"],
                                cwd=folder, capture_output=True, text=True)
        assert scored.returncode == 0, scored.stderr
        assert '"rmse": 0.0' in scored.stdout, scored.stdout
    finally:
        shutil.rmtree(folder)


def test_only_streams_count_as_streams(tmp_path: Path) -> None:
    """Pipes, character devices and /dev/stdin-like names are streams; files (under /dev/shm too) and GDAL
    names are not."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for stream in (fifo, Path("/dev/null"), Path("/dev/stdin"), Path("/dev/fd/63"), Path("/proc/self/fd/0")):
        assert _streamed(stream), stream
    for file in (tmp_path, Path("/dev/shm/lst.tif"), Path("/vsizip/a.zip/lst.tif"), Path("missing.tif")):
        assert not _streamed(file), file


def int16_candidate(tmp_path: Path) -> Path:
    """A 30 m Kelvin reference in EPSG:32632 and, zipped as a.zip, an Int16 Celsius candidate in EPSG:32631
    declaring no nodata, half of its pixels a real 0 degC."""
    raster(tmp_path / "ref.tif", np.full((20, 20), 285.0), origin=(X0, Y0))
    (x,), (y,) = rasterio.warp.transform(CRS.from_epsg(32632), CRS.from_epsg(32631), [X0], [Y0])
    values = np.tile(np.array([[0, 20]], dtype=np.int16), (30, 15))
    raster(tmp_path / "cand.tif", values, origin=(round(x) - 150, round(y) + 150), crs=CRS.from_epsg(32631),
           dtype="int16")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.write(tmp_path / "cand.tif", "cand.tif")
    return tmp_path / "ref.tif"


def test_an_integer_candidate_in_an_absolute_archive_keeps_its_zeros(tmp_path: Path, capsys, monkeypatch) -> None:
    """``/vsizip/$PWD/a.zip/cand.tif`` got ``-dstnodata nan``, which GDAL makes 0 for Int16: its real 0 degC
    pixels were then nodata and left out of the scores; ``/vsizip/a.zip/cand.tif`` and ``cand.tif`` got -32768."""
    monkeypatch.chdir(tmp_path)
    reference = int16_candidate(tmp_path)
    absolute = f"/vsizip/{tmp_path / 'a.zip'}/cand.tif"
    hints = {}
    for name in (absolute, "/vsizip/a.zip/cand.tif", "cand.tif"):
        capsys.readouterr()
        assert run(["compare", "ref.tif", name]) == 2
        hints[name] = only_error(capsys)
        assert hints[name].startswith(f"error: {name}: CRS EPSG:32631 differs from ref.tif's (EPSG:32632) (hint: "
                                      "warp it onto a grid that nests: gdalwarp -t_srs EPSG:32632 -dstnodata -32768 "
                                      "-r bilinear -te "), hints[name]
    output = on_grid("a_cand", f"/vsizip/{tmp_path}/a.zip/cand.tif")
    assert f" {absolute} {output}, then compare that" in hints[absolute]
    run_printed(hints[absolute], ", then compare")
    with rasterio.open(tmp_path / output) as warped:
        assert warped.nodata == -32768
    assert compare_json(capsys, reference, tmp_path / output)["pixels"] == 400  # its zeros too


def test_members_of_two_archives_with_one_name_are_warped_to_two_files(tmp_path: Path, capsys, monkeypatch) -> None:
    """``/vsizip/d1.zip/lst.tif`` and ``/vsizip/d2.zip/lst.tif`` were both warped to lst_on_grid.tif: the second
    pasted gdalwarp failed on the first's output."""
    monkeypatch.chdir(tmp_path)
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    raster(tmp_path / "lst.tif", field((40, 40), (30, 30), origin), origin=origin)
    lines = []
    for archive in ("d1", "d2"):
        with zipfile.ZipFile(tmp_path / f"{archive}.zip", "w") as zipped:
            zipped.write(tmp_path / "lst.tif", "lst.tif")
        capsys.readouterr()
        assert run(["compare", "ref.tif", f"/vsizip/{archive}.zip/lst.tif"]) == 2
        lines.append(only_error(capsys))
        output = on_grid(f"{archive}_lst", f"/vsizip/{tmp_path}/{archive}.zip/lst.tif")
        assert f" /vsizip/{archive}.zip/lst.tif {output}, then compare that" in lines[-1], lines[-1]
    for line in lines:
        run_printed(line, ", then compare")
    outputs = [on_grid(f"{a}_lst", f"/vsizip/{tmp_path}/{a}.zip/lst.tif") for a in ("d1", "d2")]
    rows = compare_json(capsys, reference, *(tmp_path / output for output in outputs))["rows"]
    assert [row["rmse"] < 1e-3 for row in rows] == [True, True]


def test_when_both_rasters_are_streamed_the_hint_names_each_stream(tmp_path: Path) -> None:
    """``cat ref.tif | groklst compare /dev/stdin <(cat cand.tif)`` said 'save the reference's stream ... and
    save the stream': which one was left to guess."""
    custom_crs_pair(tmp_path)
    refused = piped_compare(tmp_path, "ref.tif", "<(cat cand.tif)")
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    stream = re.search(r"^error: (/dev/fd/\d+|/proc/self/fd/\d+): CRS ", line).group(1)
    assert ("(hint: save the reference's stream (/dev/stdin) to a file (REF.tif) first, then write the reference's "
            "CRS (gdalsrsinfo -o wkt REF.tif > reference_crs.wkt) and save the candidate's stream "
            f"({stream}) to a file (IN.tif) first, then warp it onto a grid that nests: gdalwarp -t_srs "
            "reference_crs.wkt -r bilinear -te 396585 5762595 397455 5763465 -tr 30 30 IN.tif "
            "IN_on_grid.tif, then compare that ") in line, line


# F16: a piped integer candidate's -dstnodata, archives of one name in two folders, the nesting error's
# typed name, and two piped candidates.


def shell_compare(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``groklst compare ARGUMENTS`` run by bash in ``folder`` (``<(cat c.tif)`` given as it is)."""
    command = f"{GROKLST} -q compare {' '.join(arguments)}"
    return subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True)


def warp_printed(line: str, folder: Path) -> None:
    """Run the gdalwarp command a hint prints in ``folder``; skipped where gdalwarp is absent."""
    if shutil.which("gdalwarp") is None:
        pytest.skip("gdalwarp is not installed: the printed command is not run")
    command = re.search(r"(gdalwarp .*?), then compare", line).group(1)
    subprocess.run(["gdalwarp", "-q", *shlex.split(command)[1:]], check=True, cwd=folder)


def test_a_piped_integer_candidate_gets_its_types_minimum_not_nan(tmp_path: Path) -> None:
    """``groklst compare ref.tif <(cat cand.tif)``, cand.tif Int16 in another CRS declaring no nodata, got
    ``-dstnodata nan``, which GDAL makes 0 for Int16: real 0 degC pixels were then shifted to -1 by the warp.
    compare has read the stream, so it knows its type: -32768, as for the file."""
    int16_candidate(tmp_path)
    piped = shell_compare(tmp_path, "ref.tif", "<(cat cand.tif)")
    assert piped.returncode == 2, piped.stderr
    line = piped.stderr.strip()
    assert re.search(r"save the candidate's stream \(\S+\) to a file \(IN\.tif\) first, then warp it onto a grid "
                     r"that nests: gdalwarp -t_srs EPSG:32632 -dstnodata -32768 -r bilinear -te .* IN\.tif "
                     r"IN_on_grid\.tif, then compare that", line), line
    shutil.copyfile(tmp_path / "cand.tif", tmp_path / "IN.tif")  # the stream saved, as the hint says
    warp_printed(line, tmp_path)
    with rasterio.open(tmp_path / "IN_on_grid.tif") as warped:
        assert warped.nodata == -32768
        values = warped.read(1)
    valid = values[values != -32768]
    assert (valid == 0).any() and valid.min() == 0, np.unique(valid)  # no -1: the zeros kept as they are
    scored = shell_compare(tmp_path, "--json", "ref.tif", "IN_on_grid.tif")
    assert scored.returncode == 0, scored.stderr
    assert '"pixels": 400' in scored.stdout, scored.stdout


def two_archives(tmp_path: Path, folders: tuple[str, str]) -> Path:
    """A Landsat-grid reference ``ref.tif`` in ``tmp_path`` and, in each of ``folders`` (below it), a
    ``d1.zip`` holding ``lst.tif`` shifted off its grid, the second 5 K warmer."""
    reference = raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    for folder, warmer in zip(folders, (0.0, 5.0)):
        (tmp_path / folder).mkdir(parents=True)
        lst = raster(tmp_path / folder / "lst.tif", field((40, 40), (30, 30), origin) + warmer, origin=origin)
        with zipfile.ZipFile(tmp_path / folder / "d1.zip", "w") as archive:
            archive.write(lst, "lst.tif")
    return reference


def test_archives_of_one_name_in_two_folders_are_warped_to_two_files(tmp_path: Path, capsys, monkeypatch) -> None:
    """``/vsizip/s1/d1.zip/lst.tif`` and ``/vsizip/s2/d1.zip/lst.tif`` (per-scene folders each holding an archive
    of one name) were both warped to d1_lst_on_grid.tif: the second pasted gdalwarp failed, the file existed."""
    monkeypatch.chdir(tmp_path)
    reference = two_archives(tmp_path, ("s1", "s2"))
    lines = []
    for folder in ("s1", "s2"):
        capsys.readouterr()
        assert run(["compare", "ref.tif", f"/vsizip/{folder}/d1.zip/lst.tif"]) == 2
        lines.append(only_error(capsys))
        output = on_grid(f"{folder}_d1_lst", f"/vsizip/{tmp_path}/{folder}/d1.zip/lst.tif")
        assert f" /vsizip/{folder}/d1.zip/lst.tif {output}, then compare that" in lines[-1]
    for line in lines:
        run_printed(line, ", then compare")
    outputs = [on_grid(f"{s}_d1_lst", f"/vsizip/{tmp_path}/{s}/d1.zip/lst.tif") for s in ("s1", "s2")]
    rows = compare_json(capsys, reference, *(tmp_path / output for output in outputs))
    assert [round(row["bias"], 3) for row in rows["rows"]] == [0.0, 5.0]


def test_archives_outside_the_current_folder_are_told_apart_by_a_hash(tmp_path: Path, capsys, monkeypatch) -> None:
    """Outside the current folder, ``/vsizip//a/x/d1.zip`` and ``/vsizip//b/x/d1.zip`` share their folder's name:
    a short hash of the name (its archive absolute) tells them apart, and it stays the same from run to run."""
    two_archives(tmp_path, ("a/x", "b/x"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    outputs = []
    for folder in ("a", "b", "a"):
        name = f"/vsizip/{tmp_path / folder / 'x' / 'd1.zip'}/lst.tif"
        capsys.readouterr()
        assert run(["compare", str(tmp_path / "ref.tif"), name]) == 2
        line = only_error(capsys)
        found = re.search(rf" {re.escape(name)} (x_d1_lst_[0-9a-f]{{6}}_on_grid\.tif), then compare", line)
        assert found, line
        outputs.append(found.group(1))
    assert outputs[0] != outputs[1] and outputs[0] == outputs[2], outputs


def test_the_nesting_error_names_an_absolute_archive_as_typed(tmp_path: Path, capsys, monkeypatch) -> None:
    """``/vsizip//abs/d1.zip/lst.tif`` was named ``/vsizip/abs/d1.zip/lst.tif`` (pathlib's fold, which GDAL reads
    relative) by 'grid does not nest'; the CRS error already named it as typed."""
    two_archives(tmp_path, ("s1", "s2"))
    monkeypatch.chdir(tmp_path / "s2")
    name = f"/vsizip/{tmp_path / 's1' / 'd1.zip'}/lst.tif"
    assert name.startswith("/vsizip//")
    capsys.readouterr()
    assert run(["compare", str(tmp_path / "ref.tif"), name]) == 2
    line = only_error(capsys)
    assert line.startswith(f"error: {name}: grid does not nest in the coarsest raster's (offset of 0.33 pixel in x) "
                           "(hint: warp it onto a grid that nests: gdalwarp "), line


def test_two_piped_candidates_are_saved_and_warped_under_their_place(tmp_path: Path) -> None:
    """``groklst compare ref.tif <(cat c1.tif) <(cat c2.tif)``: both hints said IN.tif and IN_on_grid.tif, so
    the second pasted gdalwarp found the first's output. Each is numbered by its place among the candidates,
    which stays when the first is replaced by its warped file."""
    raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0, Y0)), origin=(X0, Y0))
    origin = (X0 + 10, Y0 - 20)
    for name, warmer in (("c1.tif", 0.0), ("c2.tif", 5.0)):
        raster(tmp_path / name, field((40, 40), (30, 30), origin) + warmer, origin=origin)
    first = shell_compare(tmp_path, "ref.tif", "<(cat c1.tif)", "<(cat c2.tif)")
    assert first.returncode == 2, first.stderr
    assert " IN1.tif IN1_on_grid.tif, then compare that" in first.stderr, first.stderr
    assert "to a file (IN1.tif) first" in first.stderr
    if shutil.which("gdalwarp") is not None:
        shutil.copyfile(tmp_path / "c1.tif", tmp_path / "IN1.tif")
        warp_printed(first.stderr.strip(), tmp_path)
    second = shell_compare(tmp_path, "ref.tif", "IN1_on_grid.tif", "<(cat c2.tif)")
    assert " IN2.tif IN2_on_grid.tif, then compare that" in second.stderr, second.stderr
    shutil.copyfile(tmp_path / "c2.tif", tmp_path / "IN2.tif")
    warp_printed(second.stderr.strip(), tmp_path)
    scored = shell_compare(tmp_path, "--json", "ref.tif", "IN1_on_grid.tif", "IN2_on_grid.tif")
    assert scored.returncode == 0, scored.stderr
    assert [round(row["bias"], 3) for row in json.loads(scored.stdout)["rows"]] == [0.0, 5.0]


def test_a_piped_reference_that_does_not_nest_is_saved_as_ref(tmp_path: Path) -> None:
    """A streamed reference was saved as IN.tif too, the name a streamed candidate is saved under."""
    raster(tmp_path / "ref.tif", field((40, 40), (30, 30), (X0 + 10, Y0 - 20)), origin=(X0 + 10, Y0 - 20))
    raster(tmp_path / "cand.tif", field((20, 20), (60, 60), (X0, Y0)), origin=(X0, Y0), res=60.0)
    refused = piped_compare(tmp_path, "ref.tif", "cand.tif")
    assert refused.returncode == 2, refused.stderr
    assert ("save the stream to a file (REF.tif) first, then warp it onto a grid that nests: gdalwarp "
            in refused.stderr), refused.stderr
    assert " REF.tif REF_on_grid.tif, then compare that" in refused.stderr, refused.stderr

"""Commands printed in hints fail when pasted (QA s7): a name with a space or ``$`` was not quoted
(``groklst quicklook out $HOME.tif -o look 1.png``: "unexpected extra argument"), and a file
starting with '-' was named bare (``gdal_edit.py -a_nodata -9999.0 -c.tif``: "Unrecognized option").
Each test runs the printed command in a shell and checks it did what the hint says."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from groklst_cli.app import run

BIN = str(Path(sys.executable).parent)


def _paste(command: str, cwd: Path) -> None:
    """Run ``command`` as a user pasting it into a shell in ``cwd`` would, with groklst on PATH."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(command, shell=True, check=True, cwd=cwd, env=env, capture_output=True, timeout=300)


def _needs_gdal_edit() -> None:
    if shutil.which("gdal_edit.py") is None:
        pytest.skip("GDAL's command-line tools are not installed")


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 16 px sample scene ``s_lst.tif``/``s_guidance.tif`` in ``tmp_path``, the current folder."""
    monkeypatch.chdir(tmp_path)
    assert run(["-q", "sample-scene", ".", "--size", "16", "--name", "s"]) == 0
    return tmp_path


def _write_filled(path: Path, nodata: float | None, crs: bool = True) -> Path:
    """A float32 copy of the scene's LST with a -9999 fill in a corner, declaring ``nodata``."""
    with rasterio.open(path.parent / "s_lst.tif") as src:
        values, profile = src.read(1).astype("float32"), src.profile
    values[:3, :3] = -9999
    profile.update(dtype="float32", nodata=nodata, **({} if crs else {"crs": None}))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def test_the_skipped_scenes_redraw_command_quotes_its_names(scene: Path, capsys) -> None:
    assert run(["-q", "downscale", "s_lst.tif", "--model", "bicubic", "-o", "out $HOME.tif"]) == 0
    assert run(["-q", "downscale", "s_lst.tif", "--model", "bicubic", "-o", "out $HOME.tif",
                "--skip-existing", "--quicklook", "look 1.png"]) == 0
    warning = capsys.readouterr().err.strip()
    assert warning.endswith("; groklst quicklook 'out $HOME.tif' -o 'look 1.png' draws it")
    _paste(warning.split("(--skip-existing); ", 1)[1].removesuffix(" draws it"), scene)
    assert (scene / "look 1.png").read_bytes().startswith(b"\x89PNG")


def test_the_kept_geotiffs_quicklook_command_quotes_its_names(scene: Path) -> None:
    """A quick look cut short by a file-size limit: the GeoTIFF is kept with the command that draws it."""
    done = subprocess.run(f"ulimit -f 12; {BIN}/groklst -q downscale s_lst.tif --model bicubic "
                          "-o 'o $HOME 4.tif' --quicklook 'q 4.png'", shell=True, executable="/bin/bash",
                          cwd=scene, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "was written and kept (groklst quicklook 'o $HOME 4.tif' -o 'q 4.png' draws the PNG)" in done.stderr
    (scene / "q 4.png").unlink(missing_ok=True)
    _paste(done.stderr.split("was written and kept (", 1)[1].split(" draws the PNG)", 1)[0], scene)
    assert (scene / "q 4.png").read_bytes().startswith(b"\x89PNG")


def test_a_fill_value_is_declared_in_a_file_named_like_an_option(scene: Path, capsys) -> None:
    _write_filled(scene / "-c.tif", None)
    assert run(["compare", "s_lst.tif", "./-c.tif"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("declare it as the file's nodata: gdal_edit.py -a_nodata -9999.0 ./-c.tif)")
    _needs_gdal_edit()
    _paste(error.split("nodata: ", 1)[1].removesuffix(")"), scene)
    with rasterio.open(scene / "-c.tif") as src:
        assert src.nodata == -9999.0


def test_the_mask_command_names_a_file_like_an_option_and_quoted(scene: Path, capsys) -> None:
    name = "-c2 x'y.tif"
    _write_filled(scene / name, math.nan)
    assert run(["compare", "s_lst.tif", f"./{name}"]) == 2
    error = capsys.readouterr().err.strip()
    shown = "'./-c2 x'\"'\"'y.tif'"
    assert error.endswith(f"groklst mask {shown} {shown} --values -9999.0 -o './-c2 x'\"'\"'y_masked.tif')")
    _paste(error.split("set these pixels to it: ", 1)[1].removesuffix(")"), scene)
    with rasterio.open(scene / "s_lst.tif") as src:
        expected = src.read(1, masked=True).mask.copy()
    expected[:3, :3] = True  # the fill, now nodata beside the scene's own
    with rasterio.open(scene / "-c2 x'y_masked.tif") as src:
        masked = src.read(1, masked=True)
    assert (masked.mask == expected).all() and float(masked.min()) > 200


def test_the_crs_to_assign_names_a_file_like_an_option(scene: Path, capsys) -> None:
    _write_filled(scene / "-nocrs.tif", -9999.0, crs=False)
    assert run(["guidance", "./-nocrs.tif", "s_guidance.tif", "--scale", "3", "-o", "g.tif"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("(hint: assign one with gdal_edit.py -a_srs EPSG:XXXX ./-nocrs.tif)")
    _needs_gdal_edit()
    with rasterio.open(scene / "s_lst.tif") as src:
        code = src.crs.to_epsg()
    _paste(error.split("assign one with ", 1)[1].removesuffix(")").replace("XXXX", str(code)), scene)
    with rasterio.open(scene / "-nocrs.tif") as src:
        assert src.crs.to_epsg() == code

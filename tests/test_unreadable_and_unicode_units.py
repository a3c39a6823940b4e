"""An unreadable file at an output's name is never replaced, even with --overwrite (it cannot be
told from groklst's own output), while an empty one still is; and unit tags written with the
Unicode signs (℃, ℉, the Kelvin sign K) or other common spellings are read like degC/degF/K."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.units import Units, tagged_fahrenheit, tagged_units
from tests.test_downscale import make_scene, read
from tests.test_unit_tag_conflict import downscale, retag

GROKLST = [sys.executable, "-m", "groklst_cli", "-q", "--threads", "1"]
# Root reads any file through these capabilities; dropped, chmod 000 locks root out as well.
DROP_READ_ALL = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                 "--bounding-set=-dac_override,-dac_read_search", "--"]
LOCKED_OUT = "exists and cannot be read (permission denied), so groklst cannot tell it is its own output"


def unprivileged_prefix() -> list[str]:
    """The command prefix under which chmod 000 makes a file unreadable: none for a normal user,
    setpriv dropping root's read-anything capabilities for root; the test is skipped without one."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv, so a chmod 000 file stays readable")
    if subprocess.run([*DROP_READ_ALL, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop root's read-anything capabilities here")
    return DROP_READ_ALL


def locked(path: Path, text: str) -> Path:
    """``path`` holding ``text``, with no permissions at all."""
    path.write_text(text)
    path.chmod(0)
    return path


def groklst(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """groklst run in a fresh process under :func:`unprivileged_prefix`."""
    return subprocess.run([*unprivileged_prefix(), *GROKLST, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def bicubic(lst: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return groklst("downscale", lst, "--model", "bicubic", "--scale", "2", *args)


def assert_refused(done: subprocess.CompletedProcess[str], path: Path) -> None:
    assert done.returncode == 2, done.stderr
    assert f"{path}: {LOCKED_OUT}; not replaced, even with --overwrite" in done.stderr
    assert "(hint: make it readable, or name another output)" in done.stderr


def test_an_unreadable_file_is_not_replaced_with_overwrite(tmp_path: Path) -> None:
    lst, _ = make_scene(tmp_path)
    out = locked(tmp_path / "locked.tif", "secret\n")
    done = bicubic(lst, "-o", out, "--overwrite")
    assert_refused(done, out)
    out.chmod(0o600)
    assert out.read_text() == "secret\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked.tif", "scene_guidance.tif", "scene_lst.tif"]


def test_an_unreadable_quicklook_name_is_refused_before_any_work(tmp_path: Path) -> None:
    lst, _ = make_scene(tmp_path)
    png = locked(tmp_path / "look.png", "notes\n")
    done = bicubic(lst, "-o", tmp_path / "out.tif", "--quicklook", png, "--overwrite")
    assert_refused(done, png)
    assert not (tmp_path / "out.tif").exists()
    png.chmod(0o600)
    assert png.read_text() == "notes\n"


def test_an_unreadable_scene_output_is_neither_skipped_nor_replaced(tmp_path: Path) -> None:
    """--skip-existing cannot tell it is a finished scene; --overwrite cannot tell it is ours."""
    lst, _ = make_scene(tmp_path)
    (tmp_path / "out").mkdir()
    out = locked(tmp_path / "out" / "scene_lst_downscaled.tif", "secret\n")
    for flag in ("--skip-existing", "--overwrite"):
        assert_refused(bicubic(lst, "--out-dir", tmp_path / "out", flag), out)
    out.chmod(0o600)
    assert out.read_text() == "secret\n"


def test_an_empty_unreadable_file_is_still_replaced_with_overwrite(tmp_path: Path) -> None:
    """An empty file (``mktemp``) holds nothing to lose: its size says so without reading it."""
    lst, _ = make_scene(tmp_path)
    out = locked(tmp_path / "empty.tif", "")
    done = bicubic(lst, "-o", out, "--overwrite")
    assert done.returncode == 0, done.stderr
    out.chmod(0o600)
    values = read(out)[0]
    assert values.shape == (80, 100)
    assert 290 < float(np.nanmedian(values)) < 310


@pytest.mark.parametrize(("tag", "expected"), [
    ("℃", Units.celsius), ("\u212a", Units.kelvin), ("deg C", Units.celsius), ("Deg_C", Units.celsius),
    ("degrees C", Units.celsius), ("degree Celsius", Units.celsius), ("degreesC", Units.celsius),
    ("˚C", Units.celsius), ("ºC", Units.celsius), ("celcius", Units.celsius), (" K ", Units.kelvin),
    ("°K", Units.kelvin), ("degrees_kelvin", Units.kelvin), ("℉", Units.auto), ("m", Units.auto)])
def test_unicode_signs_and_common_spellings_name_their_unit(tag: str, expected: Units) -> None:
    assert tagged_units(tag) is expected


@pytest.mark.parametrize(("tag", "fahrenheit"), [
    ("℉", True), ("degrees_F", True), ("deg F", True), ("˚F", True), ("℃", False), ("ft", False)])
def test_fahrenheit_spellings(tag: str, fahrenheit: bool) -> None:
    assert tagged_fahrenheit(tag) is fahrenheit


def test_a_fahrenheit_sign_tag_is_refused_in_auto(tmp_path: Path, capsys) -> None:
    """80 °F-ish values (around 75) would pass for Celsius: the ℉ tag refuses them as degF does."""
    lst, _ = make_scene(tmp_path, lst_offset=-225.0)
    retag(lst, "℉")
    capsys.readouterr()
    from groklst_cli.app import run

    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--scale", "2", "-o",
                str(tmp_path / "out.tif")]) == 2
    err = capsys.readouterr().err
    assert "scene_lst.tif: its unit tag says ℉: groklst reads Kelvin or Celsius" in err
    assert not (tmp_path / "out.tif").exists()


def test_a_celsius_sign_tag_agrees_with_celsius_values_and_contradicts_kelvin(tmp_path: Path, capsys) -> None:
    celsius, _ = make_scene(tmp_path, name="c", lst_offset=-273.15)
    out, err = downscale(retag(celsius, "℃"), tmp_path / "c.tif", capsys, "--scale", "2")
    assert "unit tag" not in err
    assert read(tmp_path / "c.tif")[2]["units"] == "degC"
    assert 20 < float(np.nanmedian(out)) < 35
    kelvin, _ = make_scene(tmp_path, name="k")
    _, err = downscale(retag(kelvin, "℃"), tmp_path / "k.tif", capsys, "--scale", "2")
    assert "k_lst.tif: its unit tag says ℃ but its values (median 30" in err and "read as Kelvin" in err


def test_a_kelvin_sign_tag_on_celsius_values_warns(tmp_path: Path, capsys) -> None:
    celsius, _ = make_scene(tmp_path, lst_offset=-273.15)
    _, err = downscale(retag(celsius, "\u212a"), tmp_path / "c.tif", capsys, "--scale", "2")
    assert "its unit tag says \u212a but its values (median 2" in err and "read as Celsius" in err

"""``downscale --json``: one line per scene, a quick look that cannot be written included, and
the paths named as typed, so that a script can match the lines with the names it gave."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from pathlib import Path

import pytest
import rasterio
from matplotlib.figure import Figure

from groklst_cli.app import run
from tests.conftest import write_canonical_scene

KEYS = ["input", "output", "status", "seconds", "megapixels", "error", "grid", "units", "tiles",
        "tiles_skipped", "valid_fraction", "hole_margin", "warnings"]


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PNG's bytes do not fit on the disk, as on a full tmpfs."""
    def full(self: Figure, fname: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fname))

    monkeypatch.setattr(Figure, "savefig", full)


@pytest.mark.parametrize("fit", [[], ["--fit", "--model", "tsharp", "--seed", "3"]], ids=["model", "fit"])
def test_a_quicklook_that_cannot_be_written_is_the_scenes_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        fit: list[str]) -> None:
    """QA: an ok line, then a second error line without the scene's keys. Now one line: status
    error (what exit 2 means), naming the PNG and the GeoTIFF, which is complete and stays."""
    lst, _ = write_canonical_scene(tmp_path, "s")
    out, png = tmp_path / "o.tif", tmp_path / "looks" / "q.png"
    png.parent.mkdir()
    _disk_full(monkeypatch)
    model = fit or ["--model", "bicubic"]
    status = run(["-q", "downscale", str(lst), *model, "-o", str(out), "--quicklook", str(png), "--json"])
    [line] = _lines(capsys)
    assert status == 2
    assert list(line)[:len(KEYS)] == KEYS and ("fit" in line) == bool(fit)
    assert line["status"] == "error" and line["output"] == str(out)
    assert line["error"].startswith(f"{png}: writing failed (No space left on device)")
    assert f"the GeoTIFF {out} was written and kept" in line["error"]
    assert line["megapixels"] == pytest.approx(96 * 96 / 1e6, abs=1e-4) and line["tiles"] == 1
    assert line["grid"] == "output grid: the guidance grid (96x96 px at 10 m)"
    with rasterio.open(out) as written:
        assert written.shape == (96, 96) and 290 < float(written.read(1).mean()) < 310
    assert list(png.parent.iterdir()) == []  # nor a temporary PNG


def test_a_quicklook_written_leaves_the_line_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lst, _ = write_canonical_scene(tmp_path, "s")
    png = tmp_path / "q.png"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                "--quicklook", str(png), "--json"]) == 0
    [line] = _lines(capsys)
    assert list(line) == [*KEYS, "quicklook"] and line["status"] == "ok" and line["error"] is None
    assert line["quicklook"] == str(png)  # a script reading stdout only learns where the PNG is (QA M)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _find(top: str) -> list[str]:
    """The LST rasters under ``top`` as ``find TOP -name '*_lst.tif'`` prints them."""
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(top)
                  for name in names if name.endswith("_lst.tif"))


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two scenes under ``arch/``, the current folder ``tmp_path``."""
    (tmp_path / "arch").mkdir()
    write_canonical_scene(tmp_path / "arch", "s2")
    write_canonical_scene(tmp_path / "arch", "s3", seed=1)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("how", ["arguments", "lines", "print0"])
def test_inputs_and_outputs_are_named_as_typed(archive: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], how: str) -> None:
    """QA: ``./arch/s2_lst.tif`` and ``arch//s3_lst.tif`` came out as ``arch/...``, and a script
    joining ``find . -name '*_lst.tif'`` with ``jq .input`` found no match; ``--out-dir ./fine/``
    names the outputs under ``./fine/`` as typed."""
    typed = ["./arch/s2_lst.tif", "arch//s3_lst.tif"]
    args = typed
    if how != "arguments":
        args = ["-"]
        monkeypatch.setattr(sys, "stdin", io.StringIO("\0".join(typed) if how == "print0" else "\r\n".join(typed)))
    assert run(["-q", "downscale", *args, "--model", "bicubic", "--out-dir", "./fine/", "--json"]) == 0
    lines = _lines(capsys)
    assert [line["input"] for line in lines] == typed
    assert [line["output"] for line in lines] == ["./fine/s2_lst_downscaled.tif", "./fine/s3_lst_downscaled.tif"]
    assert all(Path(line["output"]).is_file() for line in lines)
    assert _find(".")[0] == lines[0]["input"]


def test_an_output_and_an_error_name_the_paths_as_typed(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-q", "downscale", "./arch/s2_lst.tif", "--model", "bicubic", "-o", "./o.tif", "--json"]) == 0
    [line] = _lines(capsys)
    assert (line["input"], line["output"], line["status"]) == ("./arch/s2_lst.tif", "./o.tif", "ok")
    assert run(["-q", "downscale", "./arch/s2_lst.tif", "./arch//nope_lst.tif", "--model", "bicubic",
                "--out-dir", "fine", "--json"]) == 2
    captured = capsys.readouterr()
    ok, missing = (json.loads(line) for line in captured.out.splitlines())
    assert (ok["output"], missing["output"]) == ("fine/s2_lst_downscaled.tif", "fine/nope_lst_downscaled.tif")
    assert missing["input"] == "./arch//nope_lst.tif"
    assert missing["error"] == "./arch//nope_lst.tif: file not found (hint: check the path)"
    assert captured.err == "error: ./arch//nope_lst.tif: file not found (hint: check the path)\n"


def test_an_input_given_twice_is_named_as_first_typed(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-q", "downscale", "arch//s2_lst.tif", "./arch/s2_lst.tif", "--model", "bicubic",
                "--out-dir", "fine", "--json"]) == 0
    [line] = _lines(capsys)
    assert (line["input"], line["output"]) == ("arch//s2_lst.tif", "fine/s2_lst_downscaled.tif")
    assert line["warnings"] == ["./arch/s2_lst.tif: given more than once (as arch//s2_lst.tif); downscaled once"]

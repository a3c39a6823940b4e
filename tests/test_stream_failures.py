"""groklst's own streams failing: a full stdout or stderr (``> /dev/full``), a closed stdin
(``<&-``), ``-o -``, and matplotlib's lines with an unwritable HOME. Each is one line naming the
stream (or nothing, when stderr is the one that failed), exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_canonical_scene

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")

STDOUT_FULL = ("error: stdout: cannot write the results: No space left on device (hint: free some space "
               "where stdout goes, or redirect it elsewhere; output files already written are complete and kept)")


def _groklst(*args: str, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=None, env=None,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """groklst run as a real process (its streams are real file descriptors)."""
    return subprocess.run([sys.executable, "-m", "groklst_cli", *args], stdout=stdout, stderr=stderr,
                          stdin=stdin, env=env, cwd=cwd, text=True, timeout=120)


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    lst, _ = write_canonical_scene(tmp_path, "s")
    return lst


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_json_on_a_full_stdout_names_stdout_and_keeps_the_output(scene: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    with open("/dev/full", "w") as full:
        proc = _groklst("-q", "downscale", str(scene), "--model", "bicubic", "-o", str(out), "--json",
                        stdout=full)
    assert proc.returncode == 2
    assert _error_lines(proc.stderr) == [STDOUT_FULL]
    assert out.stat().st_size > 0  # complete, kept


def test_bad_input_with_json_on_a_full_stdout_is_that_error_and_stdout_s(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _groklst("-q", "downscale", str(tmp_path / "nope_lst.tif"), "--model", "bicubic", "--json",
                        stdout=full)
    assert proc.returncode == 2
    lines = _error_lines(proc.stderr)
    assert len(lines) == 2 and "nope_lst.tif: file not found" in lines[0] and lines[1] == STDOUT_FULL


def test_models_json_on_a_full_stdout() -> None:
    with open("/dev/full", "w") as full:
        proc = _groklst("-q", "models", "--scale", "2", "--json", stdout=full)
    assert (proc.returncode, _error_lines(proc.stderr)) == (2, [STDOUT_FULL])


def test_a_full_stdout_without_json_blames_stdout_not_the_output_disk(scene: Path, tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _groklst("-q", "downscale", str(scene), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                        stdout=full)
    assert (proc.returncode, _error_lines(proc.stderr)) == (2, [STDOUT_FULL])


def test_a_full_stderr_keeps_one_json_line_per_scene_and_says_nothing(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _groklst("downscale", str(tmp_path / "nope_lst.tif"), "--model", "bicubic", "--json",
                        stderr=full)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["error"].endswith("file not found (hint: check the path)")


def test_a_full_stderr_stops_the_run_quietly_with_2(scene: Path, tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:  # no -q: the first info line fails
        proc = _groklst("downscale", str(scene), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                        stderr=full)
    assert (proc.returncode, proc.stdout) == (2, "")


def test_dash_with_a_closed_stdin_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(f"{sys.executable} -m groklst_cli -q downscale - --out-dir o --json <&-",
                          shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    message = "-: stdin is closed (hint: pipe the input paths in, one per line, or give them as arguments)"
    assert proc.returncode == 2
    assert _error_lines(proc.stderr) == [f"error: {message}"]
    assert json.loads(proc.stdout)["error"] == message


@pytest.mark.parametrize("argv", [("downscale", "{lst}", "--model", "bicubic", "-o", "-"),
                                  ("mask", "{lst}", "{lst}", "-o", "-"),
                                  ("downscale", "{lst}", "--model", "bicubic", "-o", "x.tif", "--quicklook", "-")])
def test_dash_as_an_output_is_refused_and_writes_nothing(scene: Path, tmp_path: Path, argv) -> None:
    option = argv[-2]
    proc = _groklst("-q", *(a.format(lst=scene) for a in argv), cwd=tmp_path)
    assert proc.returncode == 2
    assert _error_lines(proc.stderr) == [
        f"error: {option}: is '-', but writing the output to stdout is not supported "
        "(hint: give a file name (./- for a file literally named -))"]
    assert not (tmp_path / "-").exists() and not (tmp_path / "x.tif").exists()


def test_quicklook_with_an_unwritable_home_says_nothing_under_q(scene: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = "/sys"  # not writable, even for root
    proc = _groklst("-q", "downscale", str(scene), "--model", "bicubic", "-o", str(tmp_path / "o.tif"),
                    "--quicklook", str(tmp_path / "o.png"), env=env)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert (tmp_path / "o.png").stat().st_size > 0

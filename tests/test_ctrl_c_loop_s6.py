"""A Ctrl-C in the middle of a scene ends groklst as killed by SIGINT, after its clean-up and
its one line, so that a shell loop over an archive stops there (QA: bash stops a ``for`` loop
only when its child died of SIGINT; an exit with status 130 went on to the next scene)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groklst_cli.app import run

GROKLST = f"{shlex.quote(sys.executable)} -m groklst_cli --threads 1"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scenes large enough that the default model is still at work when the signal comes."""
    folder = tmp_path_factory.mktemp("loop")
    for name in ("s1", "s2"):
        assert run(["-q", "sample-scene", str(folder), "--name", name, "--size", "600"]) == 0
    return folder


def _interrupted_shell(script: str, log: Path) -> tuple[int, str]:
    """Run ``script`` in bash and send SIGINT to its process group, as a terminal's Ctrl-C, once
    the first scene is being downscaled (groklst's stderr, in ``log``, names its output grid);
    bash's return code and stdout."""
    proc = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while "output grid" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text() if log.exists() else ""
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, _ = proc.communicate(timeout=240)
    return proc.returncode, stdout


def test_ctrl_c_in_a_scene_stops_the_shell_loop(scenes: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    loop = (f"for s in s1 s2; do {GROKLST} downscale {scenes}/${{s}}_lst.tif --out-dir {tmp_path}/out "
            f"2>>{log}; echo \"$s rc=$?\"; done; echo finished")
    returncode, stdout = _interrupted_shell(loop, log)
    assert returncode == -signal.SIGINT  # bash itself ended by the signal: the loop stopped
    assert stdout == "", stdout  # neither "s1 rc=130" nor s2 nor "finished"
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    # "; unfinished outputs were removed" where the stop came once the scene's temporary existed
    assert errors in (["error: interrupted"], ["error: interrupted; unfinished outputs were removed"])
    assert "Traceback" not in log.read_text()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_shell_still_reads_status_130(scenes: Path, tmp_path: Path) -> None:
    """``$?`` of a child killed by SIGINT is 128 + 2, the documented exit status."""
    log = tmp_path / "log"
    script = (f"trap 'echo trapped' INT; {GROKLST} downscale {scenes}/s1_lst.tif -o {tmp_path}/o.tif "
              f"2>{log}; echo \"rc=$?\"")
    _, stdout = _interrupted_shell(script, log)
    assert stdout.splitlines()[-1] == "rc=130"
    assert not (tmp_path / "o.tif").exists()

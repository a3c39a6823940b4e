"""Results stay on stdout while a progress bar is live on a terminal, and a run of many scenes
keeps its bar small (QA fixTTY: ``--json > t.jsonl`` on a terminal gave an empty file; a task
per scene, never removed, made every scene slower on a terminal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.progress import Progress

import groklst_cli.commands.downscale as downscale_cmd
from groklst_cli.app import run
from tests.conftest import write_canonical_scene

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def _drained(fd: int, into: bytearray) -> threading.Thread:
    """A thread reading the pty's master side until it closes (a full pty would block the child)."""
    def read() -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child's side is closed
                return
            if not chunk:
                return
            into.extend(chunk)
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _downscale_on_terminal(tmp_path: Path, stdout_to_file: bool) -> tuple[str, str]:
    """``groklst downscale --json`` of one scene with stderr on a pseudo-terminal and stdout in
    a file (or the same terminal); returns what the file and the terminal got."""
    lst, _ = write_canonical_scene(tmp_path, "tty")
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")}
    env.update(TERM="xterm", COLUMNS="100")
    screen = bytearray()
    reader = _drained(master, screen)
    stdout_path = tmp_path / "stdout.jsonl"
    with open(stdout_path, "w") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "groklst_cli", "downscale", str(lst), "--model", "bicubic",
             "-o", str(tmp_path / "out.tif"), "--json"],
            stdin=subprocess.DEVNULL, stdout=stdout if stdout_to_file else slave, stderr=slave,
            env=env, timeout=120,
        )
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0, screen.decode(errors="replace")
    return stdout_path.read_text(), screen.decode(errors="replace")


def test_json_line_goes_to_stdout_while_the_bar_is_on_the_terminal(tmp_path: Path) -> None:
    stdout, screen = _downscale_on_terminal(tmp_path, stdout_to_file=True)
    lines = stdout.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["status"], line["output"]) == ("ok", str(tmp_path / "out.tif"))
    assert '"status": "ok"' not in screen  # the JSON line is not on the terminal
    assert "tty_lst.tif" in screen  # while the bar was drawn there


def test_json_line_is_shown_on_the_terminal_that_is_stdout(tmp_path: Path) -> None:
    stdout, screen = _downscale_on_terminal(tmp_path, stdout_to_file=False)
    assert stdout == ""
    shown = [json.loads(row[row.index("{"):]) for row in screen.splitlines() if '"status": "ok"' in row]
    assert [row["output"] for row in shown] == [str(tmp_path / "out.tif")]


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[Progress]:
    """Every progress bar downscale makes in the test, kept for inspection."""
    made, kept = downscale_cmd.progress, []

    def keep(*columns: object) -> Progress:
        kept.append(made(*columns))
        return kept[-1]

    monkeypatch.setattr(downscale_cmd, "progress", keep)
    return kept


def test_a_run_of_many_scenes_keeps_one_task_in_its_bar(tmp_path: Path, bars: list[Progress]) -> None:
    scenes = [write_canonical_scene(tmp_path, f"s{i}", shape=(12, 12), seed=i)[0] for i in range(5)]
    assert run(["downscale", *map(str, scenes), "--model", "bicubic", "--out-dir", str(tmp_path / "out")]) == 0
    assert len(bars) == 1
    assert len(bars[0].tasks) == 1  # 5 scenes, one task, reused: a run's redraw does not grow
    assert bars[0].tasks[0].description == "s4_lst.tif"  # the last scene's
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"s{i}_lst_downscaled.tif" for i in range(5)]


def test_a_skipped_scene_after_a_written_one_shows_no_total(tmp_path: Path, bars: list[Progress]) -> None:
    """Review: reset(total=None) keeps the last total, so a skipped scene's bar read 0/N (N the
    previous scene's tiles) and stayed so on screen; a fresh task has no total until tiles run."""
    first, second = (write_canonical_scene(tmp_path, name, shape=(12, 12), seed=i)[0]
                     for i, name in enumerate(["a", "b"]))
    out = tmp_path / "out"
    assert run(["-q", "downscale", str(second), "--model", "bicubic", "--out-dir", str(out)]) == 0
    assert run(["downscale", str(first), str(second), "--model", "bicubic", "--out-dir", str(out),
                "--skip-existing"]) == 0
    assert [(t.description, t.total) for t in bars[-1].tasks] == [("b_lst.tif", None)]  # the skipping run's bar

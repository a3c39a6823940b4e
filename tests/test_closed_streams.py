"""groklst started with stderr closed (``2>&-``: Python then has no ``sys.stderr``) runs as with
``2>/dev/null``: messages dropped, exit statuses and ``--json`` lines on stdout as usual; a closed
stdout (``>&-``) still stops the run with 141. A Ctrl-C while groklst's modules load ends it
as killed by SIGINT (status 130 in a shell), without a KeyboardInterrupt traceback.

The streams are closed in the child itself (``os.close``), not given ``subprocess.DEVNULL``,
which is an open /dev/null and would not show the problem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import rasterio

from groklst_cli.console import StreamConsole

GROKLST = [sys.executable, "-m", "groklst_cli", "--threads", "1"]


def _closing(*fds: int):  # noqa: ANN202 - a preexec_fn
    """A ``preexec_fn`` closing ``fds`` in the child, as a shell's ``2>&-`` does."""
    return lambda: [os.close(fd) for fd in fds]


def _run(args: list[str], *closed: int) -> subprocess.CompletedProcess[str]:
    """groklst ``args`` with the descriptors ``closed`` closed; stdout captured unless closed,
    stderr captured unless closed."""
    return subprocess.run(
        [*GROKLST, *args], text=True, timeout=300, preexec_fn=_closing(*closed),
        stdout=None if 1 in closed else subprocess.PIPE,
        stderr=None if 2 in closed else subprocess.PIPE,
    )


def test_version_with_stderr_closed_prints_and_exits_0() -> None:
    proc = _run(["--version"], 2)
    assert proc.returncode == 0
    assert proc.stdout.startswith("groklst ")


def test_sample_scene_with_stderr_closed_writes_the_scene(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    proc = _run(["-q", "sample-scene", str(out), "--name", "s1", "--size", "100"], 2)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [str(out / "s1_lst.tif"), str(out / "s1_guidance.tif")]
    with rasterio.open(out / "s1_lst.tif") as lst:
        assert lst.width == 100


def test_json_error_with_stderr_closed_is_on_stdout_with_status_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing_lst.tif"
    args = ["downscale", "--json", str(missing), "--model", "bicubic"]
    closed, devnull = _run(args, 2), _run(args)
    assert closed.returncode == devnull.returncode == 2
    line = json.loads(closed.stdout)
    assert line["status"] == "error" and str(missing) in line["error"]
    assert closed.stdout == devnull.stdout.replace(
        f'"seconds": {json.loads(devnull.stdout)["seconds"]}', f'"seconds": {line["seconds"]}')


def test_debug_traceback_with_stderr_closed_does_not_reach_stdout(tmp_path: Path) -> None:
    """Without a stderr, ``traceback.print_exc`` prints on stdout, among the results."""
    proc = _run(["--debug", "compare", str(tmp_path / "a.tif"), str(tmp_path / "b.tif")], 2)
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_both_streams_closed_is_a_closed_stdout_141(tmp_path: Path) -> None:
    """As with stdout alone closed: the first result line cannot be written, status 141."""
    for closed, name in (((1,), "out"), ((1, 2), "both")):
        proc = _run(["-q", "sample-scene", str(tmp_path / name), "--name", "s1", "--size", "100"], *closed)
        assert proc.returncode == 141
    assert sorted(p.name for p in (tmp_path / "both").iterdir()) == sorted(
        p.name for p in (tmp_path / "out").iterdir())


def test_stderr_console_without_sys_stderr_drops_its_text(monkeypatch) -> None:  # noqa: ANN001
    """As rich's own ``stderr=True`` console: no stream, nothing written, not a terminal."""
    monkeypatch.setattr(sys, "stderr", None)
    console = StreamConsole("stderr", highlight=False)
    console.print("dropped")
    assert console.is_terminal is False
    assert console.encoding == "utf-8"


def test_ctrl_c_while_modules_load_is_sigint_without_traceback() -> None:
    """A SIGINT sent while ``groklst_cli.app`` imports typer ends the process by that signal,
    silently; once loaded, Python's handler is back (a later Ctrl-C reaches ``_run``)."""
    script = textwrap.dedent("""
        import importlib.abc, os, signal, sys

        class Interrupt(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "typer":
                    sys.meta_path.remove(self)
                    os.kill(os.getpid(), signal.SIGINT)
                return None

        sys.meta_path.insert(0, Interrupt())
        from groklst_cli.app import main
        print("survived")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (-signal.SIGINT, "", "")

    loaded = subprocess.run(
        [sys.executable, "-c", "import signal, groklst_cli.app;"
         " print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"],
        capture_output=True, text=True, timeout=300)
    assert loaded.stdout == "True\n"


def test_a_failed_import_gives_python_its_ctrl_c_handler_back() -> None:
    """A host process (a notebook) whose ``import groklst_cli.app`` fails midway kept SIG_DFL,
    so its next Ctrl-C killed it silently: the handler is given back whatever the imports do."""
    script = textwrap.dedent("""
        import importlib.abc, signal, sys

        class Broken(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "rich.markup":
                    raise ImportError("broken install")
                return None

        sys.meta_path.insert(0, Broken())
        try:
            import groklst_cli.app
        except ImportError:
            pass
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


def test_descriptor_2_closed_at_start_is_dev_null_after_the_imports() -> None:
    """With ``2>&-`` the first file a module opens (rasterio's proj.db) took descriptor 2, where C
    library messages would land: the package puts a writable /dev/null there before any module opens a file."""
    probe = ("import os, groklst_cli.app; print(os.readlink('/proc/self/fd/2'), "
             "os.write(2, b'a C library message'))")
    done = subprocess.run([sys.executable, "-c", probe], text=True, timeout=300,
                          preexec_fn=_closing(2), stdout=subprocess.PIPE)
    assert done.returncode == 0 and done.stdout.split() == [os.devnull, "19"]

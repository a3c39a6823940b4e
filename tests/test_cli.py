"""The groklst command itself: version, help, exit statuses, one-line errors."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import typer

from groklst_cli import __version__
from groklst_cli.app import _groklst_warnings_shown, app, run
from groklst_cli.path_options import file_to_write
from pipelines.errors import printable_path
from tests.conftest import write_canonical_scene

COMMANDS = ("sample-scene", "ingest", "prepare", "train", "evaluate", "downscale", "models")


def test_version(capsys) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"groklst {__version__}"


def test_help_lists_every_command(capsys) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out, command
    for command in COMMANDS:
        assert run([command, "--help"]) == 0, command
        assert "Usage" in capsys.readouterr().out


def test_help_paragraphs_are_wrapped_at_the_terminal_width(monkeypatch, capsys) -> None:
    """The docstring's own line breaks would leave ragged lines in an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["downscale", "--help"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Exit status:"))
    paragraph = lines[start:lines.index("", start)]
    assert len(paragraph) == 3  # 229 characters at up to 78 a line; 4 ragged lines before
    assert " ".join(paragraph).startswith("Exit status: 0 when every scene succeeded, was skipped or was empty (but not all empty), 2 when")


def test_usage_error_exits_2(capsys) -> None:
    assert run(["downscale", "--no-such-option"]) == 2
    assert run(["no-such-command"]) == 2


def test_missing_file_one_line_exit_2_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "nope_lst.tif"
    proc = subprocess.run(
        [sys.executable, "-m", "groklst_cli", "downscale", str(missing), "--model", "bicubic",
         "-o", str(tmp_path / "o.tif")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("note:")]
    assert len(lines) == 1 and str(missing) in lines[0] and "file not found" in lines[0]
    assert proc.stdout == ""


def test_internal_error_exits_1_without_traceback_unless_debug(tmp_path: Path, monkeypatch, capsys) -> None:
    import pipelines.scenes as scenes

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    # Outside the per-scene guard: break the job builder itself.
    import groklst_cli.commands.downscale as cmd

    monkeypatch.setattr(cmd, "_jobs", boom)
    assert run(["downscale", "x_lst.tif", "--model", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: boom" in err and "Traceback" not in err
    assert run(["--debug", "downscale", "x_lst.tif", "--model", "bicubic"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert run(["downscale", "x_lst.tif", "--model", "bicubic", "--json"]) == 1  # a pipeline sees why
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"input": "x_lst.tif", "output": "x_lst_downscaled.tif", "status": "failed",  # its default name (36a8514)
         "error": "internal error: ZeroDivisionError: boom",
             "warnings": []}]
    assert scenes  # imported module stays untouched


def test_error_lines_print_paths_and_options_as_typed(tmp_path: Path, capsys) -> None:
    """``:fire:`` in a path or option is no emoji code (nor ``[red]`` a style) on stderr."""
    missing = tmp_path / "em:fire:x[red]" / "q_lst.tif"
    assert run(["prepare", str(missing), "-o", str(tmp_path / "ds")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: file not found (hint: check the path)"
    assert run(["prepare", str(missing), "-o", str(tmp_path / "ds"), "--split", "a:b:c"]) == 2
    assert "'a:b:c' is not TRAIN:VAL:TEST" in capsys.readouterr().err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_errors_that_stop_a_command_name_its_one_input_and_output(tmp_path: Path, capsys) -> None:
    """A pipeline reading stdout learns which input a refused command was about (QA: null)."""
    lst, missing = tmp_path / "a_lst.tif", tmp_path / "nowhere.tif"
    lst.write_bytes(b"")
    cases = [
        (["mask", str(lst), str(missing), "-o", "m.tif", "--json"], str(lst), "m.tif"),
        (["compare", str(lst), str(missing), "--json"], str(lst), None),
        (["ingest", str(tmp_path), "--out-dir", str(tmp_path / "x"), "--json"], str(tmp_path), None),
        (["downscale", str(lst), "--model", "bicubic", "-o", "o.tif", "--overlap", "900", "--json"], str(lst), "o.tif"),
        (["downscale", str(tmp_path), str(tmp_path), "--overlap", "900", "--json"], str(tmp_path), None),  # twice: once
        (["downscale", str(lst), str(lst), "--model", "bicubic", "--overlap", "900", "--json"], str(lst),
         "a_lst_downscaled.tif"),  # one scene, named twice: its default output (36a8514)
        (["downscale", str(lst), str(missing), "--model", "bicubic", "--overlap", "900", "--json"], None, None),
    ]
    for argv, given, output in cases:
        assert run(argv) == 2, argv
        [line] = json_lines(capsys.readouterr().out)
        assert (line["input"], line["output"], line["status"]) == (given, output, "error"), argv


FOLDER_NAMES = [
    ["downscale", "{lst}", "--model", "bicubic", "-o", "{out}/"],
    ["downscale", "-o", "{out}/", "{lst}", "--model", "bicubic"],  # before the input
    ["downscale", "{lst}", "{out}.tif", "--model", "bicubic", "-o", "{out}/"],  # several: none named
    ["downscale", "{lst}", "--model", "bicubic", "-o", "{out}.tif", "--quicklook", "{out}/"],
    ["guidance", "{lst}", "--scale", "3", "-o", "{out}/"],
    ["mask", "{lst}", "{lst}", "-o", "{out}/"],
    ["coregister", "{lst}", "{lst}", "-o", "{out}/"],
    ["quicklook", "{lst}", "-o", "{out}/"],
    ["downscale", "{lst}", "--fit", "--model", "mocolsk-lite", "-o", "{out}.tif", "--save-checkpoint", "{out}/"],
]


@pytest.mark.parametrize("argv", FOLDER_NAMES)
def test_a_file_option_ending_in_a_separator_is_refused(tmp_path: Path, capsys, argv: list[str]) -> None:
    """QA: ``-o newdir/`` wrote a file named newdir (pathlib drops the slash)."""
    out = tmp_path / "newdir"
    argv = [a.format(lst=tmp_path / "a_lst.tif", out=out) for a in argv]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out}/: names a folder (it ends in a separator), not the file to write (hint: name the")
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_every_file_option_is_tried_with_a_folder_name_above() -> None:
    """The refusal waits for the command's ``state.working_on`` (to name its input in a --json
    line): a command that did not call it would write the file it refuses."""
    tried = {(argv[0], argv[argv.index("{out}/") - 1]) for argv in FOLDER_NAMES}
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:
            parser = getattr(param.type_descriptor.parameter_info, "parser", None)
            if parser is not None and parser.__qualname__.startswith(file_to_write.__name__):
                assert any((name, flag) in tried for flag in param.opts), (name, param.opts)


@pytest.mark.parametrize("argv, given, output", [
    (["downscale", "{lst}", "--model", "bicubic", "-o", "results/"], "{lst}", "results/"),
    (["downscale", "-o", "results/", "{lst}", "--model", "bicubic"], "{lst}", "results/"),
    (["downscale", "{lst}", "-o", "o.tif", "--quicklook", "looks/"], "{lst}", "o.tif"),
    (["downscale", "{lst}", "{lst}", "-o", "results/"], "{lst}", "results/"),  # given twice: one input
    (["downscale", "{lst}", "b_lst.tif", "-o", "results/"], None, None),
    (["guidance", "{lst}", "--scale", "3", "-o", "results/"], "{lst}", "results/"),
    (["mask", "{lst}", "m.tif", "-o", "results/"], "{lst}", "results/"),
    (["coregister", "{lst}", "g.tif", "-o", "results/"], "{lst}", "results/"),
])
def test_a_json_line_about_a_folder_name_names_the_input_and_output(
        tmp_path: Path, capsys, argv: list[str], given: str | None, output: str | None) -> None:
    """QA: ``downscale X -o results/ --json`` said "input": null, "output": null (the option was
    refused while parsed, before the command named them); the output is named as typed."""
    lst = str(tmp_path / "a_lst.tif")
    assert run([a.format(lst=lst) for a in argv] + ["--json"]) == 2
    [line] = json_lines(capsys.readouterr().out)
    assert (line["input"], line["output"], line["status"]) == (given and given.format(lst=lst), output, "error")
    assert "/: names a folder (it ends in a separator)" in line["error"]


# ---------------------------------------------------------------- usage errors: one line


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "groklst_cli", "--threads", "1", *args]


USAGE_ERRORS = [
    (["downscale", "x_lst.tif", "--tile", "4"],
     "Invalid value for '--tile': Input should be greater than or equal to 8 (hint: groklst downscale --help)"),
    (["downscale", "-dash_lst.tif"], "No such option: -d (hint: groklst downscale --help)"),
    (["downscale", "x_lst.tif", "--units-out", "fahrenheit"],  # no pydantic "Value error, "
     "Invalid value for '--units-out': 'fahrenheit' is not one of 'kelvin', 'celsius'. "
     "(hint: groklst downscale --help)"),
    (["downscale", "--tile"], "Option '--tile' requires an argument. (hint: groklst downscale --help)"),
    (["downscale"], "Missing argument 'inputs...'. (hint: groklst downscale --help)"),
    (["no-such-command"], "No such command 'no-such-command'. (hint: groklst --help)"),
    (["--threads", "0", "models"], "Invalid value for '--threads': "
                                   "Input should be greater than or equal to 1 (hint: groklst --help)"),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS)
def test_a_usage_error_is_one_line_exit_2(capsys, argv: list[str], message: str) -> None:
    """QA: click printed Usage:, Try ... and Error: lines where the README promises one."""
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {message}\n"
    assert captured.out == ""


def test_a_usage_error_with_json_is_also_a_json_line(capsys) -> None:
    assert run(["downscale", "x_lst.tif", "--units-out", "fahrenheit", "--json"]) == 2
    captured = capsys.readouterr()
    assert json_lines(captured.out) == [{
        "input": None, "output": None, "status": "error",
        "error": "Invalid value for '--units-out': 'fahrenheit' is not one of 'kelvin', 'celsius'.",
        "warnings": []}]
    assert captured.err == f"error: {USAGE_ERRORS[2][1]}\n"


def test_a_usage_error_is_one_line_in_a_real_process() -> None:
    proc = subprocess.run(_cli("downscale", "-dash_lst.tif"), capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2, "", "error: No such option: -d (hint: groklst downscale --help)\n")


def test_groklst_alone_still_prints_the_help(capsys) -> None:
    assert run([]) == 2
    out = capsys.readouterr().out
    assert "Usage: groklst [OPTIONS] COMMAND" in out and "downscale" in out


# ---------------------------------------------------------------- a closed stdout (| head)


def _closed_pipe() -> int:
    """The write end of a pipe whose reader is gone, as after ``| head -n 1`` exited."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize("flags", [["-q"], ["--debug"]])
def test_a_closed_stdout_stops_quietly_with_status_141(tmp_path: Path, flags: list[str]) -> None:
    """QA: ``downscale A B C --json | head -n 1`` exited 1 with nothing said: 141 (128 + SIGPIPE)
    like other tools, no traceback (not even with --debug) and no "Exception ignored" at exit."""
    scenes = [str(write_canonical_scene(tmp_path, name)[0]) for name in ("a", "b")]
    out = tmp_path / "new" / "deeper"
    stdout = _closed_pipe()
    try:
        proc = subprocess.run(_cli(*flags, "downscale", *scenes, "--out-dir", str(out), "--model",
                                   "bicubic", "--json"),
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(stdout)
    assert proc.returncode == 141, proc.stderr
    for noise in ("error", "Traceback", "Exception ignored", "BrokenPipe"):
        assert noise not in proc.stderr
    if flags == ["-q"]:
        assert proc.stderr == ""
    # the first scene was written before its line could not be; the second never started
    assert [p.name for p in out.iterdir()] == ["a_lst_downscaled.tif"]


def test_a_closed_stdout_leaves_no_out_dir_the_run_created(tmp_path: Path) -> None:
    lst, _ = write_canonical_scene(tmp_path, "a")
    stdout = _closed_pipe()
    try:
        proc = subprocess.run(_cli("-q", "downscale", str(tmp_path / "missing_lst.tif"), str(lst),
                                   "--out-dir", str(tmp_path / "new" / "deeper"), "--model", "bicubic",
                                   "--json"),
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(stdout)
    # the missing scene's line found stdout closed: its error is still said, and is the status
    assert (proc.returncode, proc.stderr) == (
        2, f"error: {tmp_path / 'missing_lst.tif'}: file not found (hint: check the path)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_guidance.tif", "a_lst.tif"]


@pytest.mark.parametrize("command", [["downscale", "IN", "--model", "bicubic", "-o", "OUT"], ["models", "--help"]])
def test_a_stdout_closed_before_the_run_is_a_gone_reader(tmp_path: Path, command: list[str]) -> None:
    """``groklst ... >&-`` (Python then has no stdout) was an internal error, exit 1, after the
    output was written: now as ``| head -n 0``, 141 with nothing said, the output kept."""
    lst, _ = write_canonical_scene(tmp_path, "a")
    out = tmp_path / "o.tif"
    argv = [str(lst) if a == "IN" else str(out) if a == "OUT" else a for a in ["-q", *command]]
    proc = subprocess.run(_cli(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=120, preexec_fn=lambda: os.close(1))
    assert (proc.returncode, proc.stderr) == (141, "")
    assert out.is_file() == (command[0] == "downscale")


class _ClosedStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_a_closed_stdout_in_process(tmp_path: Path, monkeypatch, capsys) -> None:
    lst, _ = write_canonical_scene(tmp_path, "a")
    monkeypatch.setattr(sys, "stdout", _ClosedStdout())
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 141
    assert capsys.readouterr().err == ""
    assert (tmp_path / "o.tif").is_file()  # written before its path could not be printed
    assert not list(tmp_path.glob(".o.tif*"))


class _StdoutReadOnce(io.StringIO):
    """A stdout whose reader goes away after the first line (``| head -n 1``)."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return super().write(text)


def test_a_scene_that_failed_before_stdout_closed_sets_the_status(tmp_path: Path, monkeypatch, capsys) -> None:
    """QA: ``downscale bad.tif a.tif b.tif --json | head -n 1`` exited 141, which a script that
    lets 141 pass takes for success: the failed scene's status, 2, and the run still stops."""
    scenes = [str(write_canonical_scene(tmp_path, name)[0]) for name in ("a", "b")]
    stdout = _StdoutReadOnce()
    monkeypatch.setattr(sys, "stdout", stdout)
    missing = tmp_path / "missing_lst.tif"
    assert run(["-q", "downscale", str(missing), *scenes, "--model", "bicubic", "--out-dir",
                str(tmp_path / "out"), "--json"]) == 2
    assert json_lines(stdout.getvalue())[0]["status"] == "error"
    assert capsys.readouterr().err == f"error: {missing}: file not found (hint: check the path)\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a_lst_downscaled.tif"]


def test_an_error_whose_json_line_finds_stdout_closed_is_still_said(monkeypatch, capsys) -> None:
    """The error, not the closed pipe, is what the user needs: its status and its line."""
    monkeypatch.setattr(sys, "stdout", _ClosedStdout())
    assert run(["downscale", "x_lst.tif", "--units-out", "fahrenheit", "--json"]) == 2
    assert capsys.readouterr().err == f"error: {USAGE_ERRORS[2][1]}\n"


# ---------------------------------------------------------------- SIGHUP


def _start_until_partial(tmp_path: Path, out: Path, **popen) -> subprocess.Popen:
    """A default-model downscale of a 90 px scene into ``out``, once its .partial exists."""
    assert run(["-q", "sample-scene", str(tmp_path), "--name", "h", "--size", "90", "--seed", "2"]) == 0
    proc = subprocess.Popen(_cli("-q", "downscale", str(tmp_path / "h_lst.tif"), "--out-dir", str(out),
                                 "--tile", "48", "--overlap", "24", "--batch-size", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    deadline = time.time() + 120
    while not list(out.glob(".*.partial")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the signal could be sent"
    return proc


def test_sighup_cleans_up_like_sigterm(tmp_path: Path) -> None:
    """QA: a closed terminal or a dropped ssh left the .partial and the --out-dir it created."""
    out = tmp_path / "new" / "deeper"
    proc = _start_until_partial(tmp_path, out)
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stdout, stderr) == (
        129, "", "error: hung up (SIGHUP); unfinished outputs were removed\n")
    assert not (tmp_path / "new").exists()


def test_a_sighup_ignored_by_nohup_stays_ignored(tmp_path: Path) -> None:
    out = tmp_path / "new"
    proc = _start_until_partial(tmp_path, out,
                                preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=180)
    assert (proc.returncode, stderr) == (0, "")
    assert stdout == f"{out / 'h_lst_downscaled.tif'}\n"


# ---------------------------------------------------------------- paths that are hard to print


def test_printable_path_escapes_control_characters_and_keeps_the_rest() -> None:
    assert printable_path("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable_path("a\x01b\x1b[31mc\x7fd\x85e\u2028f") == "a\\x01b\\x1b[31mc\\x7fd\\x85e\\u2028f"
    assert printable_path(os.fsdecode(b"x\xff\n_lst.tif")) == "x\ufffd\\n_lst.tif"
    assert printable_path(Path("é/[red]:fire: \\n.tif")) == "é/[red]:fire: \\n.tif"  # as typed
    assert printable_path(printable_path("a\nb")) == "a\\nb"  # escaping twice changes nothing


@pytest.mark.parametrize("name, shown", [
    ("a1\nx_lst.tif", "a1\\nx_lst.tif"),
    ("a1\x01x_lst.tif", "a1\\x01x_lst.tif"),
    ("a1\x1b[2Jx_lst.tif", "a1\\x1b[2Jx_lst.tif"),  # no terminal escape sequence either
    ("a1\u2028x_lst.tif", "a1\\u2028x_lst.tif"),
])
def test_control_characters_in_a_path_are_escaped_in_the_error_line(tmp_path: Path, capsys,
                                                                     name: str, shown: str) -> None:
    """QA: a newline in a path broke the one-line error over two lines, \\x01 was invisible."""
    assert run(["-q", "downscale", str(tmp_path / name), "--model", "bicubic",
                "-o", str(tmp_path / "o.tif")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/{shown}: file not found (hint: check the path)\n"
    assert run(["prepare", str(tmp_path / name), "-o", str(tmp_path / "ds")]) == 2  # a command's own refusal
    assert capsys.readouterr().err == f"error: {tmp_path}/{shown}: file not found (hint: check the path)\n"


def test_control_characters_in_a_path_are_escaped_in_warning_and_info_lines(tmp_path: Path, capsys) -> None:
    """QA: warning and info lines printed paths raw (the per-scene line escaped them): a newline
    broke the line, ``\\x1b[2J`` reached the terminal and cleared it. Here a line of each kind:
    the CLI's own warning, a pipeline's warning through Python's warnings module, an info line."""
    lst, _ = write_canonical_scene(tmp_path, "a\x1b[31mb")
    killed = tmp_path / ".o\nx.tif.0123abcd.partial"  # a killed run's: a warning
    killed.write_bytes(b"")
    os.utime(killed, (time.time() - 120,) * 2)
    assert run(["downscale", str(lst), str(lst), "--model", "bicubic", "-o", str(tmp_path / "o\nx.tif"),
                "--quicklook", str(tmp_path / "l\x1b[2Jk.png")]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err
    lines = err.splitlines()
    assert f"warning: {tmp_path}/a\\x1b[31mb_lst.tif: given more than once; downscaled once" in lines
    assert f"warning: {tmp_path}/o\\nx.tif: 1 unfinished temporary output(s) of a run that was killed " \
           "(.o\\nx.tif.0123abcd.partial); they may be deleted if no other groklst run " \
           "is writing there, else they are removed automatically after a day" in lines
    assert f"quicklook: {tmp_path}/l\\x1b[2Jk.png" in lines


def test_several_info_lines_keep_their_breaks_and_escape_control_characters_in_each(capsys) -> None:
    """QA: a multi-line info message (downscale --fit's table) came out as one line with literal
    ``\\n``: :func:`info_lines` prints each line as :func:`info` prints one."""
    from groklst_cli.console import info_lines

    info_lines(["fit on /d/a\x1b[2J.tif:", "  tsharp  0.8 K", "writing: x\ny"])
    assert capsys.readouterr().err == "fit on /d/a\\x1b[2J.tif:\n  tsharp  0.8 K\nwriting: x\\ny\n"


def test_result_lines_on_stdout_escape_control_characters_and_json_keeps_the_path(tmp_path: Path, capsys) -> None:
    """QA: the path printed for each written file went to stdout raw: a newline in a name made
    two lines of one result for ``while read``, and ``\\x1b`` reached the terminal. Escaped as
    on stderr, one line per result; ``--json`` carries the real name."""
    lst, _ = write_canonical_scene(tmp_path, "s")
    out, look = tmp_path / "o\nx.tif", tmp_path / "l\x1b[2J\tk.png"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/o\\nx.tif\n"
    assert run(["-q", "quicklook", str(out), "-o", str(look)]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/l\\x1b[2J\\tk.png\n"
    assert run(["-q", "sample-scene", str(tmp_path / "a\rb"), "--size", "8"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path}/a\\rb/heihe_demo_{kind}.tif"
                                                    for kind in ("lst", "guidance")]
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(out), "--overwrite", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["output"] == str(out) and out.is_file() and look.is_file()


def test_other_warnings_are_shown_with_control_characters_escaped(recwarn) -> None:
    """A library's warning is shown as Python shows it, its message escaped like groklst's."""
    with _groklst_warnings_shown():
        warnings.warn("cannot read /data/x\x1b[2J\ny.tif", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in recwarn] == ["cannot read /data/x\\x1b[2J\\ny.tif"]


def test_an_internal_error_message_stays_on_one_line(monkeypatch, capsys) -> None:
    import groklst_cli.commands.downscale as cmd

    def boom(*args, **kwargs):
        raise ValueError("two\nlines")

    monkeypatch.setattr(cmd, "_jobs", boom)
    assert run(["downscale", "x_lst.tif", "--model", "bicubic"]) == 1
    assert capsys.readouterr().err == \
        "error: internal error: ValueError: two\\nlines (run with --debug for the traceback)\n"


def test_a_json_line_about_a_path_that_is_not_utf8_is_strict_json(tmp_path: Path, capsys) -> None:
    """QA: "input" held the lone surrogate escape \\udcff (serde_json refuses it) where "error"
    said U+FFFD; both say U+FFFD now."""
    odd = os.fsdecode(bytes(tmp_path) + b"/x\xff_lst.tif")
    assert run(["-q", "downscale", odd, "--model", "bicubic", "-o", str(tmp_path / "o.tif"), "--json"]) == 2
    out = capsys.readouterr().out
    assert "\\ud" not in out
    out.encode("utf-8")  # Python could not encode the lone surrogate
    [line] = json_lines(out)
    assert line["input"] == f"{tmp_path}/x\ufffd_lst.tif"
    assert line["error"].startswith(f"{tmp_path}/x\ufffd_lst.tif: ")


def test_a_scenes_internal_error_stays_on_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """The per-scene error line escaped the paths in it but not an internal error's own text."""
    import pipelines.scenes as scenes_module

    def boom(*args, **kwargs):
        raise ValueError("two\nlines \x1b[31m")

    monkeypatch.setattr(scenes_module, "downscale_scene", boom)
    lst = write_canonical_scene(tmp_path, "a")[0]
    assert run(["downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == \
        f"error: internal error: ValueError: two\\nlines \\x1b[31m (scene {lst})"

"""Option values that were silently taken for something else (QA: option audit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from tests.conftest import write_canonical_scene


@pytest.mark.parametrize("command, message", [
    (["guidance", "{lst}", "{guidance}", "--scale", "3", "--class-values", "1,2", "-o", "{out}"],
     "error: --class-values: applies to class maps only (hint: add --categorical [NAME=]PATH, or drop it)"),
    (["mask", "{lst}", "{guidance}", "--bits", "", "-o", "{out}"],
     "error: --bits: is empty (hint: give a comma-separated list, or drop the option)"),
    (["mask", "{lst}", "{guidance}", "--values", " ", "-o", "{out}"],
     "error: --values: is empty (hint: give a comma-separated list, or drop the option)"),
])
def test_an_option_that_would_be_ignored_or_misread_is_refused(tmp_path: Path, capsys, command: list[str],
                                                               message: str) -> None:
    lst, guidance = write_canonical_scene(tmp_path, "s", bands=("red",))
    out = tmp_path / "out.tif"
    filled = [a.format(lst=lst, guidance=guidance, out=out) for a in command]
    assert run(["-q", *filled]) == 2
    assert capsys.readouterr().err == message + "\n"
    assert not out.exists()

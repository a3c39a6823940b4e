"""``groklst models``: the table, the JSON list and its numbers, bad options."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from groklst_cli.app import run
from groklst_cli.commands.models_cmd import model_rows, print_table
from models.cost import count_parameters, model_cost
from models.registry import build_model, list_models


def test_json_lists_every_model_with_cost(capsys):
    assert run(["models", "--scale", "4", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == [spec.name for spec in list_models()]
    for row in rows.values():
        assert {"name", "params", "gflop_per_mpx", "guided", "learned", "description"} <= set(row)
        assert (row["params"] > 0) == row["learned"]
    assert rows["mocolsk"]["params"] == pytest.approx(25.4e6, rel=0.02)
    # About 19 MFLOP per output pixel for the paper model, at most 1/20 of that for the preset.
    assert rows["mocolsk"]["gflop_per_mpx"] == pytest.approx(18_600, rel=0.05)
    assert rows["mocolsk-lite"]["gflop_per_mpx"] <= rows["mocolsk"]["gflop_per_mpx"] / 20
    assert rows["bicubic"]["gflop_per_mpx"] == 0
    assert rows["rcan"]["guided"] is False and rows["djfr"]["guided"] is True


def test_table_on_stdout(capsys):
    assert run(["models", "--scale", "2", "--bands", "4"]) == 0
    out = capsys.readouterr().out
    assert "x2 (4 guidance bands)" in out
    for spec in list_models():
        assert spec.name in out
    mocolsk = count_parameters(build_model("mocolsk", scale=2, guidance_channels=4))
    assert f"{mocolsk:,}" in out


@pytest.fixture(scope="module")
def rows_x4() -> list[dict]:
    return model_rows(4, 10)


@pytest.mark.parametrize("columns", [80, 200])
def test_table_fits_the_terminal_and_keeps_descriptions_readable(rows_x4, columns):
    """At 80 columns the descriptions go under the table instead of one word per line."""
    out = io.StringIO()
    print_table(Console(file=out, width=columns, soft_wrap=False), rows_x4, 4, 10)
    lines = out.getvalue().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    header = next(line for line in lines if "GFLOP/Mpx" in line)
    assert ("description" in header) == (columns == 200)
    text = " ".join(" ".join(line.strip("│ ").split()) for line in lines)
    for spec in list_models():
        assert spec.description in text, spec.name  # whole, not cut off with an ellipsis
    # no table row is a continuation holding only wrapped words of a description
    rows = [line for line in lines if line.startswith("│ ")]
    assert len(rows) == len(rows_x4) and all(line.split("│")[1].strip() for line in rows)


@pytest.mark.parametrize("argv", [["--scale", "1"], ["--bands", "0"]])
def test_bad_options_exit_2(argv, capsys):
    assert run(["models", *argv]) == 2
    assert "must be" in capsys.readouterr().err


def test_an_interpolator_is_measured_without_computing_its_output_tile():
    """The x16 cap came from bicubic and bilinear: without parameters they were traced on real
    CPU tensors of the whole output tile (22 GB at x256, an allocation error at x100000)."""
    cost = model_cost("bicubic", 100_000, 10)
    assert (cost.params, cost.gflop_per_mpx) == (0, 0.0)


def test_scales_above_16_are_listed(capsys):
    assert run(["models", "--scale", "256", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["bicubic"]["params"], rows["bicubic"]["gflop_per_mpx"]) == (0, 0)
    assert rows["mocolsk"]["scale"] == 256 and rows["mocolsk"]["gflop_per_mpx"] == pytest.approx(16_860, rel=0.01)
    assert rows["rsag"]["params"] is None  # its design stops at x16: listed, not measured


def test_costs_are_measured_once_then_read_from_the_cache_until_the_code_changes(tmp_path, monkeypatch):
    import groklst_cli.cost_cache as cost_cache
    import models.cost

    monkeypatch.setenv("GROKLST_CACHE_DIR", str(tmp_path))
    first = model_rows(2, 3)
    stored = json.loads((tmp_path / "model-costs.json").read_text())
    assert len(stored["costs"]) == sum(spec.supports(2) for spec in list_models())

    def measured(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(models.cost, "model_cost", measured)
    assert model_rows(2, 3) == first  # every figure from the cache
    monkeypatch.setattr(cost_cache, "code_fingerprint", lambda: "another model code")
    with pytest.raises(AssertionError, match="measured again"):
        model_rows(2, 3)
    (tmp_path / "model-costs.json").write_text("{not json")  # a damaged cache is measured over
    monkeypatch.undo()
    monkeypatch.setenv("GROKLST_CACHE_DIR", str(tmp_path))
    assert model_rows(2, 3) == first
    assert json.loads((tmp_path / "model-costs.json").read_text())["costs"] == stored["costs"]
    assert [p.name for p in tmp_path.iterdir()] == ["model-costs.json"]  # no temporary left

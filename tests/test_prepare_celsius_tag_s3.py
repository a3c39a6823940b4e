"""prepare warned "LST looks like degrees Celsius; converted to Kelvin" even for an LST whose
unit tag says degC, where downscale, coregister and ingest stay silent: the conversion is what the
file says (QA round s3). info.json records what said each scene's unit (``lst_units_from``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from groklst_cli.app import run
from tests.test_faults_prepare import SMALL, hr_values, kelvin_field, scene_with_lst

WARNING = "LST looks like degrees Celsius; converted to Kelvin"


def _prepare(lst: Path, out: Path, capsys, *extra: str) -> tuple[str, dict]:
    capsys.readouterr()
    assert run(["prepare", str(lst), "--out", str(out), *SMALL, *extra]) == 0
    scene = json.loads((out / "info.json").read_text())["scenes"]["scene"]
    return capsys.readouterr().err, scene


def _tagged(lst: Path, unit: str) -> Path:
    with rasterio.open(lst, "r+") as dst:
        dst.units = (unit,)
    return lst


def test_an_lst_tagged_celsius_is_converted_without_a_warning(tmp_path: Path, capsys) -> None:
    lst = _tagged(scene_with_lst(tmp_path, kelvin_field() - 273.15), "degC")
    err, scene = _prepare(lst, tmp_path / "ds", capsys)
    assert WARNING not in err
    assert scene["lst_units"] == "celsius" and scene["lst_units_from"] == "tag"
    hr = hr_values(tmp_path / "ds")
    assert 289.9 < np.nanmin(hr) and np.nanmax(hr) < 300.1


def test_an_untagged_celsius_lst_is_still_warned_about(tmp_path: Path, capsys) -> None:
    lst = scene_with_lst(tmp_path, kelvin_field() - 273.15)
    err, scene = _prepare(lst, tmp_path / "ds", capsys)
    assert f"warning: {lst}: {WARNING}" in err
    assert scene["lst_units"] == "celsius" and scene["lst_units_from"] == "values"


def test_a_tag_contradicted_by_the_values_is_warned_about(tmp_path: Path, capsys) -> None:
    """Tagged K but Celsius values: the values decide, and both warnings say so."""
    lst = _tagged(scene_with_lst(tmp_path, kelvin_field() - 273.15), "K")
    err, scene = _prepare(lst, tmp_path / "ds", capsys)
    assert "its unit tag says K but its values" in err and WARNING in err
    assert scene["lst_units"] == "celsius" and scene["lst_units_from"] == "values"


def test_a_declared_unit_is_recorded_as_the_option(tmp_path: Path, capsys) -> None:
    lst = _tagged(scene_with_lst(tmp_path, kelvin_field()), "K")
    err, scene = _prepare(lst, tmp_path / "ds", capsys, "--units", "kelvin")
    assert scene["lst_units"] == "kelvin" and scene["lst_units_from"] == "option"

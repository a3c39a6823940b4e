"""Library use (README *Python use*): wrong values are refused where they are given, naming the
field, the value and the allowed ones, instead of failing deep in a run or being written out."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import rasterio

from models.registry import UnknownModelError, build_model, get_spec
from pipelines.degrade import block_mean, degrade
from pipelines.downscale import DownscaleOptions, downscale_scene
from pipelines.errors import InputError
from pipelines.infer import Execution, ModelSource
from pipelines.units import OutputUnits, Units


def test_units_given_by_name_are_the_units_they_name(canonical_scene, tmp_path: Path):
    # a str failed at the end of the scan: AttributeError: 'str' object has no attribute 'value'
    options = DownscaleOptions(units="kelvin", units_out="celsius")
    assert options.units is Units.kelvin and options.units_out is Units.celsius
    assert DownscaleOptions(units_out=OutputUnits.kelvin).units_out is Units.kelvin
    lst, _ = canonical_scene
    report = downscale_scene(lst, tmp_path / "c.tif", ModelSource(interpolation="bicubic"), options=options)
    assert report.units == "kelvin in, celsius out"
    with rasterio.open(lst) as src, rasterio.open(tmp_path / "c.tif") as out:
        assert float(np.nanmean(out.read(1))) == pytest.approx(float(src.read(1).mean()) - 273.15, abs=0.05)


@pytest.mark.parametrize(("given", "named"), [
    ({"units": "Kelvins"}, "DownscaleOptions.units: unknown unit 'Kelvins' (hint: use one of kelvin, celsius, auto"),
    ({"units": 1}, "DownscaleOptions.units: unknown unit 1 (hint: use one of kelvin, celsius, auto"),
    ({"units_out": Units.auto}, "DownscaleOptions.units_out: unknown unit <Units.auto: 'auto'> "
                                "(hint: use one of kelvin, celsius ("),
    ({"units_out": "auto"}, "DownscaleOptions.units_out: unknown unit 'auto' (hint: use one of kelvin, celsius ("),
    ({"conserve_spread": "smoth"}, "DownscaleOptions.conserve_spread: unknown spread 'smoth' "
                                   "(hint: use block or smooth)"),
])
def test_unknown_option_values_are_refused_when_given(given, named):
    with pytest.raises(InputError) as info:
        DownscaleOptions(**given)
    assert str(info.value).startswith(named)


def test_an_unknown_precision_is_refused_when_given():
    # was accepted, ran as fp16 autocast and written into the output's precision tag
    with pytest.raises(InputError) as info:
        Execution(precision="bogus")
    assert str(info.value) == "Execution.precision: unknown precision 'bogus' (hint: use one of auto, fp32, bf16, fp16)"
    assert Execution(precision="bf16").precision == "bf16"


@pytest.mark.parametrize("name", ["nosuch"])  # a network's name: test_library_edges_s8
def test_an_unknown_interpolation_is_refused_when_given(name):
    with pytest.raises(InputError) as info:
        ModelSource(interpolation=name)
    assert str(info.value).startswith(f"ModelSource.interpolation: unknown interpolation '{name}' "
                                      "(hint: use one of bicubic, bilinear;")
    assert ModelSource(interpolation="bilinear").name == "bilinear"


def test_an_unknown_model_is_a_value_error_that_prints_plainly():
    with pytest.raises(ValueError) as info:  # as torchvision.models.get_model
        build_model("nosuch", scale=2, guidance_channels=1)
    text = str(info.value)  # a KeyError printed '"unknown model \'nosuch\'; ..."'
    assert text.startswith("unknown model 'nosuch'; known models: ahmf, bicubic, bilinear, ")
    assert "mocolsk-lite" in text.split("; known models: ")[1].split(", ")
    with pytest.raises(KeyError):  # what existing callers catch
        get_spec("nosuch")
    assert str(UnknownModelError()) == ""  # review R3: made without a message it raised IndexError


def test_degrade_documents_its_defaults_which_stay_area_in_kelvin():
    defaults = {name: p.default for name, p in inspect.signature(degrade).parameters.items()
                if name in ("method", "aggregate")}
    assert defaults == {"method": "area", "aggregate": "kelvin"}  # outputs unchanged
    doc = " ".join(degrade.__doc__.split())
    assert 'The defaults, ``method="area"`` and ``aggregate="kelvin"``' in doc
    assert '``method="mtf", aggregate="radiance"``' in doc  # how to get prepare's pairs
    values = np.array([[290.0, 310.0], [300.0, 300.0]], np.float32)
    assert degrade(values, 2) == pytest.approx(block_mean(values, 2))
    assert float(degrade(values, 2)[0, 0]) == pytest.approx(300.0)

"""--retrieval-config values are range-checked (QA: soil emissivity 1.2, negative water vapour,
NDVI thresholds swapped and a cavity factor of 7 were accepted and gave a 290-323 K LST)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines import lst_retrieval
from pipelines.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("toml", "problem"), [
    ("[split_window]\nwater_vapour = -2.0\n",
     "water_vapour in [split_window] is -2, outside [0, 8] for column water vapour, g/cm2 "
     "(hint: a value in [0, 8], e.g. the default 1.5)"),
    ("[split_window]\nwater_vapour = 8.5\n",
     "water_vapour in [split_window] is 8.5, outside [0, 8] for column water vapour, g/cm2 "
     "(hint: a value in [0, 8], e.g. the default 1.5)"),
    ("[emissivity]\nsoil = [1.2, 1.3]\n",
     "soil in [emissivity] is [1.2, 1.3], outside (0.8, 1] for a TIS B2/B3 emissivity "
     "(hint: values in (0.8, 1], e.g. the default [0.971, 0.977])"),
    ("[emissivity]\nvegetation = [0.99, 0.8]\n",
     "vegetation in [emissivity] is [0.99, 0.8], outside (0.8, 1] for a TIS B2/B3 emissivity "
     "(hint: values in (0.8, 1], e.g. the default [0.987, 0.989])"),
    ("[emissivity]\nwater = [99.1, 98.6]\n",
     "water in [emissivity] is [99.1, 98.6], outside (0.8, 1] for a TIS B2/B3 emissivity "
     "(hint: values in (0.8, 1], e.g. the default [0.991, 0.986])"),
    ("[emissivity]\ncavity = 7\n",
     "cavity in [emissivity] is 7, outside [0, 1] for the cavity term's geometric factor F "
     "(hint: a value in [0, 1], e.g. the default 0.55)"),
    ("[emissivity]\nndvi_soil = -1.5\n",
     "ndvi_soil in [emissivity] is -1.5, outside [-1, 1] for an NDVI (hint: a value in [-1, 1], e.g. the default 0.2)"),
    ("[emissivity]\nndvi_vegetation = 50\n",
     "ndvi_vegetation in [emissivity] is 50, outside [-1, 1] for an NDVI "
     "(hint: a value in [-1, 1], e.g. the default 0.5)"),
    ("[emissivity]\nndwi_water = 2\n",
     "ndwi_water in [emissivity] is 2, outside [-1, 1] for an NDWI (hint: a value in [-1, 1], e.g. the default 0)"),
    ("[emissivity]\nndvi_soil = 0.6\nndvi_vegetation = 0.3\n",
     "ndvi_soil (0.6) in [emissivity] is not below ndvi_vegetation (0.3) "
     "(hint: a soil threshold below the vegetation one, e.g. the defaults 0.2 and 0.5)"),
    ("[emissivity]\nndvi_soil = 0.5\n",  # equal thresholds: Pv would divide by zero
     "ndvi_soil (0.5) in [emissivity] is not below ndvi_vegetation (0.5) "
     "(hint: a soil threshold below the vegetation one, e.g. the defaults 0.2 and 0.5)"),
    ("[split_window]\nc = [nan, 1.378, 0.183, 54.30, -2.238, -129.20, 16.40]\n",
     "c in [split_window] is [nan, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4], not finite "
     "(hint: finite numbers, e.g. the default [-0.268, 1.378, 0.183, 54.3, -2.238, -129.2, 16.4])"),
    ("[split_window]\nwater_vapour = inf\n",
     "water_vapour in [split_window] is inf, not finite (hint: finite numbers, e.g. the default 1.5)"),
])
def test_impossible_values_are_refused(tmp_path: Path, toml: str, problem: str) -> None:
    config = tmp_path / "r.toml"
    config.write_text(toml)
    with pytest.raises(InputError) as caught:
        lst_retrieval.load_config(config)
    assert str(caught.value) == f"{config}: {problem}"


def test_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "r.toml"
    config.write_text("[split_window]\nwater_vapour = 0.0\n[emissivity]\nsoil = [1.0, 0.81]\ncavity = 1.0\n"
                      "ndvi_soil = -1.0\nndvi_vegetation = 1.0\nndwi_water = -1.0\n")
    loaded = lst_retrieval.load_config(config)
    assert (loaded.water_vapour, loaded.soil, loaded.cavity) == (0.0, (1.0, 0.81), 1.0)
    assert (loaded.ndvi_soil, loaded.ndvi_vegetation, loaded.ndwi_water) == (-1.0, 1.0, -1.0)


def test_shipped_sample_config_still_loads() -> None:
    shipped = ROOT / "sample_scenes" / "sdgsat1_retrieval.toml"
    assert lst_retrieval.load_config(shipped) == lst_retrieval.RetrievalConfig()


def test_qa_repro_is_refused_by_ingest_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The QA file (every value impossible) stops `groklst ingest` at its first bad key, exit 2."""
    config = tmp_path / "rc_bad.toml"
    config.write_text("[split_window]\nwater_vapour = -2.0\n[emissivity]\nsoil = [1.2, 1.3]\n"
                      "ndvi_soil = 0.6\nndvi_vegetation = 0.3\ncavity = 7\n")
    tis, mii, out = tmp_path / "tis", tmp_path / "mii", tmp_path / "out"
    tis.mkdir()
    mii.mkdir()
    assert run(["ingest", str(tis), str(mii), "--retrieval-config", str(config), "--out-dir", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: water_vapour in [split_window] is -2, outside [0, 8] for column water vapour, g/cm2 "
        "(hint: a value in [0, 8], e.g. the default 1.5)"]
    assert not out.exists()

"""``downscale --fit --guidance-bands``: the fit names the bands as the downscale that applies it does.

QA: the fit named the guidance bands by the file's descriptions while the downscale read them back by
the ``--guidance-bands`` names, so renaming or reordering the names fed the fitted model other bands
than it was fitted on (reversed names: refused late as ``model output implausible``; a blue/green
swap: silently wrong). Two bands of one name were refused only after the whole fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipelines.scene_fit as scene_fit
from groklst_cli.app import run
from pipelines.errors import InputError
from pipelines.fit_options import FitOptions

NAMES = ["dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi"]
HINT = ("(hint: give each band its own name: name them in file order with --guidance-bands, "
        "or set distinct band descriptions)")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """A generated x3 scene (its guidance bands described as ``NAMES``) and its plain ``--fit``
    output (tsharp, the fastest candidate)."""
    root = tmp_path_factory.mktemp("fitbands")
    assert run(["-q", "sample-scene", str(root), "--size", "96", "--seed", "2"]) == 0
    lst, guidance = root / "heihe_demo_lst.tif", root / "heihe_demo_guidance.tif"
    with rasterio.open(guidance) as src:
        assert [d.lower() for d in src.descriptions] == NAMES
    return lst, guidance, fitted(lst, root / "plain.tif")


def fitted(lst: Path, out: Path, *extra: str) -> np.ndarray:
    """The output of ``downscale --fit --model tsharp`` with ``extra`` options."""
    assert run(["-q", "downscale", str(lst), "--fit", "--model", "tsharp", "-o", str(out), *extra]) == 0
    with rasterio.open(out) as src:
        return src.read(1)


def swapped(names: list[str], a: str, b: str) -> list[str]:
    """``names`` with ``a`` and ``b`` trading places."""
    i, j = names.index(a), names.index(b)
    out = list(names)
    out[i], out[j] = out[j], out[i]
    return out


@pytest.mark.parametrize("names", [
    NAMES,
    [f"g{i}" for i in range(1, 11)],
    list(reversed(NAMES)),
    swapped(NAMES, "blue", "green"),
], ids=["the descriptions", "renamed", "reversed", "blue and green swapped"])
def test_declared_names_are_labels_of_the_bands_in_file_order(
        scene: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys, names: list[str]) -> None:
    """The bands are fitted and applied in file order whatever --guidance-bands calls them, so the
    output is the plain run's, and the fit reports the declared names."""
    lst, _, plain = scene
    capsys.readouterr()
    out = fitted(lst, tmp_path / "out.tif", "--guidance-bands", ",".join(names), "--json")
    assert np.isfinite(plain).mean() > 0.9
    np.testing.assert_array_equal(out, plain)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "ok" and line["fit"]["bands"] == names


def test_fit_scene_names_the_bands_as_declared(scene: tuple[Path, Path, np.ndarray]) -> None:
    lst, guidance, _ = scene
    options = FitOptions(model="tsharp")
    assert scene_fit.fit_scene(lst, guidance, options).bands == NAMES
    renamed = [n.upper() for n in reversed(NAMES)]
    assert scene_fit.fit_scene(lst, guidance, options, guidance_bands=renamed).bands == list(reversed(NAMES))


def write_doubled(guidance: Path, path: Path) -> Path:
    """A copy of ``guidance`` at ``path`` with an 11th band also called ``DEM `` (the dem plus
    500 m), which names normalise to ``dem``."""
    with rasterio.open(guidance) as src:
        bands, names, profile = src.read(), list(src.descriptions), dict(src.profile, count=11)
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.concatenate([bands, bands[:1] + 500]))
        for i, name in enumerate(names + ["DEM "], start=1):
            out.set_band_description(i, name)
    return path


@pytest.fixture()
def doubled(scene: tuple[Path, Path, np.ndarray], tmp_path: Path, monkeypatch) -> Path:
    """The scene's guidance with two bands named ``dem`` (:func:`write_doubled`), and any
    candidate's fit failing the test: the refusal must come first."""
    _, guidance, _ = scene
    path = write_doubled(guidance, tmp_path / "g.tif")

    def no_fit(*args, **kwargs):
        raise AssertionError("a candidate was fitted before the duplicate band name was refused")

    monkeypatch.setattr(scene_fit, "sharpener_candidate", no_fit)
    return path


def test_two_bands_of_one_name_are_refused_before_the_fit(
        scene: tuple[Path, Path, np.ndarray], doubled: Path, tmp_path: Path, capsys) -> None:
    lst, _, _ = scene
    with pytest.raises(InputError) as refused:
        scene_fit.fit_scene(lst, doubled, FitOptions(model="tsharp"))
    assert str(refused.value) == f"{doubled}: band name 'dem' appears twice (bands 1 and 11) {HINT}"
    out = tmp_path / "out.tif"
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst), "-g", str(doubled), "--fit", "--model", "tsharp",
                "-o", str(out), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error"
    assert line["error"] == f"{doubled}: band name 'dem' appears twice (bands 1 and 11) {HINT}"
    assert not out.exists()


def test_the_doubled_file_renamed_is_fitted(scene: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    """Distinct --guidance-bands names make the same file usable, as without --fit."""
    lst, guidance, _ = scene
    path = write_doubled(guidance, tmp_path / "g.tif")
    out = fitted(lst, tmp_path / "out.tif", "-g", str(path), "--guidance-bands", ",".join(NAMES + ["dem2"]))
    assert np.isfinite(out).mean() > 0.9

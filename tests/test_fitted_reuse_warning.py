"""A network saved by ``--fit`` and run alone with ``-c`` says it may be worse than bicubic:
measured on the README's Muenster scene (0.85 K against 0.48 K), a user reusing it on an
archive would otherwise never learn it."""

from __future__ import annotations

import json
from pathlib import Path

from groklst_cli.app import run
from pipelines.checkpoint import Checkpoint
from tests.conftest import write_canonical_scene


def _checkpoint(path: Path, config: dict[str, str]) -> Path:
    Checkpoint.untrained("bicubic", 3, ["red", "nir"], hr_resolution=10.0, hr_resolution_units="m",
                         config=config).save(path)
    return path


def test_a_fitted_network_run_alone_warns_in_the_json_line(tmp_path: Path, capsys) -> None:
    lst, _ = write_canonical_scene(tmp_path, "s")
    ckpt = _checkpoint(tmp_path / "fit.pt", {"fitted_on": "muenster_lst.tif"})
    assert run(["downscale", str(lst), "-c", str(ckpt), "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "ok"
    assert [w for w in line["warnings"] if "saved by --fit" in w] == [
        f"{ckpt} is a network saved by --fit (on muenster_lst.tif) and runs alone, without the blend and "
        "residual spread it was fitted with: alone it can be worse than bicubic (0.85 K against 0.48 K on the "
        "README's Muenster scene); score it with groklst compare against --model bicubic, or run --fit on each scene"]


def test_a_trained_network_does_not_warn(tmp_path: Path, capsys) -> None:
    lst, _ = write_canonical_scene(tmp_path, "s")
    ckpt = _checkpoint(tmp_path / "trained.pt", {})
    assert run(["downscale", str(lst), "-c", str(ckpt), "-o", str(tmp_path / "o.tif"), "--json"]) == 0
    assert not any("saved by --fit" in w for w in json.loads(capsys.readouterr().out)["warnings"])

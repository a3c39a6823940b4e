"""``downscale --fit --save-checkpoint --skip-existing``: a skipped scene writes no checkpoint, and
its line (stderr and ``--json``) says so and names the file, left unchanged where one exists
(QA: a skipped rerun said nothing about ck.pt, which looked saved or refreshed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pipelines.downscale as downscale_module
from groklst_cli.app import run
from tests.test_fit_small_fixes import NETWORK, scene

SAID = "no checkpoint was written to {} (--save-checkpoint)"
KEPT = ": the one already there is left unchanged"


def command(lst_path: Path, out: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK,
            "-o", str(out), "--save-checkpoint", str(ckpt), *extra]


def fitted_pair(tmp_path: Path, capsys) -> tuple[Path, Path, Path]:
    """A scene, and its output and checkpoint written by a first --fit run."""
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "fit.tif", tmp_path / "ck.pt"
    assert run(["-q", *command(lst_path, out, ckpt)]) == 0
    capsys.readouterr()
    assert out.is_file() and ckpt.is_file()
    return lst_path, out, ckpt


def stamp(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


def test_a_skipped_rerun_says_the_existing_checkpoint_is_left_unchanged(tmp_path: Path, capsys) -> None:
    lst_path, out, ckpt = fitted_pair(tmp_path, capsys)
    before = stamp(ckpt)
    assert run(command(lst_path, out, ckpt, "--skip-existing", "--json")) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], "fit" in line) == ("skipped", False)
    assert line["save_checkpoint"] == {"path": str(ckpt), "saved": False, "exists": True}
    assert f"skipped {lst_path}: {out} exists; {SAID.format(ckpt)}{KEPT}\n" in captured.err
    assert stamp(ckpt) == before
    # the installed command, without --json: the same line on stderr, nothing on stdout, exit 0
    done = subprocess.run([str(Path(sys.executable).with_name("groklst")), *command(lst_path, out, ckpt,
                                                                                     "--skip-existing")],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"skipped {lst_path}: {out} exists; {SAID.format(ckpt)}{KEPT}\n"
    assert stamp(ckpt) == before


def test_a_skipped_scene_without_a_checkpoint_creates_none_and_says_so(tmp_path: Path, capsys) -> None:
    lst_path, out, ckpt = fitted_pair(tmp_path, capsys)
    ckpt.unlink()
    assert run(command(lst_path, out, ckpt, "--skip-existing", "--json")) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert line["status"] == "skipped"
    assert line["save_checkpoint"] == {"path": str(ckpt), "saved": False, "exists": False}
    assert f"skipped {lst_path}: {out} exists; {SAID.format(ckpt)}\n" in captured.err
    assert not ckpt.exists()


def test_an_output_another_run_finished_during_the_fit_skips_the_checkpoint_too(
        tmp_path: Path, monkeypatch, capsys) -> None:
    lst_path, out, ckpt = fitted_pair(tmp_path, capsys)
    others = out.read_bytes()
    out.unlink()
    ckpt.unlink()
    real = downscale_module._write_mosaic

    def another_run_finishes_first(*args, **kwargs) -> None:
        real(*args, **kwargs)
        out.write_bytes(others)

    monkeypatch.setattr(downscale_module, "_write_mosaic", another_run_finishes_first)
    assert run(command(lst_path, out, ckpt, "--skip-existing", "--json")) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["fit"]["checkpoint_saved"]) == ("skipped", None)
    assert line["save_checkpoint"] == {"path": str(ckpt), "saved": False, "exists": False}
    assert f"skipped {lst_path}: {out} exists; {SAID.format(ckpt)}\n" in captured.err
    assert not ckpt.exists() and out.read_bytes() == others
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.tif", "scene_guidance.tif", "scene_lst.tif"]


def test_a_skipped_product_scene_names_the_checkpoint_it_leaves(tmp_path: Path, capsys) -> None:
    """SDGSAT-1 product folders are skipped before the ingest: the line names the checkpoint too."""
    assert run(["-q", "sample-scene", str(tmp_path / "raw"), "--size", "12", "--seed", "2", "--products"]) == 0
    folders = capsys.readouterr().out.split()[2:4]
    out_dir, ckpt = tmp_path / "out", tmp_path / "ck.pt"
    out_dir.mkdir()
    written = out_dir / "KX10_20220815_E100.45_N38.93_202200112235_L4A_lst_downscaled.tif"
    shutil.copy(scene(tmp_path), written)  # a finished GeoTIFF, as an earlier run leaves
    ckpt.write_bytes(b"an earlier run's network")
    before = stamp(ckpt)
    assert run(["downscale", *folders, "--out-dir", str(out_dir), "--fit", "--save-checkpoint", str(ckpt),
                "--skip-existing", "--json"]) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out)
    assert (line["status"], line["output"]) == ("skipped", str(written))
    assert line["save_checkpoint"] == {"path": str(ckpt), "saved": False, "exists": True}
    assert f"skipped {', '.join(folders)}: {written} exists; {SAID.format(ckpt)}{KEPT}\n" in captured.err
    assert stamp(ckpt) == before

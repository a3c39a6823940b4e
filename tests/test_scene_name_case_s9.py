"""A scene named ``X_LST.TIF`` (a Windows copy, an archive that upper-cases names) is paired with
its guidance like ``X_lst.tif``: before, downscale refused it ("does not end in _lst") and prepare
("not a canonical LST file")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from groklst_cli.app import run
from pipelines.raster_names import paired_guidance, scene_name
from tests.conftest import write_canonical_scene


def _renamed(tmp_path: Path, lst_name: str, guidance_name: str) -> Path:
    """A canonical scene whose two files are renamed ``lst_name`` and ``guidance_name``."""
    lst, guidance = write_canonical_scene(tmp_path / "src")
    folder = tmp_path / "scene"
    folder.mkdir()
    guidance.rename(folder / guidance_name)
    return lst.rename(folder / lst_name)


def test_the_suffix_is_matched_in_any_case() -> None:
    assert [scene_name(s) for s in ("a_lst", "a_LST", "a.b_Lst", "a_lstx", "lst")] == ["a", "a", "a.b", None, None]
    assert paired_guidance(Path("d/X_LST.TIF")) == Path("d/X_GUIDANCE.TIF")
    assert paired_guidance(Path("d/x_lst.tif")) == Path("d/x_guidance.tif")
    assert paired_guidance(Path("d/x.tif")) is None


def test_an_upper_case_scene_downscales_like_a_lower_case_one(tmp_path: Path, capsys) -> None:
    lst = _renamed(tmp_path, "X_LST.TIF", "X_GUIDANCE.TIF")
    out = tmp_path / "out.tif"
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "--json", "-o", str(out)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "ok"
    with rasterio.open(out) as src, rasterio.open(lst.with_name("X_GUIDANCE.TIF")) as guide:
        assert (src.shape, src.transform) == (guide.shape, guide.transform)
        assert np.isfinite(src.read(1)).all()


def test_the_other_spelling_on_disk_is_the_pair(tmp_path: Path, capsys) -> None:
    """``X_LST.tif`` beside ``X_guidance.tif`` (renamed by hand): that guidance, not a refusal."""
    lst = _renamed(tmp_path, "X_LST.tif", "X_guidance.tif")
    assert paired_guidance(lst) == lst.with_name("X_guidance.tif")
    assert run(["-q", "downscale", str(lst), "--model", "bicubic", "-o", str(tmp_path / "o.tif")]) == 0


def test_prepare_takes_an_upper_case_scene_under_its_name(tmp_path: Path) -> None:
    lst = _renamed(tmp_path, "X_LST.TIF", "X_GUIDANCE.TIF")
    out = tmp_path / "ds"
    assert run(["-q", "prepare", str(lst), "--out", str(out), "--scales", "2", "--patch", "8",
                "--stride", "8", "--split", "1:0:0"]) == 0
    scenes = json.loads((out / "info.json").read_text())["scenes"]
    assert list(scenes) == ["X"] and scenes["X"]["guidance"] == str(lst.with_name("X_GUIDANCE.TIF"))


def test_inside_an_archive_the_other_spelling_is_found_too(tmp_path: Path) -> None:
    """Review: ``/vsizip/s.zip/X_LST.tif`` beside ``X_guidance.tif`` in the zip looked for
    ``X_GUIDANCE.tif`` only (pathlib sees no file inside an archive)."""
    import zipfile

    lst = _renamed(tmp_path, "X_LST.tif", "X_guidance.tif")
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for member in (lst, lst.with_name("X_guidance.tif")):
            zf.write(member, member.name)
    inside = f"/vsizip/{archive}/X_LST.tif"
    assert paired_guidance(inside) == Path(f"/vsizip/{archive}/X_guidance.tif")
    assert run(["-q", "downscale", inside, "--model", "bicubic", "-o", str(tmp_path / "z.tif")]) == 0


def test_a_remote_upper_case_name_is_not_looked_up_and_a_bad_archive_is_no_pair(
        tmp_path: Path, monkeypatch) -> None:
    """Review R4: ``/vsicurl/.../S_LST.tif`` looked ``S_GUIDANCE.tif`` up on the server, whose 404
    (or a DNS failure, or missing S3 credentials) raised: an internal error, exit 1."""
    import rasterio.errors
    import rasterio.shutil

    def unreachable(name: str) -> bool:
        raise rasterio.errors.RasterioIOError(f"HTTP response code: 404 ({name})")

    monkeypatch.setattr(rasterio.shutil, "exists", unreachable)
    remote = "/vsicurl/https://example.invalid/a/S_LST.tif"
    assert paired_guidance(remote) == Path("/vsicurl/https://example.invalid/a/S_GUIDANCE.tif")
    zipped = f"/vsizip/{tmp_path / 'gone.zip'}/S_LST.tif"
    assert paired_guidance(zipped) == Path(f"/vsizip/{tmp_path / 'gone.zip'}/S_GUIDANCE.tif")

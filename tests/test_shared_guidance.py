"""One ``--guidance`` raster for many LST inputs (an archive of dates over one place), with and
without ``--align``, in ``downscale`` and ``prepare``: each scene is what a run on it alone
(or with its own guidance beside it) gives, a bad scene is that scene's error alone in
``downscale``, and no aligned copy is left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from groklst_cli.app import run
from pipelines.dataset import open_prepared
from pipelines.geotiff import write_raster
from tests.conftest import UTM, write_canonical_scene

X0, Y0 = 500_000.0, 5_760_000.0


def _date(folder: Path, name: str, seed: int, origin: tuple[float, float] = (X0, Y0)) -> Path:
    """A 20 x 24 px LST at 30 m with nodata in a corner, different for every seed."""
    yy, xx = np.mgrid[0:20, 0:24]
    lst = 300.0 + 5.0 * np.sin(yy / (4.0 + seed)) + 3.0 * np.cos(xx / (6.0 + seed))
    lst[:2, :3] = np.nan
    lst_path, _ = write_canonical_scene(folder, name, shape=(20, 24), lst=lst, origin=origin,
                                        bands=("red", "nir"), seed=seed)
    return lst_path


def _offset_guidance(folder: Path, cols: int = 44) -> Path:
    """Two bands at 20 m, 15 m off the 30 m LST grids (they do not nest), covering both dates
    (with fewer ``cols``, only the west of them)."""
    data = np.random.default_rng(3).uniform(0.05, 0.4, (2, 36, cols))
    path = folder / "s2_20m.tif"
    write_raster(path, data, crs=UTM, transform=Affine(20, 0, X0 - 15, 0, -20, Y0 + 15),
                 descriptions=["red", "nir"])
    return path


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _alone(lst: Path, guidance: Path, out: Path, *extra: str) -> np.ndarray:
    assert run(["-q", "downscale", str(lst), "--guidance", str(guidance), "--model", "bicubic",
                *extra, "-o", str(out), "--overwrite"]) == 0
    return _pixels(out)


def test_one_guidance_for_several_dates_on_one_grid(tmp_path: Path) -> None:
    first, second = _date(tmp_path, "d1", 1), _date(tmp_path, "d2", 2)
    guidance = tmp_path / "d1_guidance.tif"  # the first date's, nesting in both
    out = tmp_path / "out"
    assert run(["-q", "downscale", str(first), str(second), "--guidance", str(guidance),
                "--model", "bicubic", "--out-dir", str(out)]) == 0
    for lst in (first, second):
        written = out / f"{lst.stem}_downscaled.tif"
        np.testing.assert_array_equal(_pixels(written), _alone(lst, guidance, tmp_path / "alone.tif"))
        with rasterio.open(written) as src:
            assert src.tags()["guidance_source"] == str(guidance.resolve())
    assert not np.array_equal(_pixels(out / "d1_lst_downscaled.tif"), _pixels(out / "d2_lst_downscaled.tif"))


def test_align_resamples_one_guidance_onto_each_dates_grid(tmp_path: Path, capsys) -> None:
    """Two dates on different grids share a guidance that nests in neither; a third date far
    away is refused on a line naming it while the others are written."""
    first = _date(tmp_path, "d1", 1)
    shifted = _date(tmp_path, "d2", 2, origin=(X0 + 60, Y0 - 30))
    far = _date(tmp_path, "d3[red]", 3, origin=(X0 + 100_000, Y0))  # no markup in messages
    guidance = _offset_guidance(tmp_path)
    out = tmp_path / "out"
    capsys.readouterr()
    status = run(["downscale", str(first), str(shifted), str(far), "--guidance", str(guidance),
                  "--align", "--model", "bicubic", "--out-dir", str(out), "--json"])
    assert status == 2  # one scene had bad input; the others went on
    captured = capsys.readouterr()
    lines = {Path(r["input"]).name: r for r in map(json.loads, captured.out.splitlines())}
    assert {n: r["status"] for n, r in lines.items()} == {"d1_lst.tif": "ok", "d2_lst.tif": "ok",
                                                          "d3[red]_lst.tif": "error"}
    assert str(guidance) in lines["d3[red]_lst.tif"]["error"]
    refused = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(refused) == 1 and refused[0].endswith(f"(scene {far})"), refused
    assert captured.err.count(f"aligned {guidance} onto the LST grid") == 2
    for lst in (first, shifted):
        written = out / f"{lst.stem}_downscaled.tif"
        alone = _alone(lst, guidance, tmp_path / "alone.tif", "--align")
        np.testing.assert_array_equal(_pixels(written), alone)
        with rasterio.open(written) as src, rasterio.open(lst) as lst_src:
            assert src.res == (15.0, 15.0) and src.crs == lst_src.crs
            assert (src.transform.c, src.transform.f) == (lst_src.transform.c, lst_src.transform.f)
            assert src.tags()["guidance_aligned"] == "bilinear onto LST/2 (--align)"
    assert sorted(p.name for p in out.iterdir()) == ["d1_lst_downscaled.tif", "d2_lst_downscaled.tif"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_align_needs_a_guidance_raster(tmp_path: Path, capsys) -> None:
    first, second = _date(tmp_path, "d1", 1), _date(tmp_path, "d2", 2)
    assert run(["downscale", str(first), str(second), "--align", "--model", "bicubic",
                "--out-dir", str(tmp_path / "out")]) == 2
    assert "--align: aligns the --guidance raster onto the LST grid (hint: pass --guidance G.tif)" \
        in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_align_on_a_dask_cluster_gives_what_a_local_run_gives(tmp_path: Path, capsys) -> None:
    distributed = pytest.importorskip("dask.distributed")
    first, shifted = _date(tmp_path, "d1", 1), _date(tmp_path, "d2", 2, origin=(X0 + 60, Y0 - 30))
    guidance = _offset_guidance(tmp_path)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        capsys.readouterr()
        status = run(["-q", "downscale", str(first), str(shifted), "--guidance", str(guidance), "--align",
                      "--model", "bicubic", "--out-dir", str(out), "--json",
                      "--dask-scheduler", cluster.scheduler_address])
    assert status == 0
    assert sorted(json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()) == ["ok", "ok"]
    for lst in (first, shifted):
        alone = _alone(lst, guidance, tmp_path / "alone.tif", "--align")
        np.testing.assert_array_equal(_pixels(out / f"{lst.stem}_downscaled.tif"), alone)
    assert sorted(p.name for p in out.iterdir()) == ["d1_lst_downscaled.tif", "d2_lst_downscaled.tif"]


def _dataset_arrays(dataset: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    ds = open_prepared(dataset)
    return [ds.read(i, 2) for i in range(len(ds))]


def _prepare(*args: str) -> None:
    assert run(["-q", "prepare", *args, "--scales", "2", "--patch", "8", "--stride", "8",
                "--split", "1:0:0"]) == 0


def _beside_each(folder: Path, dates: list[Path], guidance_of: dict[Path, Path]) -> list[Path]:
    """Copies of ``dates`` in ``folder`` with their guidance as NAME_guidance.tif beside them."""
    folder.mkdir()
    copies = []
    for lst in dates:
        copies.append(Path(shutil.copy(lst, folder / lst.name)))
        shutil.copy(guidance_of[lst], folder / lst.name.replace("_lst", "_guidance"))
    return copies


def test_prepare_with_one_guidance_for_several_dates(tmp_path: Path) -> None:
    first, second = _date(tmp_path, "d1", 1), _date(tmp_path, "d2", 2)
    shared = tmp_path / "d1_guidance.tif"
    _prepare(str(first), str(second), "--guidance", str(shared), "-o", str(tmp_path / "ds"))
    reference = _beside_each(tmp_path / "ref", [first, second], {first: shared, second: shared})
    _prepare(*map(str, reference), "-o", str(tmp_path / "ds_ref"))
    for got, expected in zip(_dataset_arrays(tmp_path / "ds"), _dataset_arrays(tmp_path / "ds_ref"), strict=True):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    info = json.loads((tmp_path / "ds" / "info.json").read_text())
    assert info["settings"]["shared_guidance"] == {"path": str(shared.resolve()), "aligned": False}
    assert {s["guidance"] for s in info["scenes"].values()} == {str(shared)}


def test_prepare_aligns_one_guidance_onto_each_dates_grid(tmp_path: Path) -> None:
    first = _date(tmp_path, "d1", 1)
    shifted = _date(tmp_path, "d2", 2, origin=(X0 + 60, Y0 - 30))
    guidance = _offset_guidance(tmp_path)
    _prepare(str(first), str(shifted), "--guidance", str(guidance), "--align", "-o", str(tmp_path / "ds"))
    # The same as building each date's guidance with groklst guidance at the pixel-size ratio.
    built = {}
    for lst in (first, shifted):
        built[lst] = tmp_path / f"built_{lst.name}"
        assert run(["-q", "guidance", str(lst), str(guidance), "--scale", "2", "-o", str(built[lst])]) == 0
    reference = _beside_each(tmp_path / "ref", [first, shifted], built)
    _prepare(*map(str, reference), "-o", str(tmp_path / "ds_ref"))
    got, expected = _dataset_arrays(tmp_path / "ds"), _dataset_arrays(tmp_path / "ds_ref")
    assert len(got) == len(expected) > 0
    for patch, ref in zip(got, expected):
        for a, b in zip(patch, ref):
            np.testing.assert_array_equal(a, b)
    info = json.loads((tmp_path / "ds" / "info.json").read_text())
    assert info["settings"]["shared_guidance"]["aligned"] is True
    assert {s["guidance"] for s in info["scenes"].values()} == {
        f"{guidance} (aligned onto d1_lst.tif)", f"{guidance} (aligned onto d2_lst.tif)"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("pixel", [30.0, 60.0])
def test_prepare_aligns_guidance_as_fine_as_the_lst_or_coarser_onto_the_lst_grid(
    tmp_path: Path, capsys, pixel: float
) -> None:
    first = _date(tmp_path, "d1", 1)
    rows, cols = int(20 * 30 / pixel) + 2, int(24 * 30 / pixel) + 2
    guidance = tmp_path / "coarse.tif"
    write_raster(guidance, np.random.default_rng(4).uniform(0.05, 0.4, (2, rows, cols)), crs=UTM,
                 transform=Affine(pixel, 0, X0 - 15, 0, -pixel, Y0 + 15), descriptions=["red", "nir"])
    assert run(["prepare", str(first), "--guidance", str(guidance), "--align", "-o", str(tmp_path / "ds"),
                "--scales", "2", "--patch", "8", "--stride", "8", "--split", "1:0:0"]) == 0
    coarser = [line for line in capsys.readouterr().err.splitlines() if "coarser than the LST" in line]
    assert coarser == ([] if pixel == 30 else [
        f"warning: {guidance} is coarser than the LST (pixel-size ratio 0.50): interpolated onto the "
        "LST grid, it holds no detail finer than its own pixels"])
    built = tmp_path / "built.tif"  # groklst guidance onto the LST grid itself
    assert run(["-q", "guidance", str(first), str(guidance), "--scale", "1", "-o", str(built)]) == 0
    _prepare(*map(str, _beside_each(tmp_path / "ref", [first], {first: built})), "-o", str(tmp_path / "ds_ref"))
    got, expected = _dataset_arrays(tmp_path / "ds"), _dataset_arrays(tmp_path / "ds_ref")
    assert len(got) == len(expected) > 0
    for patch, ref in zip(got, expected):
        assert patch[1].shape[-2:] == patch[2].shape[-2:] == (8, 8)  # guidance on the HR (LST) grid
        for a, b in zip(patch, ref):
            np.testing.assert_array_equal(a, b)


def test_prepare_align_needs_a_guidance_and_no_product_folders(tmp_path: Path, capsys) -> None:
    first = _date(tmp_path, "d1", 1)
    assert run(["prepare", str(first), "--align", "-o", str(tmp_path / "ds")]) == 2
    assert "--align: aligns the --guidance raster onto each LST grid" in capsys.readouterr().err
    (tmp_path / "KX10_MII_folder").mkdir()
    assert run(["prepare", str(tmp_path / "KX10_MII_folder"), "--guidance", str(first),
                "-o", str(tmp_path / "ds")]) == 2
    assert "the MII product is the guidance" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_prepare_names_unnamed_guidance_bands_with_guidance_bands(tmp_path: Path, capsys) -> None:
    first = _date(tmp_path, "d1", 1)
    with rasterio.open(tmp_path / "d1_guidance.tif") as src:
        unnamed = tmp_path / "unnamed.tif"
        write_raster(unnamed, src.read(), crs=src.crs, transform=src.transform, descriptions=["", ""])
    out = tmp_path / "ds"
    assert run(["prepare", str(first), "--guidance", str(unnamed), "-o", str(out)]) == 2
    assert "have no description (hint: name them with --guidance-bands" in capsys.readouterr().err
    assert run(["prepare", str(first), "--guidance", str(unnamed), "--guidance-bands", "red", "-o", str(out)]) == 2
    assert "has 2 bands but --guidance-bands names 1" in capsys.readouterr().err
    _prepare(str(first), "--guidance", str(unnamed), "--guidance-bands", "Red,NIR", "-o", str(out))
    assert open_prepared(out).bands == ["red", "nir"]
    _prepare(str(first), "-o", str(tmp_path / "ds_ref"))  # its own, named guidance beside it
    for got, expected in zip(_dataset_arrays(out), _dataset_arrays(tmp_path / "ds_ref"), strict=True):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_a_warning_every_scene_gives_is_shown_once_with_a_count(tmp_path: Path, capsys) -> None:
    """The shared guidance covers the west half of both dates: its coverage warning is the
    same for both, so it is said once and the count follows at the end; it names the guidance as
    typed (a bare file name could be any date's)."""
    first, second = _date(tmp_path, "d1", 1), _date(tmp_path, "d2", 2)
    guidance = _offset_guidance(tmp_path, cols=20)
    assert run(["downscale", str(first), str(second), "--guidance", str(guidance), "--align",
                "--model", "bicubic", "--out-dir", str(tmp_path / "out")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    coverage = [line for line in warned if "s2_20m.tif has data on" in line]
    assert len(coverage) == 2 and coverage[1].startswith(f"warning: given 1 more time: {guidance}"), warned
    assert "downscale writes NaN" in coverage[0] and warned[-1] == coverage[1]

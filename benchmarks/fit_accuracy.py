"""Accuracy of ``groklst downscale --fit`` and of the classic sharpeners against a known truth.

Two kinds of scene, each by Wald's protocol (the truth is degraded, every method sharpens it
back, and the result is compared with the truth; no method ever sees the truth):

(a) **Real**: Landsat 8/9 Collection-2 ST dates over Muenster (``../shared/data/
    landsat-muenster``): the 30 m LST (530 x 610, cropped to whole 120 m cells) is the truth and
    its 4 x 4 block mean, 120 m, the input. Guidance on the 30 m grid: Sentinel-2 B11 (20 m)
    and the 10 m land-cover map as four per-class fractions, area-averaged onto the grid that
    nests in the 120 m one by ``groklst guidance`` (its grids do not nest with Landsat's). One
    guidance for all dates (its date is not stated by the source).
(b) **Generated**: fine LST = 300 + 8 tanh(g1) + 4 g2^2 + a large-scale field, guidance smooth
    random fields (as ``benchmarks/fit_speed.py``), LR = x4 block mean.

Methods, each written through the real ``downscale`` path (tiles, blending) from one
``fit_scene`` per scene (defaults of ``downscale --fit``; the fit sees only the LR scene):

- ``bicubic``: what ``--model bicubic`` writes;
- ``tsharp (published)``, ``dms (published)``: the published algorithms (no PSF, block-constant
  residual correction), fitted on every LR pixel;
- ``tsharp``, ``gwr``, ``dms``, ``mlp``: ours as ``--fit --model X`` writes them (estimated
  PSF, smooth residual);
- ``neural (plain)``: the network of the fit as ``--fit`` wrote it before (no PSF, no residual);
- ``neural``: that network with the PSF and the residual correction (``--fit --model
  mocolsk-lite``);
- ``--fit``: what ``downscale --fit`` writes (the best or blend of the candidates).

Printed: per scene and method RMSE / MAE / bias / CC against the truth (Kelvin), the mean
table, per-scene win counts of ``--fit`` against bicubic and both dms, the issue's targets and
the fit's time. Usage::

    python benchmarks/fit_accuracy.py [--dates 8] [--generated 3] [--size 128] [--json out.jsonl]
                                      [--landsat-psf PSF]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.degrade import block_mean  # noqa: E402
from pipelines.downscale import DownscaleOptions, downscale_scene  # noqa: E402
from pipelines.fit_candidates import BlendPredictor, NetworkMember, SharpenerMember  # noqa: E402
from pipelines.fit_options import FitOptions  # noqa: E402
from pipelines.geotiff import write_raster  # noqa: E402
from pipelines.guidance import GuidanceOptions, SourceSpec, build_guidance  # noqa: E402
from pipelines.infer import ModelSource  # noqa: E402
from pipelines.metrics import image_metrics  # noqa: E402
from pipelines.psf_shape import Psf  # noqa: E402
from pipelines.scene_fit import describe, fit_scene, read_scene  # noqa: E402
from pipelines.sharpen import Sharpener  # noqa: E402

LANDSAT = ROOT.parent / "shared" / "data" / "landsat-muenster"
SCALE = 4
METHODS = ("bicubic", "tsharp (published)", "dms (published)", "tsharp", "gwr", "dms", "mlp",
           "neural (plain)", "neural", "--fit")


def landsat_dates(count: int) -> list[Path]:
    """``count`` dates spread over the 16 (sorted by acquisition date)."""
    files = sorted(LANDSAT.glob("LC0*_ST_B10.TIF"), key=lambda p: p.name.split("_")[3])
    if not files:
        raise SystemExit(f"no Landsat dates in {LANDSAT}")
    pick = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    return [files[i] for i in pick]


def landsat_scene(folder: Path, path: Path) -> tuple[Path, Path, np.ndarray]:
    """Write the 120 m input (Kelvin) and, once, the guidance; return the 30 m truth in Kelvin.

    The guidance is what ``groklst guidance LST b11=S2_B11_20m.tif --categorical
    landcover=S2_landcover_rf_10m.tif --class-values 1,2,3,4 --scale 4`` writes.
    """
    with rasterio.open(path) as src:
        rows, cols = (src.height // SCALE) * SCALE, (src.width // SCALE) * SCALE
        crs, transform = src.crs, src.transform
        truth = np.ma.filled(src.read(1, masked=True).astype(np.float32), np.nan)[:rows, :cols]
    truth = truth + np.float32(273.15)
    lst_path, guid_path = folder / f"{path.name.split('_')[3]}_lst.tif", folder / "guidance.tif"
    coarse = Affine(transform.a * SCALE, 0, transform.c, 0, transform.e * SCALE, transform.f)
    write_raster(lst_path, block_mean(truth, SCALE), crs=crs, transform=coarse,
                 descriptions=["lst"], units="K", overwrite=True)
    if not guid_path.exists():  # every date is on the same grid
        sources = [SourceSpec(LANDSAT / "S2_B11_20m.tif", ("b11",)),
                   SourceSpec(LANDSAT / "S2_landcover_rf_10m.tif", ("landcover",), categorical=True)]
        build_guidance(lst_path, sources, guid_path,
                       GuidanceOptions(scale=SCALE, class_values=(1, 2, 3, 4)))
    return lst_path, guid_path, truth


def generated_scene(folder: Path, size: int, seed: int) -> tuple[Path, Path, np.ndarray]:
    """The non-linear scene of ``benchmarks/fit_speed.py``, 2 guidance bands, at x4."""
    rng = np.random.default_rng(seed)
    fine_size = size * SCALE
    guidance = np.stack([gaussian_filter(rng.normal(0, 1, (fine_size, fine_size)), 2) * 3
                         for _ in range(2)]).astype(np.float32)
    field = gaussian_filter(rng.normal(0, 1, (fine_size, fine_size)), 40) * 60
    truth = (300 + 8 * np.tanh(guidance[0]) + 4 * guidance[1] ** 2 + field).astype(np.float32)
    crs = CRS.from_epsg(32633)
    lst_path, guid_path = folder / f"gen{seed}_lst.tif", folder / f"gen{seed}_guidance.tif"
    write_raster(lst_path, block_mean(truth, SCALE), crs=crs,
                 transform=Affine(10.0 * SCALE, 0, 500_000, 0, -10.0 * SCALE, 5_000_000),
                 descriptions=["lst"], units="K", overwrite=True)
    write_raster(guid_path, guidance, crs=crs, transform=Affine(10.0, 0, 500_000, 0, -10.0, 5_000_000),
                 descriptions=["g1", "g2"], overwrite=True)
    return lst_path, guid_path, truth


def _predictors(fitted, lst_path: Path, guid_path: Path) -> dict[str, object]:
    """Every method of the table as a predictor for the downscale path."""
    scene = read_scene(lst_path, guid_path)
    s, bands = fitted.scale, fitted.bands
    members = {c.name: c.member for c in fitted.candidates}
    one = lambda name, member, residual="smooth": BlendPredictor(  # noqa: E731
        name, s, bands, [member], [1.0], residual)
    out: dict[str, object] = {"--fit": fitted.predictor}
    for name in ("gwr", "mlp"):
        out[name] = one(name, members[name])
    for name in ("tsharp", "dms"):
        out[name] = one(name, members[name])
        published = Sharpener(name, s, bands, residual="block").fit(scene.lst, scene.native)
        out[f"{name} (published)"] = one(name, SharpenerMember(published), "block")
    network = members["mocolsk-lite"]
    out["neural"] = one("neural", network)
    out["neural (plain)"] = one("neural", NetworkMember(network.predictor, Psf(), "neural"), "none")
    return out


def evaluate_scene(folder: Path, label: str, lst_path: Path, guid_path: Path, truth: np.ndarray,
                   seed: int, psf: Psf | None = None) -> dict[str, object]:
    start = time.perf_counter()
    fitted = fit_scene(lst_path, guid_path, FitOptions(seed=seed, psf=psf))
    fit_seconds = time.perf_counter() - start
    print(describe(fitted), file=sys.stderr, flush=True)
    rows: dict[str, dict[str, float]] = {}
    sources = {"bicubic": ModelSource(interpolation="bicubic")}
    sources.update({k: ModelSource(fitted=v) for k, v in _predictors(fitted, lst_path, guid_path).items()})
    for method in METHODS:
        out = folder / f"{label}_{method.replace(' ', '_').strip('-()')}.tif"
        downscale_scene(lst_path, out, sources[method], guidance_path=guid_path,
                        options=DownscaleOptions(overwrite=True))
        with rasterio.open(out) as src:
            values = src.read(1)
        rows[method] = {k: v for k, v in image_metrics(values, truth).items() if k != "rsd"}
    return {"scene": label, "metrics": rows, "fit_seconds": round(fit_seconds, 1),
            "psf": fitted.psf.psf.spec, "selected": fitted.predictor.name,
            "candidate_seconds": {c.name: round(c.seconds, 1) for c in fitted.candidates}}


def _table(results: list[dict[str, object]], title: str) -> None:
    print(f"\n{title}: mean over {len(results)} scenes (Kelvin)")
    print(f"{'method':<20} {'RMSE':>7} {'MAE':>7} {'bias':>7} {'CC':>7}")
    for method in METHODS:
        values = {k: np.mean([r["metrics"][method][k] for r in results])
                  for k in ("rmse", "mae", "bias", "cc")}
        print(f"{method:<20} {values['rmse']:7.3f} {values['mae']:7.3f} {values['bias']:7.3f} "
              f"{values['cc']:7.4f}")
    rmse = {m: np.array([r["metrics"][m]["rmse"] for r in results]) for m in METHODS}
    fit = rmse["--fit"]
    for other in ("bicubic", "dms (published)", "dms"):
        print(f"--fit beats {other} on {int((fit < rmse[other]).sum())} of {len(fit)} scenes")
    for dms in ("dms (published)", "dms"):
        better = np.minimum(rmse["bicubic"], rmse[dms])
        print(f"targets vs {dms}: beats bicubic on every scene: {bool((fit < rmse['bicubic']).all())}; "
              f"mean RMSE {100 * (1 - fit.mean() / rmse[dms].mean()):.1f}% below {dms} (>= 10%); "
              f"worst scene {100 * (fit / better - 1).max():+.1f}% vs the better of bicubic and "
              f"{dms} (<= +2%)")
    print(f"fit time per scene: mean {np.mean([r['fit_seconds'] for r in results]):.1f} s, "
          f"max {np.max([r['fit_seconds'] for r in results]):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=8, help="Landsat dates (spread over the 16)")
    parser.add_argument("--generated", type=int, default=3, help="generated scenes (seeds 0..N-1)")
    parser.add_argument("--size", type=int, default=128, help="generated LR scene size")
    parser.add_argument("--json", type=Path, help="also write one JSON line per scene here")
    parser.add_argument("--landsat-psf", type=Psf.parse,
                        help="a fixed PSF for the Landsat dates (30 m pixels), spelt as for "
                             "--fit-psf: SIGMA, moffat:ALPHA:BETA (default: estimated per date)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine two threads that "
                             "wait on each other were 16x slower per training step)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, {args.dates} Landsat dates, {args.generated} "
          f"generated scenes of {args.size} px", flush=True)
    started = time.perf_counter()
    real, generated = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.dates:
            dates = landsat_dates(args.dates)
            for path in dates:
                lst_path, guid_path, truth = landsat_scene(folder, path)
                real.append(evaluate_scene(folder, lst_path.stem, lst_path, guid_path, truth, 0,
                                           args.landsat_psf))
                _print_scene(real[-1], args.json)
        for seed in range(args.generated):
            lst_path, guid_path, truth = generated_scene(folder, args.size, seed)
            generated.append(evaluate_scene(folder, lst_path.stem, lst_path, guid_path, truth, seed))
            _print_scene(generated[-1], args.json)
    if real:
        _table(real, "Landsat 120 m -> 30 m, guidance Sentinel-2 B11 + land-cover fractions")
    if generated:
        _table(generated, f"generated non-linear scenes, {args.size} px LR at x{SCALE}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


def append_json_line(json_path: Path | None, result: dict[str, object]) -> None:
    """Append ``result`` as one JSON line to ``json_path`` (nothing when it is None)."""
    if json_path is not None:
        with open(json_path, "a") as fh:
            fh.write(json.dumps(result) + "\n")


def _print_scene(result: dict[str, object], json_path: Path | None) -> None:
    rmse = " ".join(f"{m}={result['metrics'][m]['rmse']:.3f}" for m in METHODS)
    print(f"{result['scene']}: RMSE {rmse}; psf {result['psf']}; wrote "
          f"{result['selected']}; fit {result['fit_seconds']} s", flush=True)
    append_json_line(json_path, result)


if __name__ == "__main__":
    main()

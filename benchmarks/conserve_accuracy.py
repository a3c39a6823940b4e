"""Does ``downscale --conserve`` / ``--conserve-spread smooth`` help on every real Landsat date?

Wald's protocol on all 16 Landsat 8/9 Collection-2 ST dates over Muenster (``../shared/data/
landsat-muenster``: Celsius, nodata -9999, PixelIsPoint, 530 x 610 px at 30 m). Per date the
30 m ST cropped to 528 x 608 (whole 240 m cells) is the truth; its S x S block mean (numpy,
``pipelines.degrade.block_mean``: a cell touching nodata is nodata; the README example's
``rio warp --res 120 --resampling average`` averages the valid pixels instead and keeps partial
edge cells) is written as the input the way the source files are: Celsius, nodata -9999, no
unit tag, so that ``downscale`` detects the unit as it would on the user's file.

Guidance on the 30 m grid as the README's *A Landsat example* builds it (``groklst guidance
LR DATE1 DATE2 swir1=S2_B11_20m.tif --categorical landcover=S2_landcover_rf_10m.tif --res
30``): the 30 m LST of two other dates, 2022-03-25 and 2025-06-12; where one of them lies
within ``--exclude-days`` of the scored date (Landsat paths 196 and 197 overlap, so some dates
are one day apart and nearly the truth), 2025-03-09 or 2023-08-11 stands in for it.

Variants, each written the way the CLI writes it (``fit_scene`` then ``downscale_scene``, as
``groklst_cli.commands._downscale_fit.run_fit`` does; ``--fallback none``):

- ``bicubic``: ``--model bicubic`` plain, ``--conserve`` (block T^4 correction per LR cell),
  ``--conserve-spread smooth`` (spline spread of each tile's T^4 residual, then exact);
- ``tsharp``, ``gwr``, ``dms`` (the classic sharpeners; ``--model`` offers them only with
  ``--fit``, where ``--conserve-spread`` is refused and ``--fit-residual`` spreads the residual):
  ``--fit-residual none`` plain and with ``--conserve``, ``--fit-residual smooth`` (the
  default) plain and with ``--conserve``.

Scored against the truth (RMSE / MAE / CC, K = degC) on the pixels every variant of that date
and scale writes, less a border of 2 LR pixels on each side. Printed: RMSE per date, the mean
and median of each metric over dates, and per method on how many dates each variant has the
lowest RMSE (ties within 0.1 mK count for each), and on how many each variant is worse than
its method's plain variant and than bicubic with each correction. All 16 dates with the
defaults (x4 with the three sharpeners, x8 and x2 bicubic only): 577 s on 2 cores at a load
of about 4, torch on 1 thread. Usage::

    python benchmarks/conserve_accuracy.py [--scales 2,4,8] [--sharpen-scales 4]
        [--sharpeners tsharp,gwr,dms] [--dates 16] [--json out.jsonl] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fit_accuracy import LANDSAT, append_json_line, landsat_dates  # noqa: E402
from pipelines.degrade import block_mean  # noqa: E402
from pipelines.downscale import DownscaleOptions, downscale_scene  # noqa: E402
from pipelines.fit_options import FitOptions  # noqa: E402
from pipelines.guidance import GuidanceOptions, SourceSpec, build_guidance  # noqa: E402
from pipelines.infer import ModelSource  # noqa: E402
from pipelines.metrics import image_metrics  # noqa: E402
from pipelines.scene_fit import fit_scene  # noqa: E402

ROWS, COLS = 528, 608  # the 530 x 610 scene cut to whole 240 m cells: one truth for x2, x4, x8
BORDER = 2  # LR pixels left out on each side
TIE = 1e-4  # K: RMSEs this close share a win
GUIDE_DATES = ("20220325", "20250612")  # the README example's other dates
STAND_INS = {"20220325": "20250309", "20250612": "20230811"}
BICUBIC = {"plain": DownscaleOptions(), "conserve": DownscaleOptions(conserve=True),
           "smooth": DownscaleOptions(conserve=True, conserve_spread="smooth")}
SHARPEN = {"none": ("none", False), "none+conserve": ("none", True),
           "smooth": ("smooth", False), "smooth+conserve": ("smooth", True)}


def date_of(path: Path) -> str:
    return path.name.split("_")[3]


def guide_dates(date: str, exclude_days: int) -> tuple[str, str]:
    """The README's two other dates, each swapped for its stand-in when near the scored date."""
    day = dt.date.fromisoformat(f"{date[:4]}-{date[4:6]}-{date[6:]}")
    near = lambda d: abs((dt.date.fromisoformat(f"{d[:4]}-{d[4:6]}-{d[6:]}") - day).days) <= exclude_days  # noqa: E731
    return tuple(STAND_INS[d] if near(d) else d for d in GUIDE_DATES)


def read_truth(path: Path) -> tuple[np.ndarray, dict]:
    """The 30 m ST in Celsius (NaN nodata), cut to ROWS x COLS, and its profile."""
    with rasterio.open(path) as src:
        truth = np.ma.filled(src.read(1, masked=True).astype(np.float32), np.nan)[:ROWS, :COLS]
        return truth, dict(src.profile)


def write_input(folder: Path, path: Path, scale: int) -> tuple[Path, np.ndarray]:
    """The S x S block mean as the source files are stored (Celsius, -9999, no unit tag)."""
    truth, profile = read_truth(path)
    lr = block_mean(truth, scale)
    t = profile["transform"]
    out = folder / f"{date_of(path)}_x{scale}_lst.tif"
    profile.update(height=lr.shape[0], width=lr.shape[1], blockysize=1, tiled=False,
                   transform=Affine(t.a * scale, 0, t.c, 0, t.e * scale, t.f))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.where(np.isnan(lr), np.float32(-9999), lr), 1)
        dst.update_tags(AREA_OR_POINT="Point")
    return out, truth


def guidance(folder: Path, lst_path: Path, dates: tuple[str, str], scale: int) -> Path:
    """The README example's guidance at 30 m for ``dates``; every date of a scale shares a grid."""
    out = folder / f"guidance_x{scale}_{'_'.join(dates)}.tif"
    if not out.exists():
        sources = [SourceSpec(next(LANDSAT.glob(f"LC0*_{d}_*_ST_B10.TIF"))) for d in dates]
        sources += [SourceSpec(LANDSAT / "S2_B11_20m.tif", ("swir1",)),
                    SourceSpec(LANDSAT / "S2_landcover_rf_10m.tif", ("landcover",), categorical=True)]
        build_guidance(lst_path, sources, out, GuidanceOptions(res=30.0))
    return out


def write_all(folder: Path, lst: Path, guid: Path, sharpeners: tuple[str, ...]) -> dict[str, Path]:
    """Every variant's output: bicubic as ``--model bicubic``, a sharpener as ``--fit --model X``."""
    outputs: dict[str, Path] = {}
    for variant, options in BICUBIC.items():
        outputs[f"bicubic {variant}"] = _write(folder, lst, guid, f"bicubic_{variant}",
                                               ModelSource(interpolation="bicubic"), options)
    for method in sharpeners:
        for residual in ("none", "smooth"):
            fitted = fit_scene(lst, guid, FitOptions(model=method, residual=residual, seed=0))
            options = DownscaleOptions(units=fitted.units)
            for variant, (res, conserve) in SHARPEN.items():
                if res == residual:
                    outputs[f"{method} {variant}"] = _write(
                        folder, lst, guid, f"{method}_{variant}", ModelSource(fitted=fitted.predictor),
                        replace(options, conserve=conserve))
    return outputs


def _write(folder: Path, lst: Path, guid: Path, name: str, source: ModelSource,
           options: DownscaleOptions) -> Path:
    out = folder / f"{lst.stem}_{name}.tif"
    downscale_scene(lst, out, source, guidance_path=guid, options=replace(options, overwrite=True))
    return out


def score(outputs: dict[str, Path], truth: np.ndarray, scale: int) -> tuple[dict[str, dict[str, float]], int]:
    """RMSE / MAE / CC of every output on the pixels all of them and the truth hold, less the border."""
    values = {}
    for name, path in outputs.items():
        with rasterio.open(path) as src:
            values[name] = src.read(1)
    mask = np.isfinite(truth) & np.logical_and.reduce([np.isfinite(v) for v in values.values()])
    edge = BORDER * scale
    mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:] = False, False, False, False
    metrics = {name: image_metrics(np.where(mask, v, np.nan), truth) for name, v in values.items()}
    return {n: {k: m[k] for k in ("rmse", "mae", "cc")} for n, m in metrics.items()}, int(mask.sum())


def evaluate(folder: Path, path: Path, scale: int, sharpeners: tuple[str, ...],
             exclude_days: int) -> dict[str, object]:
    start = time.perf_counter()
    date = date_of(path)
    lst, truth = write_input(folder, path, scale)
    dates = guide_dates(date, exclude_days)
    metrics, pixels = score(write_all(folder, lst, guidance(folder, lst, dates, scale), sharpeners),
                            truth, scale)
    for out in folder.glob(f"{lst.stem}_*.tif"):
        out.unlink()
    return {"date": date, "scale": scale, "guidance_dates": dates, "pixels": pixels,
            "seconds": round(time.perf_counter() - start, 1), "metrics": metrics}


def report(results: list[dict[str, object]], scale: int) -> None:
    """Per-date RMSE, mean and median of each metric, and per-method win counts."""
    names = list(results[0]["metrics"])
    print(f"\nx{scale} ({30 * scale} m -> 30 m), RMSE per date (K):")
    print("date      " + " ".join(f"{n:>22}" for n in names))
    for r in results:
        print(f"{r['date']}  " + " ".join(f"{r['metrics'][n]['rmse']:22.4f}" for n in names))
    print(f"\nx{scale}: over {len(results)} dates   mean RMSE  median RMSE  mean MAE  mean CC")
    for n in names:
        rmse = [r["metrics"][n]["rmse"] for r in results]
        print(f"{n:<22} {np.mean(rmse):10.4f} {np.median(rmse):12.4f} "
              f"{np.mean([r['metrics'][n]['mae'] for r in results]):9.4f} "
              f"{np.mean([r['metrics'][n]['cc'] for r in results]):8.5f}")
    for method in dict.fromkeys(n.split()[0] for n in names):
        variants = [n for n in names if n.split()[0] == method]
        best = [min(r["metrics"][n]["rmse"] for n in variants) for r in results]
        wins = ", ".join(f"{v.split(' ', 1)[1]} {sum(r['metrics'][v]['rmse'] <= b + TIE for r, b in zip(results, best))}"
                         for v in variants)
        print(f"x{scale} {method}: lowest RMSE (ties within {TIE * 1000:g} mK count for each) "
              f"on (of {len(results)} dates) {wins}")
    plain = {m: n for n in names for m in [n.split()[0]] if n.endswith((" plain", " none"))}
    for n in names:
        base = plain[n.split()[0]]
        if n != base:
            worse = sum(r["metrics"][n]["rmse"] > r["metrics"][base]["rmse"] for r in results)
            print(f"x{scale} {n}: worse than {base} on {worse} of {len(results)} dates")
    for n in (n for n in names if not n.startswith("bicubic")):
        worse = ", ".join(f"{b.split()[1]} {sum(r['metrics'][n]['rmse'] > r['metrics'][b]['rmse'] for r in results)}"
                          for b in names if b.startswith("bicubic"))
        print(f"x{scale} {n}: worse than bicubic on (of {len(results)} dates) {worse}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=16, help="Landsat dates (spread over the 16)")
    parser.add_argument("--scales", default="4,8,2", help="scales to score bicubic at")
    parser.add_argument("--sharpen-scales", default="4", help="scales to also score the sharpeners at")
    parser.add_argument("--sharpeners", default="tsharp,gwr,dms", help="--fit --model methods")
    parser.add_argument("--exclude-days", type=int, default=30,
                        help="a guidance date this close to the scored date is replaced")
    parser.add_argument("--json", type=Path, help="also write one JSON line per date and scale here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sharpeners = tuple(s for s in args.sharpeners.split(",") if s)
    sharpen_scales = {int(s) for s in args.sharpen_scales.split(",") if s}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (int(s) for s in args.scales.split(",")):
            results = []
            for path in landsat_dates(args.dates):
                used = sharpeners if scale in sharpen_scales else ()
                results.append(evaluate(Path(tmp), path, scale, used, args.exclude_days))
                _print(results[-1], args.json)
            report(results, scale)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


def _print(result: dict[str, object], json_path: Path | None) -> None:
    rmse = " ".join(f"{n}={m['rmse']:.3f}" for n, m in result["metrics"].items())
    print(f"{result['date']} x{result['scale']} (guidance {'+'.join(result['guidance_dates'])}, "
          f"{result['pixels']} px, {result['seconds']} s): {rmse}", flush=True)
    append_json_line(json_path, result)


if __name__ == "__main__":
    main()

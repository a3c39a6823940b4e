"""How far the held-out verdict of ``downscale --fit`` can be trusted on real Landsat dates.

Wald's protocol on Landsat 8/9 Collection-2 ST over Muenster (``../shared/data/
landsat-muenster``): for ``--dates`` dates (spread over the 16, as ``benchmarks/fit_accuracy.py``
picks them) a centred crop of the 30 m ST (Kelvin) is the truth and its S x S block mean the
LR input, for S in 2, 3, 4, 8 and crops of 60 x 60 and 120 x 120 LR pixels (x8: 60 x 60 only;
120 x 120 would need 960 x 960 px of a 530 x 610 scene). Guidance on the truth's 30 m grid,
built as ``groklst guidance --scale S`` builds it: Sentinel-2 B11 alone (``b11``), and B11 plus
the land-cover map as four per-class fractions (``b11+lc``). One guidance for every date.

The 30 m ST is resampled from Landsat's 100 m TIRS band, so it holds little real detail below
100 m: a sharpener that adds true 30 m detail is judged against a truth without it.
``--truth-block 4`` takes the 4 x 4 block mean of the ST (120 m) as the truth instead, with the
guidance on that grid and the largest centred crop each scale allows (x8 needs more than the
scene has), so that the truth holds real detail at its own pixel size.

Per case ``fit_scene`` runs twice (seed 0): with the candidates bicubic, tsharp, gwr, dms and
mlp (``candidates``; no network, for time) and with ``--model dms`` alone (``dms``). What each
fit chose, plain bicubic and bicubic with the residual spread back (no guidance) are written
through the real downscale path and scored against the truth. Printed per case: what the fit
chose and what ``--fallback bicubic`` writes, the held-out gains (what the fit believes, one
scale coarser) and the true gains over plain bicubic and over the no-guidance spread, and each
verdict (``beats_bicubic``, ``guidance_helps``) as claimed and as true. Then the correlation of
claimed and true gain, how often each verdict was wrong and by how much.

The default grid (3 dates x 7 crops x 2 guidances x 2 fits = 84 fits) is not cut: on the 2-core
machine (torch threads 1) it took 792 s at a load average of 4-6 and 1130 s at 7-10, nearly all
of it the five-candidate fits (x8 the slowest: 412 s of the 1130). ``--dates 1``: 4 min.
``--dates 8 --truth-block 4`` (96 fits of small crops): 213 s. The paired check of the truth's
effect, the same 60² LR crops at x2 against either truth: ``--dates 8 --scales 2 --lr-sizes 60``
with ``--truth-block 1`` and ``4``. Usage::

    python benchmarks/fit_verdict_landsat.py [--dates 3] [--truth-block 1] [--scales 2,3,4,8]
        [--lr-sizes 60,120] [--json out.jsonl] [--threads 1]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fit_accuracy import LANDSAT, landsat_dates  # noqa: E402
from fit_verdict import rmse  # noqa: E402
from groklst_cli.commands._downscale_fit import _fallback_source, _verdict  # noqa: E402
from pipelines.degrade import block_mean  # noqa: E402
from pipelines.downscale import DownscaleOptions, downscale_scene  # noqa: E402
from pipelines.fit_options import FitOptions  # noqa: E402
from pipelines.geotiff import write_raster  # noqa: E402
from pipelines.guidance import GuidanceOptions, SourceSpec, build_guidance  # noqa: E402
from pipelines.infer import ModelSource  # noqa: E402
from pipelines.scene_fit import SceneFit, fit_scene  # noqa: E402

SCALES = (2, 3, 4, 8)
LR_SIZES = (60, 120)
CANDIDATES = ("bicubic", "tsharp", "gwr", "dms", "mlp")
FITS = {"candidates": FitOptions(candidates=CANDIDATES, seed=0), "dms": FitOptions(model="dms", seed=0)}
TITLES = {"candidates": f"--fit --fit-candidates {','.join(CANDIDATES)}", "dms": "--fit --model dms"}
B11 = SourceSpec(LANDSAT / "S2_B11_20m.tif", ("b11",))
LANDCOVER = SourceSpec(LANDSAT / "S2_landcover_rf_10m.tif", ("landcover",), categorical=True)
GUIDANCES = {"b11": (B11,), "b11+lc": (B11, LANDCOVER)}


def crops(shape: tuple[int, int], truth_block: int = 1, scales: tuple[int, ...] = SCALES,
          sizes: tuple[int, ...] = LR_SIZES) -> list[tuple[int, int]]:
    """Every (scale, LR size) whose truth crop fits the scene; where none of ``sizes`` fits
    (a coarser truth), the largest crop that does, if ``--fit`` takes it (6 x S LR pixels)."""
    out = []
    for s in scales:
        largest = min(shape) // (s * truth_block)
        fitting = [n for n in sizes if n <= largest]
        out += [(s, n) for n in fitting] or ([(s, largest)] if largest >= 6 * s else [])
    return out


def write_case(folder: Path, path: Path, scale: int, size: int, truth_block: int = 1) -> tuple[Path, np.ndarray]:
    """Write the LR input (block mean of the centred truth crop, Kelvin); return it and the
    truth: the 30 m ST, or its ``truth_block`` x ``truth_block`` block mean."""
    block = scale * truth_block
    fine = size * block
    with rasterio.open(path) as src:
        top, left = (src.height - fine) // 2, (src.width - fine) // 2
        window = ((top, top + fine), (left, left + fine))
        st = np.ma.filled(src.read(1, window=window, masked=True).astype(np.float32), np.nan)
        t, crs = src.transform, src.crs
    st = st + np.float32(273.15)
    truth = block_mean(st, truth_block) if truth_block > 1 else st
    lst_path = folder / f"{path.name.split('_')[3]}_t{truth_block}_x{scale}_{size}_lst.tif"
    coarse = Affine(t.a * block, 0, t.c + left * t.a, 0, t.e * block, t.f + top * t.e)
    write_raster(lst_path, block_mean(st, block), crs=crs, transform=coarse,
                 descriptions=["lst"], units="K", overwrite=True)
    return lst_path, truth


def guidance(folder: Path, lst_path: Path, scale: int, kind: str) -> Path:
    """The guidance of ``kind`` on the truth's grid; built once per crop (every date shares it)."""
    out = folder / f"guidance_{lst_path.stem.split('_', 1)[1]}_{kind}.tif"
    if not out.exists():
        build_guidance(lst_path, GUIDANCES[kind], out,
                       GuidanceOptions(scale=scale, class_values=(1, 2, 3, 4)))
    return out


def write(lst_path: Path, guid_path: Path, out: Path, source: ModelSource, truth: np.ndarray) -> float:
    """RMSE against the truth of what the downscale path writes with ``source``."""
    downscale_scene(lst_path, out, source, guidance_path=guid_path, options=DownscaleOptions(overwrite=True))
    return rmse(out, truth)


def gain(rmse_value: float, reference: float) -> float:
    return round(1 - rmse_value / reference, 4)


def score(fitted: SceneFit, options: FitOptions, true: dict[str, float]) -> dict[str, object]:
    """Claimed (held-out) and true gains and verdicts of one fit; what ``--fallback bicubic`` writes."""
    reason = _verdict(fitted)
    fallback = fitted.predictor.name if reason is None else _fallback_source(fitted, options, reason).name
    written_rmse = true["fit"] if reason is None else true[
        "bicubic" if fallback == "bicubic" else "spread"]
    return {
        "written": fitted.predictor.name, "fallback_writes": fallback,
        "held_out_blocks": fitted.held_out_blocks, "fit_seconds": round(fitted.seconds, 1),
        "held_out_gain_bicubic": gain(fitted.fitted["rmse"], fitted.bicubic["rmse"]),
        "held_out_gain_no_guidance": gain(fitted.fitted["rmse"], fitted.no_guidance["rmse"]),
        "true_gain_bicubic": gain(true["fit"], true["bicubic"]),
        "true_gain_no_guidance": gain(true["fit"], true["spread"]),
        "fallback_true_gain_bicubic": gain(written_rmse, true["bicubic"]),
        "says_beats_bicubic": fitted.beats_bicubic, "beats_bicubic": true["fit"] < true["bicubic"],
        "says_guidance_helps": fitted.guidance_helps, "guidance_helps": true["fit"] < true["spread"],
        "true_rmse": {k: round(v, 4) for k, v in true.items()},
    }


def evaluate_case(folder: Path, lst_path: Path, guid_path: Path,
                  truth: np.ndarray) -> list[dict[str, object]]:
    """Both fits of one case, scored against the truth (the two bicubics written once)."""
    stem = guid_path.stem
    bicubic = write(lst_path, guid_path, folder / f"{stem}_bicubic.tif",
                    ModelSource(interpolation="bicubic"), truth)
    rows, spread = [], None
    for method, options in FITS.items():
        fitted = fit_scene(lst_path, guid_path, options)
        if spread is None:  # the same for both fits: bicubic plus the residual, no PSF, no guidance
            spread = write(lst_path, guid_path, folder / f"{stem}_spread.tif",
                           ModelSource(fitted=fitted.no_guidance_predictor()), truth)
        fit = write(lst_path, guid_path, folder / f"{stem}_{method}.tif",
                    ModelSource(fitted=fitted.predictor), truth)
        rows.append({"method": method, **score(fitted, options, {"fit": fit, "bicubic": bicubic,
                                                                  "spread": spread})})
    return rows


def _mark(says: bool, truly: bool) -> str:
    return f"{'Y' if says else 'n'}/{'Y' if truly else 'n'}{'!' if says != truly else ' '}"


def print_row(row: dict[str, object]) -> None:
    print(f"{row['date']} x{row['scale']} {row['lr_size']:>3}px {row['guidance']:<6} {row['method']:<10} "
          f"{row['written'][:28]:<28} {row['fallback_writes'][:25]:<25} "
          f"{row['held_out_gain_bicubic']:+7.1%} {row['held_out_gain_no_guidance']:+7.1%} "
          f"{row['true_gain_bicubic']:+7.1%} {row['true_gain_no_guidance']:+7.1%}   "
          f"{_mark(row['says_beats_bicubic'], row['beats_bicubic'])}  "
          f"{_mark(row['says_guidance_helps'], row['guidance_helps'])}  "
          f"{row['held_out_blocks']:>4} {row['fit_seconds']:>5.1f}s", flush=True)


HEADER = (f"{'date':<8} {'S':<2} {'LR':>5} {'guid':<6} {'method':<10} {'written by the fit':<28} "
          f"{'--fallback bicubic writes':<25} {'HO/bic':>7} {'HO/noG':>7} {'TRUE/bic':>8} {'TRUE/noG':>8}"
          f" beats helps  blks   fit\n(gains: 1 - RMSE / reference's RMSE; HO = held out, one scale "
          "coarser; beats/helps: claimed/true, ! = verdict wrong)")


def _wrong(rows: list[dict[str, object]], verdict: str, true_key: str) -> str:
    """How often ``verdict`` was wrong, each way, and the true gains in those cases."""
    def gains(group: list[dict[str, object]]) -> str:
        values = sorted(r[true_key] for r in group)
        if len(values) > 6:
            return f" (true gains {values[0]:+.1%} to {values[-1]:+.1%}, median {np.median(values):+.1%})"
        return "" if not values else f" (true gains {', '.join(f'{v:+.1%}' for v in values)})"
    false_yes = [r for r in rows if r[f"says_{verdict}"] and not r[verdict]]
    false_no = [r for r in rows if not r[f"says_{verdict}"] and r[verdict]]
    return (f"{verdict} wrong on {len(false_yes) + len(false_no)} of {len(rows)}: said yes but "
            f"lost on {len(false_yes)}{gains(false_yes)}; said no but won on {len(false_no)}"
            f"{gains(false_no)}")


def _gap(rows: list[dict[str, object]], ref: str) -> str:
    """Median of claimed minus true gain over ``ref``, in percentage points."""
    gaps = [r[f"held_out_gain_{ref}"] - r[f"true_gain_{ref}"] for r in rows]
    return f"{100 * np.median(gaps):+.1f} points" if gaps else "n/a"


def summary(rows: list[dict[str, object]], title: str) -> None:
    print(f"\n{title}: {len(rows)} cases")
    for ref in ("bicubic", "no_guidance"):
        held = np.array([r[f"held_out_gain_{ref}"] for r in rows])
        true = np.array([r[f"true_gain_{ref}"] for r in rows])
        print(f"  gain over {ref.replace('_', '-')}: claimed/true correlation r = "
              f"{np.corrcoef(held, true)[0, 1]:.2f}; claimed median {np.median(held):+.1%}, "
              f"true median {np.median(true):+.1%}; claimed - true: median {_gap(rows, ref)}, "
              + ", ".join(f"{kind} {_gap([r for r in rows if r['guidance'] == kind], ref)}" for kind in GUIDANCES))
    print(f"  {_wrong(rows, 'beats_bicubic', 'true_gain_bicubic')}")
    print(f"  {_wrong(rows, 'guidance_helps', 'true_gain_no_guidance')}")
    fallback = np.array([r["fallback_true_gain_bicubic"] for r in rows])
    print(f"  with --fallback bicubic: lost to plain bicubic on {int((fallback < 0).sum())} of {len(rows)} "
          f"(worst {fallback.min():+.1%}), fell back on "
          f"{sum(r['fallback_writes'] != r['written'] for r in rows)}")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=3, help="Landsat dates (spread over the 16)")
    parser.add_argument("--json", type=Path, help="also write one JSON line per case and fit here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the mlp trains with torch)")
    parser.add_argument("--truth-block", type=int, default=1, choices=range(1, 9), metavar="N",
                        help="truth = the N x N block mean of the 30 m ST (default 1: the 30 m ST, "
                             "which holds little real detail below TIRS's 100 m; 4 gives a 120 m truth)")
    parser.add_argument("--scales", type=_ints, default=SCALES, help="comma-separated scales (default 2,3,4,8)")
    parser.add_argument("--lr-sizes", type=_ints, default=LR_SIZES, help="comma-separated LR crop sizes (default 60,120)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in landsat_dates(args.dates):
            with rasterio.open(path) as src:
                shape = (src.height, src.width)
            for scale, size in crops(shape, args.truth_block, args.scales, args.lr_sizes):
                lst_path, truth = write_case(folder, path, scale, size, args.truth_block)
                for kind in GUIDANCES:
                    guid_path = guidance(folder, lst_path, scale, kind)
                    case = {"date": path.name.split("_")[3], "truth_m": 30 * args.truth_block,
                            "scale": scale, "lr_size": size, "guidance": kind}
                    for row in evaluate_case(folder, lst_path, guid_path, truth):
                        rows.append({**case, **row})
                        print_row(rows[-1])
                        if args.json is not None:
                            with open(args.json, "a") as fh:
                                fh.write(json.dumps(rows[-1]) + "\n")
    summary(rows, "all fits")
    for method in FITS:
        summary([r for r in rows if r["method"] == method], TITLES[method])
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

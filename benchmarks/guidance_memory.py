"""Peak memory and time of ``groklst guidance`` as the scene grows in height (streamed in strips).

How the numbers are taken: a 30 m LST of fixed width and growing height, a 20 m raster whose
grid is 15 m off the LST's, a 10 m land-cover map (4 classes) 5 m off, and a DEM in EPSG:4326
are generated (written strip by strip, so the benchmark itself stays small); each size is built
at x3 (10 m guidance: 1 band + 4 class fractions + 1 DEM band) in a fresh process. Peak RSS is
that process's ``VmHWM`` (see benchmarks/peak_memory.py); seconds are the whole process.

A second table builds from a 1 m, 4-band source, N x N m under a 30 m LST of the same extent,
at x3: uint16 with nodata 0 and an internal mask (warped from memory, as GDAL's warper drops
such a mask), uint16 with nodata 0 and no mask (GDAL warps it; no value check, integers cannot
hold inf), and float32 reflectances with no mask (GDAL warps it; its values are checked for inf).

Usage: python benchmarks/guidance_memory.py [--width 600] [--heights 300,1200,2400] [--masked 1950,3900]
Each --masked size must be at least 330 px: the mask covers the source's first 300 m block and the
LST spans whole 30 m pixels, so a smaller source has no valid pixel under the LST.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.env import Env
from rasterio.warp import transform_bounds
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UTM = CRS.from_epsg(32632)
X0, Y0 = 400_000.0, 5_800_000.0
_RUNNER = """
import sys, json
from benchmarks.peak_memory import peak_rss_mib
from groklst_cli.app import run
status = run(sys.argv[1:])
print(json.dumps({"status": status, "peak_rss_mib": peak_rss_mib()}), file=sys.stderr)
"""


def write_field(path: Path, crs: CRS, transform: Affine, width: int, height: int, dtype: str,
                values) -> None:
    """A raster of ``values(x, y)`` at pixel centres, written 256 rows at a time."""
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": dtype,
               "crs": crs, "transform": transform, "tiled": True, "blockxsize": 512,
               "blockysize": 512, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, height, 256):
            rows = min(256, height - top)
            cols, rr = np.meshgrid(np.arange(width) + 0.5, np.arange(top, top + rows) + 0.5)
            x, y = transform.c + cols * transform.a, transform.f + rr * transform.e
            dst.write(values(x, y).astype(dtype), 1, window=Window(0, top, width, rows))


def make_scene(folder: Path, width: int, height: int) -> list[str]:
    """The LST and the sources; returns the ``groklst guidance`` arguments."""
    lst = folder / "lst.tif"
    write_field(lst, UTM, Affine(30, 0, X0, 0, -30, Y0), width, height, "float32",
                lambda x, y: 300 + 5 * np.sin(x / 500) * np.cos(y / 700))
    swir = folder / "swir_20m.tif"
    write_field(swir, UTM, Affine(20, 0, X0 - 15, 0, -20, Y0 + 15), width * 3 // 2 + 2,
                height * 3 // 2 + 2, "float32", lambda x, y: 2000 + 500 * np.sin(x / 90 + y / 130))
    landcover = folder / "landcover_10m.tif"
    write_field(landcover, UTM, Affine(10, 0, X0 - 5, 0, -10, Y0 + 5), width * 3 + 2, height * 3 + 2,
                "uint8", lambda x, y: 1 + (np.floor(x / 70) + np.floor(y / 110)) % 4)
    left, bottom, right, top = transform_bounds(UTM, "EPSG:4326", X0 - 300, Y0 - height * 30 - 300,
                                                X0 + width * 30 + 300, Y0 + 300)
    res = 0.0003
    dem = folder / "dem_wgs84.tif"
    write_field(dem, CRS.from_epsg(4326), Affine(res, 0, left, 0, -res, top),
                int((right - left) / res) + 1, int((top - bottom) / res) + 1, "float32",
                lambda lon, lat: 100 + 3000 * (lon - left) + 2000 * (lat - bottom))
    return [str(lst), f"swir={swir}", f"dem={dem}", "--categorical", f"landcover={landcover}"]


MASK_BLOCK = 300  # m (= px at 1 m) of a masked block in write_source
MIN_MASKED = MASK_BLOCK + 30  # px: the LST (whole 30 m pixels) must reach past the first masked block
SOURCE_KINDS = {"uint16, mask": ("uint16", True), "uint16": ("uint16", False), "float32": ("float32", False)}


def write_source(path: Path, size: int, dtype: str = "uint16", masked: bool = True) -> None:
    """A 1 m, 4-band source of ``size`` x ``size`` px at (X0, Y0): uint16 DNs with nodata 0 (held
    by some pixels), or float32 reflectances (DN / 10000, no nodata); with ``masked``, an internal
    mask that says nodata in one 300 m block of 7 (the first among them)."""
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": dtype, "crs": UTM,
               "transform": Affine(1, 0, X0, 0, -1, Y0), "nodata": 0 if dtype == "uint16" else None,
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
    with Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 512):
            rows, cols = np.mgrid[top:min(size, top + 512), 0:size]
            window = Window(0, top, size, rows.shape[0])
            data = np.stack([1000 + 500 * np.sin(cols / (50 + 9 * b)) * np.cos(rows / 70) + 300 * b
                             for b in range(4)]).astype("uint16")
            data[:, (cols + rows) % 997 < 5] = 0
            dst.write(data if dtype == "uint16" else (data / 10000).astype(dtype), window=window)
            if masked:
                blocks = cols // MASK_BLOCK + rows // MASK_BLOCK
                dst.write_mask(np.where(blocks % 7 == 0, 0, 255).astype("uint8"), window=window)


def run_guidance(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``groklst -q guidance ARGS --scale 3`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, "-q", "guidance", *args, "--scale", "3"],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    lines = proc.stderr.strip().splitlines()
    info = json.loads(lines[-1]) if proc.returncode == 0 and lines else {"status": proc.returncode}
    if info["status"] != 0:
        said = next((line for line in reversed(lines) if line.startswith("error:")),
                    lines[-1] if lines else "no message")
        sys.exit(f"guidance_memory.py: groklst guidance failed (status {info['status']}): {said}; "
                 "hint: groklst refused the benchmark's generated scene; check the sizes against --help")
    return seconds, info["peak_rss_mib"]


def source_table(sizes: list[int], tmp: Path) -> None:
    """Seconds and peak RSS of guidance from a 1 m source (masked uint16, uint16, float32), per size."""
    print("# groklst guidance at x3 from a 1 m 4-band source (mask: internal mask beside nodata 0)")
    print(f"{'source':>14}{'source px':>12}{'guidance px':>14}{'seconds':>10}{'peak RSS MiB':>14}")
    for (kind, (dtype, masked)), size in ((k, n) for k in SOURCE_KINDS.items() for n in sizes):
        folder = tmp / f"{dtype}{'_mask' if masked else ''}{size}"
        folder.mkdir()
        lst_px = size // 30
        write_field(folder / "lst.tif", UTM, Affine(30, 0, X0, 0, -30, Y0), lst_px, lst_px, "float32",
                    lambda x, y: 300 + 5 * np.sin(x / 500) * np.cos(y / 700))
        write_source(folder / "source.tif", size, dtype, masked)
        seconds, peak = run_guidance([str(folder / "lst.tif"), str(folder / "source.tif"),
                                      "-o", str(folder / "guidance.tif")])
        print(f"{kind:>14}{f'{size}x{size}x4':>12}{f'{lst_px * 3}x{lst_px * 3}':>14}{seconds:>10.1f}"
              f"{peak:>14.0f}", flush=True)
        for path in folder.iterdir():
            path.unlink()


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for an integer of ``minimum`` or more (0 or fewer pixels make no raster to
    write; a negative overlap was passed on to every run)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be " + ("0 or more" if minimum == 0
                                                                     else f"at least {minimum}"))
        return value
    return parse


positive_int = int_at_least(1)


def int_list(minimum: int, why: str) -> Callable[[str], list[int]]:
    """An argparse type for comma-separated integers of at least ``minimum`` (``why`` says why)."""
    def parse(text: str) -> list[int]:
        values = [positive_int(part.strip()) for part in text.split(",")]
        small = [v for v in values if v < minimum]
        if small:
            raise argparse.ArgumentTypeError(f"{', '.join(map(str, small))} below {minimum}: {why}")
        return values
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; bad sizes are refused here (exit 2), before any scene is written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=positive_int, default=600, help="LST pixels across")
    parser.add_argument("--heights", type=int_list(1, "a raster needs a row"), default="300,1200,2400",
                        help="LST rows, comma-separated")
    parser.add_argument("--masked", default="1950,3900",
                        type=int_list(MIN_MASKED, f"the source's first {MASK_BLOCK} m block is masked, so "
                                      f"the 30 m LST over it has no valid pixel; use {MIN_MASKED} or more"),
                        help=f"1 m source sizes (px) of the second table, comma-separated, each at least "
                             f"{MIN_MASKED} (the first {MASK_BLOCK} m block is masked)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    print("# groklst guidance at x3: 20 m raster + 10 m class map (4 fractions) + EPSG:4326 DEM,"
          " one process per size")
    print(f"{'LST px':>12}{'guidance px':>14}{'seconds':>10}{'peak RSS MiB':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for height in args.heights:
            folder = Path(tmp) / f"h{height}"
            folder.mkdir()
            sources = make_scene(folder, args.width, height)
            seconds, peak = run_guidance([*sources, "-o", str(folder / "guidance.tif")])
            lst_px, fine_px = f"{args.width}x{height}", f"{args.width * 3}x{height * 3}"
            print(f"{lst_px:>12}{fine_px:>14}{seconds:>10.1f}{peak:>14.0f}", flush=True)
            for path in folder.iterdir():
                path.unlink()
        source_table(args.masked, Path(tmp))


if __name__ == "__main__":
    main()

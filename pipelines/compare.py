"""Scoring LST rasters against a reference raster (``groklst compare``).

A downscaler is judged on real scenes against independent truth: this puts the paper's
metrics (:mod:`pipelines.metrics`) on any rasters, e.g. a downscaled output, its bicubic
baseline and a finer LST of the same date. Every raster is read by the LST rule
(:mod:`pipelines.lst_values`: nodata, scale/offset, Kelvin or Celsius) and compared in Kelvin.
They must share a CRS and nest, each axis on its own (pixels need not be square, so a 30x40 m LST
scores its 10x13.33 m downscaled output): each is averaged (the mean temperature of each block, or with
``aggregate="radiance"`` the temperature of its mean T^4, as prepare's ``--aggregate``; a
block with a nodata pixel is nodata) onto the coarsest of their grids, over the whole coarse
pixels they all cover. Candidates are scored on the same pixels, those where the reference and every
candidate have a value; each candidate's ``written`` share is how much of the reference's valid
pixels (on its whole footprint, not only the common one) it covers, and a warning names the
candidates when under 95 % of the reference's valid pixels are scored (a crop, a shifted raster).
A candidate that covers the reference but whose content is moved is caught by its measured
offset (:mod:`pipelines.compare_shift`, each row's ``shift``), warned about from half a pixel.
Sums are accumulated strip by strip under the capped GDAL block cache, so memory does not grow
with the scene's height (beyond that cache).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
import stat
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from pipelines.compare_shift import ContentShift, content_shift
from pipelines.errors import GroklstWarning, InputError, printable_path, unmistakable_path
from pipelines.geotiff import streaming_gdal_env
from pipelines.grids import (ALIGNMENT_TOLERANCE, Grid, as_integer, check_crs, check_north_up, check_related, crs_labels,
                             nesting_factor, offset_words, resolution_units)
from pipelines.lst_values import (
    LstDecoding,
    Remedy,
    check_plausible,
    check_single_band,
    decode,
    plausible_range,
    resolve_units,
    scan,
)
from pipelines.masking import target_crs
from pipelines.metrics import METRICS, correlation, zero_if_roundoff
from pipelines.percent import percent
from pipelines.pipe_input import Inputs
from pipelines.raster_names import gdal_name, subdataset
from pipelines.units import KELVIN_OFFSET, Units

STRIP_PIXELS = 1 << 22  # coarse pixels read per strip (times the finest raster's pixels in one)


@dataclass
class Moments:
    """Running moments of a candidate ``x`` against the reference ``y``: sums of their differences,
    and means and centred second moments merged strip by strip (Chan et al.), as accurate as a
    two-pass over every pixel (raw sums of squares lose the spread of a near-constant field).
    Values are shifted by the first strip's means, so that the strips' means differ in digits
    that count (unshifted, a 310 K mean's round-off is 6e-14 K: 1e-11 of a 0.01 K field's CC)."""

    n: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("d", "d2", "abs_d"), 0.0))
    shift_x: float = 0.0
    shift_y: float = 0.0
    mean_x: float = 0.0  # of the shifted values
    mean_y: float = 0.0
    sxx: float = 0.0  # sums of products of deviations from the means
    syy: float = 0.0
    sxy: float = 0.0
    largest_x: float = 0.0  # the largest |x| and |y|: what round-off is judged against
    largest_y: float = 0.0

    def add(self, candidate: np.ndarray, reference: np.ndarray) -> None:
        """Add pixels (Kelvin, float64, already restricted to the common valid ones)."""
        if not candidate.size:
            return
        d = candidate - reference
        for name, values in (("d", d), ("d2", d * d), ("abs_d", np.abs(d))):
            self.sums[name] += float(values.sum())
        if not self.n:
            self.shift_x, self.shift_y = float(candidate.mean()), float(reference.mean())
        x, y = candidate - self.shift_x, reference - self.shift_y
        mx, my = float(x.mean()), float(y.mean())
        dx, dy = x - mx, y - my
        n = self.n + candidate.size
        ex, ey = mx - self.mean_x, my - self.mean_y
        weight = self.n * candidate.size / n
        self.sxx += float((dx * dx).sum()) + ex * ex * weight
        self.syy += float((dy * dy).sum()) + ey * ey * weight
        self.sxy += float((dx * dy).sum()) + ex * ey * weight
        self.mean_x += ex * candidate.size / n
        self.mean_y += ey * candidate.size / n
        self.largest_x = max(self.largest_x, float(np.abs(candidate).max()))
        self.largest_y = max(self.largest_y, float(np.abs(reference).max()))
        self.n = n

    def metrics(self) -> dict[str, float]:
        """RMSE, MAE, BIAS, CC (1/N moments) and RSD (N-1 standard deviations), as
        :func:`pipelines.metrics.image_metrics` computes them; NaN without a pixel, and CC and RSD
        (a spread) NaN with one."""
        n, s = self.n, self.sums
        if n < 1:
            return dict.fromkeys(METRICS, float("nan"))
        differences = {"rmse": math.sqrt(s["d2"] / n), "mae": s["abs_d"] / n, "bias": s["d"] / n}
        if n < 2:
            return {**dict.fromkeys(METRICS, float("nan")), **differences}
        std_x = zero_if_roundoff(math.sqrt(self.sxx / n), self.largest_x)
        std_y = zero_if_roundoff(math.sqrt(self.syy / n), self.largest_y)
        spread = std_x * std_y
        sigma_x, sigma_y = std_x * math.sqrt(n / (n - 1)), std_y * math.sqrt(n / (n - 1))
        return {
            **differences,
            "cc": correlation(self.sxy / n, spread),
            "rsd": abs(sigma_x - sigma_y) / sigma_y if sigma_y > 0 else float("nan"),
        }


@dataclass(frozen=True)
class Placed:
    """One raster on the reference's footprint: ``factors`` of its pixels per coarse pixel in x and
    in y, ``cols`` and ``rows`` the coarse pixels it covers there (first, past the last) and
    ``window`` the same in its own pixels."""

    path: Path
    factors: tuple[int, int]
    cols: tuple[int, int]
    rows: tuple[int, int]
    window: Window


@dataclass(frozen=True)
class Stored:
    """What a hint needs of a raster beyond its grid: its storage type and nodata (those of the opened
    dataset: a stream cannot be opened again) and the name a stream of it is saved as (``REF``, ``IN``, or
    ``IN1``, ``IN2`` by the candidate's place where several are given, so that two streams' saved files
    and warps do not land on one name)."""

    dtype: str
    nodata: float | None
    saved: str

    @classmethod
    def of(cls, src: rasterio.DatasetReader, index: int, candidates: int) -> Stored:
        """Raster ``src``, ``index`` in the command's order (0: the reference) of ``candidates`` + 1."""
        saved = "REF" if index == 0 else "IN" if candidates == 1 else f"IN{index}"
        return cls(src.dtypes[0], src.nodata, saved)


def pixel_size(grid: Grid, spec: str = "g") -> str:
    """A grid's pixel size as users read it: ``30`` when square, ``10x13.3333`` when not (``spec``
    the number format: errors about sizes that do not divide need more digits)."""
    x_res, y_res = grid.res
    return f"{x_res:{spec}}" if math.isclose(x_res, y_res, rel_tol=1e-9) else f"{x_res:{spec}}x{y_res:{spec}}"


@dataclass(frozen=True)
class CommonGrid:
    """The coarsest grid cut to the reference's whole coarse pixels (``grid``, where ``written``
    is counted) and to those every raster covers (``common``, where the metrics are)."""

    grid: Grid
    common: Grid
    placed: list[Placed]

    def describe(self) -> str:
        """The scored area, e.g. ``300x200 px at 30 m``."""
        return f"{self.common.width}x{self.common.height} px at {pixel_size(self.common)} {self.common.res_units}"


def coarsest(grids: Sequence[Grid], paths: Sequence[Path], stored: Sequence[Stored]) -> Grid:
    """The grid whose pixels are the largest in x and in y, or an InputError when no grid is
    (30x10 m against 10x30 m: neither can be averaged onto the other)."""
    coarse = max(grids, key=lambda g: g.res)  # the largest in x; of those, in y
    for grid, path, kept in zip(grids, paths, stored):
        if grid.res[1] > coarse.res[1] * (1 + ALIGNMENT_TOLERANCE):
            unit = resolution_units(coarse.crs)
            raise InputError(_as_typed(path), f"pixels of {pixel_size(grid, '.10g')} {unit} are coarser in y than the "
                                   f"coarsest in x ({pixel_size(coarse, '.10g')} {unit}): no raster is "
                                   "coarsest in both x and y",
                             _onto_grid_hint(path, kept, grid, _coarsest_both(coarse, grid)))
    return coarse


def _coarsest_both(coarse: Grid, grid: Grid) -> Affine:
    """The grid a raster coarser in y than the coarsest in x (``coarse``) is warped to: ``coarse``'s
    x pixel size and origin, and in y the least multiple of its pixel size that is no finer than
    the raster's, so that ``coarse`` nests in it."""
    step = coarse.res[1] * max(1, math.ceil(grid.res[1] / coarse.res[1] - ALIGNMENT_TOLERANCE))
    return Affine(coarse.res[0], 0, coarse.transform.c, 0, -step, coarse.transform.f)


def common_grid(grids: Sequence[Grid], paths: Sequence[Path], stored: Sequence[Stored]) -> CommonGrid:
    """Place every raster on the coarsest one's grid, each axis on its own (pixels need not be
    square); refuse another CRS, no raster coarsest on both axes, a pixel size that does not
    divide the coarsest on each axis, a grid that does not nest, or footprints without a
    common pixel. Refusals name a GDAL name as typed (pathlib folds ``/vsizip//abs``)."""
    for grid, path, kept in zip(grids, paths, stored):
        check_north_up(_as_typed(path), grid)
        check_crs(_as_typed(path), grid)
        if grid.crs != grids[0].crs:  # a local CRS has no way onto the other: the hint would measure across
            check_related(_as_typed(path), grid.crs, _as_typed(paths[0]), grids[0].crs, grid.bounds)
            crs, first_crs = crs_labels(grid.crs, grids[0].crs)
            raise InputError(_as_typed(path), f"CRS {crs} differs from {_as_typed(paths[0])}'s ({first_crs})",
                             _onto_crs_hint(path, kept, grid, grids[0], paths[0]))
    coarse = coarsest(grids, paths, stored)
    origin, unit = coarse.transform, resolution_units(coarse.crs)
    spans = []
    for grid, path, kept in zip(grids, paths, stored):
        what = (f"pixel size {pixel_size(grid, '.10g')} {unit} does not divide the coarsest raster's "
                f"{pixel_size(coarse, '.10g')} {unit}")
        hint = _onto_grid_hint(path, kept, grid, origin, _nesting_res(coarse.res, grid.res))
        typed = _as_typed(path)
        fx = nesting_factor(coarse.res[0], grid.res[0], grid.width, what, typed, hint)
        fy = nesting_factor(coarse.res[1], grid.res[1], grid.height, what, typed, hint)
        col0 = (grid.transform.c - origin.c) / coarse.res[0]  # this raster's origin in coarse pixels
        row0 = (origin.f - grid.transform.f) / coarse.res[1]
        for offset, factor, axis in ((col0, fx, "x"), (row0, fy, "y")):
            as_integer(offset * factor, f"grid does not nest in the coarsest raster's "
                                        f"({offset_words(offset * factor, axis)})", typed, hint)
        spans.append(((fx, fy), col0, row0, col0 + grid.width / fx, row0 + grid.height / fy))
    whole = [(math.ceil(c0 - ALIGNMENT_TOLERANCE), math.ceil(r0 - ALIGNMENT_TOLERANCE),
              math.floor(c1 + ALIGNMENT_TOLERANCE), math.floor(r1 + ALIGNMENT_TOLERANCE))
             for _, c0, r0, c1, r1 in spans]
    ref = whole[0]
    clipped = [(max(w[0], ref[0]), max(w[1], ref[1]), min(w[2], ref[2]), min(w[3], ref[3])) for w in whole]
    common = (max(c[0] for c in clipped), max(c[1] for c in clipped),
              min(c[2] for c in clipped), min(c[3] for c in clipped))
    if common[2] <= common[0] or common[3] <= common[1]:
        raise InputError(_as_typed(paths[-1]), "the rasters have no whole coarse pixel in common",
                         "check that they show the same place")
    placed = [
        Placed(path, (fx, fy), (c_lo - ref[0], c_hi - ref[0]), (r_lo - ref[1], r_hi - ref[1]),
               Window(round((c_lo - col0) * fx), round((r_lo - row0) * fy), (c_hi - c_lo) * fx, (r_hi - r_lo) * fy))
        for path, ((fx, fy), col0, row0, _, _), (c_lo, r_lo, c_hi, r_hi) in zip(paths, spans, clipped)
    ]
    return CommonGrid(_cut(coarse, ref), _cut(coarse, common), placed)


def _onto_crs_hint(path: Path, stored: Stored, grid: Grid, reference: Grid, reference_path: Path) -> str:
    """The gdalwarp command that reprojects raster ``path`` (on ``grid``) onto the reference's CRS and
    pixel edges (as :func:`_onto_grid_hint`, ``-t_srs`` as mask gives it): at the reference's pixel
    size or one dividing it where the raster is finer, else at a whole multiple of it."""
    left, bottom, right, top = transform_bounds(grid.crs, reference.crs, *grid.bounds, densify_pts=21)
    res = ((right - left) / grid.width, (top - bottom) / grid.height)  # its pixel size once reprojected
    there = Grid(reference.crs, Affine(res[0], 0, left, 0, -res[1], top), grid.width, grid.height)
    kx, ky = (max(1, math.floor(r / c + ALIGNMENT_TOLERANCE)) for r, c in zip(res, reference.res))
    t = reference.transform
    edges = Affine(t.a * kx, 0, t.c, 0, t.e * ky, t.f)
    first, t_srs = _reference_crs(reference, reference_path)
    return _onto_grid_hint(path, stored, there, edges, _nesting_res((edges.a, -edges.e), res),
                           (first, t_srs + _outside_nodata(stored)), "candidate's ")


def _reference_crs(reference: Grid, reference_path: Path) -> tuple[str, str]:
    """:func:`pipelines.masking.target_crs` for the reference: a streamed one (``/dev/stdin``,
    ``<(...)``) is saved to ``REF.tif`` first, as gdalsrsinfo cannot read the stream compare has
    already read (the pasted command failed)."""
    if not _streamed(reference_path):
        return target_crs(reference.crs, reference_path, "reference")
    first, t_srs = target_crs(reference.crs, Path("REF.tif"), "reference")
    saved = f"save the reference's stream ({printable_path(reference_path)}) to a file (REF.tif) first, then "
    return (saved + first if first else ""), t_srs


def _outside_nodata(stored: Stored) -> str:
    """The ``-dstnodata`` for a raster reprojected onto the reference's grid: the box around its
    turned footprint has corners it does not reach, which gdalwarp fills with 0 where the raster
    declares no nodata, scored as 0 degC or refused as a fill (review R8). None needed where it
    declares one (gdalwarp fills with it). An integer type gets its minimum (its maximum when
    unsigned), a stream's too: GDAL makes nan 0 there, shifting real 0 degC pixels next to the fill."""
    if stored.nodata is not None:
        return ""
    dtype = np.dtype(stored.dtype)
    if dtype.kind == "f":
        return "-dstnodata nan "
    info = np.iinfo(dtype)
    return f"-dstnodata {info.max if info.min == 0 else info.min} "


def _nesting_res(coarse: tuple[float, float], res: tuple[float, float]) -> tuple[float, float]:
    """The pixel size, on each axis, of the coarsest grid that divides ``coarse`` and is no coarser
    than ``res`` (``coarse`` itself where ``res`` is over half of it): what a raster is warped to
    so that it nests and keeps what detail it can."""
    x, y = (c / max(1, math.floor(c / r + ALIGNMENT_TOLERANCE)) for c, r in zip(coarse, res))
    return x, y


def _whole_pixels_within(first: float, last: float) -> tuple[int, int]:
    """The first and past-the-last whole pixel between edge positions ``first`` and ``last`` (in
    pixels), or those covering them where no whole pixel fits."""
    lo, hi = math.ceil(first - ALIGNMENT_TOLERANCE), math.floor(last + ALIGNMENT_TOLERANCE)
    if hi > lo:
        return lo, hi
    return math.floor(first + ALIGNMENT_TOLERANCE), math.ceil(last - ALIGNMENT_TOLERANCE)


def _onto_grid_hint(path: Path, stored: Stored, grid: Grid, edges: Affine, res: tuple[float, float] | None = None,
                    target: tuple[str, str] = ("", ""), whose: str = "") -> str:
    """The gdalwarp command that puts raster ``path`` (on ``grid``) at pixel size ``res`` (None:
    that of ``edges``) onto the pixel edges of ``edges`` (a north-up transform the others nest in),
    over the whole pixels inside its footprint (pixels it only partly covers would be filled with
    nodata, or with 0 where it declares none). ``-tap`` cannot do it: it aligns to multiples of
    ``-tr`` from 0, which a Landsat grid, its origins at 15 m, is not on. ``target``: what comes before
    the command and its ``-t_srs`` where it reprojects too (:func:`pipelines.masking.target_crs`); ``whose``
    (``candidate's ``) names a streamed raster's role where the reference may be streamed too; a stream is
    saved as ``stored.saved``."""
    res = res or (edges.a, -edges.e)
    left, bottom, right, top = grid.bounds
    cols = _whole_pixels_within((left - edges.c) / edges.a, (right - edges.c) / edges.a)
    rows = _whole_pixels_within((edges.f - top) / -edges.e, (edges.f - bottom) / -edges.e)
    xmin, xmax = (edges.c + c * edges.a for c in cols)
    ymax, ymin = (edges.f + r * edges.e for r in rows)
    if any(new > old * (1 + ALIGNMENT_TOLERANCE) for new, old in zip(res, grid.res)):
        method, why = "average", "its pixels grow, so each becomes the mean of those it covers"
    else:
        method, why = "bilinear", "its pixel size stays and the grid only moves; average where pixels grow"
    numbers = " ".join(f"{v:.15g}" for v in (xmin, ymin, xmax, ymax))
    if _streamed(path):
        stream = f"the {whose}stream ({printable_path(path)})" if whose else "the stream"
        source, out = f"{stored.saved}.tif", f"{stored.saved}_on_grid.tif"
        first = f"save {stream} to a file ({source}) first, then warp it"
    else:  # a name starting with '-' as ./-x.tif, which gdalwarp does not take for an option
        first, source = "warp it", shlex.quote(gdal_name(path) or unmistakable_path(path))
        out = shlex.quote(unmistakable_path(_warped_path(path)))
    return (f"{target[0]}{first} onto a grid that nests: gdalwarp {target[1]}-r {method} -te {numbers} "
            f"-tr {res[0]:.15g} {res[1]:.15g} {source} {out}, then compare that ({method}: {why})")


def _warped_path(path: Path) -> Path:
    """Where the hint's gdalwarp writes raster ``path`` on the new grid: ``<stem>_on_grid.tif`` beside a
    local file (a folder holds one file of a name, so two files' outputs land apart), or in the current folder
    for a GDAL name (``/vsizip/a.zip/c.tif``, ``/vsitar/``, ``/vsigzip/c.tif.gz``, ``/vsicurl/``), which
    gdalwarp cannot write into: there its readable words (:func:`_gdal_words`) and a short hash of the name
    (:func:`_name_digest`), as the words of two names may match and the second pasted gdalwarp then found
    the first's output (``/vsigzip/a/lst.tif.gz`` and ``/vsigzip/b/lst.tif.gz``; ``/vsizip/s1/d1.zip/lst.tif``
    and ``/vsizip/s1_d1.zip/lst.tif``, both ``s1_d1_lst``). A local file whose stem another raster beside it
    shares keeps its extension (:func:`_local_words`)."""
    name = gdal_name(path)
    if name is None:
        return path.with_name(f"{_local_words(path)}_on_grid.tif")
    return Path(f"{_gdal_words(name)}_{_name_digest(name)}_on_grid.tif")


# Files beside a raster that share its stem but that GDAL reads as its header or metadata, not as a raster
# of their own (ENVI ``lst.hdr``, ESRI ``lst.xml``), although a driver lists their extension.
_NOT_OWN_RASTERS = frozenset({"hdr", "xml"})


def _local_words(path: Path) -> str:
    """The words of a local file's output: its stem (``lst.tif`` -> ``lst``), or its stem and extension
    (``lst.nc`` -> ``lst_nc``) when another raster beside it has that stem, as ``lst.tif`` and ``lst.nc``
    would both have been warped to ``lst_on_grid.tif`` (the second pasted gdalwarp refused: its output
    exists). Each file of such a pair keeps its extension, so neither name depends on which of them was
    compared first."""
    if path.suffix and _stem_shared(path):
        return f"{path.stem}_{path.suffix[1:]}"
    return path.stem


def _stem_shared(path: Path) -> bool:
    """Whether another file in ``path``'s folder has its stem (letter case aside: a case-insensitive file
    system holds one of ``lst_on_grid.tif`` and ``LST_on_grid.tif``) and is a raster by its extension
    (any GDAL driver's, or none: ``lst`` beside ``lst.tif``); a world file or ``.prj`` is none."""
    from rasterio.drivers import raster_driver_extensions

    extensions = {"", *raster_driver_extensions()} - _NOT_OWN_RASTERS
    stem = path.stem.casefold()
    try:
        siblings = [entry for entry in os.scandir(path.parent) if entry.name != path.name]
    except OSError:  # an unreadable folder: the hint names what it would have named before
        return False
    return any(Path(entry.name).stem.casefold() == stem and Path(entry.name).suffix[1:].lower() in extensions
               and entry.is_file() for entry in siblings)


def _gdal_words(name: str) -> str:
    """The readable part of GDAL name ``name``'s output: an archive member's words (:func:`_archive_member`),
    else the last part's stem (``/vsigzip/a/lst.tif.gz`` -> ``lst``; a URL's query dropped), else ``IN``."""
    member = _archive_member(name)
    if member is not None:
        return member
    last = re.split(r'[/:"]', name.split("?")[0])[-1]
    return Path(last.removesuffix(".gz")).stem or "IN"


_LOCAL_GDAL_NAME = re.compile(r"^(/vsi(?:zip|tar|7z|rar|gzip)/)(?!/?vsi|\{)(.+)$")


def _name_digest(name: str) -> str:
    """Six hex digits of the SHA-256 of GDAL name ``name`` as :func:`_canonical_name` writes it, so that one
    file typed two ways gets one output and a run tomorrow the same one."""
    return hashlib.sha256(os.fsencode(_canonical_name(name))).hexdigest()[:6]


_URL_QUERY = re.compile(r"(://[^?{}]*)\?([^{}]*)")
# Query parameters that sign a URL or carry a passing credential (S3, Google Cloud Storage, OAuth):
# they change each time it is signed, the data they give do not. Any other parameter may pick the data
# (?id=, ?versionId=, ?skip=), so short names are dropped only beside the signature they go with.
_SIGNING_PARAMETER = re.compile(r"x-amz-.*|x-goog-.*|awsaccesskeyid|googleaccessid|access_token|token", re.IGNORECASE)
# What goes with a signature: CloudFront's and S3 v2's (with Signature), Azure SAS's (with sig)
_SIGNED_WITH = {"signature": frozenset({"signature", "expires", "policy", "key-pair-id"}),
                "sig": frozenset({"sig", "sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "si", "sr", "sdd",
                                  "skoid", "sktid", "skt", "ske", "sks", "skv", "skdutid", "saoid", "suoid", "scid"})}


def _unsigned(url: re.Match[str]) -> str:
    """A URL (``_URL_QUERY``'s match) without the parameters that sign it: a re-signed URL names the
    same data; ``?id=a`` and ``?id=b`` do not (review: dropping the whole query gave them one output),
    nor ``?skip=10`` and ``?skip=20`` (nor an Azure-like ``st=`` without a ``sig=``)."""
    items = [item for item in url.group(2).split("&") if item]
    keys = {item.split("=", 1)[0].lower() for item in items}
    signed = frozenset().union(*(names for key, names in _SIGNED_WITH.items() if key in keys))
    kept = [item for item in items
            if not (_SIGNING_PARAMETER.fullmatch(key := item.split("=", 1)[0]) or key.lower() in signed)]
    return url.group(1) + ("?" + "&".join(kept) if kept else "")


def _canonical_name(name: str) -> str:
    """GDAL name ``name`` with its local file made absolute (``/vsigzip/./a/x.gz``, ``/vsigzip/a/x.gz`` and
    ``/vsizip/$PWD/d.zip/x`` name one file; so do ``NETCDF:"./f.nc":lst``, ``NETCDF:f.nc:lst`` and
    ``netcdf:"$PWD/f.nc":lst``, written ``NETCDF:"/abs/f.nc":lst``) and a URL's signing parameters dropped: a
    signed ``/vsicurl/https://host/x.tif?X-Amz-Signature=...`` changes them each time it is signed, not its data.
    A chained (``/vsizip//vsicurl/``) or network name is otherwise as typed."""
    parts = subdataset(name)
    if parts is not None:
        file = parts[0]
        return _quoted_file(name, file, _canonical_name(file) if file.startswith("/vsi") else _absolute_file(file))
    name = _URL_QUERY.sub(_unsigned, name)
    local = _LOCAL_GDAL_NAME.match(name)
    return local.group(1) + os.path.abspath(local.group(2)) if local else name


def _absolute_file(file: str) -> str:
    """A subdataset's file made absolute against the current folder (``./f.nc``, ``a/../f.nc``); a URL as given."""
    return file if "://" in file else os.path.abspath(file)


def _quoted_file(name: str, file: str, new_file: str) -> str:
    """Subdataset name ``name`` reading ``new_file`` instead of its ``file``, in one spelling: the driver in
    capitals and the file quoted (GDAL reads ``netcdf:f.nc:lst`` and ``NETCDF:"f.nc":lst`` alike)."""
    driver, rest = name.split(":", 1)
    old = f'"{file}"' if f'"{file}"' in rest else file
    quoted = f'"{new_file}"'
    return f"{driver.upper()}:{rest.replace(old, quoted, 1)}"


_IN_ARCHIVE = re.compile(r"^/vsi(?:zip|tar|7z|rar)/(.+)$")


def _archive_member(name: str) -> str | None:
    """A readable name for a member of a local archive: the archive's words (:func:`_archive_words`), the
    folders inside it and the member's stem joined by ``_`` (``/vsizip/s1/d1.zip/in/lst.tif`` ->
    ``s1_d1_in_lst``; a part repeating the one before dropped: ``/vsizip/lst.zip/lst.tif`` -> ``lst``);
    None for a name whose archive is no local file (a chained ``/vsizip/{...}``, a network one)."""
    found = _IN_ARCHIVE.match(name)
    parts = found.group(1).split("/") if found else []
    for end in range(1, len(parts)):
        archive = "/".join(parts[:end])
        if archive and Path(archive).is_file():
            words = [*_archive_words(Path(archive)), *parts[end:-1], Path(parts[-1]).stem]
            kept = [w for i, w in enumerate(words) if w and (i == 0 or w != words[i - 1])]
            return "_".join(kept) or None
    return None


def _archive_words(archive: Path) -> list[str]:
    """Words that tell a reader which archive ``archive`` is (per-scene folders each holding a ``data.zip``):
    its folders below the current one and its stem (``s1/d1.zip`` -> ``s1``, ``d1``); for one outside the
    current folder, its folder's name and its stem (the name's hash, :func:`_name_digest`, tells apart two
    of those, ``/a/s1/x/d1.zip`` and ``/b/s1/x/d1.zip``)."""
    absolute = Path(os.path.abspath(archive))
    stem = archive.stem.removesuffix(".tar")
    if absolute.is_relative_to(os.getcwd()):
        return [*absolute.relative_to(os.getcwd()).parent.parts, stem]
    return [absolute.parent.name, stem]


_FD_NAME = re.compile(r"^/(?:dev/std(?:in|out|err)|dev/fd/\d+|proc/[^/]+/fd/\d+)$")


def _streamed(path: Path) -> bool:
    """Whether a pasted command cannot read ``path`` again: a pipe, a socket or a character device (stat
    follows links), or ``/dev/stdin``, ``/dev/fd/N``, ``/proc/PID/fd/N``, which name another thing in the shell
    the command is pasted in; ``<name>_on_grid.tif`` beside it would be written into /dev or /proc.
    A file under /dev/shm (tmpfs) is none: it is read and written like any other."""
    if gdal_name(path) is not None:
        return False
    if _FD_NAME.match(os.path.abspath(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _as_typed(path: Path) -> str | Path:
    """How an error names ``path``: a GDAL name as typed (``/vsizip//abs/a.zip/c.tif``, which pathlib folded),
    else the path."""
    return gdal_name(path) or path


def _cut(coarse: Grid, box: tuple[int, int, int, int]) -> Grid:
    """The coarse grid's pixels ``box`` (first column, first row, past the last of each)."""
    left, top, right, bottom = box
    return Grid(coarse.crs, coarse.transform @ Affine.translation(left, top), right - left, bottom - top)


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` measured: the common grid, the reference's unit, the pixels scored
    and per candidate its metrics and the share of the valid reference it wrote."""

    grid: str
    reference_units: Units
    pixels: int
    rows: list[dict[str, float | str]]


AGGREGATES = ("kelvin", "radiance")


def compare(reference: Path, candidates: Sequence[Path], *, units: Units = Units.auto,
            decoding: LstDecoding = LstDecoding(), aggregate: str = "kelvin",
            on_progress: Callable[[int, int], None] | None = None) -> Comparison:
    """Score ``candidates`` against ``reference`` (read with ``units`` and ``decoding``; the
    candidates by the default rule, their unit from their values). Warns (GroklstWarning) when
    the scored pixels are fewer than the reference's valid ones, naming the candidates that cover
    less of it: a crop or a shifted candidate would otherwise score well on a corner."""
    if aggregate not in AGGREGATES:
        raise InputError("--aggregate", f"unknown aggregation {aggregate!r}", "use kelvin or radiance")
    paths = [Path(reference), *map(Path, candidates)]
    with streaming_gdal_env(), ExitStack() as stack:  # GDAL's default cache grows with the scene
        inputs = Inputs(stack)  # a named pipe (compare t.tif <(gunzip -c c.tif.gz)) is read into memory
        sources = [inputs.open(p) for p in paths]
        for src, path in zip(sources, paths):
            check_single_band(src, path)
        stored = [Stored.of(src, i, len(candidates)) for i, src in enumerate(sources)]
        common = common_grid([Grid.of(s) for s in sources], paths, stored)
        # The LST options read the reference; a candidate's reading is its file's to declare.
        rules = [(decoding, units, Remedy()),
                 *((LstDecoding(), Units.auto, Remedy.in_file(p, src.nodata, src.dtypes[0]))
                   for src, p in zip(sources[1:], candidates))]
        found_units = [_units(src, p.window, rule, p.path, role)
                       for src, p, rule, role in zip(sources, common.placed, rules, _roles(candidates))]
        moments = [Moments() for _ in candidates]
        written = [0] * len(candidates)
        reference_valid = 0
        width, height = common.grid.width, common.grid.height
        finest = max(p.factors[0] * p.factors[1] for p in common.placed)
        rows = max(1, STRIP_PIXELS // max(width * finest, 1))
        for top in range(0, height, rows):
            strip = min(rows, height - top)
            blocks = [_coarse(src, p, top, strip, width, rule[0], u, aggregate)
                      for src, p, rule, u in zip(sources, common.placed, rules, found_units)]
            ref, others = blocks[0], blocks[1:]
            has_ref = np.isfinite(ref)
            reference_valid += int(has_ref.sum())
            every = has_ref.copy()
            for i, block in enumerate(others):
                has = np.isfinite(block)
                written[i] += int((has & has_ref).sum())
                every &= has
            for moment, block in zip(moments, others):
                moment.add(block[every], ref[every])
            if on_progress:
                on_progress(top + strip, height)
        shifts = [_shift(sources, common, i, rules, found_units, aggregate) for i in range(1, len(paths))]
    if reference_valid == 0:  # valid fine pixels (_units) but no whole coarse block of them
        raise InputError(reference, "the reference has no valid pixel at the coarsest raster's pixel size (every "
                         "coarse pixel holds a nodata one)", "a block with a nodata pixel is nodata: give "
                         "candidates at the reference's pixel size, or a reference with fewer holes")
    shares = [count / reference_valid for count in written]
    scored = moments[0].n if moments else 0
    if scored == 0:  # every metric would be null: nothing was compared, which is no success
        covering = ", ".join(f"{printable_path(path)} {percent(share)} %" for path, share in zip(candidates, shares))
        raise InputError(reference, "no pixel has a value in the reference and every candidate at once: nothing to "
                         f"score (each candidate covers of the reference's valid pixels: {covering})",
                         "compare the candidates one by one, or check their nodata and footprints")
    if scored < SCORED_SHARE_TO_WARN * reference_valid:
        warnings.warn(shrunk_warning(scored, reference_valid, candidates, shares), GroklstWarning, stacklevel=2)
    for path, shift in zip(candidates, shifts):
        if shift is not None and shift.flagged:
            warnings.warn(shift.warning(printable_path(path), common.grid.res_units), GroklstWarning, stacklevel=2)
    table = [{"candidate": str(path), **moment.metrics(), "written": share,
              "shift": shift.as_json() if shift is not None else None}
             for path, moment, share, shift in zip(candidates, moments, shares, shifts)]
    return Comparison(common.describe(), found_units[0], scored, table)


# Below this share of the reference's valid pixels scored, a warning says so: a crop or a shifted
# raster, not the few per cent a degraded input's trimmed edge or a network's hole margin leave.
SCORED_SHARE_TO_WARN = 0.95


def shrunk_warning(scored: int, reference_valid: int, candidates: Sequence[Path], shares: Sequence[float]) -> str:
    """The warning that every row is scored on fewer pixels than the reference's valid ones,
    naming the candidates that cover less of the reference and how much."""
    short = ", ".join(f"{printable_path(path)} covers {percent(share)} %"
                      for path, share in zip(candidates, shares) if share < 1.0)
    return (f"scored on {scored:,} of the reference's {reference_valid:,} valid pixels "
            f"({percent(scored / reference_valid)} %), those every candidate covers: {short} of them; "
            "check the candidates' footprint and georeferencing, or compare them one by one")


def _roles(candidates: Sequence[Path]) -> list[str]:
    """What each raster is, for its errors: the reference, then the candidates."""
    return ["reference", *("candidate" for _ in candidates)]


def _units(src: rasterio.DatasetReader, window: Window, rule: tuple[LstDecoding, Units, Remedy],
           path: str | os.PathLike[str], role: str) -> Units:
    """The raster's unit (declared, or from its values), after checking the values are plausible;
    a raster without a valid pixel on the reference's footprint is refused naming its ``role``."""
    decoding, declared, remedy = rule
    found = scan(src, window, decoding, path, remedy=remedy)
    if found.valid == 0:
        where = "" if role == "reference" else " where it overlaps the reference"
        raise InputError(path, f"the {role} has no valid pixel (all nodata){where}", _EMPTY_HINTS[role])
    units = resolve_units(found, declared, remedy)
    check_plausible(found, units, decoding, path, remedy=remedy)
    return units


_EMPTY_HINTS = {
    "reference": "check --nodata (and --mask-implausible) against its values, e.g. with gdalinfo -stats",
    "candidate": "check its nodata value (gdal_edit.py -a_nodata) and that it covers the reference's area",
}


def _shift(sources: Sequence[rasterio.DatasetReader], common: CommonGrid, index: int,
           rules: Sequence[tuple[LstDecoding, Units, Remedy]], units: Sequence[Units],
           aggregate: str) -> ContentShift | None:
    """Candidate ``index``'s content offset against the reference (:mod:`pipelines.compare_shift`), on
    the pixels both cover, at their pixel size where they share one, else on the coarse grid."""
    ref, cand = common.placed[0], common.placed[index]

    def read(which: int, scale: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
        placed, i = (ref, 0) if which == 0 else (cand, index)
        top, left, rows, cols = box
        kx, ky = placed.factors[0] // scale[0], placed.factors[1] // scale[1]
        window = Window(placed.window.col_off + (left - placed.cols[0] * scale[0]) * kx,
                        placed.window.row_off + (top - placed.rows[0] * scale[1]) * ky, cols * kx, rows * ky)
        crop = Placed(placed.path, (kx, ky), (0, cols), (0, rows), window)
        return _coarse(sources[i], crop, 0, rows, cols, rules[i][0], units[i], aggregate)

    span = (cand.rows[0], cand.cols[0], cand.rows[1] - cand.rows[0], cand.cols[1] - cand.cols[0])
    fine = ref.factors if ref.factors == cand.factors and ref.factors != (1, 1) else None
    return content_shift(read, span, fine, common.grid.res)


def _coarse(src: rasterio.DatasetReader, placed: Placed, top: int, height: int, width: int,
            decoding: LstDecoding, units: Units, aggregate: str) -> np.ndarray:
    """Coarse rows ``top .. top+height`` (``width`` wide) of the reference's footprint from a
    raster in Kelvin (float64, NaN where it does not reach): block means of its pixels, of their
    temperature or (``radiance``) of their T^4."""
    block = np.full((height, width), np.nan)
    first, last = max(top, placed.rows[0]), min(top + height, placed.rows[1])
    if last <= first:
        return block
    (fx, fy), w = placed.factors, placed.window
    window = Window(w.col_off, w.row_off + (first - placed.rows[0]) * fy, w.width, (last - first) * fy)
    values = decode(src, window, decoding, placed.path)
    if decoding.mask_implausible:
        lo, hi = plausible_range(units)
        with np.errstate(invalid="ignore"):
            values = np.where((values >= lo) & (values <= hi), values, np.nan)
    if units is Units.celsius:
        values = values + KELVIN_OFFSET
    if fx != 1 or fy != 1:
        power = 4 if aggregate == "radiance" else 1
        blocks = (values**power).reshape(last - first, fy, int(w.width) // fx, fx)
        values = blocks.mean(axis=(1, 3)) ** (1 / power)
    block[first - top:last - top, placed.cols[0]:placed.cols[1]] = values
    return block

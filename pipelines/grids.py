"""Pairing an LST grid with a guidance grid: scale, nesting, overlap and the output grid.

Downscaling works on whole LR pixels: every LR pixel of the output footprint is split into
``scale x scale`` output pixels, and the guidance pixels must nest in that subdivision. The
output grid is the guidance grid (its intersection with the LST footprint), or, when the
guidance is finer than LST-resolution/scale, the guidance grid area-averaged by an integer
factor. Without guidance (``downscale --scale``) it is the LST grid refined by the scale.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import rasterio
from affine import Affine
# what GDAL raises directly, e.g. from PROJ
from rasterio._err import CPLE_AppDefinedError, CPLE_BaseError, CPLE_NotSupportedError
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.windows import Window

from pipelines.errors import InputError, shell_word, unmistakable_path

ALIGNMENT_TOLERANCE = 1e-3  # fraction of a pixel tolerated as rounding noise in grid alignment
# Pixels a rotation term may move any pixel by across the whole raster and still be float noise
# (b = 1e-12 on a 30 m grid, as some software writes): such a grid is north-up, its terms 0
ROTATION_NOISE_PX = 1e-6


def resolution_units(crs: CRS | None) -> str:
    """A short label for the unit pixel sizes are measured in on ``crs``.

    The CRS's linear unit (``m``, ``US survey foot``, ...), ``deg`` for a geographic CRS, and
    ``CRS units`` when there is no CRS or it names no unit (``LOCAL_CS["unnamed",UNIT["unknown"]]``).
    A local/engineering or geocentric CRS is neither projected nor geographic: its own unit,
    never degrees (QA s5: a local LST's output grid was said to be "at 10 deg").
    """
    if crs is None:
        return "CRS units"
    if crs.is_geographic:
        return "deg"
    unit = crs.linear_units if crs.is_projected else crs.units_factor[0]
    return "CRS units" if unit == "unknown" else {"metre": "m", "meter": "m"}.get(unit, unit)


Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int
    # "GCPs" or "RPCs" when the raster is placed by those instead of a geotransform (a grid
    # that needs warping first); not part of the grid itself, so not compared
    placed_by: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, src: rasterio.DatasetReader) -> Grid:
        """The grid of an open raster."""
        placed_by = "GCPs" if src.gcps[0] else ("RPCs" if src.rpcs is not None else None)
        return cls(src.crs, without_rotation_noise(src.transform, src.width, src.height), src.width, src.height,
                   placed_by)

    @property
    def res(self) -> tuple[float, float]:
        return self.transform.a, -self.transform.e

    @property
    def bounds(self) -> Bounds:
        """``(left, bottom, right, top)`` of a north-up grid."""
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f

    @property
    def res_units(self) -> str:
        """What ``res`` is measured in, as a short label (see :func:`resolution_units`)."""
        return resolution_units(self.crs)


@dataclass(frozen=True)
class PairedGrids:
    """How an LST raster and its guidance line up for downscaling by ``scale``."""

    scale: int
    guidance_factor: int  # guidance pixels per output pixel along each axis (1 = native)
    lr_window: Window  # whole LR pixels of the output footprint, in LST pixel coordinates
    guidance_window: Window  # the same footprint in guidance pixel coordinates
    output: Grid

    @property
    def ratio(self) -> int:
        """Guidance pixels per LR pixel along each axis."""
        return self.scale * self.guidance_factor

    def describe(self, guidance: Grid | None) -> str:
        """One line saying which output grid was chosen and why (``guidance`` None: refined LST)."""
        x_res, y_res = self.output.res
        res = f"{x_res:g}" if math.isclose(x_res, y_res, rel_tol=1e-9) else f"{x_res:g}x{y_res:g}"
        size = f"{self.output.width}x{self.output.height} px at {res} {self.output.res_units}"
        if guidance is None:
            return f"output grid: the LST grid refined x{self.scale} ({size})"
        if self.guidance_factor > 1:
            return (
                f"output grid: guidance area-averaged x{self.guidance_factor} to LST/{self.scale} "
                f"({size})"
            )
        if (self.output.width, self.output.height) == (guidance.width, guidance.height):
            return f"output grid: the guidance grid ({size})"
        return f"output grid: the part of the guidance grid covered by the LST ({size})"


def ordered_bounds(box: Bounds) -> Bounds:
    """A ``(left, bottom, right, top)`` box with left <= right and bottom <= top. A south-up
    raster's bounds have bottom > top (and an east-to-west one left > right), which
    ``transform_bounds`` takes for an inverted latitude range or a box across the antimeridian."""
    x0, y0, x1, y1 = box
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def footprints_disjoint(a: Bounds, b: Bounds) -> bool:
    """Whether two ``(left, bottom, right, top)`` boxes share no area, whatever their orientation
    (rasterio's ``disjoint_bounds`` refuses a south-up raster's)."""
    (al, ab, ar, at), (bl, bb, br, bt) = ordered_bounds(a), ordered_bounds(b)
    return ar <= bl or br <= al or at <= bb or bt <= ab


TURN = 360.0  # degrees of longitude that bring a geographic x back to the same meridian


def turns_between(x: float, reference: float, crs: CRS | None) -> float:
    """The multiple of 360 that brings longitude ``x`` nearest ``reference`` on a geographic
    ``crs`` (0 otherwise): rasters use -180..180 or 0..360, and one across the antimeridian
    runs past either end, so the same place has longitudes a whole turn apart."""
    if crs is None or not crs.is_geographic:
        return 0.0
    return TURN * round((reference - x) / TURN)


def footprint_in(crs: CRS, bounds: Bounds, target: CRS, near: Bounds) -> Bounds:
    """A raster's own ``bounds`` (any orientation) in ``crs`` as a box in ``target`` with
    left <= right and bottom <= top, in the longitudes of ``near`` (an ordered box in ``target``).

    On a geographic ``target``, ``transform_bounds`` gives a box across the antimeridian as
    left > right (east of 180 comes back as negative longitudes): it is unwrapped to end past
    180, then moved by whole turns to ``near``, so the two boxes can be compared as numbers.
    """
    from rasterio.warp import transform_bounds  # GDAL's transformer: only when asked

    left, bottom, right, top = transform_bounds(crs, target, *ordered_bounds(bounds), densify_pts=21)
    if target.is_geographic and right < left:
        right += TURN
    shift = turns_between((left + right) / 2, (near[0] + near[2]) / 2, target)
    return left + shift, bottom, right + shift, top


def check_geotransform(path: str | os.PathLike[str], grid: Grid) -> None:
    """Refuse a raster GDAL found no pixel-to-map transform for (it reads as the identity): one
    placed only by GCPs or RPCs (to be warped onto a grid), or e.g. a netCDF whose x/y variables
    carry no CF attributes: not a flipped grid, an unplaced one."""
    if grid.transform != Affine.identity():
        return
    if grid.placed_by is not None:
        raise InputError(path, f"has no geotransform, only {grid.placed_by}", warp_hint(grid.placed_by))
    missing = "no geotransform" + (" and no CRS" if grid.crs is None else "")
    raise InputError(path, f"has no georeferencing ({missing})",
                     "georeference it, e.g. gdal_edit.py -a_srs EPSG:XXXX -a_ullr ULX ULY LRX LRY")


def warp_hint(placed_by: str) -> str:
    """How to warp a raster placed by ``placed_by`` (``GCPs`` or ``RPCs``) onto a grid."""
    how = ("gdalwarp -r near IN.tif OUT.tif (onto the GCPs' CRS)" if placed_by == "GCPs"
           else "gdalwarp -rpc -r near IN.tif OUT.tif (onto WGS 84; -t_srs picks a projected CRS)")
    return f"warp it onto a grid first: {how}"


def check_crs(path: str | os.PathLike[str], grid: Grid) -> None:
    """Refuse a grid with no CRS; one placed by GCPs or RPCs (rasterio reports their CRS apart,
    so the raster reads as having none) is named so, with the warp that places it."""
    if grid.crs is not None:
        return
    if grid.placed_by is not None:
        raise InputError(path, f"raster has no CRS of its own, only {grid.placed_by}", warp_hint(grid.placed_by))
    raise InputError(path, "raster has no CRS",
                     f"assign one with gdal_edit.py -a_srs EPSG:XXXX {shell_word(path)}")


def check_refinable_crs(path: str | os.PathLike[str], grid: Grid) -> None:
    """Refuse, as :func:`check_crs` does, an LST to refine (``--scale``) in a local/engineering
    CRS: GDAL writes the output's LOCAL_CS back with a metre unit the input may not have had
    (``UNIT["unknown"]``, what ``gdal_edit.py -a_srs ""`` leaves), so it cannot be kept as it is."""
    check_crs(path, grid)
    if is_local(grid.crs):
        raise InputError(path, f"raster has a local/engineering CRS ({crs_label(grid.crs)}), which a --scale "
                               "output cannot keep as it is",
                         f"assign the CRS it is in with gdal_edit.py -a_srs EPSG:XXXX {shell_word(path)}")


WARP_NORTH_UP = "gdalwarp -r near IN.tif OUT.tif"


def without_rotation_noise(t: Affine, width: int, height: int) -> Affine:
    """``t`` with its rotation terms b and d set to 0 when they move no pixel of a ``width`` x
    ``height`` raster by ROTATION_NOISE_PX of a pixel or more (float noise some software writes),
    so that the grid counts as north-up and the grids made from it are written exactly north-up;
    otherwise ``t`` as it is (a real rotation, refused by :func:`check_north_up`)."""
    if (t.b, t.d) == (0, 0) or not (t.a and t.e):
        return t
    if abs(t.b) * height < ROTATION_NOISE_PX * abs(t.a) and abs(t.d) * width < ROTATION_NOISE_PX * abs(t.e):
        return Affine(t.a, 0.0, t.c, 0.0, t.e, t.f)
    return t


def grid_orientation_faults(t: Affine) -> list[str]:
    """What keeps a transform from being north-up, in words (empty when it is north-up)."""
    if t.b != 0 or t.d != 0:
        return [f"rotated/sheared (transform terms b={t.b:.10g}, d={t.d:.10g})"]
    faults = []
    if t.e >= 0:
        faults.append(f"south-up (y pixel size {t.e:.10g}, positive)" if t.e else "degenerate (y pixel size 0)")
    if t.a <= 0:
        faults.append(f"east-to-west (x pixel size {t.a:.10g}, negative)" if t.a else "degenerate (x pixel size 0)")
    return faults


def check_north_up(path: str | os.PathLike[str], grid: Grid, *, onto_lst: str | None = None) -> None:
    """Refuse a grid that is not north-up, saying what it is: tiles and outputs are cut on
    north-up grids. ``onto_lst``: for a guidance, what else warps it onto the LST grid
    (see :func:`onto_lst_way`)."""
    check_geotransform(path, grid)
    faults = grid_orientation_faults(grid.transform)
    if not faults:
        return
    hint = f"warp it north-up: {WARP_NORTH_UP}" + (f", or {onto_lst}" if onto_lst else "")
    raise InputError(path, f"rotated or flipped grids are not supported: this one is {' and '.join(faults)}", hint)


def align_guidance(scale: int | str = "N") -> str:
    """The ``groklst guidance`` command that resamples a guidance onto the LST grid refined by
    ``scale`` (it needs ``--scale`` or ``--res``: the hint without it was itself refused)."""
    return f"groklst guidance LST.tif SOURCE.tif --scale {scale} -o GUIDANCE.tif"


RESAMPLE_HINT = f"resample the guidance onto a grid that nests in the LST grid: {align_guidance()}"


def onto_lst_way(offers_align: bool) -> str:
    """What warps a guidance onto the LST grid for the command run: its ``--align`` where it
    offers one (``downscale``), else ``groklst guidance`` (``coregister``)."""
    if offers_align:
        return "pass downscale --align, which warps the guidance onto the LST grid"
    return f"align the guidance first: {align_guidance()}"


def nest_hint(ratio: float, *, offers_align: bool) -> str:
    """How to make a guidance ``ratio`` times finer than the LST nest: ``--align`` only where the
    command offers it and it would take the guidance (its scale, ``ratio`` rounded, at least 2)."""
    if round(ratio) < 2:
        return RESAMPLE_HINT
    nest = f"resample the guidance onto a grid that nests in the LST grid: {align_guidance(round(ratio))}"
    return f"{nest}, or downscale --align" if offers_align else nest


NO_GUIDANCE = "no guidance: --model bicubic --scale N"  # the way out of every too-coarse guidance
FINER_HINT = ("pass a guidance finer than the LST, e.g. groklst guidance LST.tif SOURCE.tif --scale N "
              f"-o GUIDANCE.tif, or {NO_GUIDANCE}")


def check_not_coarser(lst: Grid, guidance: Grid, guidance_path: str | os.PathLike[str]) -> None:
    """Refuse guidance pixels coarser than the LST's in x or y, in those words: no resampling
    (``--align`` included) makes detail the guidance does not hold."""
    (rx, ry), (gx, gy) = lst.res, guidance.res
    if gx <= rx * (1 + ALIGNMENT_TOLERANCE) and gy <= ry * (1 + ALIGNMENT_TOLERANCE):
        return
    unit = lst.res_units
    raise InputError(guidance_path, f"guidance pixels ({gx:.10g} x {gy:.10g} {unit}) are coarser than the "
                     f"LST's ({rx:.10g} x {ry:.10g} {unit})", FINER_HINT)


def as_integer(value: float, what: str, path: str | os.PathLike[str], hint: str | None = None) -> int:
    """``value`` (a count of pixels) as an integer, or an InputError naming ``path`` with ``what``
    when it is further than ALIGNMENT_TOLERANCE from one. The tolerance is absolute: an origin
    1000 pixels away may be off by no more than one close by."""
    rounded = round(value)
    if abs(value - rounded) > ALIGNMENT_TOLERANCE:
        raise InputError(path, what, hint)
    return int(rounded)


def offset_words(pixels: float, axis: str, pixel: str = "pixel") -> str:
    """How far an origin misses the nearest pixel edge, as every nesting refusal says it:
    ``offset of 0.50 pixel in x`` (``pixel`` names whose pixels). A miss under 0.005 pixel, still
    refused beyond the alignment tolerance, gets two significant digits rather than 0.00."""
    fraction = pixels % 1
    miss = min(fraction, 1.0 - fraction)
    return f"offset of {miss:.2f} {pixel} in {axis}" if miss >= 0.005 else f"offset of {miss:.2g} {pixel} in {axis}"


def nesting_factor(coarse: float, fine: float, fine_pixels: int, what: str, path: str | os.PathLike[str],
                   hint: str | None = None) -> int:
    """How many pixels of size ``fine`` make one of size ``coarse``, or an InputError when that is
    not a whole number. Pixels are read by index, so a size a little off slides the grid pixel by
    pixel: across ``fine_pixels`` pixels the slide must stay within ALIGNMENT_TOLERANCE of one."""
    factor = as_integer(coarse / fine, what, path, hint)
    if factor < 1 or fine_pixels * abs(coarse / factor - fine) / fine > ALIGNMENT_TOLERANCE:
        raise InputError(path, what, hint)
    return factor


def pair_grids(
    lst: Grid,
    guidance: Grid,
    *,
    scale: int | None,
    lst_path: str | os.PathLike[str],
    guidance_path: str | os.PathLike[str],
    offers_align: bool = True,
) -> PairedGrids:
    """Check that ``guidance`` can guide ``lst`` at ``scale`` and compute the output grid.

    ``scale=None`` derives the scale from the two grids (for models without a fixed scale).
    ``offers_align``: whether the command run has ``downscale --align`` (``coregister`` has
    not), so that its refusals suggest only what that command takes.
    """
    check_north_up(lst_path, lst)
    check_north_up(guidance_path, guidance, onto_lst=onto_lst_way(offers_align))
    check_crs(lst_path, lst)
    check_crs(guidance_path, guidance)
    if lst.crs != guidance.crs:  # either one local: refused naming it, before other_crs_hint measures across
        check_related(lst_path, lst.crs, guidance_path, guidance.crs, lst.bounds)
    if lst.crs != guidance.crs:
        raise InputError(
            guidance_path,
            "CRS {} differs from the LST's {}".format(*crs_labels(guidance.crs, lst.crs)),
            other_crs_hint(lst, guidance, offers_align=offers_align),
        )
    (rx, ry), (gx, gy) = lst.res, guidance.res
    unit = lst.res_units
    check_not_coarser(lst, guidance, guidance_path)
    hint = nest_hint(rx / gx, offers_align=offers_align)
    ratio_x = nesting_factor(
        rx, gx, guidance.width,
        f"LST pixel size {rx:.10g} {unit} is not an integer multiple of the guidance pixel size {gx:.10g} {unit}",
        guidance_path, hint,
    )
    ratio_y = nesting_factor(ry, gy, guidance.height,
                             f"pixel sizes differ in y ({ry:.10g} {unit} vs {gy:.10g} {unit})", guidance_path,
                             hint)
    if ratio_x != ratio_y or ratio_x < 2:
        raise InputError(
            guidance_path,
            f"guidance must be finer than the LST by the same integer factor >= 2 in x and y "
            f"(got x{ratio_x} and x{ratio_y})",
            hint if ratio_x != ratio_y else FINER_HINT,
        )
    ratio = ratio_x
    scale = ratio if scale is None else scale
    if ratio % scale:
        raise InputError(
            guidance_path,
            f"the grids give a scale of x{ratio} but the model downscales x{scale}",
            "use a checkpoint trained for this scale or guidance at LST-resolution/scale",
        )
    factor = ratio // scale

    # Guidance origin in LST pixel units; it must sit on a guidance-pixel boundary of the LR grid.
    # Longitudes are taken in the LST's range (a guidance in 0..360 for an LST in -180..180).
    shift = turns_between(_centre_x(guidance), _centre_x(lst), lst.crs)
    col0 = (guidance.transform.c + shift - lst.transform.c) / rx
    row0 = (lst.transform.f - guidance.transform.f) / ry
    for offset, axis in ((col0, "x"), (row0, "y")):
        as_integer(
            offset * ratio,
            f"the guidance grid does not nest in the LST grid ({offset_words(offset * ratio, axis, 'guidance pixel')})",
            guidance_path, nest_hint(ratio, offers_align=offers_align),
        )
    # Whole LR pixels covered by both footprints.
    c_lo = max(0, math.ceil(col0 - ALIGNMENT_TOLERANCE))
    r_lo = max(0, math.ceil(row0 - ALIGNMENT_TOLERANCE))
    c_hi = min(lst.width, math.floor(col0 + guidance.width / ratio + ALIGNMENT_TOLERANCE))
    r_hi = min(lst.height, math.floor(row0 + guidance.height / ratio + ALIGNMENT_TOLERANCE))
    if c_hi <= c_lo or r_hi <= r_lo:
        raise InputError(
            guidance_path,
            "the guidance footprint does not cover any whole LST pixel",
            "check that both rasters show the same place",
        )
    lr_window = Window(c_lo, r_lo, c_hi - c_lo, r_hi - r_lo)
    guidance_window = Window(
        round((c_lo - col0) * ratio), round((r_lo - row0) * ratio),
        (c_hi - c_lo) * ratio, (r_hi - r_lo) * ratio,
    )
    out_res_x, out_res_y = rx / scale, ry / scale
    transform = Affine(
        out_res_x, 0.0, lst.transform.c + c_lo * rx,
        0.0, -out_res_y, lst.transform.f - r_lo * ry,
    )
    output = Grid(lst.crs, transform, (c_hi - c_lo) * scale, (r_hi - r_lo) * scale)
    return PairedGrids(scale, factor, lr_window, guidance_window, output)


# What footprint_in raises for CRSs PROJ cannot relate (a local/engineering CRS and a projected one).
UNRELATED_CRS_ERRORS = (CRSError, CPLE_BaseError)

UNRELATED_CRS_HINT = ("no transformation links this CRS to the LST's: georeference the guidance in a known "
                      "CRS (gdal_edit.py -a_srs EPSG:XXXX), then align it")


def is_local(crs: CRS) -> bool:
    """Whether ``crs`` is a local (engineering) CRS: no datum ties it to the Earth, so PROJ relates
    it to no geographic or projected CRS (GDAL 3.6's ``gdal_edit.py -a_ullr`` leaves one in place
    of the file's EPSG code)."""
    return crs.to_wkt().startswith("LOCAL_CS")


def crs_label(crs: CRS) -> str:
    """``crs`` in a few words: its authority code (``EPSG:32632``) where it is exactly that CRS,
    else its quoted name where it has one (a local CRS's ``"unnamed"``, a compound CRS's
    ``"WGS 84 / UTM zone 32N + DHHN92 height"``), else its PROJ string: its WKT or PROJJSON runs
    to hundreds of characters. rasterio's ``to_string()`` names the closest code (70 %
    confidence), so a custom ``+towgs84`` CRS read "EPSG:23032" and a refusal said "CRS
    EPSG:23032 differs from the LST's EPSG:23032"."""
    authority = crs.to_authority(confidence_threshold=100)
    if authority:
        return ":".join(authority)
    named = re.match(r'\w+\["((?:[^"]|"")*)"', crs.to_wkt())  # WKT doubles a quote inside a name
    name = named.group(1).replace('""', '"') if named else ""
    if is_local(crs) or name.lower() not in ("", "unknown", "unnamed"):
        return f'"{name}"' if named else "local"
    return _proj_string(crs)


def _proj_string(crs: CRS) -> str:
    """``crs`` as a PROJ string (rasterio writes a bare flag as ``+no_defs=True``)."""
    return crs.to_proj4().replace("=True", "")


def crs_labels(crs: CRS, other: CRS) -> tuple[str, str]:
    """:func:`crs_label` of two CRSs that differ, told apart: their PROJ strings where the labels
    match (two CRSs of one name, another ``+towgs84``), their WKT where those match too (a PROJ
    string drops a vertical datum), so a refusal never says "X differs from X"."""
    for label in (crs_label, _proj_string, CRS.to_wkt):
        pair = label(crs), label(other)
        if pair[0] != pair[1]:
            return pair
    return pair


def check_related(path: str | os.PathLike[str], crs: CRS, other_path: str | os.PathLike[str],
                  other_crs: CRS, bounds: Bounds, *, latlon: str | None = None) -> None:
    """Refuse two rasters whose CRSs PROJ cannot relate (a local/engineering CRS and an EPSG one)
    before anything is measured or warped across them: GDAL's refusal came out as an internal
    error of some 900 characters of PROJJSON that named no file. The local one is named (``path``
    when neither is); the centre of ``bounds`` (in ``crs``) is transformed to find out.
    ``latlon``: who delivers ``path``'s kind of raster on a lat/lon grid (:func:`unrelated_crs_error`)."""
    from rasterio.warp import transform  # GDAL's transformer: only when asked

    try:
        transform(crs, other_crs, [(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    except CPLE_NotSupportedError:  # no coordinate operation between the two
        raise unrelated_crs_error(path, crs, other_path, other_crs, latlon=latlon, bounds=bounds) from None
    except CPLE_AppDefinedError:  # related, but the point lies outside the other's domain
        return


def unrelated_crs_error(path: str | os.PathLike[str], crs: CRS, other_path: str | os.PathLike[str],
                        other_crs: CRS, *, latlon: str | None = None, bounds: Bounds | None = None) -> InputError:
    """The refusal of two CRSs PROJ cannot relate, naming the local one's file (``path`` when
    neither is local) and the other's CRS, with the ``gdal_edit.py`` that declares the CRS its
    pixels are really in (it edits the file in place, as the hint says). ``latlon``, for a kind
    of raster usually delivered on a lat/lon grid (water vapour, a DEM), says who delivers it so:
    a local ``path`` whose ``bounds`` read as degrees is then hinted to EPSG:4326, not to the
    other's CRS (a scene's UTM zone); one whose coordinates are metres (GDAL 3.6's ``-a_ullr``
    leaves a UTM raster local) keeps the other's."""
    local_given = is_local(crs)
    if is_local(other_crs) and not local_given:
        path, crs, other_path, other_crs = other_path, other_crs, path, crs
    own = (f"its CRS is a local/engineering CRS ({crs_label(crs)}) that" if is_local(crs)
           else f"its CRS {crs_label(crs)}")
    other = crs_label(other_crs)
    name = shell_word(path)
    problem = f"{own} cannot be related to {unmistakable_path(other_path)}'s {other}"
    in_place = f"(it edits {name} in place: copy it first to keep the original)"
    if latlon is not None and local_given and bounds is not None and _in_degrees(bounds):
        return InputError(path, problem, f"if it is a lat/lon grid ({latlon}), declare it: gdal_edit.py -a_srs "
                                         f"EPSG:4326 {name} {in_place}; else declare the CRS it was delivered in")
    if other_crs.to_authority(confidence_threshold=100):
        return InputError(path, problem, f"if {unmistakable_path(path)} is in {other}, declare it: gdal_edit.py "
                                         f"-a_srs {other} {name} {in_place}")
    # no code is that CRS: "EPSG:XXXX" left the user to look for one that does not exist
    return InputError(path, problem, f"if {unmistakable_path(path)} is in {unmistakable_path(other_path)}'s CRS, "
                                     f"declare it: gdalsrsinfo -o wkt {_raster_name(other_path)} > crs.wkt, then "
                                     f"gdal_edit.py -a_srs crs.wkt {name} {in_place}")


def _raster_name(path: str | os.PathLike[str]) -> str:
    """``path`` as a shell command takes it (a GDAL name such as ``/vsizip/s.zip/x.tif`` as
    given), or a placeholder where it is a role, not a name (``the LST``: ``LST.tif``)."""
    text = os.fspath(path)
    if text.startswith("the ") and not os.path.lexists(text):
        return f"{text.removeprefix('the ').upper()}.tif"
    return shell_word(path)


def _in_degrees(bounds: Bounds) -> bool:
    """Whether ``bounds`` can be longitudes and latitudes (a local raster that may be a lat/lon grid)."""
    left, bottom, right, top = bounds
    return -180 <= min(left, right) and max(left, right) <= 360 and -90 <= min(bottom, top) and max(bottom, top) <= 90


def other_crs_hint(lst: Grid, guidance: Grid, *, offers_align: bool) -> str:
    """The hint for a guidance in another CRS than the LST's: its pixel size is measured in the
    LST's CRS (as ``--align`` measures it), so that a guidance at or coarser than the LST is
    asked for a finer one and ``--align`` is suggested only where it would take the guidance."""
    try:
        left, _, right, _ = footprint_in(guidance.crs, guidance.bounds, lst.crs, lst.bounds)
    except UNRELATED_CRS_ERRORS:  # a local/engineering CRS: nothing relates it to the LST's
        return UNRELATED_CRS_HINT
    ratio = lst.res[0] / ((right - left) / guidance.width)
    if not ratio > 1 + ALIGNMENT_TOLERANCE:  # also NaN, where the footprint has no size in the LST CRS
        return FINER_HINT
    return nest_hint(ratio, offers_align=offers_align)


def _centre_x(grid: Grid) -> float:
    return grid.transform.c + grid.transform.a * grid.width / 2


def refine_grid(lst: Grid, scale: int, *, lst_path: str | os.PathLike[str]) -> PairedGrids:
    """The whole LST grid with every pixel split into ``scale x scale`` output pixels: same CRS,
    origin and extent, pixel size divided by ``scale`` (downscaling without guidance)."""
    check_north_up(lst_path, lst)
    check_refinable_crs(lst_path, lst)
    t = lst.transform
    output = Grid(lst.crs, Affine(t.a / scale, 0.0, t.c, 0.0, t.e / scale, t.f),
                  lst.width * scale, lst.height * scale)
    return PairedGrids(scale, 1, Window(0, 0, lst.width, lst.height),
                       Window(0, 0, output.width, output.height), output)

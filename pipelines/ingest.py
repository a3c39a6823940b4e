"""SDGSAT-1 products -> the canonical scene pair ``NAME_lst.tif`` + ``NAME_guidance.tif``.

The LST grid is the grid of the given LST raster (``lst``) or of the TIS product, cropped to
whole pixels inside the MII footprint. The guidance grid subdivides it by an integer ratio
(the LST/MII resolution ratio, 3 for 30 m/10 m) so that every LST pixel holds exactly
``ratio x ratio`` guidance pixels. MII cameras A and B are calibrated to approximate TOA
reflectance, resampled (bilinear; an exact copy when the grids already align) and mosaicked
(first camera wins where they overlap). Guidance bands follow the GrokLST paper's order.

TIS and MII are delivered misregistered by 1-2 TIS pixels; unless told not to, the LST's
offset against the MII is measured on the scene (:mod:`pipelines.coregister`) and the LST
grid moved onto the MII by whole MII pixels (the MII's georeferencing is trusted; the LST
values are not resampled). The TIS bands are also misregistered against each other, by up to
about a pixel; before a split window, B3's offset against B2 is measured and B3 resampled
onto B2 (:mod:`pipelines.band_registration`), where the band difference it gives departs
from its neighbours' it is taken from them (:mod:`pipelines.edge_difference`), and on
request B2's detector stripes are measured against B3 and removed (:mod:`pipelines.destripe`). Saturated MII pixels are found on each camera's
own grid (:mod:`pipelines.saturation`), reported, and kept or made nodata; clipped TIS bands are
found the same way and reported. MII reflectance that no ground gives (a wrong gain or solar
zenith) is refused.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio._err import CPLE_BaseError  # what GDAL raises directly, e.g. under a warp
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from pipelines import band_registration, edge_difference, indices, lst_retrieval, lst_values, sdgsat
from pipelines.atomic import check_writable, folders_removed_if_left_empty, published_together
from pipelines.band_registration import HALO_PX, BandShift
from pipelines.coregister import MAX_SHIFT_LR, ShiftEstimate, crops, estimate_shift
from pipelines.destripe import Destriping, StripeProfile, destripe, measure_direction
from pipelines.errors import InputError, not_found_error, unmistakable_path
from pipelines.geotiff import (
    FILLED_DEM_PREFIX, apply_scaling, band_scaling, creation_profile, geotiff_output, open_raster,
    refuse_complex, streaming_gdal_env, unreadable, warn_lossy,
)
from pipelines.grids import Grid, check_north_up, check_related, footprint_in, footprints_disjoint
from pipelines.ingest_record import GENERATOR
from pipelines.raster_names import source_tag
from pipelines.sample_scene import BAND_NAMES, BAND_UNITS
from pipelines.saturation import (
    SaturationOptions, detectable, dn_histogram, pile_up_level, saturation_level,
)
from pipelines.lst_values import LstDecoding
from pipelines.percent import percent, percent_pair
from pipelines.product_ingest import check_lst_method, tis_bands_read
from pipelines.tis_image import open_tis, raster_label
from pipelines.units import Units
from pipelines.warping import grid_rows, strip_height, warp_bands
from pipelines.water_vapour import WaterVapour

DEFAULT_DEM_M = 0.0  # elevation written when no --dem is given (a constant band, flagged in the tags)
NO_DEM_WARNING = "no --dem given"  # how that warning begins: downscale on product folders drops it but for a fit
# what that warning says becomes of the constant band: in a later downscale, or in a fit on this scene
DEM_FILL_LATER = "downscale gives a model its training mean elevation there instead"
DEM_FILL_FIT = "a constant band carries no information for the fit: give --dem for it to learn from elevation"
MAX_CUT_SHARE = 0.01  # thermal data outside the MII footprint above this share is warned about
MII_GUIDANCE_BANDS = (2, 3, 4, 5, 6, 7)  # deep blue, blue, green, red, VRE, NIR
GREEN, RED, NIR = 4, 5, 7  # the MII bands the indices and the emissivity use
MAX_SOLAR_ZENITH = 85.0  # deg; lower suns make TOA reflectance meaningless (night MII scenes)
# TOA reflectance of flat bright ground (fresh snow, cloud tops) stays below ~1.1-1.2, but snow slopes
# facing a low sun pass it (reviewer: ~1.9 at a 65 deg zenith), on any share of a mountain scene. A
# wrong gain (calib.xml) or solar zenith (meta.xml) scales every pixel: above this on most of a band's
# valid pixels is no scene
MAX_REFLECTANCE = 1.5
MIN_REFLECTANCE = -0.05  # below: no ground (dark water's noise stays above it), a bias that is wrong
MAX_IMPLAUSIBLE_SHARE = 0.5
# A TIS clip's pile-up against the mean count of the 32 DN (~1 K) below it: lower than the MII's 20
# because a TIS band holds more pixels per DN near its top (3 % clipped on a 64 x 64 image: 15x)
TIS_PILE_UP_RATIO = 10.0
ProgressCallback = Callable[[int, int, str], None]  # (done, total, what)


class IngestWarning(UserWarning):
    """Something the user should know about an ingested scene (e.g. no DEM given)."""


SAMPLED_BLOCKS = 16  # blocks of a band read spread over its file before all are: a live band shows data in one


def _holds_data(dn: np.ndarray) -> bool:
    """Whether DN hold a pixel that is not fill (0, or NaN in a float file)."""
    return bool((np.isfinite(dn) & (dn != 0)).any())


def band_holds_data(src: rasterio.DatasetReader, band: int, sampled: bool) -> bool:
    """Whether ``band`` of ``src`` holds a pixel other than fill, read block by block (memory
    flat): with ``sampled``, in :data:`SAMPLED_BLOCKS` blocks spread over the file (cheap; False
    proves nothing), else in every block up to the first with data (False proves the band is fill)."""
    windows = [window for _, window in src.block_windows(band)]
    if sampled:
        windows = windows[::max(len(windows) // SAMPLED_BLOCKS, 1)][:SAMPLED_BLOCKS]
    try:
        return any(_holds_data(src.read(band, window=window)) for window in windows)
    except (RasterioError, CPLE_BaseError) as exc:
        raise unreadable(src.name, exc) from exc


def _warp(src: rasterio.DatasetReader, band: int, grid: Grid, src_nodata: float | None,
          resampling: Resampling = Resampling.bilinear) -> np.ndarray:
    """:func:`warp_bands` of one band, a damaged or truncated file being bad input, not a bug."""
    try:
        return warp_bands(src, band, grid, src_nodata=src_nodata, resampling=resampling)
    except (RasterioError, CPLE_BaseError) as exc:
        raise unreadable(raster_label(src), exc) from exc


def _looks_like_product(folder: Path, patterns: sdgsat.ProductPatterns) -> bool:
    return sdgsat.has_files(folder, (*patterns.tis_images, *patterns.tis_band_images, *patterns.mii_images,
                                     patterns.calib))


def holds_products(path: Path, patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> bool:
    """Whether ``path`` is an SDGSAT-1 product folder or a folder holding product folders."""
    if not path.is_dir():
        return False
    return _looks_like_product(path, patterns) or any(
        p.is_dir() and _looks_like_product(p, patterns) for p in path.iterdir())


ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def _not_a_folder_hint(path: Path) -> str:
    """What to do with a file given where a product folder is expected: an archive (a
    delivery as downloaded) is unpacked first; any other file is one inside the product."""
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return "unpack the archive first (tar -xf or unzip), then give the product folder it holds"
    return "give the product folder, not a file inside it"


def product_folders(paths: Sequence[Path], patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> list[Path]:
    """The product folders ``paths`` name, found by file names alone (nothing is read): each path
    is a product folder, a folder holding product folders, or TIS band images unpacked beside
    the MII product's folder (then both; a regular product's subfolders, a browse folder, are not)."""
    found = []
    for path in map(Path, paths):
        if not path.exists():
            raise not_found_error(path, "not found", "give SDGSAT-1 product folders")
        if not path.is_dir():
            raise InputError(path, "not a folder", _not_a_folder_hint(path))
        inner = [p for p in sorted(path.iterdir()) if p.is_dir() and _looks_like_product(p, patterns)]
        if _looks_like_product(path, patterns):
            found.append(path)
            if sdgsat.has_files(path, patterns.tis_band_images):  # loose band images: the MII folder beside
                found.extend(p for p in inner if sdgsat.has_files(p, patterns.mii_images))
        elif inner:
            found.extend(inner)
        else:
            raise InputError(path, "no SDGSAT-1 product found", "expected KX10_TIS_*/KX10_MII_* folders")
    return found


def find_products(paths: Sequence[Path], patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS,
                  tis_read: tuple[int, ...] = sdgsat.TIS_BANDS, *, read_tis: bool = True) -> list[sdgsat.Product]:
    """The products of :func:`product_folders`, read (of TIS, only the bands ``tis_read`` must be
    there, see :func:`pipelines.sdgsat.read_product`); a folder given twice is one product. With
    ``read_tis`` False (an LST given with ``--lst``) TIS product folders, told by their names
    (:func:`pipelines.sdgsat.sensor_by_names`), are left out unread: nothing of them is used."""
    folders = [folder for folder in product_folders(paths, patterns)
               if read_tis or sdgsat.sensor_by_names(folder, patterns) != "TIS"]
    products = [sdgsat.read_product(folder, patterns, tis_read) for folder in folders]
    unique = {p.folder.resolve(): p for p in reversed(products)}
    return [p for p in products if unique[p.folder.resolve()] is p]


def check_one_acquisition(tis: sdgsat.Product | None, mii: sdgsat.Product) -> None:
    """Refuse TIS and MII products of different dates (by name, else meta.xml) or whose meta.xml
    times are not one pass: one acquisition's thermal image is sharpened only with that
    acquisition's multispectral bands."""
    if tis is None:
        return
    if tis.acquired and mii.acquired and tis.acquired != mii.acquired:
        raise InputError(tis.folder, f"acquired {tis.acquired.isoformat()}, the MII product "
                         f"{mii.acquired.isoformat()}: not one scene",
                         "give the TIS and MII products of one acquisition (or your own LST with --lst)")
    sdgsat.check_simultaneous(tis, mii)


def _pick(products: list[sdgsat.Product], sensor: str, needed: bool, given: Sequence[Path],
          patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> sdgsat.Product | None:
    """The one ``sensor`` product of ``products``; a missing one (when ``needed``) is refused
    naming the folders ``given``: with ``--lst`` the TIS product folders are not among ``products``."""
    found = [p for p in products if p.sensor == sensor]
    if len(found) > 1:
        raise InputError(found[1].folder, f"more than one {sensor} product given", "ingest one scene at a time")
    if needed and not found:
        hint = _no_tis_hint(products, patterns) if sensor == "TIS" else "add the MII product"
        raise InputError(_named(given), f"no {sensor} product given", hint)
    return found[0] if found else None


def _named(paths: Sequence[Path]) -> Path | str | None:
    """``paths`` as an error names them: the one path itself (``./-x`` for a leading '-'), else
    all of them, comma-separated (as ``groklst downscale`` names the folders it was given)."""
    if len(paths) == 1:
        return Path(paths[0])
    return ", ".join(unmistakable_path(Path(path)) for path in paths) or None


def _no_tis_hint(products: list[sdgsat.Product], patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> str:
    """What to do about a missing TIS product: unpack the TIS archive found in or beside a product
    folder given (``tis.zip``, ``KX10_TIS_..._L4A.tar.gz``: a delivery as downloaded), else add it.
    Of several archives those named for the MII product's scene are named (another date's
    archive beside it is another scene), else all of them."""
    archives = sorted({path for product in products for path in _tis_archives(product.folder)})
    named = [mii for mii in products if mii.sensor == "MII" and delivered_match(mii.folder, mii.images, patterns)]
    scene = [path for path in archives if any(_names_scene(path, mii, patterns) for mii in named)]
    if named and not scene:  # an archive dated otherwise is another scene's; one without a date may be this one's
        others = [path for path in archives if _DATE_TOKEN.search(path.name)]
        archives = [path for path in archives if path not in others]
        if others and not archives:
            said = others[0] if len(others) == 1 else _listed(others)
            whose = ("is another scene's TIS archive (its date or place is" if len(others) == 1
                     else "are other scenes' TIS archives (their dates or places are")
            return f"{said} {whose} not the MII product's): add this scene's TIS product or pass --lst LST.tif"
    archives = scene or archives
    if len(archives) == 1:
        return (f"{archives[0]} looks like the TIS product still packed: unpack it first (tar -xf or unzip), "
                "then give the product folder it holds, or pass --lst LST.tif")
    if archives:
        return (f"{_listed(archives)} look like TIS products still packed: unpack this scene's first (tar -xf or "
                "unzip), then give the product folder it holds, or pass --lst LST.tif")
    return "add the TIS product or pass --lst LST.tif"


_DATE_TOKEN = re.compile(r"(?<![0-9])(19|20)[0-9]{6}(?![0-9])")  # a YYYYMMDD in an archive's name


def _listed(paths: Sequence[Path], most: int = 3) -> str:
    """Two or more ``paths``: the first ``most`` named, the rest counted (``a, b, c and 2 more``)."""
    named = [str(path) for path in paths[:most]]
    if len(paths) > most:
        return f"{', '.join(named)} and {len(paths) - most} more"
    return f"{', '.join(named[:-1])} and {named[-1]}"


def _names_scene(archive: Path, mii: sdgsat.Product, patterns: sdgsat.ProductPatterns) -> bool:
    """Whether ``archive``'s name carries the date and position tokens of the MII product's
    delivered name (``KX10_MII_<date>_<lon>_<lat>_..._L4A``, :func:`delivered_match`), each as
    a whole token (``E100.45`` is not ``E100.456``); False when the product has no such name."""
    match = delivered_match(mii.folder, mii.images, patterns)
    if match is None:
        return False
    name = archive.name.lower()
    return all(re.search(rf"(?<![0-9a-z]){re.escape(match.group(token).lower())}(?![0-9])", name)
               for token in ("date", "lon", "lat"))


def _tis_archives(folder: Path) -> list[Path]:
    """The archives (:data:`ARCHIVE_SUFFIXES`) named for TIS (a ``tis`` token, any case) in
    ``folder`` or beside it."""
    found = []
    for place in (folder, folder.parent):
        found += [path for path in sdgsat.files_matching(place, "*")
                  if path.name.lower().endswith(ARCHIVE_SUFFIXES) and re.search(r"(?<![a-z])tis(?![a-z])",
                                                                                   path.name.lower())]
    return found


def _warn_tis_unread(paths: Sequence[Path], patterns: sdgsat.ProductPatterns) -> None:
    """Warn of each TIS product folder given by name beside ``--lst``: it is not read, so neither
    used nor checked (its calib.xml was read, its times and imagery were not: a half check)."""
    for path in map(Path, paths):
        if path.is_dir() and sdgsat.sensor_by_names(path, patterns) == "TIS":
            warnings.warn(f"{path}: TIS product not read: --lst gives the LST, so its imagery, calib.xml and "
                          "meta.xml are neither used nor checked; leave it out", IngestWarning, stacklevel=3)


def delivered_match(folder: Path, images: Sequence[Path],
                    patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> re.Match[str] | None:
    """``patterns.folder`` matched against the first delivered name among MII ``folder``'s real
    name (through a link), its name as given, and its ``images``' scene name (``<scene>_A.tif``);
    None when none is one. File names alone, nothing read."""
    suffixes = [glob[1:] for glob in patterns.mii_images if glob.startswith("*")]
    image_scenes = [image.name[:-len(end)] for image in images for end in suffixes if image.name.endswith(end)]
    for candidate in (folder.resolve().name, folder.name, *image_scenes):
        if match := sdgsat.folder_match(candidate, patterns):
            return match
    return None


def delivered_scene_name(folder: Path, images: Sequence[Path],
                         patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS) -> str | None:
    """The scene name, without the sensor token, of :func:`delivered_match`'s name; None when
    none is one. File names alone: the command names its outputs with it before any product
    file is read."""
    match = delivered_match(folder, images, patterns)
    return None if match is None else re.sub("_MII_", "_", match.string, count=1, flags=re.IGNORECASE)


def default_name(mii: sdgsat.Product, patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS, *,
                 way_out: str = "name the scene with groklst ingest --name NAME") -> str:
    """The scene name from the product's own identity (:func:`delivered_scene_name`): a folder
    renamed ``mii`` must not give every scene one name. None is refused, with ``way_out`` in the hint."""
    name = delivered_scene_name(mii.folder, mii.images, patterns)
    if name is None:
        raise InputError(mii.folder, "names no scene: neither it nor its MII images have a delivered product name "
                         "(KX10_MII_<date>_..._L4A) to name the outputs after",
                         f"give the folder its delivered name, or {way_out}")
    return name


def _check_fill(src: rasterio.DatasetReader, sensor: str) -> None:
    """Refuse product imagery whose nodata tag is a DN other than 0: SDGSAT-1 fill is DN 0, the
    only DN ingest masks, so the fill of a file rewritten with another tag (65535) would be read
    as radiance, hot pixels with exit 0."""
    if src.nodata is not None and not math.isnan(src.nodata) and src.nodata != 0:
        raise InputError(raster_label(src), f"declares nodata {src.nodata:g}; SDGSAT-1 {sensor} imagery "
                         "uses DN 0 as fill and every other DN is read as radiance",
                         "use the delivered file, or set its fill pixels to 0 and then its nodata tag "
                         "(gdal_edit.py -a_nodata 0)")


def _pixel_size(src: rasterio.DatasetReader) -> str:
    """``src``'s pixel size in metres, as an error line says it ("10 m", "20 x 10 m")."""
    width, height = src.res
    return f"{width:g} m" if math.isclose(width, height) else f"{width:g} x {height:g} m"


def _common_crs(srcs: list[rasterio.DatasetReader]) -> CRS:
    """The CRS the MII cameras share; cameras in different CRSs or of different pixel sizes are
    refused (the guidance grid takes camera A's pixel size: another camera's would be resampled)."""
    crs = srcs[0].crs
    for src in srcs:
        if src.crs is None:
            raise InputError(src.name, "has no CRS", "MII imagery must be georeferenced")
        if src.crs != crs:
            raise InputError(src.name, "MII cameras A and B are in different CRSs")
        if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(src.res, srcs[0].res)):
            raise InputError(src.name, f"{_pixel_size(src)} pixels, camera A's "
                             f"({Path(srcs[0].name).name}) are {_pixel_size(srcs[0])}",
                             "MII cameras A and B must share one pixel size: resample the product or adapt PATTERNS")
    return crs


def _grids(lst_src: rasterio.DatasetReader, mii_srcs: list[rasterio.DatasetReader],
           moved: tuple[float, float] = (0.0, 0.0)) -> tuple[Window, Grid, Grid, int]:
    """The LST window inside the MII footprint, the LST and guidance grids, and their ratio;
    with the LST placed ``moved`` (columns, rows) of its pixels from where it was delivered."""
    for src in (lst_src, *mii_srcs):
        check_north_up(raster_label(src), Grid.of(src))  # an L1A image placed only by RPCs, a south-up grid
    if lst_src.crs is None:
        raise InputError(raster_label(lst_src), "has no CRS", "the LST raster must be georeferenced")
    mii_crs = _common_crs(mii_srcs)
    lst_res, mii_res = abs(lst_src.transform.a), abs(mii_srcs[0].transform.a)
    if not lst_src.crs.is_projected or not mii_crs.is_projected:
        raise InputError(raster_label(lst_src) if not lst_src.crs.is_projected else mii_srcs[0].name,
                         "is not in a projected CRS", "SDGSAT-1 L4 products are in UTM")
    ratio = round(lst_res / mii_res)
    if ratio < 1 or abs(lst_res / mii_res - ratio) > 0.02 * ratio:
        raise InputError(raster_label(lst_src), f"{lst_res:g} m LST does not nest {mii_res:g} m MII pixels",
                         "the LST resolution must be an integer multiple of the MII resolution")
    boxes = [transform_bounds(src.crs, lst_src.crs, *src.bounds) for src in mii_srcs]
    left, bottom = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, top = max(b[2] for b in boxes), max(b[3] for b in boxes)
    lst_placed = lst_src.transform @ Affine.translation(*moved)
    raw = from_bounds(left, bottom, right, top, lst_placed)
    col0, row0 = max(math.ceil(raw.col_off - 1e-6), 0), max(math.ceil(raw.row_off - 1e-6), 0)
    col1 = min(math.floor(raw.col_off + raw.width + 1e-6), lst_src.width)
    row1 = min(math.floor(raw.row_off + raw.height + 1e-6), lst_src.height)
    if col1 <= col0 or row1 <= row0:
        raise InputError(raster_label(lst_src), "does not overlap the MII product",
                         "check that both cover the same area")
    window = Window(col0, row0, col1 - col0, row1 - row0)
    lst_transform = lst_placed @ Affine.translation(col0, row0)
    lst_grid = Grid(lst_src.crs, lst_transform, window.width, window.height)
    guidance_grid = Grid(lst_src.crs, lst_transform @ Affine.scale(1.0 / ratio),
                         window.width * ratio, window.height * ratio)
    return window, lst_grid, guidance_grid, ratio


@dataclass
class _Mii:
    """The MII product's cameras, calibrated to approximate TOA reflectance on any grid, with
    their saturated pixels found (:mod:`pipelines.saturation`) and kept or made nodata."""

    product: sdgsat.Product
    srcs: list[rasterio.DatasetReader]
    saturation: SaturationOptions = field(default_factory=SaturationOptions)
    levels: dict[tuple[int, int], int] = field(default_factory=dict)  # (camera, band) -> saturated from DN
    flagged: dict[int, int] = field(default_factory=dict)  # band -> saturated guidance pixels written
    unchecked: set[str] = field(default_factory=set)  # dtypes of bands whose histogram cannot tell
    valid: dict[int, int] = field(default_factory=dict)  # band -> valid guidance pixels written
    too_bright: dict[int, int] = field(default_factory=dict)  # band -> pixels above MAX_REFLECTANCE
    brightest: dict[int, float] = field(default_factory=dict)  # band -> largest reflectance written
    too_dark: dict[int, int] = field(default_factory=dict)  # band -> pixels below MIN_REFLECTANCE
    darkest: dict[int, float] = field(default_factory=dict)  # band -> smallest reflectance written
    inside: int = 0  # LST pixels written that hold thermal data (TIS or given LST)
    uncovered: int = 0  # ... of them, those no camera has data under in any band
    band_uncovered: dict[int, int] = field(default_factory=dict)  # band -> ... those it has no data under

    def check(self) -> None:
        """Refuse products that cannot give reflectance, before any work."""
        mii = self.product
        if mii.solar_zenith is None:
            raise InputError(mii.meta or mii.folder, "no solar zenith (or elevation) tag",
                             "adapt PATTERNS.solar_zenith_tags")
        if not 0.0 <= mii.solar_zenith < MAX_SOLAR_ZENITH:
            raise InputError(mii.meta or mii.folder, f"solar zenith {mii.solar_zenith:g} deg",
                             f"reflectance needs the sun above the horizon (zenith < {MAX_SOLAR_ZENITH:g} deg)")
        for src in self.srcs:
            if src.count != 7:  # 8 (a band written twice) shifted every band by one, exit 0 (QA)
                raise InputError(src.name, f"{src.count} bands, MII imagery has 7", "is this an MII image?")
            _check_fill(src, "MII")
        for band in MII_GUIDANCE_BANDS:
            if band not in mii.calibration.gains:
                raise InputError(mii.calib or mii.folder, f"no gain for MII band {band}")

    def find_saturation(self) -> None:
        """The saturated-from DN of every camera's guidance bands (given, or found from each
        band's histogram on the camera's own grid)."""
        for camera, src in enumerate(self.srcs):
            for band in MII_GUIDANCE_BANDS:
                if self.saturation.levels is None and not detectable(src, band):
                    self.unchecked.add(src.dtypes[band - 1])
                try:
                    level = saturation_level(src, band, self.saturation)
                except (RasterioError, CPLE_BaseError) as exc:
                    raise unreadable(src.name, exc) from exc
                if level is not None:
                    self.levels[(camera, band)] = level

    def reflectance(self, band: int, grid: Grid) -> np.ndarray:
        """One band on ``grid``, cameras mosaicked (the first camera wins where both have data),
        NaN where saturated under the ``nodata`` policy."""
        return self.reflectance_and_saturation(band, grid)[0]

    def reflectance_and_saturation(self, band: int, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`reflectance` and where it is saturated: a guidance pixel is when the camera it
        comes from has a saturated DN among the pixels it is resampled from. Where both cameras
        cover a pixel the first wins, unless only the second is unsaturated there."""
        mosaic = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
        saturated = np.zeros(mosaic.shape, dtype=bool)
        for camera, src in enumerate(self.srcs):
            dn = _warp(src, band, grid, src_nodata=0)
            level = self.levels.get((camera, band))
            clipped = np.zeros(mosaic.shape, dtype=bool)
            if level is not None:
                clipped = _warp(src, band, grid, src_nodata=0, resampling=Resampling.max) >= level
            take = np.isfinite(dn) & (np.isnan(mosaic) | (saturated & ~clipped))
            mosaic[take] = dn[take]
            saturated[take] = clipped[take]
        if self.saturation.policy == "nodata":
            mosaic[saturated] = np.nan
        cal, mii = self.product.calibration, self.product
        radiance = cal.gains[band] * mosaic + cal.biases[band]
        factor = sdgsat.reflectance_factor(band, mii.solar_zenith, mii.imaged_on)
        return (radiance * factor).astype(np.float32), saturated

    def count(self, band: int, reflectance: np.ndarray, saturated: np.ndarray) -> None:
        """Add a written strip's saturated and valid pixels of ``band`` to the scene's counts."""
        self.flagged[band] = self.flagged.get(band, 0) + int(saturated.sum())
        self.valid[band] = self.valid.get(band, 0) + int((np.isfinite(reflectance) | saturated).sum())
        with np.errstate(invalid="ignore"):
            self.too_bright[band] = self.too_bright.get(band, 0) + int((reflectance > MAX_REFLECTANCE).sum())
            self.too_dark[band] = self.too_dark.get(band, 0) + int((reflectance < MIN_REFLECTANCE).sum())
        if np.isfinite(reflectance).any():
            self.brightest[band] = max(self.brightest.get(band, -math.inf), float(np.nanmax(reflectance)))
            self.darkest[band] = min(self.darkest.get(band, math.inf), float(np.nanmin(reflectance)))

    def count_coverage(self, has_data: dict[int, np.ndarray], inside: np.ndarray, ratio: int) -> None:
        """Add a written strip's LST pixels with thermal data (``inside``), and those of them whose
        ``ratio`` x ``ratio`` guidance pixels no camera has data in (``has_data``: band -> where a
        camera has), in any band and in each band, to the counts: a dead band is a gap too."""
        rows, cols = inside.shape
        self.inside += int(inside.sum())
        any_band = np.zeros(inside.shape, dtype=bool)
        for band, data in has_data.items():
            covered = data.reshape(rows, ratio, cols, ratio).any(axis=(1, 3))
            self.band_uncovered[band] = self.band_uncovered.get(band, 0) + int((inside & ~covered).sum())
            any_band |= covered
        self.uncovered += int((inside & ~any_band).sum())

    def check_bands_not_fill(self) -> None:
        """Refuse before the write pass a guidance band that every camera's file holds as fill
        alone (DN 0): the write pass would refuse it only at its end (:meth:`check_bands_present`,
        still the exact check: a band with data outside the LST alone is left to it). Cheap for a
        live band: sampled blocks find its data; only a band they find none in is read through,
        stopping at its first data. Red and NIR are judged by the first pass (:func:`_ndmvi_minima`)."""
        dead = [band for band in MII_GUIDANCE_BANDS if band not in (RED, NIR)
                and not any(band_holds_data(src, band, sampled=True) for src in self.srcs)
                and not any(band_holds_data(src, band, sampled=False) for src in self.srcs)]
        if dead:
            raise self.dead_band_error(dead)

    def check_bands_present(self) -> None:
        """Refuse a guidance band no camera has data in under any of the thermal data (a dead or
        missing band, all fill): written, it would leave a downscaled LST nodata everywhere."""
        if self.uncovered == self.inside:  # no camera covers the thermal data: not a band's fault
            return
        dead = [band for band in MII_GUIDANCE_BANDS if self.band_uncovered.get(band, 0) == self.inside]
        if dead:
            raise self.dead_band_error(dead)

    def dead_band_error(self, bands: Sequence[int]) -> InputError:
        """The refusal of guidance ``bands`` that hold only fill (DN 0) inside the LST footprint,
        naming the cameras' image files."""
        first, *others = (src.name for src in self.srcs)
        named = " and ".join(f"B{band} {BAND_NAMES[band - 1]}" for band in bands)
        where = "here" + "".join(f" and in {Path(name).name}" for name in others)
        verb = "hold" if len(bands) > 1 else "holds"
        return InputError(first, f"MII {named} {verb} no valid pixel inside the LST footprint (only fill, DN 0, "
                          f"{where})", "the band is dead or missing in this delivery: use a complete MII "
                          "product of the scene; every guidance band is needed")

    def coverage_report(self, thermal: str, effect: str) -> str | None:
        """Where the cameras leave part of the ``thermal`` data without guidance: a warning saying
        ``effect``, and the line for the tags; None when they cover all of it. A band with data
        under less of it than the cameras is named too, with only its own gap (what the cameras
        cover but it does not): its guidance, and a downscaled LST, is nodata there. Both lines
        are kept, so a camera gap is never blamed on a band."""
        lines = [line for line in (self._cameras_report(thermal, effect), self._band_report(thermal)) if line]
        return "; ".join(lines) or None

    def _band_gaps(self) -> dict[int, int]:
        """Each guidance band's own gap: LST pixels with thermal data that a camera has data
        under in some band but not in this one."""
        return {band: self.band_uncovered.get(band, 0) - self.uncovered for band in MII_GUIDANCE_BANDS}

    def _band_report(self, thermal: str) -> str | None:
        """The warning and tag line for the band with the largest own gap (see
        :meth:`_band_gaps`), the other bands with one listed; None when no band has one."""
        gaps = self._band_gaps()
        worst = max(MII_GUIDANCE_BANDS, key=lambda band: gaps[band])
        if gaps[worst] <= 0:
            return None
        share, covered = percent_pair(gaps[worst] / max(self.inside, 1))
        name = f"B{worst} {BAND_NAMES[worst - 1]}"
        if self.uncovered:  # the cameras' gap is its own line: name only what this band adds
            line = (f"MII {name} has no data under {gaps[worst]} more LST pixels ({share} % of {thermal}) "
                    "the cameras cover")
            others = ", ".join(f"B{b} {n} more" for b, n in gaps.items() if b != worst and n > 0)
        else:
            line = (f"MII {name} covers {covered} % of {thermal}: {gaps[worst]} LST pixels ({share} %) have no "
                    f"{BAND_NAMES[worst - 1]} guidance")
            others = ", ".join(f"B{b} covers {percent_pair(n / max(self.inside, 1))[1]} %"
                               for b, n in gaps.items() if b != worst and n > 0)
        if others:
            line += f" ({others})"
        dead = self._cameras_dead_in(worst)
        where = (f"only fill in {' and '.join(dead)}" if dead
                 else ", ".join(Path(src.name).name for src in self.srcs))
        warnings.warn(f"{line}: it is nodata there, and so is a downscaled LST; is {name} dead in one camera? "
                      f"({where})", IngestWarning, stacklevel=4)
        return line

    def _cameras_dead_in(self, band: int) -> list[str]:
        """The cameras (letter and file) whose file holds ``band`` as fill alone though another
        guidance band of theirs has data: the band is dead there (a camera all fill is absent, not
        its band). The cameras are merged before pixels are counted, so their files are read for it."""
        def alive(src: rasterio.DatasetReader, other: int) -> bool:
            return band_holds_data(src, other, sampled=True) or band_holds_data(src, other, sampled=False)

        return [f"camera {chr(65 + n)} {Path(src.name).name}" for n, src in enumerate(self.srcs)
                if not band_holds_data(src, band, sampled=False)
                and any(alive(src, other) for other in MII_GUIDANCE_BANDS if other != band)]

    def _cameras_report(self, thermal: str, effect: str) -> str | None:
        """The cameras' gap, if any: LST pixels with thermal data no camera has data under in any band."""
        if not self.uncovered:
            return None
        gap, covered = percent_pair(self.uncovered / max(self.inside, 1))
        line = (f"MII cameras cover {covered} % of {thermal}: {self.uncovered} LST pixels "
                f"({gap} %) have no guidance")
        warnings.warn(f"{line} and are nodata {effect}", IngestWarning, stacklevel=4)
        return line

    def _shares(self, counts: dict[int, int]) -> dict[int, float]:
        """Each band's share of its counted valid pixels in ``counts`` (too bright or too dark)."""
        return {band: counts.get(band, 0) / max(self.valid.get(band, 0), 1) for band in MII_GUIDANCE_BANDS}

    def implausible(self) -> bool:
        """Whether a counted band's reflectance is one no ground gives (see :meth:`check_plausible`)."""
        return max(*self._shares(self.too_bright).values(), *self._shares(self.too_dark).values()) > MAX_IMPLAUSIBLE_SHARE

    def check_plausible(self) -> None:
        """Refuse a scene whose reflectance no ground gives, above :data:`MAX_REFLECTANCE` or
        below :data:`MIN_REFLECTANCE` on most of a band: written without complaint it would pass
        as guidance (a wrong bias gave red of -1.2 and NDVI of -2.5, exit 0, before the lower bound)."""
        mii = self.product
        for counts, extreme, beyond, bound, hint in (
                (self.too_bright, self.brightest, "above", MAX_REFLECTANCE,
                 f"check the MII gains in calib.xml and the solar zenith in meta.xml ({mii.solar_zenith:g} deg "
                 f"used); even snow slopes facing the sun stay below {MAX_REFLECTANCE:g} on most of a scene"),
                (self.too_dark, self.darkest, "below", MIN_REFLECTANCE,
                 "check the MII biases (RADIANCE_BIAS_BAND_n) and gains in calib.xml: no ground reflects "
                 "less than nothing")):
            share = self._shares(counts)
            found = [band for band in MII_GUIDANCE_BANDS if share[band] > MAX_IMPLAUSIBLE_SHARE]
            if not found:
                continue
            worst = max(found, key=lambda band: share[band])
            others = ", ".join(f"B{band}" for band in found if band != worst)
            raise InputError(mii.calib or mii.folder,
                             f"the MII reflectance is implausible: B{worst} {BAND_NAMES[worst - 1]} reaches "
                             f"{extreme[worst]:.2g}, {beyond} {bound:g} on {100.0 * share[worst]:.0f} % "
                             f"of its valid pixels{f' (also {beyond} it: {others})' if others else ''}", hint)

    def saturation_report(self) -> str:
        """The saturation found as a line for the guidance tags; a warning when any was written."""
        found = [band for band in MII_GUIDANCE_BANDS if self.flagged.get(band)]
        if not found:
            if self.saturation.levels is not None:
                return f"none at or above the given DN (--mii-saturation-dn {self.saturation.given()})"
            if self.unchecked:
                kinds = "/".join(sorted(self.unchecked))
                warnings.warn(f"MII saturation not looked for: {kinds} bands hold no counted DN to pile up; "
                              "give --mii-saturation-dn", IngestWarning, stacklevel=3)
                return f"not looked for ({kinds} MII): give --mii-saturation-dn"
            return "none found (no band's histogram piles up at its largest DN)"
        parts = []
        for band in found:
            share = 100.0 * self.flagged[band] / max(self.valid[band], 1)
            levels = ", ".join(f"camera {chr(65 + camera)} from DN {level}"
                               for (camera, b), level in sorted(self.levels.items()) if b == band)
            parts.append(f"B{band} {BAND_NAMES[band - 1]} {share:.2f} % ({levels})")
        listed = "; ".join(parts)
        if self.saturation.policy == "nodata":
            warnings.warn(f"MII bands saturated (share of the guidance pixels), made nodata (--saturated nodata): "
                          f"{listed}; a downscaled LST is nodata there and near it", IngestWarning, stacklevel=3)
            return f"{listed}; made nodata"
        warnings.warn(f"MII bands saturated (share of the guidance pixels): {listed}; their reflectance is a "
                      "lower bound there (NDVI, NDWI, NDMVI biased); --saturated nodata makes them nodata",
                      IngestWarning, stacklevel=3)
        return f"{listed}; kept as delivered"


def _ndmvi_minima(mii: _Mii, strips: list[Grid]) -> tuple[float, float]:
    """Scene minima of red and NIR reflectance (NDMVI subtracts them), from a first pass; red or
    NIR reflectance that no ground gives is refused there, not minutes later after the write pass:
    :meth:`_Mii.check_plausible` on the very pixels the write pass counts, so it refuses only scenes
    the write pass's check would, with its message (a wrong gain on the other bands alone is still
    found there)."""
    first = replace(mii, flagged={}, valid={}, too_bright={}, brightest={}, too_dark={}, darkest={})  # this pass's alone

    def counted(band: int, grid: Grid) -> np.ndarray:
        reflectance, saturated = mii.reflectance_and_saturation(band, grid)
        first.count(band, reflectance, saturated)
        return reflectance

    red_min, nir_min = indices.scene_minima((counted(RED, g), counted(NIR, g)) for g in strips)
    if not (math.isfinite(red_min) and math.isfinite(nir_min)):
        raise _no_minimum_error(mii, first, red_min, nir_min)
    if first.implausible():  # count the other bands too: the refusal is the write pass's, word for word
        for grid in strips:
            for band in MII_GUIDANCE_BANDS:
                if band not in (RED, NIR):
                    counted(band, grid)
        first.check_plausible()
    return red_min, nir_min


def _no_minimum_error(mii: _Mii, first: _Mii, red_min: float, nir_min: float) -> InputError:
    """Why red or NIR gave no minimum (``first`` holds the first pass's counts): a band holding
    neither an unsaturated nor a saturated pixel is dead, whatever --saturated says (another
    band's saturation is not its fault); else its every pixel was saturated and made nodata."""
    dead = [band for band in (RED, NIR) if not first.valid.get(band)]
    if len(dead) == 2:
        return InputError(mii.product.folder, "no valid MII pixels inside the LST footprint")
    if dead:  # the other band has data: this one is dead
        return mii.dead_band_error(dead)
    given = f" at DN {mii.saturation.given()}" if mii.saturation.levels is not None else ""
    empty = " and ".join(name for name, low in (("red", red_min), ("NIR", nir_min)) if not math.isfinite(low))
    return InputError(mii.product.folder, f"every {empty} pixel inside the LST footprint is saturated{given} "
                      "and --saturated nodata made it nodata (NDMVI needs both bands)",
                      "raise --mii-saturation-dn, or use --saturated keep")


def _check_value_type(src: rasterio.DatasetReader, path: Path, holds: str, off: str) -> None:
    """Refuse a complex raster the user gives (``holds``: what its values are) and warn of a lossy
    one (how its values may be ``off``), as downscale does for an LST, before any pass over the
    scene: read as floats, a complex band loses its imaginary part without a word."""
    refuse_complex(src, path, holds)
    warn_lossy(src, path, off)


class _Dem:
    """The DEM band on any grid: the user's DEM resampled, or a documented constant."""

    def __init__(self, path: Path | None, grid: Grid, stack: ExitStack, fill_note: str = DEM_FILL_LATER) -> None:
        """Open the DEM at ``path`` and check it against the scene's guidance ``grid`` (its CRS,
        scaling and overlap), before any pass over the scene: so on the delivered grid, which
        coregistration moves by a few pixels at most (:meth:`finish` refuses a DEM that covered
        nothing). Without one the band is a constant, which :meth:`warn_if_constant` says, ending
        in ``fill_note`` (what becomes of that band: :data:`DEM_FILL_LATER`, :data:`DEM_FILL_FIT`)."""
        self.src = None if path is None else stack.enter_context(open_raster(path))
        self.path, self.fill_note = path, fill_note
        self.covered = self.missing = 0
        if self.src is None:
            self.source = f"{FILLED_DEM_PREFIX}{DEFAULT_DEM_M:g} m"
            return
        _check_value_type(self.src, path, "elevation", "elevations may be off")
        if self.src.crs is None:
            raise InputError(path, "has no CRS", "the DEM must be georeferenced")
        check_related(path, self.src.crs, "the scene", grid.crs, self.src.bounds,  # a local DEM: footprint_in fails
                      latlon="SRTM and Copernicus DEM usually are")
        scene = array_bounds(grid.height, grid.width, grid.transform)
        if footprints_disjoint(footprint_in(self.src.crs, self.src.bounds, grid.crs, scene), scene):
            raise InputError(path, "does not overlap the scene", "give a DEM covering the MII footprint")
        self.source = source_tag(path)
        self.scaling = band_scaling(self.src, [1], path)  # e.g. an int16 DEM in decimetres: 0.1

    def warn_if_constant(self) -> None:
        """Warn that the band is a constant when no DEM was given; called after the placement
        passes, so that an input refused in them is refused alone."""
        if self.src is None:
            warnings.warn(f"{NO_DEM_WARNING}: the dem band is filled with the constant {DEFAULT_DEM_M:g} m "
                          f"({self.fill_note})", IngestWarning, stacklevel=3)

    def band(self, grid: Grid) -> np.ndarray:
        if self.src is None:
            return np.full((grid.height, grid.width), DEFAULT_DEM_M, dtype=np.float32)
        out = apply_scaling(_warp(self.src, 1, grid, src_nodata=self.src.nodata), self.scaling)
        finite = int(np.isfinite(out).sum())
        self.covered += finite
        self.missing += out.size - finite
        return out

    def finish(self) -> None:
        """Refuse a DEM that covered nothing; warn about one that covered part of the scene."""
        if self.src is None:
            return
        if self.covered == 0:
            raise InputError(self.path, "does not overlap the scene", "give a DEM covering the MII footprint")
        if self.missing:
            share = 100.0 * self.missing / (self.missing + self.covered)
            warnings.warn(f"{self.path} has no data on {share:.1f} % of the scene (outside it or in its "
                          "nodata): dem is nodata there", IngestWarning, stacklevel=3)


def _block_mean(band: np.ndarray, ratio: int) -> np.ndarray:
    rows, cols = band.shape[0] // ratio, band.shape[1] // ratio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks without MII data stay NaN
        return np.nanmean(band.reshape(rows, ratio, cols, ratio), axis=(1, 3))


class _GivenLst:
    """The user's LST raster, read strip by strip and returned in Kelvin.

    Read by the rule ``downscale`` and ``prepare`` read with (:mod:`pipelines.lst_values`): the
    declared fill values, scale and offset, the unit (declared, else judged from the values, with
    a warning when the band's unit tag says the other), and a scan of the whole footprint that
    refuses implausible values.
    """

    # what the MII coverage warning calls this LST, and what no guidance does to it
    coverage_words = ("the given LST's data", "in the guidance (a downscaled LST is nodata there)")

    def __init__(self, src: rasterio.DatasetReader, window: Window, decoding: LstDecoding,
                 units: Units) -> None:
        names = [(d or "").strip().lower() for d in src.descriptions]
        if src.count != 1 and "lst" not in names:
            raise InputError(src.name, f"{src.count} bands and none named 'lst'", "give a single-band LST raster")
        self.src, self.band = src, names.index("lst") + 1 if "lst" in names else 1
        self.decoding = decoding
        found = lst_values.scan(src, window, decoding, src.name, band=self.band)
        self.units = lst_values.resolve_units(found, units)  # auto: the values; a contradicting unit tag warns
        lst_values.check_plausible(found, self.units, decoding, src.name)
        self.tags = {"lst_source": source_tag(src.name), "lst_input_units": self.units.value}

    def strip(self, window: Window, reflectance: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The LST of ``window`` (K), and where it holds data (for the MII coverage count)."""
        lst = self.thermal(window)
        return lst, np.isfinite(lst)

    def thermal(self, window: Window) -> np.ndarray:
        """The LST in Kelvin (what is placed against the MII)."""
        values = lst_values.decode(self.src, window, self.decoding, self.src.name, band=self.band)
        return lst_values.to_kelvin_masked(values, self.units, self.decoding)

    def no_data_error(self) -> InputError:
        return InputError(self.src.name, "no valid LST pixels inside the MII footprint")


def _emissivity(config: lst_retrieval.RetrievalConfig) -> str:
    """The emissivity settings an LST was retrieved with, for its ``lst_method`` tag (B2, B3)."""
    return (f"soil {list(config.soil)}, vegetation {list(config.vegetation)}, water {list(config.water)}, "
            f"NDVI {config.ndvi_soil:g}..{config.ndvi_vegetation:g}, NDWI water > {config.ndwi_water:g}, "
            f"cavity F {config.cavity:g}")


def _crop_windows(window: Window) -> list[Window]:
    """The crops the TIS bands are measured on (as the TIS-MII offset), as windows of the image."""
    return [Window(window.col_off + left, window.row_off + top, w, h)
            for top, left, h, w in crops(window.height, window.width)]


class _TisLst:
    """LST retrieved from TIS brightness temperatures with NDVI-threshold emissivity."""

    coverage_words = ("the TIS data", "in the guidance and the LST")  # see _GivenLst

    def __init__(self, tis: sdgsat.Product, src: rasterio.DatasetReader, ratio: int, method: str,
                 config: lst_retrieval.RetrievalConfig, vapour: WaterVapour | None = None) -> None:
        if src.count != 3:  # 4 (a band written twice) read B1 as B2, up to 3 K off, exit 0 (QA)
            raise InputError(raster_label(src), f"{src.count} bands, TIS imagery has 3", "is this a TIS image?")
        _check_fill(src, "TIS")
        self.tis, self.src, self.ratio, self.method, self.config = tis, src, ratio, method, config
        self.vapour = vapour  # the water vapour raster, when the config names one (split window only)
        self.placed: tuple[Window, Grid] | None = None  # the LST window and its grid, set by place
        self.band_shift: BandShift | None = None  # B3 against B2, set by register_bands
        self.destriping: Destriping | None = None  # B2's stripes, set by find_stripes
        self.repaired = self.retrieved = 0  # split-window pixels, and those whose band difference was repaired
        self.saturated: dict[int, tuple[int, int, int]] = {}  # band -> (saturated from DN, those px, all px)
        self.valid = dict.fromkeys(self.bands, 0)  # band -> pixels with data in the windows retrieved on
        self._check_gains()
        self.tags = {"lst_source": source_tag(tis.folder), "lst_method": self._method_tag(),
                     "approximate": "yes: LST retrieved without SDGSAT-1-specific coefficients"}

    @property
    def bands(self) -> tuple[int, ...]:
        """The TIS bands the method reads: B2 and B3 for the split window, B2 alone otherwise."""
        return tis_bands_read(self.method)

    def _check_gains(self) -> None:
        """Refuse a calib.xml without a gain for a band the method reads (before any work)."""
        for band in self.bands:
            if band not in self.tis.calibration.gains:
                hint = ("use the TIS product's own calib.xml; --lst-method single-channel reads B2 alone"
                        if band == 3 else "use the TIS product's own calib.xml; every LST method reads B2")
                raise InputError(self.tis.calib or self.tis.folder, f"no gain for TIS band {band}", hint)

    def _method_tag(self) -> str:
        """How the LST was retrieved, for the ``lst_method`` tag; a water vapour raster is named
        with its mean over the scene (complete once every strip is retrieved), and coefficients
        taken with ``check_coefficients = false`` are said to be unchecked."""
        config = self.config
        if self.method != "split-window":
            detail = "TIS B2, no atmospheric correction"
        else:
            unchecked = lst_retrieval.unchecked_coefficients(config)
            coefficients = f"c={list(config.c)}" + (f" ({unchecked})" if unchecked else "")
            vapour = (self.vapour.describe() if self.vapour is not None
                      else f"water_vapour={config.water_vapour:g} g/cm2")
            detail = f"{coefficients}, {vapour}"
        return f"{self.method} ({detail}), NDVI-threshold emissivity ({_emissivity(config)})"

    def place(self, window: Window, lst_grid: Grid) -> None:
        """Where the LST is written (its TIS ``window`` on ``lst_grid``), so that a water vapour
        raster is read there; the raster is checked against it (overlap, values)."""
        self.placed = (window, lst_grid)
        if self.vapour is not None:
            self.vapour.check(lst_grid)

    def report_coefficients(self) -> None:
        """Warn that the split-window coefficients were not compared with the defaults, naming
        their worst probe departure, when the config switched that check off."""
        unchecked = lst_retrieval.unchecked_coefficients(self.config) if self.method == "split-window" else None
        if unchecked is not None:
            warnings.warn(unchecked, IngestWarning, stacklevel=3)

    def report_water_vapour(self) -> None:
        """Record the water vapour raster's scene mean in the tag, and warn of pixels it left NaN."""
        if self.vapour is not None:
            self.tags["lst_method"] = self._method_tag()
            self.vapour.report_missing(IngestWarning)

    def find_saturation(self) -> None:
        """Find the read bands' clipped DN (a histogram pile-up at the top, as for the MII:
        :mod:`pipelines.saturation`), tag it, and warn when found: the brightness temperature
        there is a lower bound, so the LST is not a measurement there."""
        unchecked = sorted({self.src.dtypes[band - 1] for band in self.bands if not detectable(self.src, band)})
        for band in self.bands:
            if detectable(self.src, band):
                try:
                    counts = dn_histogram(self.src, band)
                except (RasterioError, CPLE_BaseError) as exc:
                    raise unreadable(raster_label(self.src), exc) from exc
                level = pile_up_level(counts, TIS_PILE_UP_RATIO)
                if level is not None:
                    self.saturated[band] = (level, int(counts[level:].sum()), max(int(counts.sum()), 1))
        if not self.saturated:
            self.tags["tis_saturation"] = (f"not looked for ({'/'.join(unchecked)} TIS)" if unchecked else
                                           "none found (no band's histogram piles up at its largest DN)")
            return
        listed = "; ".join(f"B{band} {100.0 * pixels / total:.2f} % ({pixels} px) from DN {level}"
                           for band, (level, pixels, total) in sorted(self.saturated.items()))
        self.tags["tis_saturation"] = f"{listed}; kept as delivered"
        warnings.warn(f"TIS bands saturated in {self.tis.folder.name} (share of the image's pixels): {listed}; "
                      "their brightness temperature is a lower bound there, and so is the LST retrieved "
                      "from it (a split window's is unreliable there)", IngestWarning, stacklevel=3)

    def register_bands(self, window: Window, measure: bool) -> None:
        """Measure B3's offset against B2 on crops of ``window`` (the split window's two bands),
        so that :meth:`strip` resamples B3 onto B2; a misregistration found, or one that could
        not be measured, is a warning. Only the split window reads B3."""
        if self.method != "split-window":
            return
        if not measure:
            self.tags["tis_band_registration"] = "not measured (--no-coregister)"
            return
        pairs = [(self._radiance(2, crop), self._radiance(3, crop)) for crop in _crop_windows(window)]
        shift = band_registration.measure_shift(pairs)
        placed = shift.describe("TIS B3", "B2", self.src.res[0])
        self.tags["tis_band_registration"] = placed
        if shift.needed:
            self.band_shift = shift
            warnings.warn(f"TIS bands are misregistered: {placed}; --no-coregister keeps the delivered bands",
                          IngestWarning, stacklevel=3)
        elif not shift.reliable:
            warnings.warn(placed, IngestWarning, stacklevel=3)  # "TIS B3 not measurable against B2 (why)"

    def find_stripes(self, window: Window, strip_rows: int, measure: bool) -> None:
        """Measure B2's stripes against B3 on crops of ``window`` and, when found, their profile
        over the window in strips of ``strip_rows`` rows (a pass over B2 and B3), so that
        :meth:`strip` subtracts them; stripes removed are a warning, the outcome a tag."""
        if not measure:
            self.tags["tis_destriping"] = "not measured (--destripe not given)"
            return
        if self.method != "split-window":
            self.tags["tis_destriping"] = "not measured: it needs B3 registered onto B2, which only the split window does"
            warnings.warn(f"--destripe with --lst-method {self.method}: {self.tags['tis_destriping']}",
                          IngestWarning, stacklevel=3)
            return
        direction = measure_direction([(*self._temperatures(crop), crop.row_off, crop.col_off)
                                       for crop in _crop_windows(window)])
        profile = StripeProfile((self.src.height, self.src.width), direction)
        if direction.found:
            for top in range(0, window.height, strip_rows):
                rows = Window(window.col_off, window.row_off + top, window.width,
                              min(strip_rows, window.height - top))
                profile.add(*self._temperatures(rows), rows.row_off, rows.col_off)
        self.destriping = profile.result()
        found = self.destriping.describe()
        self.tags["tis_destriping"] = found
        # asked for, so said either way: a tag alone left a run that removed nothing looking destriped
        advice = "check it, and leave out --destripe if the scene has none" if self.destriping.applied \
            else "TIS B2 is used as delivered"
        warnings.warn(f"{found}; {advice}", IngestWarning, stacklevel=3)

    def _temperatures(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """B2 and B3 (moved onto B2 when misregistered) brightness temperatures of ``window``."""
        t2, t3 = (sdgsat.brightness_temperature(self._registered_radiance(band, window), band) for band in (2, 3))
        return t2, t3

    def strip(self, window: Window, reflectance: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The LST retrieved on ``window``, and where TIS B2 holds data (what :meth:`thermal` gives
        data at: destriping subtracts a finite profile), for the MII coverage count."""
        green, red, nir = (_block_mean(reflectance[b], self.ratio) for b in (GREEN, RED, NIR))
        e2, e3 = lst_retrieval.emissivity(indices.ndvi(red, nir), indices.ndwi(green, nir), self.config)
        if self.method == "split-window":
            t2, t3 = self._split_window_temperatures(window)
            lst = lst_retrieval.split_window(t2, t3, e2, e3, self.config, self._vapour_on_strip(window, t2, t3, e2))
            self.valid[3] += int(np.isfinite(t3).sum())
        else:  # B2 as delivered: find_stripes destripes only for the split window, and B3 is not read
            t2 = self.thermal(window)
            lst = lst_retrieval.single_channel(t2, e2, sdgsat.TIS_WAVELENGTH_UM[1])
        self.valid[2] += int(np.isfinite(t2).sum())
        self._check_plausible(lst)
        return lst, np.isfinite(t2)

    def _vapour_on_strip(self, window: Window, t2: np.ndarray, t3: np.ndarray, e2: np.ndarray) -> np.ndarray | None:
        """The water vapour raster on the LST rows of ``window`` (None: the config's scalar), its
        holes under pixels that would be retrieved counted."""
        if self.vapour is None:
            return None
        if self.placed is None:
            raise RuntimeError("_TisLst.place() must come before its strips are retrieved")
        placed_window, lst_grid = self.placed
        values = self.vapour.on(grid_rows(lst_grid, window.row_off - placed_window.row_off, window.height))
        self.vapour.count_missing(np.isfinite(t2) & np.isfinite(t3) & np.isfinite(e2), values)
        return values

    def _split_window_temperatures(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_destriped_temperatures`; where B3 was resampled by a fraction of a pixel, its
        band difference at edges is repaired from the neighbours' (read with a halo, so that
        strips join exactly) and the pixels repaired are counted."""
        if not self._resampled_b3():
            return self._destriped_temperatures(window)
        halo = edge_difference.HALO_PX
        haloed = Window(window.col_off - halo, window.row_off - halo, window.width + 2 * halo,
                        window.height + 2 * halo)
        t2, t3 = self._destriped_temperatures(haloed)
        t3, replaced = edge_difference.repair_edge_differences(t2, t3)
        inner = (slice(halo, halo + window.height), slice(halo, halo + window.width))
        self.repaired += int(replaced[inner].sum())
        self.retrieved += int(np.isfinite(t3[inner]).sum())
        return t2[inner], t3[inner]

    def _resampled_b3(self) -> bool:
        """Whether B3 is moved by a fraction of a pixel (a whole-pixel move copies it exactly)."""
        shift = self.band_shift
        return shift is not None and max(abs(v - round(v)) for v in (shift.rows, shift.cols)) > 1e-3

    def report_repairs(self) -> None:
        """Add the band-difference repairs to the band-registration tag, and say so."""
        if not self._resampled_b3():
            return
        share = self.repaired / self.retrieved if self.retrieved else 0.0
        repaired = (f"B2 - B3 difference of {self.repaired} px ({share:.1%}) taken from the median of their "
                    f"{edge_difference.NEIGHBOURHOOD_PX} x {edge_difference.NEIGHBOURHOOD_PX} neighbourhood "
                    f"(departed from it by > {edge_difference.MAX_DEPARTURE_K:g} K: interpolated at edges)")
        self.tags["tis_band_registration"] += f"; {repaired}"
        if self.repaired:
            warnings.warn(f"TIS B3 resampled onto B2: {repaired}", IngestWarning, stacklevel=3)

    def _destriped_temperatures(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_temperatures`, B2 without its stripes when :meth:`find_stripes` found them."""
        t2, t3 = self._temperatures(window)
        if self.destriping is not None:
            t2 = destripe(t2, self.destriping, window.row_off, window.col_off)
        return t2, t3

    def thermal(self, window: Window) -> np.ndarray:
        """TIS B2 brightness temperature: placed against the MII before the MII gives emissivity."""
        return sdgsat.brightness_temperature(self._radiance(2, window), 2)

    def _registered_radiance(self, band: int, window: Window) -> np.ndarray:
        """:meth:`_radiance`, B3 moved onto B2 when :meth:`register_bands` found them misregistered
        (read with a halo, so strips join seamlessly; NaN where the move draws on fill or on
        pixels beyond the image)."""
        if band != 3 or self.band_shift is None:
            return self._radiance(band, window)
        haloed = Window(window.col_off - HALO_PX, window.row_off - HALO_PX,
                        window.width + 2 * HALO_PX, window.height + 2 * HALO_PX)
        moved = band_registration.shift_band(self._radiance(band, haloed), self.band_shift)
        return moved[HALO_PX:HALO_PX + window.height, HALO_PX:HALO_PX + window.width]

    def _radiance(self, band: int, window: Window) -> np.ndarray:
        """TIS radiance of ``band`` in ``window``, NaN at fill and outside the image; a damaged or
        truncated image names the file."""
        inside = window.intersection(Window(0, 0, self.src.width, self.src.height))
        out = np.full((window.height, window.width), np.nan)
        try:
            dn = self.src.read(band, window=inside)
        except (RasterioError, CPLE_BaseError) as exc:
            raise unreadable(raster_label(self.src), exc) from exc
        top, left = inside.row_off - window.row_off, inside.col_off - window.col_off
        out[top:top + inside.height, left:left + inside.width] = self.tis.calibration.radiance(dn, band)
        return out

    def _check_plausible(self, lst: np.ndarray) -> None:
        """Refuse retrieved LST outside the range every LST read obeys (wrong gains, coefficients)."""
        found = lst_values.implausible_kelvin(lst)
        if found is not None:
            lo, hi = lst_values.PLAUSIBLE_KELVIN
            hint = ("check the TIS gains in calib.xml and the --retrieval-config coefficients, or "
                    "give your own LST with --lst")
            registered = self.tags.get("tis_band_registration")
            if registered is not None and self.band_shift is None and " aligned with " not in registered:
                hint = (f"TIS B3 was not registered onto B2 ({registered}), and misregistered bands give "
                        "such values at edges: drop --no-coregister, or use --lst-method single-channel or "
                        f"--lst; else {hint}")
            raise InputError(
                self.tis.folder,
                f"the LST retrieved from TIS is implausible: {found[0]} pixels outside "
                f"{lo:g}..{hi:g} K (found {found[1]:.6g}..{found[2]:.6g} K)", hint)

    def no_data_error(self) -> InputError:
        """Why no LST was retrieved: a water vapour raster that gave none, else the TIS."""
        uncovered = self.vapour.uncovered_error() if self.vapour is not None else None
        if uncovered is None and self.valid[2] and not self.valid.get(3, 1):  # B3 alone is all fill
            return InputError(raster_label(self.src), "TIS band 3 holds no valid pixel inside the MII "
                              "footprint (only fill, DN 0), so the split window retrieves none",
                              "the band is dead or missing in this delivery: use --lst-method single-channel, "
                              "which reads B2 alone")
        return uncovered or InputError(self.tis.folder, "no valid TIS pixels inside the MII footprint")


def ingest_product(
    product_dirs: list[Path],
    out_dir: Path,
    name: str | None = None,
    dem: Path | None = None,
    lst: Path | None = None,
    overwrite: bool = False,
    *,
    method: str = "split-window",
    retrieval_config: Path | None = None,
    patterns: sdgsat.ProductPatterns = sdgsat.PATTERNS,
    on_progress: ProgressCallback | None = None,
    strip_rows: int | None = None,
    lst_decoding: LstDecoding | None = None,
    lst_units: Units = Units.auto,
    coregister: bool = True,
    saturation: SaturationOptions = SaturationOptions(),
    destripe_b2: bool = False,
    dem_fill_note: str = DEM_FILL_LATER,
) -> tuple[Path, Path]:
    """Ingest SDGSAT-1 product folders into ``out_dir``; return the (lst, guidance) paths written.

    ``lst`` gives the LST raster (K or degC), read with ``lst_decoding`` and ``lst_units`` and
    refused unless its values inside the footprint are plausible temperatures; without it the
    LST is retrieved from the TIS product by ``method`` with coefficients from
    ``retrieval_config`` (see :mod:`pipelines.lst_retrieval`). With ``coregister`` the LST grid
    is moved onto the MII when the scene shows it misregistered, and TIS B3 onto B2 before a
    split window. Saturated MII pixels are found and kept or made nodata by ``saturation``. With
    ``destripe_b2`` (off by default: it can mistake a misregistration's residue for stripes) TIS
    B2's detector stripes are measured against B3 and removed.
    Warnings (e.g. no DEM, a moved LST, saturation) are issued as :class:`IngestWarning`; the
    no-DEM one ends in ``dem_fill_note``, what becomes of the constant band (a fit: :data:`DEM_FILL_FIT`).

    The scene is streamed in strips of ``strip_rows`` LST rows (default: whole 512-row blocks of
    the guidance), so memory grows with the scene's width, not its area; a first pass finds the
    scene minima that NDMVI needs. Both outputs are written to temporary names and renamed only
    when both are complete; a failed run also removes the (empty) ``out_dir`` it created.
    """
    report = on_progress or (lambda done, total, label: None)
    check_lst_method(method)
    saturation.check()
    config = lst_retrieval.load_config(retrieval_config)
    if lst is not None:
        _warn_tis_unread(product_dirs, patterns)
    products = find_products(product_dirs, patterns, tis_bands_read(method), read_tis=lst is None)
    mii_product = _pick(products, "MII", needed=True, given=product_dirs, patterns=patterns)
    tis = _pick(products, "TIS", needed=lst is None, given=product_dirs, patterns=patterns)
    check_one_acquisition(tis, mii_product)  # None with --lst: the TIS product is not read
    name = name or default_name(mii_product, patterns)
    if Path(name).name != name or name in (".", ".."):
        raise InputError("--name", f"{name!r} is a path, not a scene name", "give a plain name; --out-dir says where")
    lst_path, guidance_path = Path(out_dir) / f"{name}_lst.tif", Path(out_dir) / f"{name}_guidance.tif"
    with folders_removed_if_left_empty(out_dir), streaming_gdal_env(), ExitStack() as stack:
        inputs = [*(f for product in products for f in product.files), dem, lst, retrieval_config,
                  config.water_vapour_raster]
        check_writable(lst_path, overwrite, inputs=inputs)
        check_writable(guidance_path, overwrite, inputs=inputs)
        mii = _Mii(mii_product, [stack.enter_context(open_raster(p)) for p in mii_product.images], saturation)
        lst_src = stack.enter_context(open_raster(lst) if lst is not None else open_tis(tis))
        if lst is not None:
            _check_value_type(lst_src, lst, "LST", "values may be off by kelvins")
        window, lst_grid, guidance_grid, ratio = _grids(lst_src, mii.srcs)
        # every input's header (CRS, bands, type, gains) before the first pass over a scene (minutes)
        mii.check()
        tis_lst = None if lst is not None else _TisLst(tis, lst_src, ratio, method, config,
                                                       _open_water_vapour_raster(config, method, stack))
        dem_band = _Dem(dem, guidance_grid, stack, dem_fill_note)  # read on the grid placed below
        report(0, 1, "MII saturation")
        mii.find_saturation()
        source = tis_lst or _GivenLst(lst_src, window, lst_decoding or LstDecoding(), lst_units)
        if isinstance(source, _TisLst):
            source.place(window, lst_grid)
            source.report_coefficients()
            source.find_saturation()
            source.register_bands(window, measure=coregister)
        placed = "not measured (--no-coregister)"
        if coregister:
            estimate, empty = _measure_offset(source, mii, window, lst_grid, ratio)
            placed = _report_placement(estimate, lst_grid.res[0] / ratio, empty)
            if estimate.needed:
                moved = (estimate.cols / ratio, estimate.rows / ratio)
                window, lst_grid, guidance_grid, ratio = _grids(lst_src, mii.srcs, moved)
                if isinstance(source, _GivenLst):  # its footprint changed: scan it again
                    source = _GivenLst(lst_src, window, lst_decoding or LstDecoding(), lst_units)
                else:
                    source.place(window, lst_grid)
        dem_band.warn_if_constant()
        height = strip_height(ratio, strip_rows)
        if isinstance(source, _TisLst):
            report(0, 1, "TIS B2 stripes")
            source.find_stripes(window, height, measure=destripe_b2)
        tops = range(0, lst_grid.height, height)
        strips = [grid_rows(guidance_grid, top * ratio, min(height, lst_grid.height - top) * ratio) for top in tops]
        total = 2 * len(strips)
        report(0, total, "NDMVI minima")
        red_min, nir_min = _ndmvi_minima(mii, strips)
        mii.check_bands_not_fill()
        report(len(strips), total, "guidance and LST")

        common = {"generator": GENERATOR, "mii_source": source_tag(mii_product.folder), "ratio": str(ratio),
                  "coregistration": placed}
        g_profile = creation_profile(width=guidance_grid.width, height=guidance_grid.height,
                                     count=len(BAND_NAMES), crs=guidance_grid.crs,
                                     transform=guidance_grid.transform)
        l_profile = creation_profile(width=lst_grid.width, height=lst_grid.height, count=1,
                                     crs=lst_grid.crs, transform=lst_grid.transform)
        any_lst = False
        with published_together(), geotiff_output(guidance_path, overwrite) as g_tmp, \
                geotiff_output(lst_path, overwrite) as l_tmp:
            with rasterio.open(g_tmp, "w", **g_profile) as g_dst, rasterio.open(l_tmp, "w", **l_profile) as l_dst:
                for n, (top, grid) in enumerate(zip(tops, strips), start=1):
                    refl, has_data = {}, {}  # has_data: band -> where a camera has data
                    for band in MII_GUIDANCE_BANDS:
                        refl[band], saturated = mii.reflectance_and_saturation(band, grid)
                        mii.count(band, refl[band], saturated)
                        has_data[band] = np.isfinite(refl[band]) | saturated
                    red, nir = refl[RED], refl[NIR]
                    guidance = np.stack([
                        dem_band.band(grid), *(refl[b] for b in MII_GUIDANCE_BANDS),
                        indices.ndmvi(red, nir, red_min, nir_min), indices.ndvi(red, nir),
                        indices.ndwi(refl[GREEN], nir),
                    ])
                    g_dst.write(guidance, window=Window(0, top * ratio, grid.width, grid.height))
                    lst_window = Window(window.col_off, window.row_off + top, window.width,
                                        grid.height // ratio)
                    lst_strip, inside = source.strip(lst_window, refl)
                    lst_strip = lst_strip.astype(np.float32)
                    mii.count_coverage(has_data, inside, ratio)
                    any_lst = any_lst or bool(np.isfinite(lst_strip).any())
                    l_dst.write(lst_strip, 1, window=Window(0, top, lst_grid.width, lst_strip.shape[0]))
                    report(len(strips) + n, total, "guidance and LST")
                mii.check_plausible()
                mii.check_bands_present()
                if not any_lst:
                    raise source.no_data_error()
                coverage = mii.coverage_report(*source.coverage_words)
                if coverage is not None:  # tagged only then: a fully covered scene's outputs are unchanged
                    common["mii_coverage"] = coverage
                _report_cut(source, lst_src, window, mii.inside)
                if isinstance(source, _TisLst):
                    source.report_repairs()
                    source.report_water_vapour()
                dem_band.finish()
                _describe(g_dst, BAND_NAMES, BAND_UNITS, {
                    **common, "dem_source": dem_band.source, "mii_saturation": mii.saturation_report(),
                    "reflectance": "approximate TOA (MII calib.xml gains, tabulated ESUN)"})
                _describe(l_dst, ["lst"], ["K"], {**common, **source.tags})
    return lst_path, guidance_path


def _report_cut(source: _GivenLst | _TisLst, src: rasterio.DatasetReader, window: Window, inside: int) -> None:
    """Warn when more than :data:`MAX_CUT_SHARE` of the thermal data (``inside`` of its valid
    pixels were written) lies outside ``window``, the MII footprint: it is cut from the outputs,
    which the MII coverage warning (gaps inside the footprint) does not count."""
    outside = sum(int(np.isfinite(source.thermal(piece)).sum())
                  for piece in _outside_pieces(window, src.width, src.height))
    share = outside / max(outside + inside, 1)
    if share > MAX_CUT_SHARE:
        warnings.warn(f"{percent(share)} % of {source.coverage_words[0]} ({outside} of {outside + inside} "
                      "valid pixels) lies outside the MII footprint and is cut from the outputs: there is no "
                      "guidance there", IngestWarning, stacklevel=3)


def _outside_pieces(window: Window, width: int, height: int, rows: int = 512) -> Iterator[Window]:
    """The parts of a ``width`` x ``height`` image outside ``window`` (which lies inside it), in
    windows of at most ``rows`` rows: what is read stays small, whatever the image."""
    bottom, right = window.row_off + window.height, window.col_off + window.width
    parts = (Window(0, 0, width, window.row_off), Window(0, bottom, width, height - bottom),
             Window(0, window.row_off, window.col_off, window.height),
             Window(right, window.row_off, width - right, window.height))
    for part in parts:
        if part.width > 0 and part.height > 0:
            for top in range(0, int(part.height), rows):
                yield Window(part.col_off, part.row_off + top, part.width, min(rows, part.height - top))


def _open_water_vapour_raster(config: lst_retrieval.RetrievalConfig, method: str, stack: ExitStack) -> WaterVapour | None:
    """The config's water vapour raster, opened with ``stack``; None when it gives a number or the
    method needs none."""
    if method != "split-window" or config.water_vapour_raster is None:
        return None
    return WaterVapour.opened(config.water_vapour_raster, config.water_vapour_units, stack)


def _measure_offset(source: _GivenLst | _TisLst, mii: _Mii, window: Window, lst_grid: Grid,
                    ratio: int) -> tuple[ShiftEstimate, list[int]]:
    """The LST's offset against the MII, measured on five crops of the scene, and the guidance
    bands that hold no data on any crop (the fit needs every band, so they leave it unmeasured)."""
    margin = MAX_SHIFT_LR * ratio
    pairs = []
    empty = set(MII_GUIDANCE_BANDS)
    for top, left, h, w in crops(lst_grid.height, lst_grid.width):
        thermal = source.thermal(Window(window.col_off + left, window.row_off + top, w, h))
        transform = (lst_grid.transform @ Affine.translation(left, top) @ Affine.scale(1.0 / ratio)
                     @ Affine.translation(-margin, -margin))
        grid = Grid(lst_grid.crs, transform, w * ratio + 2 * margin, h * ratio + 2 * margin)
        refl = {band: mii.reflectance(band, grid) for band in MII_GUIDANCE_BANDS}
        empty -= {band for band, values in refl.items() if np.isfinite(values).any()}
        pairs.append((thermal, np.stack([*refl.values(), indices.ndvi(refl[RED], refl[NIR]),
                                         indices.ndwi(refl[GREEN], refl[NIR])])))
    return estimate_shift(pairs, ratio, margin), sorted(empty)


def _unmeasured(empty: Sequence[int]) -> str:
    """Why no crop gave an R² (the fit of the LST on every guidance band): ``empty`` bands, or
    too few pixels where the LST and every band hold data (or a constant LST there)."""
    if empty:
        named = " and ".join(f"B{band} {BAND_NAMES[band - 1]}" for band in empty)
        verb = "holds" if len(empty) == 1 else "hold"
        return f"not measurable, kept as delivered: MII {named} {verb} no data where it is measured"
    return ("not measurable, kept as delivered: too few pixels where the LST and every MII guidance band hold "
            "data, or an LST constant there, where it is measured")


def _report_placement(estimate: ShiftEstimate, res: float, empty: Sequence[int]) -> str:
    """The measured offset as a line for the tags (``res``: MII pixel size, metres; ``empty``: the
    guidance bands with no data where it was measured); a misregistration found, or one that
    could not be measured, is also a warning."""
    placed = _unmeasured(empty) if math.isnan(estimate.r2) else estimate.describe(res, "m", "the MII")
    if estimate.needed:
        warnings.warn(f"TIS and MII are misregistered: {placed}; --no-coregister keeps the delivered grid",
                      IngestWarning, stacklevel=3)
    elif estimate.at_edge:  # ingest searches MAX_SHIFT_LR only; coregister searches as far as asked
        warnings.warn(f"TIS and MII: {placed}; to search further, run groklst coregister on the LST and guidance "
                      f"groklst ingest writes, with --max-shift {2 * MAX_SHIFT_LR}", IngestWarning, stacklevel=3)
    elif not estimate.reliable:
        warnings.warn(f"TIS and MII: {placed}", IngestWarning, stacklevel=3)  # "not measurable, kept as delivered: why"
    elif estimate.uncertain:
        warnings.warn(f"TIS and MII: {placed}; --no-coregister keeps the delivered grid", IngestWarning, stacklevel=3)
    return placed


def _describe(dst: rasterio.io.DatasetWriter, names: Sequence[str], units: Sequence[str],
              tags: dict[str, str]) -> None:
    for band, (desc, unit) in enumerate(zip(names, units), start=1):
        dst.set_band_description(band, desc)
        dst.set_band_unit(band, unit)
    dst.update_tags(**tags)

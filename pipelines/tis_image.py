"""Opening a TIS product's imagery as one 3-band raster, however it was delivered.

A regular product holds one 3-band GeoTIFF; challenge data hold one GeoTIFF per band
(:func:`pipelines.sdgsat.tis_band_files`). Those are stacked by a GDAL VRT held in memory, so
that ingest reads either delivery through one dataset, band by band and window by window,
without a stacked copy on disk. The bands must share one pixel grid: stacking is by pixel
index, so a band on another grid would be read misplaced.
"""

from __future__ import annotations

import re
import warnings
import weakref
from contextlib import ExitStack
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio

from pipelines.errors import GroklstWarning, InputError
from pipelines.geotiff import open_raster
from pipelines.sdgsat import TIS_BANDS, Product

# The product folder (as given) of each band stack open_tis made, for messages; a stack closed and
# collected leaves no entry behind.
_LABELS: weakref.WeakKeyDictionary[rasterio.DatasetReader, str] = weakref.WeakKeyDictionary()

GRID_TOLERANCE_PX = 1e-6  # how far band images' transforms may differ, in pixels

# GDAL's names of the data types a TIS band image can hold.
_GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "float32": "Float32", "float64": "Float64"}


def open_tis(product: Product) -> rasterio.DatasetReader:
    """The TIS imagery of ``product`` as one dataset of 3 bands (B1, B2, B3); a band delivered
    without an image (B3 where the LST method does not read it) is all fill (DN 0)."""
    if not product.tis_per_band:
        return open_raster(product.images[0])
    with ExitStack() as stack:
        bands = [stack.enter_context(open_raster(path)) for path in product.images]
        for path, src in zip(product.images, bands):
            _check_band(path, src, bands[0], product.images[0])
        _warn_misnamed_crs(product.images, bands)
        xml = _stack_xml(dict(zip(product.tis_bands or TIS_BANDS, product.images)), bands[0])
    stacked = rasterio.open(xml)
    _LABELS[stacked] = str(product.folder)
    return stacked


def _check_band(path: Path, src: rasterio.DatasetReader, first: rasterio.DatasetReader, first_path: Path) -> None:
    """Refuse a band image that is not one band on the first band's grid (to
    ``GRID_TOLERANCE_PX``: float noise of separate processing is no misplacement) and encoding."""
    if src.count != 1:
        raise InputError(path, f"{src.count} bands, a per-band TIS image has one", "is this a TIS band image?")
    if src.dtypes[0] not in _GDAL_TYPES:
        raise InputError(path, f"data type {src.dtypes[0]} is not a TIS band's", "TIS imagery is uint16 DN")
    same_grid = ((src.width, src.height, src.crs) == (first.width, first.height, first.crs)
                 and src.transform.almost_equals(first.transform, GRID_TOLERANCE_PX * abs(first.transform.a)))
    if not same_grid:
        raise InputError(path, f"is not on {first_path.name}'s pixel grid ({src.width}x{src.height} px at "
                         f"{tuple(src.transform)[:6]} in {src.crs} against {first.width}x{first.height} px at "
                         f"{tuple(first.transform)[:6]} in {first.crs})",
                         "the band images of one product share one grid: take them from the original delivery")
    if (src.dtypes[0], src.nodata) != (first.dtypes[0], first.nodata):
        raise InputError(path, f"{src.dtypes[0]} with nodata {src.nodata}, {first_path.name} is "
                         f"{first.dtypes[0]} with nodata {first.nodata}",
                         "the band images of one product share one encoding: take them from the original delivery")


def _warn_misnamed_crs(paths: tuple[Path, ...], bands: list[rasterio.DatasetReader]) -> None:
    """One warning where the EPSG code in the band images' names is not their CRS (the files'
    CRS is used: a name is easier to get wrong than a georeference)."""
    for path, src in zip(paths, bands):
        named = re.search(r"EPSG_?(\d{4,5})", path.name)
        if named and src.crs is not None and src.crs.to_epsg() != int(named.group(1)):
            warnings.warn(f"{path}: named for EPSG:{named.group(1)} but its CRS is {src.crs}; the file's CRS is "
                          "used", GroklstWarning, stacklevel=3)
            return


def _stack_xml(paths: dict[int, Path], first: rasterio.DatasetReader) -> str:
    """A VRT stacking band 1 of each of ``paths`` (TIS band -> image, all on ``first``'s grid) as
    bands 1, 2, 3; a band without an image has no source, so it reads as fill."""
    georef = ""
    if first.crs is not None:
        georef = (f"<SRS>{escape(first.crs.to_wkt())}</SRS>"
                  f"<GeoTransform>{', '.join(repr(v) for v in first.transform.to_gdal())}</GeoTransform>")
    nodata = "" if first.nodata is None else f"<NoDataValue>{first.nodata!r}</NoDataValue>"
    sources = {n: (f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(path.resolve()))}'
                   f"</SourceFilename><SourceBand>1</SourceBand></SimpleSource>") for n, path in paths.items()}
    bands = "".join(f'<VRTRasterBand dataType="{_GDAL_TYPES[first.dtypes[0]]}" band="{n}">{nodata}'
                    f'{sources.get(n, "")}</VRTRasterBand>' for n in TIS_BANDS)
    return f'<VRTDataset rasterXSize="{first.width}" rasterYSize="{first.height}">{georef}{bands}</VRTDataset>'


def raster_label(src: rasterio.DatasetReader) -> str:
    """What a message names for ``src``: its file, or for a band stack of :func:`open_tis` the
    product folder as given (the VRT itself is text held in memory, not a file to name)."""
    return _LABELS.get(src, src.name)

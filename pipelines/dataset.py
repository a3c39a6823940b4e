"""The prepared dataset on disk: its writer and the reader the trainer uses.

Layout (a directory, written atomically by the caller)::

    DATASET/
      data.zarr/    xarray Dataset (Zarr format 2), one chunk per patch:
                    hr_lst (patch, y, x), guidance (patch, band, y, x),
                    lr_lst_x{s} (patch, y_x{s}, x_x{s}) per scale s - float32 Kelvin, NaN nodata;
                    scene, split, crs (WKT) (patch) str; row_off, col_off (patch) int64;
                    transform (patch, affine) float64 = affine a, b, c, d, e, f of the patch's HR grid;
                    attrs: bands, scales, hr_resolution, patch, stride, degrade, groklst_version.
                    CF attributes for xarray (read by nothing here): units and long_name; coords
                    band, band_units (band), affine (a..f); for georeferenced patches the pixel
                    centres hr_x (patch, x), hr_y (patch, y), lr_x_x{s}, lr_y_x{s} in each patch's
                    CRS, and spatial_ref (crs_wkt) when every patch has one CRS
      stats.json    z-score statistics of LST and each band, from the train split only
      splits/{train,val,test}.txt   one patch index per line
      info.json     counts per split and scene, dropped patches, settings
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from affine import Affine
from rasterio.crs import CRS

from pipelines import strict_json
from pipelines.atomic import DATASET_FORMAT, DATASET_INFO
from pipelines.errors import InputError, TypedPath, environment_error
from pipelines.grids import resolution_units
from pipelines.patches import SPLITS

STORE = "data.zarr"
STATS = "stats.json"
INFO = DATASET_INFO
SPLIT_DIR = "splits"


def groklst_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("groklst")
    except PackageNotFoundError:
        return "0.0.0+unknown"


@dataclass(frozen=True)
class PatchRecord:
    """Where one patch comes from and which split it belongs to."""

    scene: str
    split: str
    row_off: int
    col_off: int
    transform: Affine
    crs_wkt: str


@dataclass(frozen=True)
class NormStats:
    """Z-score statistics: ``(x - mean) / std`` for LST and for each guidance band."""

    lst_mean: float
    lst_std: float
    band_mean: list[float]
    band_std: list[float]


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)].astype(np.float64)
        if finite.size == 0:
            return
        n_b, mean_b = finite.size, float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
        total = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.n = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else float("nan")


@dataclass
class StatsAccumulator:
    """Mean/std of valid LST and guidance pixels over the patches it is shown (the train split)."""

    bands: list[str]
    lst: _Moments = field(default_factory=_Moments)
    band_moments: list[_Moments] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.band_moments = [_Moments() for _ in self.bands]

    def add(self, hr_lst: np.ndarray, guidance: np.ndarray) -> None:
        self.lst.add(hr_lst)
        for moments, band in zip(self.band_moments, guidance):
            moments.add(band)

    def to_json(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "lst_mean": self.lst.mean,
            "lst_std": self.lst.std,
            "band_mean": [m.mean for m in self.band_moments],
            "band_std": [m.std for m in self.band_moments],
            "computed_on": "train",
            "n_pixels": self.lst.n,
            "n_pixels_per_band": [m.n for m in self.band_moments],
        }


def _lr_dims(scale: int) -> tuple[str, str]:
    return f"y_x{scale}", f"x_x{scale}"


# Normalised-difference indices are ratios: dimensionless whatever the scaling of their inputs.
_INDEX_BANDS = frozenset({"ndvi", "ndwi", "ndmvi"})
_AFFINE = ("a", "b", "c", "d", "e", "f")
_LST_UNITS = {"units": "K", "standard_name": "surface_temperature"}


def guidance_band_units(bands: Sequence[str], tagged: Sequence[str] | None = None) -> list[str]:
    """Each band's unit: its tag in the guidance files, else "1" for an index, else "" (unknown).

    Reflectance or a DEM without a tag stays unknown: digital numbers (Sentinel-2's 0-10000)
    are not unitless reflectance, and the store states nothing it was not told.
    """
    tags = list(tagged) if tagged is not None else [""] * len(bands)
    return [tag or ("1" if band in _INDEX_BANDS else "") for band, tag in zip(bands, tags)]


def _pixel_centres(records: Sequence[PatchRecord], pixels: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (patch, pixels), y (patch, pixels))``: the centres of each patch's pixels of ``step``
    HR pixels, in its own CRS."""
    t = np.array([tuple(r.transform)[:6] for r in records], dtype=np.float64).reshape(len(records), 6)
    centre = (np.arange(pixels, dtype=np.float64) + 0.5) * step
    return t[:, 2:3] + t[:, 0:1] * centre, t[:, 5:6] + t[:, 4:5] * centre


def _grid_coords(records: Sequence[PatchRecord], patch: int, scales: Sequence[int]) -> dict[str, Any]:
    """Per-patch pixel-centre coordinates of the HR and each LR grid, in each patch's CRS.

    Only for georeferenced north-up patches (a GrokLST import has no CRS: its patches get none).
    Patches are crops of different scenes, so x and y cannot be shared index coordinates.
    """
    if not records or any(not r.crs_wkt or r.transform.b or r.transform.d for r in records):
        return {}
    units = {resolution_units(CRS.from_wkt(w)) for w in {r.crs_wkt for r in records}}
    attrs = {"units": units.pop()} if len(units) == 1 else {}
    grids = [("hr_{}", ("y", "x"), patch, 1), *((f"lr_{{}}_x{s}", _lr_dims(s), patch // s, s) for s in scales)]
    coords: dict[str, Any] = {}
    for name, (y_dim, x_dim), pixels, step in grids:
        x, y = _pixel_centres(records, pixels, step)
        for axis, values, dim in (("x", x, x_dim), ("y", y, y_dim)):
            coords[name.format(axis)] = (("patch", dim), values, {
                **attrs, "long_name": f"{axis} of the pixel centres in the patch's CRS (see crs, transform)"})
    return coords


def _spatial_ref(records: Sequence[PatchRecord]) -> dict[str, Any]:
    """The one CRS of every patch as a CF grid mapping (``crs_wkt``, ``spatial_ref`` as
    rioxarray reads it); nothing when patches differ in CRS or have none (see ``crs``)."""
    wkts = {r.crs_wkt for r in records}
    if len(wkts) != 1 or not next(iter(wkts)):
        return {}
    wkt = wkts.pop()
    return {"spatial_ref": ((), np.int64(0), {"crs_wkt": wkt, "spatial_ref": wkt})}


class DatasetWriter:
    """Writes patches into ``root`` (the temporary directory of an atomic output).

    The patch list is known before any pixel is written, so the Zarr store is laid out once
    (metadata and the small per-patch variables) and each patch is then written as its own
    chunk: memory stays at one patch whatever the dataset size.
    """

    def __init__(
        self,
        root: Path,
        records: Sequence[PatchRecord],
        *,
        bands: Sequence[str],
        scales: Sequence[int],
        patch: int,
        attrs: Mapping[str, Any],
        band_units: Sequence[str] | None = None,
    ):
        self.root = root
        self.records = list(records)
        self.bands = list(bands)
        self.band_units = guidance_band_units(self.bands, band_units)
        self.scales = [int(s) for s in scales]
        self.patch = int(patch)
        self.stats = StatsAccumulator(self.bands)
        root.mkdir(parents=True, exist_ok=True)
        self._layout(attrs)
        # Every chunk is stored, even one that is all NaN (zarr's fill value, which it would
        # otherwise skip), so that a chunk missing on disk always means a damaged dataset. zarr
        # takes the setting when an array is opened.
        with zarr.config.set({"array.write_empty_chunks": True}):
            group = zarr.open_group(store_path(root), mode="r+")
            self._hr = group["hr_lst"]
            self._guidance = group["guidance"]
            self._lr = {s: group[f"lr_lst_x{s}"] for s in self.scales}

    def _layout(self, attrs: Mapping[str, Any]) -> None:
        n, p, k = len(self.records), self.patch, len(self.bands)

        def empty(shape: tuple[int, ...]) -> da.Array:
            return da.full(shape, np.nan, dtype=np.float32, chunks=(1, *shape[1:]))

        known = set(self.band_units) - {""}
        guidance_units = {"units": known.pop()} if len(known) == 1 and "" not in self.band_units else {}
        variables: dict[str, Any] = {
            "hr_lst": (("patch", "y", "x"), empty((n, p, p)),
                       {**_LST_UNITS, "long_name": "land-surface temperature on the HR grid (the target)"}),
            "guidance": (("patch", "band", "y", "x"), empty((n, k, p, p)),
                         {**guidance_units, "long_name": "guidance bands on the HR grid (units: band_units)"}),
        }
        for s in self.scales:
            long_name = f"land-surface temperature degraded x{s} from hr_lst"
            variables[f"lr_lst_x{s}"] = (("patch", *_lr_dims(s)), empty((n, p // s, p // s)),
                                         {**_LST_UNITS, "long_name": long_name})
        records = self.records
        variables.update(
            scene=(("patch",), np.array([r.scene for r in records], dtype=object),
                   {"long_name": "scene the patch was cut from"}),
            split=(("patch",), np.array([r.split for r in records], dtype=object),
                   {"long_name": "split of the patch (train, val or test)"}),
            row_off=(("patch",), np.array([r.row_off for r in records], dtype=np.int64),
                     {"long_name": "first HR row of the patch in its scene's HR grid"}),
            col_off=(("patch",), np.array([r.col_off for r in records], dtype=np.int64),
                     {"long_name": "first HR column of the patch in its scene's HR grid"}),
            transform=(
                ("patch", "affine"),
                np.array([tuple(r.transform)[:6] for r in records], dtype=np.float64).reshape(n, 6),
                {"long_name": "affine transform of the patch's HR grid (GDAL a, b, c, d, e, f)"},
            ),
            crs=(("patch",), np.array([r.crs_wkt for r in records], dtype=object),
                 {"long_name": "CRS of the patch as WKT (empty: not georeferenced)"}),
        )
        coords = {"band": ("band", self.bands, {"long_name": "guidance band"}),
                  "band_units": ("band", self.band_units, {"long_name": "unit of each guidance band (empty: unknown)"}),
                  "affine": ("affine", list(_AFFINE)), **_grid_coords(records, p, self.scales)}
        ds = xr.Dataset({**variables, **_spatial_ref(records)}, coords=coords)
        if "spatial_ref" in ds:
            for name in ("hr_lst", "guidance", *(f"lr_lst_x{s}" for s in self.scales)):
                ds[name].attrs["grid_mapping"] = "spatial_ref"
        ds.attrs.update(
            {
                "bands": self.bands,
                "scales": self.scales,
                "patch": self.patch,
                "groklst_version": groklst_version(),
                **attrs,
            }
        )
        ds.to_zarr(store_path(self.root), mode="w", compute=False, zarr_format=2, consolidated=True)

    def write(
        self, index: int, hr_lst: np.ndarray, guidance: np.ndarray, lr: Mapping[int, np.ndarray]
    ) -> None:
        """Write patch ``index``; train patches feed the statistics."""
        self._hr[index] = hr_lst.astype(np.float32)
        self._guidance[index] = guidance.astype(np.float32)
        for s in self.scales:
            self._lr[s][index] = lr[s].astype(np.float32)
        if self.records[index].split == "train":
            self.stats.add(hr_lst, guidance)

    def finish(self, info: Mapping[str, Any]) -> None:
        """Write stats.json, the split lists and info.json beside the store."""
        if self.stats.lst.n == 0:
            raise InputError(
                None, "the train split has no valid LST pixel", "check --split and --max-nodata"
            )
        _write_json(self.root / STATS, self.stats.to_json())
        split_dir = self.root / SPLIT_DIR
        split_dir.mkdir(exist_ok=True)
        for name in SPLITS:
            lines = [str(i) for i, r in enumerate(self.records) if r.split == name]
            (split_dir / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
        _write_json(self.root / INFO, {"format": DATASET_FORMAT, **info})


def store_path(root: Path) -> str:
    """The Zarr store of the dataset in ``root`` as an absolute path: xarray expands a leading
    ``~`` itself, so a dataset typed as ``'~/ds'`` (a folder literally named ``~``, which the
    shell did not expand) was written to the home folder while groklst looked in ``./~``."""
    return str((root / STORE).absolute())


def _check_chunks(named: PurePath | str, arrays: Mapping[str, zarr.Array]) -> None:
    """Refuse a dataset whose patch arrays lack chunk files: zarr would read them as NaN and
    training or evaluation would go on with empty inputs and report meaningless numbers."""
    for name, array in arrays.items():
        missing = array.nchunks - array.nchunks_initialized
        if missing:
            raise InputError(file_named(named, STORE, name), f"{missing} of {array.nchunks} patch chunks are missing",
                             "the dataset is damaged: create it again with groklst prepare")


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(strict_json.dumps(data, indent=2, sort_keys=False) + "\n")


class PreparedDataset:
    """Random access to a prepared dataset; arrays are opened once and reused for every read."""

    def __init__(self, path: Path, named: PurePath | str | None = None):
        self.path = path
        self.named = path if named is None else named  # how errors name the folder: as typed when given
        group = zarr.open_group(store_path(path), mode="r")
        attrs = dict(group.attrs)
        self.bands: list[str] = [str(b) for b in attrs["bands"]]
        self.scales: list[int] = [int(s) for s in attrs["scales"]]
        self.hr_resolution: float = float(attrs["hr_resolution"])
        self.patch: int = int(attrs["patch"])
        self.attrs = attrs
        self._hr = group["hr_lst"]
        self._guidance = group["guidance"]
        self._lr = {s: group[f"lr_lst_x{s}"] for s in self.scales}
        _check_chunks(self.named, {"hr_lst": self._hr, "guidance": self._guidance,
                             **{f"lr_lst_x{s}": a for s, a in self._lr.items()}})
        self._transform = np.asarray(group["transform"][:], dtype=np.float64)
        self._crs_wkt = [str(c) for c in group["crs"][:]]
        self._crs_cache: dict[str, CRS | None] = {}
        self._splits = {name: _read_indices(path / SPLIT_DIR / f"{name}.txt") for name in SPLITS}
        stats = _read_table(path / STATS, file_named(self.named, STATS))
        self.stats = NormStats(
            lst_mean=float(stats["lst_mean"]),
            lst_std=float(stats["lst_std"]),
            band_mean=[float(v) for v in stats["band_mean"]],
            band_std=[float(v) for v in stats["band_std"]],
        )

    def __len__(self) -> int:
        return int(self._hr.shape[0])

    @property
    def hr_resolution_units(self) -> str:
        """The unit of ``hr_resolution``: as recorded, else the first patch's CRS unit."""
        recorded = self.attrs.get("hr_resolution_units")
        if recorded:
            return str(recorded)
        return resolution_units(self.georef(0)[0] if len(self) else None)

    def indices(self, split: str) -> list[int]:
        """Patch indices of ``split`` (train, val or test)."""
        if split not in self._splits:
            raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS)}")
        return list(self._splits[split])

    def read(self, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lr (h, w), guidance (K, H, W), hr (H, W))`` of patch ``index``; float32, NaN nodata."""
        if scale not in self._lr:
            raise ValueError(f"the dataset has scales {self.scales}, not x{scale}")
        if not 0 <= index < len(self):
            raise IndexError(f"patch {index} out of range (dataset has {len(self)})")
        return (
            self._read_chunk(f"lr_lst_x{scale}", self._lr[scale], index),
            self._read_chunk("guidance", self._guidance, index),
            self._read_chunk("hr_lst", self._hr, index),
        )

    def _read_chunk(self, name: str, array: zarr.Array, index: int) -> np.ndarray:
        """Patch ``index`` of the array ``name`` (one chunk); :class:`InputError` naming the
        array and the patch when its chunk cannot be decoded (a truncated or overwritten file)."""
        try:
            return np.asarray(array[index], dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - whatever the codec raises, the chunk is damaged
            raise environment_error(exc) or InputError(file_named(self.named, STORE, name),
                             f"the chunk of patch {index} cannot be decoded ({type(exc).__name__}: {exc})",
                             "the dataset is damaged: create it again with groklst prepare") from exc

    def georef(self, index: int) -> tuple[CRS | None, Affine]:
        """CRS and HR affine transform of patch ``index`` (CRS ``None`` for ungeoreferenced imports)."""
        wkt = self._crs_wkt[index]
        if wkt not in self._crs_cache:
            self._crs_cache[wkt] = CRS.from_wkt(wkt) if wkt else None
        return self._crs_cache[wkt], Affine(*self._transform[index])

    def info(self) -> dict[str, Any]:
        """The counts and settings recorded in info.json."""
        return _read_table(self.path / INFO, file_named(self.named, INFO))


def file_named(folder: PurePath | str, *parts: str) -> PurePath | str:
    """A file in the dataset ``folder`` as errors name it: under the folder as named, which is
    as typed (``./ds/`` gives ``./ds/info.json``, which pathlib folds to ``ds/info.json``) when
    ``folder`` is a str."""
    if isinstance(folder, PurePath):
        return folder.joinpath(*parts)
    return TypedPath(os.path.join(folder, *parts))


def _read_table(path: Path, named: PurePath | str) -> dict[str, Any]:
    """A JSON object the dataset holds; :class:`InputError` naming it ``named`` when it is damaged."""
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(named, f"not valid JSON ({exc}): the dataset is damaged",
                         "create it again with groklst prepare") from exc
    if not isinstance(data, dict):
        raise InputError(named, "not a JSON object: the dataset is damaged", "create it again with groklst prepare")
    return data


def _read_indices(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def check_written(out: Path, tmp: Path) -> None:
    """Refuse to publish the dataset written into ``tmp`` (for ``out``) unless it opens as
    ``prepare --info`` and ``train`` open it: its temporary folder removed while writing (a
    clean-up job) is made again by zarr for the next chunk, without the metadata written first
    (QA: exit 0, then 'damaged'). The ``check`` of :func:`pipelines.atomic.atomic_output`."""
    try:
        open_prepared(tmp)
    except InputError as exc:
        raise InputError(out, "the dataset was not completely written (its unfinished folder was removed or "
                         "changed while writing); nothing was written",
                         "make sure that nothing (a cleanup job, another command) removes groklst's hidden "
                         ".partial entries beside the output while groklst runs, then run again") from exc


def open_prepared(path: str | os.PathLike[str]) -> PreparedDataset:
    """Open a dataset written by ``groklst prepare``; :class:`InputError` if it is not one.
    Errors name a str ``path`` and the files in it as typed (``./ds/info.json``)."""
    root = Path(path)
    named = TypedPath(path) if isinstance(path, str) else root
    missing = [n for n in (STORE, STATS, INFO, SPLIT_DIR) if not (root / n).exists()]
    if not root.is_dir() or missing:
        raise InputError(
            named,
            "not a groklst prepared dataset" + (f" (missing {', '.join(missing)})" if root.is_dir() else ""),
            "create one with groklst prepare",
        )
    try:
        return PreparedDataset(root, named)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever fails to parse, the dataset is damaged
        raise InputError(named, f"prepared dataset is damaged ({type(exc).__name__}: {exc})") from exc


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``--info`` reports: counts per split and scale, drops, statistics, settings."""
    ds = open_prepared(path)
    recorded = ds.info()
    stats = _read_table(ds.path / STATS, file_named(ds.named, STATS))
    return {
        "path": str(ds.path),
        "bands": ds.bands,
        "scales": ds.scales,
        "hr_resolution": ds.hr_resolution,
        "hr_resolution_units": ds.hr_resolution_units,
        "patch": ds.patch,
        "patches": {s: len(ds.indices(s)) for s in SPLITS},
        "dropped_nodata": recorded.get("dropped_nodata", 0),
        "dropped_split_boundary": recorded.get("dropped_split_boundary", 0),
        "scenes": {k: v.get("patches") for k, v in recorded.get("scenes", {}).items()},
        # what the ingest did to scenes made from product folders (null: a GeoTIFF pair)
        "ingests": {k: v["ingest"] for k, v in recorded.get("scenes", {}).items() if "ingest" in v},
        "stats": stats,
        "settings": recorded.get("settings", {}),
    }

"""``groklst prepare``: canonical scenes -> Wald-protocol training dataset.

For each scene ``NAME_lst.tif`` (+ ``NAME_guidance.tif`` beside it):

1. the grids are checked (same CRS, north-up, guidance nesting in the HR grid, overlap) and the
   HR grid is fixed: the LST grid at ``hr_resolution`` (default: native), anchored at the LST
   origin, restricted to the whole HR pixels the guidance covers
   (:mod:`pipelines.training_scene`);
2. a dask pass over the whole scene counts nodata per small cell (LST or any guidance band
   missing), chunk by chunk, so patches with too much nodata are dropped before any is written;
3. the kept patches are split (spatial blocks or whole scenes, see :mod:`pipelines.patches`);
4. each patch is then cut window by window with rasterio (memory: one patch plus the margin
   the MTF kernel needs): HR LST = LST area-averaged to the HR grid (in Kelvin or radiance, as
   the LR LST: ``--aggregate``), guidance area-averaged to the HR grid, LR LST per scale by
   :func:`pipelines.degrade.degrade`. The MTF kernel's context
   is the patch's own split's: pixels in blocks of another split count as missing, so no
   pixel of another split reaches a patch (:class:`OwnSplit`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from pipelines import degrade as wald
from pipelines.atomic import OutputKind, atomic_output, check_writable
from pipelines.dataset import DatasetWriter, PatchRecord, check_written
from pipelines.durable import write_through
from pipelines.errors import (EmptySceneError, GroklstWarning, InputError, not_found_error,
                             special_file_error)
from pipelines.geotiff import open_raster, read_values, streaming_gdal_env
from pipelines.grids import ALIGNMENT_TOLERANCE, resolution_units
from pipelines.guidance import DISTINCT_BANDS_HINT, check_distinct_bands
from pipelines.ingest_record import IngestRecord, ingest_record
from pipelines.lst_values import LstDecoding
from pipelines.patches import (
    SPLITS,
    BlockSplit,
    Footprint,
    count_unit,
    deal_blocks,
    patch_grid,
    patch_nodata_fractions,
    split_by_scene,
)
from pipelines.product_ingest import ProductIngest, tis_bands_read
from pipelines.raster_names import gdal_name
from pipelines.scene_align import aligned_guidance
from pipelines.training_scene import (
    GUIDANCE_SUFFIX,
    LST_SUFFIX,
    Scene,
    ndmvi_minima,
    nodata_cells,
    open_scene,
)
from pipelines.units import Units

COARSER_GUIDANCE_RATIO = 0.75  # LST pixel / guidance pixel below this: warn that --align interpolates


def dem_fill_note(fill_m: float) -> str:
    """How the ingest's no-DEM warning ends for prepare (``fill_m``: the constant written): the
    training data's dem band is that constant, not what downscale's wording says ("downscale
    gives a model its training mean elevation"), and --dem is what to pass."""
    return (f"the training data's dem band is {fill_m:g} m everywhere, so a model trained on it learns "
            "nothing from elevation: pass --dem DEM.tif")


@dataclass(frozen=True)
class PrepareOptions:
    """Every setting of ``groklst prepare`` (recorded in info.json)."""

    scales: tuple[int, ...] = (2, 4, 8)
    hr_resolution: float | None = None
    patch: int = 512
    stride: int = 256
    ratios: tuple[float, float, float] = (0.6, 0.1, 0.3)
    seed: int = 0
    max_nodata: float = 0.0
    degrade: str = "mtf"  # a real sensor's blur: a block mean is sharper and flatters scores
    aggregate: str = "radiance"  # a sensor integrates emitted radiance (T^4), not temperature
    lr_nodata: str = "any"
    split_by: str = "block"
    split_block: int | None = None  # HR pixels; default twice the patch
    units: Units = Units.auto  # of the LST files (auto: detected per scene from its values)
    decoding: LstDecoding = field(default_factory=LstDecoding)  # fill values, scale and offset
    guidance_bands: tuple[str, ...] | None = None  # the guidance files' band names in file order
    ingest: ProductIngest = ProductIngest()  # of SDGSAT-1 product folders (recorded only when one was)

    @property
    def block_pixels(self) -> int:
        return self.split_block if self.split_block is not None else 2 * self.patch

    def validate(self) -> None:
        """Reject impossible settings before any work."""
        if not self.scales or any(int(s) != s or s < 2 for s in self.scales):
            raise InputError("--scales", f"scales must be integers >= 2, got {list(self.scales)}")
        if len(set(self.scales)) != len(self.scales):
            raise InputError("--scales", f"lists a scale twice: {list(self.scales)}", "list each scale once")
        if self.patch < 1 or self.stride < 1:
            raise InputError("--patch/--stride", "patch and stride must be positive")
        bad = [s for s in self.scales if self.patch % s]
        if bad:
            raise InputError(
                "--patch",
                f"patch size {self.patch} is not a multiple of scale(s) {bad}",
                f"use a multiple of {math.lcm(*self.scales)}",
            )
        if not 0.0 <= self.max_nodata <= 1.0:
            raise InputError("--max-nodata", "must be a fraction between 0 and 1")
        if self.hr_resolution is not None and not self.hr_resolution > 0:
            raise InputError("--hr-res", "must be a positive resolution in CRS units")
        choices = {
            "--degrade": (self.degrade, ("area", "mtf")),
            "--aggregate": (self.aggregate, ("kelvin", "radiance")),
            "--lr-nodata": (self.lr_nodata, ("any", "all")),
            "--split-by": (self.split_by, ("block", "scene")),
        }
        for option, (value, allowed) in choices.items():
            if value not in allowed:
                raise InputError(option, f"{value!r} is not one of {', '.join(allowed)}")
        if self.block_pixels < self.patch:
            raise InputError("--split-block", "split blocks must be at least one patch wide")


@dataclass(frozen=True)
class Candidate:
    """A patch position: scene and HR offset in the scene's HR grid."""

    scene: Scene
    row_off: int
    col_off: int

    def transform(self) -> Affine:
        """HR grid of the patch (the scene's HR grid is north-up: a shift of its origin)."""
        t = self.scene.hr_transform
        return Affine(t.a, 0.0, t.c + self.col_off * t.a, 0.0, t.e, t.f + self.row_off * t.e)

    def footprint(self, patch: int) -> Footprint:
        t = self.transform()
        return Footprint(self.scene.crs_wkt, t.c, t.f + patch * t.e, t.c + patch * t.a, t.f)


@dataclass(frozen=True)
class OwnSplit:
    """A patch's split and the blocks it was dealt from (``blocks`` None: a scene split, where
    the whole scene is the split's): the region its MTF context may come from."""

    name: str
    blocks: BlockSplit | None = None

    def foreign(self, scene: Scene, row0: int, col0: int, shape: tuple[int, int]) -> np.ndarray | None:
        """HR pixels of the ``shape`` window at ``(row0, col0)`` of the scene's HR grid that lie
        in another split's blocks (``None``: no pixel of the scene can)."""
        if self.blocks is None:
            return None
        t = scene.hr_transform
        x_edges = t.c + (col0 + np.arange(shape[1] + 1)) * t.a
        y_edges = t.f + (row0 + np.arange(shape[0] + 1)) * t.e
        return self.blocks.foreign(scene.crs_wkt, x_edges, y_edges, self.name)


@dataclass
class SceneCounts:
    """What happened to one scene's patches, and to the scene before them (for info.json)."""

    lst: str
    guidance: str
    lst_units: str = "kelvin"  # "celsius": converted to Kelvin on read
    lst_units_from: str = "option"  # what said the unit: "option" (--units), "tag" (the LST's unit tag), "values"
    candidates: int = 0
    dropped_nodata: int = 0
    dropped_split_boundary: int = 0
    patches: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})
    ingest: IngestRecord | None = None  # None: given as a GeoTIFF pair, not ingested by this run


def candidates_of(scene: Scene, opts: PrepareOptions) -> tuple[list[Candidate], int]:
    """Patches of ``scene`` with at most ``max_nodata`` nodata, and how many were dropped."""
    reg = scene.region
    offsets = patch_grid(reg.rows, reg.cols, opts.patch, opts.stride)
    if not offsets:
        return [], 0
    unit = count_unit(opts.patch, opts.stride)
    fractions = patch_nodata_fractions(nodata_cells(scene, unit), unit, offsets, opts.patch)
    kept = [
        Candidate(scene, reg.row0 + r, reg.col0 + c)
        for (r, c), frac in zip(offsets, fractions)
        if frac <= opts.max_nodata
    ]
    return kept, len(offsets) - len(kept)


def _context(candidate: Candidate, opts: PrepareOptions) -> tuple[int, int, int, int]:
    """HR pixels of context (top, bottom, left, right) around a patch for the MTF kernel.

    Multiples of every scale so each LR grid stays aligned with the patch; clipped to the
    scene region (the kernel is renormalised where context is missing; :func:`cut_patch` also
    treats pixels of other splits as missing).
    """
    if opts.degrade != "mtf":
        return 0, 0, 0, 0
    step = math.lcm(*opts.scales)
    margin = max(wald.mtf_margin(s) for s in opts.scales)
    margin = -(-margin // step) * step
    reg, p = candidate.scene.region, opts.patch

    def room(pixels: int) -> int:
        return min(margin, pixels // step * step)

    return (
        room(candidate.row_off - reg.row0),
        room(reg.row0 + reg.rows - candidate.row_off - p),
        room(candidate.col_off - reg.col0),
        room(reg.col0 + reg.cols - candidate.col_off - p),
    )


def cut_patch(
    candidate: Candidate,
    own: OwnSplit,
    lst_src: rasterio.DatasetReader,
    guidance_src: rasterio.DatasetReader,
    opts: PrepareOptions,
    ndmvi_minima: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """HR LST ``(P, P)``, HR guidance ``(K, P, P)`` and LR LST per scale for one patch.

    ``own`` is the patch's split: context pixels of other splits are nodata to the MTF kernel
    (renormalised over the rest), so no other split's LST reaches the LR LST.
    ``ndmvi_minima`` are the scene's (red, NIR) minima on the HR grid, for NDMVI.
    """
    scene, p = candidate.scene, opts.patch
    top, bottom, left, right = _context(candidate, opts)
    f_l, f_g = scene.lst_factor, scene.guidance_factor
    r0, c0 = candidate.row_off - top, candidate.col_off - left
    lst_window = Window(c0 * f_l, r0 * f_l, (p + left + right) * f_l, (p + top + bottom) * f_l)
    lst = scene.lst_reading.read(lst_src, lst_window, scene.lst_path)
    hr_context = _hr_lst(lst, f_l, opts.aggregate)
    hr = hr_context[top : top + p, left : left + p]
    source = _own_split_only(hr_context, own.foreign(scene, r0, c0, hr_context.shape))
    g_row, g_col = scene.guidance_offset
    guidance_window = Window(
        candidate.col_off * f_g + g_col, candidate.row_off * f_g + g_row, p * f_g, p * f_g
    )
    guidance = read_values(guidance_src, list(range(1, guidance_src.count + 1)), guidance_window,
                           scene.guidance_path)
    if f_g > 1:
        guidance = wald.degrade_guidance(guidance, f_g, scene.bands, ndmvi_minima)
    lr = {}
    for s in opts.scales:
        coarse = wald.degrade(
            source,
            s,
            method=opts.degrade,
            aggregate=opts.aggregate,
            propagate_nodata=opts.lr_nodata == "any",
        )
        lr[s] = coarse[top // s : (top + p) // s, left // s : (left + p) // s]
    return hr, guidance, lr


def _hr_lst(lst: np.ndarray, factor: int, aggregate: str) -> np.ndarray:
    """The LST area-averaged onto the HR grid by the rule the LR LST is degraded by
    (``aggregate``), so target and input differ by the scale alone (itself when native)."""
    if factor == 1:
        return lst
    return wald.degrade(lst, factor, method="area", aggregate=aggregate)


def _own_split_only(hr_context: np.ndarray, foreign: np.ndarray | None) -> np.ndarray:
    """The context with the pixels of other splits made nodata (itself when there are none)."""
    if foreign is None or not foreign.any():
        return hr_context
    return np.where(foreign, np.nan, hr_context).astype(hr_context.dtype)


def _check_consistent(scenes: Sequence[Scene]) -> None:
    first = scenes[0]
    names: dict[str, Path] = {}
    for scene in scenes:
        if scene.name in names:
            raise InputError(scene.lst_path, f"scene name {scene.name!r} also used by {names[scene.name]}")
        names[scene.name] = scene.lst_path
        if scene.bands != first.bands:
            missing = [b for b in first.bands if b not in scene.bands]
            extra = [b for b in scene.bands if b not in first.bands]
            problem = f"guidance bands differ from {first.guidance_path.name}'s"
            if missing:
                problem += f"; missing band(s) {missing}"
            if extra:
                problem += f"; unexpected {extra}"
            raise InputError(scene.guidance_path, problem, "all scenes need the same bands in the same order")
        if not math.isclose(scene.hr_resolution, first.hr_resolution, rel_tol=ALIGNMENT_TOLERANCE):
            raise InputError(
                scene.lst_path,
                f"native resolution {scene.hr_resolution:g} differs from {first.hr_resolution:g}",
                "give --hr-res",
            )


def assign_splits(candidates: Sequence[Candidate], opts: PrepareOptions) -> list[OwnSplit | None]:
    """Split of each candidate (``None``: dropped because it straddles two splits)."""
    if opts.split_by == "scene":
        names = split_by_scene([c.scene.name for c in candidates], opts.ratios, opts.seed)
        return [OwnSplit(name) for name in names]
    block = opts.block_pixels * candidates[0].scene.hr_resolution
    footprints = [c.footprint(opts.patch) for c in candidates]
    blocks = deal_blocks(footprints, block, opts.ratios, opts.seed)
    splits = [blocks.split_of(f) for f in footprints]
    return [None if name is None else OwnSplit(name, blocks) for name in splits]


ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SharedGuidance:
    """One guidance raster for every scene (an archive of dates over one place); with ``align``
    it is resampled onto each scene's LST grid first, as ``downscale --align`` does."""

    path: Path
    align: bool = False
    named: str | None = None  # how messages name it: as typed (``./g.tif``), else ``path``

    @property
    def shown(self) -> str:
        """The guidance as messages name it."""
        return self.named or str(self.path)


def prepare(
    lst_paths: Sequence[str | os.PathLike[str]],
    out: Path,
    opts: PrepareOptions,
    *,
    overwrite: bool = False,
    on_progress: ProgressHook | None = None,
    shown: Mapping[Path, str] | None = None,
    guidance: SharedGuidance | None = None,
    ingests: Mapping[Path, IngestRecord] | None = None,
) -> dict[str, Any]:
    """Build the dataset at ``out`` from canonical scenes; return the info.json content.

    ``on_progress(stage, done, total)`` reports ``"scenes scanned"``, ``"patches written"`` and
    ``"scenes written"``. Messages name an LST given as a str as typed (``./d//x_lst.tif``);
    info.json records it absolute. ``shown`` names scenes that are not the user's own files (scenes
    ingested from product folders into a temporary folder): messages and info.json use these
    names, never the temporary paths. ``ingests`` (by LST path, as :func:`scene_inputs` gives
    them) is what the ingest did to such scenes, for info.json. ``guidance`` is every scene's
    guidance instead of the ``NAME_guidance.tif`` beside each (aligned copies live beside
    ``out`` until the end).
    """
    opts.validate()
    check_writable(out, overwrite, kind=OutputKind.dataset)
    names = {Path(k): v for k, v in (shown or {}).items()}
    paths = [Path(p) for p in lst_paths]
    with streaming_gdal_env(), ExitStack() as stack:  # GDAL's default cache grew with the scene (1.3 GB at 600x5400)
        guidances, aligned_names = _scene_guidances(stack, paths, guidance, out)
        with named_as_given({**_temporary_names(names), **aligned_names}) as rename:
            scenes = _open_scenes(paths, opts, {**_typed_names(lst_paths), **names}, rename, guidances)
            _check_consistent(scenes)
            if opts.split_by == "scene" and len(scenes) < 2:
                raise InputError("--split-by", "a scene split needs several scenes", "use --split-by block")
            counts = _scene_counts(scenes, guidance, {Path(k): v for k, v in (ingests or {}).items()}, names)
            return _prepare_scenes(scenes, counts, out, opts, overwrite, on_progress, guidance)


def _typed_names(lst_paths: Sequence[str | os.PathLike[str]]) -> dict[Path, str]:
    """The LSTs given as a str, by path, as typed (``./d//x_lst.tif``, which pathlib folds to
    ``d/x_lst.tif``): the scene's name in messages, so that a user finds the path they gave."""
    return {Path(p): p for p in lst_paths if isinstance(p, str)}


def _scene_guidances(stack: ExitStack, paths: Sequence[Path], shared: SharedGuidance | None,
                     out: Path) -> tuple[dict[Path, Path], dict[str, str]]:
    """Each scene's guidance when one is shared (aligned copies entered on ``stack``), and how
    messages name the aligned copies."""
    if shared is None:
        return {}, {}
    if not shared.align:
        return {path: shared.path for path in paths}, {}
    from pipelines.guidance import pixel_size_ratio  # GDAL warping: only when asked

    guidances, names = {}, {}
    for path in paths:
        ratio = pixel_size_ratio(path, shared.path)
        if ratio < COARSER_GUIDANCE_RATIO:
            warnings.warn(f"{shared.shown} is coarser than the LST (pixel-size ratio {ratio:.2f}): interpolated "
                          "onto the LST grid, it holds no detail finer than its own pixels", GroklstWarning, stacklevel=2)
        # The HR grid is the LST's own: guidance about as fine as the LST (or coarser) goes onto
        # it, finer guidance onto the LST grid refined by the rounded ratio (as downscale --align).
        aligned = stack.enter_context(aligned_guidance(path, shared.path, out, max(1, round(ratio))))
        guidances[path] = aligned.path
        names[str(aligned.path)] = f"{shared.shown} (aligned onto {path.name})"
    return guidances, names


def _check_hr_within_scene(path: Path, hr_resolution: float | None, shown: str | None) -> None:
    """Refuse an ``--hr-res`` coarser than the LST's whole extent (``1e300`` was refused as "no
    overlap between the LST and the guidance"), naming the LST's own resolution."""
    if hr_resolution is None:
        return
    with open_raster(path) as lst:
        res = abs(lst.transform.a)
        extent = min(lst.width * res, lst.height * abs(lst.transform.e))
    if hr_resolution > extent:
        raise InputError("--hr-res", f"{hr_resolution:g} is coarser than the whole scene {shown or path} "
                         f"({lst.width} x {lst.height} pixels of {res:g} {resolution_units(lst.crs)})",
                         f"pass the LST's own {res:g} or a multiple of it, or leave --hr-res out")


def _open_scenes(paths: Sequence[Path], opts: PrepareOptions, names: Mapping[Path, str],
                 rename: Callable[[InputError], InputError], guidances: Mapping[Path, Path]) -> list[Scene]:
    """Every scene; one without a valid LST pixel is left out with a warning (unless all are)."""
    scenes, empty = [], []
    for path in paths:
        _check_hr_within_scene(path, opts.hr_resolution, names.get(path))
        try:
            scene = open_scene(path, hr_resolution=opts.hr_resolution, units=opts.units,
                               decoding=opts.decoding, shown=names.get(path),
                               guidance_path=guidances.get(path), band_names=opts.guidance_bands)
            check_distinct_bands(scene.guidance_path, scene.bands, DISTINCT_BANDS_HINT)
            scenes.append(scene)
        except EmptySceneError as exc:
            empty.append(rename(exc))
    if not scenes:
        if len(empty) == 1:
            raise empty[0]
        raise InputError(None, f"none of the {len(empty)} scenes has a valid LST pixel", "check the inputs")
    for exc in empty:
        warnings.warn(f"{exc}; the scene is left out", GroklstWarning, stacklevel=3)
    return scenes


def _scene_counts(scenes: Sequence[Scene], shared: SharedGuidance | None, ingests: Mapping[Path, IngestRecord],
                  ingested: Mapping[Path, str]) -> dict[str, SceneCounts]:
    """Each scene's info.json entry before any patch is counted: its files, unit and ingest
    (``ingested``: the scenes ingested from product folders, by LST path)."""
    return {s.name: SceneCounts(*_recorded_files(s, shared, s.lst_path in ingested), s.lst_reading.units.value,
                                s.lst_reading.units_from, ingest=ingests.get(s.lst_path)) for s in scenes}


def recorded_path(path: Path) -> str:
    """``path`` as info.json records it: absolute (a GDAL name as it is), so that it names the
    same file when the dataset is read from another folder, as the product folders, the DEM and
    the run's dataset in config.json are; messages name paths as typed instead."""
    return gdal_name(path) or str(path.resolve())


def _recorded_files(scene: Scene, shared: SharedGuidance | None, ingested: bool) -> tuple[str, str]:
    """The LST and guidance of ``scene`` as info.json records them (:func:`recorded_path`); an
    ingested scene by the product folders it came from, which its ``ingest`` lists absolute."""
    if ingested:
        return scene.shown, f"{scene.shown} (ingested guidance)"
    if shared is not None and shared.align:
        guidance = f"{recorded_path(shared.path)} (aligned onto {scene.lst_path.name})"
    else:
        guidance = recorded_path(scene.guidance_path)
    return recorded_path(scene.lst_path), guidance


def _prepare_scenes(scenes: Sequence[Scene], counts: dict[str, SceneCounts], out: Path, opts: PrepareOptions,
                    overwrite: bool, on_progress: ProgressHook | None,
                    shared: SharedGuidance | None) -> dict[str, Any]:
    candidates: list[Candidate] = []
    for n_scene, scene in enumerate(scenes, start=1):
        kept, dropped = candidates_of(scene, opts)
        counts[scene.name].candidates = len(kept) + dropped
        counts[scene.name].dropped_nodata = dropped
        candidates.extend(kept)
        if on_progress:
            on_progress("scenes scanned", n_scene, len(scenes))
    small = [s for s in scenes if min(s.region.rows, s.region.cols) < opts.patch]
    if not candidates:
        if len(small) == len(scenes):
            raise _smaller_than_the_patch(scenes, opts)
        raise InputError(
            scenes[0].shown if len(scenes) == 1 else None,
            f"no {opts.patch}x{opts.patch} patch with at most {opts.max_nodata:.0%} nodata "
            f"(all {sum(c.candidates for c in counts.values())} candidate patches have more)",
            "use a smaller --patch or a larger --max-nodata",
        )
    for scene in small:
        warnings.warn(f"{scene.shown}: the scene is smaller than the {opts.patch} px patch "
                      f"({_region_size(scene)}); no patch is taken from it", GroklstWarning, stacklevel=3)
    records: list[PatchRecord] = []
    chosen: list[tuple[Candidate, OwnSplit]] = []
    for candidate, own in zip(candidates, assign_splits(candidates, opts)):
        tally = counts[candidate.scene.name]
        if own is None:
            tally.dropped_split_boundary += 1
            continue
        tally.patches[own.name] += 1
        chosen.append((candidate, own))
        records.append(
            PatchRecord(
                candidate.scene.name, own.name, candidate.row_off, candidate.col_off,
                candidate.transform(), candidate.scene.crs_wkt,
            )
        )
    if not any(r.split == "train" for r in records):
        raise InputError("--split", "no patch landed in the train split", "use more scenes or a smaller --split-block")
    info = _info(counts, opts, scenes[0], shared)
    with atomic_output(out, overwrite=overwrite, kind=OutputKind.dataset, check=partial(check_written, out)) as tmp:
        writer = DatasetWriter(
            tmp, records, bands=scenes[0].bands, scales=opts.scales, patch=opts.patch,
            attrs=_store_attrs(opts, scenes[0]), band_units=_guidance_units(scenes),
        )
        _write_patches(writer, chosen, scenes, opts, on_progress)
        writer.finish(info)
        write_through(tmp, out)
    return info


def _region_size(scene: Scene) -> str:
    reg = scene.region
    return f"{reg.cols} x {reg.rows} HR pixels of {scene.hr_resolution:g} {resolution_units(scene.crs)}"


def _smaller_than_the_patch(scenes: Sequence[Scene], opts: PrepareOptions) -> InputError:
    """The error for scenes that are all smaller than one patch, with the patch size that fits."""
    largest = max(scenes, key=lambda s: min(s.region.rows, s.region.cols))
    step = math.lcm(*opts.scales)
    fits = min(largest.region.rows, largest.region.cols) // step * step
    where = f"{_region_size(largest)} where the LST and the guidance overlap"
    if len(scenes) == 1:
        problem = f"the scene is smaller than the {opts.patch} px patch ({where})"
    else:
        problem = f"every scene is smaller than the {opts.patch} px patch (the largest: {where})"
    hint = (f"use --patch {fits} or smaller (a multiple of {step})" if fits >= step
            else f"the scene is too small for x{max(opts.scales)}")
    return InputError(largest.shown, problem, hint)


def _temporary_names(shown: Mapping[Path, str]) -> dict[str, str]:
    """Temporary paths of ingested scenes (their files and folder) -> what to call them instead."""
    names: dict[str, str] = {}
    for lst, label in shown.items():
        if label == str(lst):
            continue
        name = lst.stem[: -len(LST_SUFFIX)] if lst.stem.endswith(LST_SUFFIX) else lst.stem
        names[str(lst)] = f"{label} (ingested LST)"
        names[str(lst.with_name(f"{name}{GUIDANCE_SUFFIX}{lst.suffix}"))] = f"{label} (ingested guidance)"
        names[str(lst.parent)] = label
    return names


@contextmanager
def named_as_given(names: Mapping[str, str]) -> Iterator[Callable[[InputError], InputError]]:
    """Report input errors with temporary paths replaced by the names the user knows.

    Yields the renaming function, for errors that are turned into warnings instead.
    """
    ordered = sorted(names.items(), key=lambda item: -len(item[0]))  # files before their folder

    def swap(text: str | None) -> str | None:
        if text is None:
            return None
        for temporary, given in ordered:
            text = text.replace(temporary, given)
        return text

    def rename(exc: InputError) -> InputError:
        if not ordered:
            return exc
        renamed = type(exc)(swap(exc.path), swap(exc.problem) or "", swap(exc.hint))
        renamed.__cause__ = exc.__cause__
        return renamed

    try:
        yield rename
    except InputError as exc:
        renamed = rename(exc)
        if renamed is exc:
            raise
        raise renamed from exc.__cause__


def _write_patches(
    writer: DatasetWriter,
    chosen: Sequence[tuple[Candidate, OwnSplit]],
    scenes: Sequence[Scene],
    opts: PrepareOptions,
    on_progress: ProgressHook | None,
) -> None:
    done = 0
    if on_progress:
        on_progress("scenes written", 0, len(scenes))
        on_progress("patches written", 0, len(chosen))
    for n_scene, scene in enumerate(scenes, start=1):
        mine = [(i, c, own) for i, (c, own) in enumerate(chosen) if c.scene is scene]
        minima = ndmvi_minima(scene) if mine else None
        with open_raster(scene.lst_path) as lst_src, open_raster(scene.guidance_path) as g_src:
            for index, candidate, own in mine:
                hr, guidance, lr = cut_patch(candidate, own, lst_src, g_src, opts, minima)
                writer.write(index, hr, guidance, lr)
                done += 1
                if on_progress:
                    on_progress("patches written", done, len(chosen))
        if on_progress:
            on_progress("scenes written", n_scene, len(scenes))


def _guidance_units(scenes: Sequence[Scene]) -> list[str]:
    """Each guidance band's unit tag where every scene's guidance file gives the same one, else ''
    (unknown): the store labels a band only with what its files say."""
    tagged = []
    for path in dict.fromkeys(s.guidance_path for s in scenes):
        with open_raster(path) as src:
            tagged.append([u or "" for u in src.units])
    return [units[0] if len(set(units)) == 1 else "" for units in zip(*tagged)]


def _store_attrs(opts: PrepareOptions, first: Scene) -> dict[str, Any]:
    return {
        "hr_resolution": first.hr_resolution,
        "hr_resolution_units": resolution_units(first.crs),
        "stride": opts.stride,
        "degrade": opts.degrade,
        "aggregate": opts.aggregate,
        "lr_nodata": opts.lr_nodata,
    }


def _info(counts: dict[str, SceneCounts], opts: PrepareOptions, first: Scene,
          shared: SharedGuidance | None) -> dict[str, Any]:
    totals = {s: sum(c.patches[s] for c in counts.values()) for s in SPLITS}
    settings = asdict(opts)
    settings["hr_resolution"] = first.hr_resolution
    settings["shared_guidance"] = None if shared is None else {"path": recorded_path(shared.path),
                                                               "aligned": shared.align}
    settings["split_block"] = opts.block_pixels if opts.split_by == "block" else None
    ingested = any(c.ingest is not None for c in counts.values())
    settings["ingest"] = opts.ingest.settings() if ingested else None  # null: no product folder given
    return {
        "source": "scenes",
        "bands": list(first.bands),
        "patches": totals,
        "total": sum(totals.values()),
        "dropped_nodata": sum(c.dropped_nodata for c in counts.values()),
        "dropped_split_boundary": sum(c.dropped_split_boundary for c in counts.values()),
        "scenes": {name: asdict(c) for name, c in counts.items()},
        "settings": settings,
    }


@contextmanager
def _warnings_recorded(label: str, named: bool, category: type[Warning]) -> Iterator[list[str]]:
    """Yields a list that, once the block ends, holds the messages of its warnings of
    ``category`` (an ingest's, for info.json). Every warning of the block is issued again, with
    ``named`` prefixed by ``label`` (which of several scenes it is about), also when it fails."""
    caught: list[warnings.WarningMessage] = []
    recorded: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield recorded
    finally:
        for item in caught:
            if issubclass(item.category, category):
                recorded.append(str(item.message))
            warnings.warn(f"{label}: {item.message}" if named else str(item.message), item.category, stacklevel=3)


def _mii_image_folders(folders: list[Path]) -> int:
    """How many of the product folders in ``folders`` hold MII images: the MII products that
    :func:`scene_inputs` groups folders by, found by file name alone (as reading finds them),
    before a product that fails to read (a damaged one among several scenes) stops the count;
    folders that hold no product count as one each, as their refusal will."""
    from pipelines import ingest, sdgsat

    try:
        found = ingest.product_folders(folders)
    except InputError:
        return len(folders)
    return sum(sdgsat.has_files(folder, sdgsat.PATTERNS.mii_images) for folder in found)


def scene_inputs(
    paths: Sequence[str | os.PathLike[str]], workdir: Path, how: ProductIngest = ProductIngest(),
    on_scenes: Callable[[int], None] | None = None,
) -> tuple[list[str | Path], dict[Path, str], dict[Path, IngestRecord]]:
    """Canonical LST paths from the command line; SDGSAT-1 product folders are ingested first.

    Folders given together that hold a single MII product (e.g. its TIS and MII folders, or
    one folder holding both) form one scene; otherwise each folder is one scene, ingested as
    ``how`` says. Ingested scenes are written into ``workdir`` (the caller removes it).
    ``on_scenes`` is told the number of scenes before any product is read, so that a
    command's messages can name its one scene or none.
    Returns the LST paths and, for ingested ones, the product folders to name them by
    (``prepare(shown=...)``) and what the ingest did to them (``prepare(ingests=...)``).
    """
    files: list[str | Path] = []  # an LST given as a str stays one: prepare names it as typed
    folders: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and gdal_name(path) is None:  # a GDAL name: opening it tells
            raise not_found_error(path)
        special = special_file_error(path)
        if special is not None:
            raise special
        if path.is_dir():
            folders.append(path)
        else:
            files.append(raw if isinstance(raw, str) else path)
    if on_scenes is not None:
        on_scenes(len(files) + (1 if _mii_image_folders(folders) == 1 else len(folders)))
    if not folders:
        return files, {}, {}
    from pipelines import ingest  # product reading is only needed for product folders
    from pipelines.sdgsat import zones_warned_when_paired

    shown: dict[Path, str] = {}
    ingests: dict[Path, IngestRecord] = {}
    with zones_warned_when_paired():  # an unread meta.xml zone: one warning, where TIS and MII are paired
        products = ingest.find_products(folders, tis_read=tis_bands_read(how.lst_method))  # single-channel: no B3
        groups = [folders] if sum(p.sensor == "MII" for p in products) == 1 else [[f] for f in folders]
        for n, group in enumerate(groups):
            label = ", ".join(str(f) for f in group)
            with (named_as_given({str(workdir / f"scene{n}"): f"{label} (ingesting)"}),
                  _warnings_recorded(label, len(groups) > 1, ingest.IngestWarning) as said):
                lst_path, guidance_path = ingest.ingest_product(group, workdir / f"scene{n}", **how.ingest_kwargs(),
                                                                dem_fill_note=dem_fill_note(ingest.DEFAULT_DEM_M))
            files.append(Path(lst_path))
            shown[Path(lst_path)] = label
            ingests[Path(lst_path)] = ingest_record(group, lst_path, guidance_path, said)
    return files, shown, ingests

"""Import of the public GrokLST benchmark (MATLAB files) into a prepared dataset.

The public layout::

    ROOT/30m/lst/*.mat        HR LST patches (Kelvin), variable ``data``
    ROOT/30m/guidance/*.mat   HR guidance, one variable per band: dem, deepblue, blue, green,
                              red, vre, nir, ndmvi, ndvi, ndwi
    ROOT/60m|120m|240m/lst/*.mat   LR LST for x2, x4, x8 (same file names)
    ROOT/split/train.txt, val.txt, test.txt   one entry per line: an index into the sorted
                              file list (as the public loader reads it) or a file stem

The benchmark carries no georeferencing: patches get an empty CRS and a 30 m pixel grid with
its origin at 0, 0, so they can still be written out, but not placed on a map.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from affine import Affine

from pipelines.atomic import OutputKind, atomic_output, check_writable
from pipelines.dataset import DatasetWriter, PatchRecord, check_written
from pipelines.degrade import block_mean
from pipelines.durable import write_through
from pipelines.errors import InputError
from pipelines.geotiff import refuse_band_values
from pipelines.lst_values import PLAUSIBLE_KELVIN, implausible_kelvin
from pipelines.patches import SPLITS

GROKLST_BANDS = ("dem", "deepblue", "blue", "green", "red", "vre", "nir", "ndmvi", "ndvi", "ndwi")
HR_RESOLUTION = 30
LST_FIELD = "data"
MAT_VALUES_HINT = "the file may be damaged: set those pixels to NaN (nodata) in the file, or leave the file out"


@dataclass(frozen=True)
class GrokLayout:
    """The files of one GrokLST benchmark folder."""

    root: Path
    names: list[str]  # file names, sorted, as in 30m/lst
    scales: list[int]
    splits: dict[str, list[int]]  # split -> indices into ``names``


def _mat_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.mat"))


def _split_entries(path: Path, names: Sequence[str]) -> list[int]:
    stems = {Path(n).stem: i for i, n in enumerate(names)}
    indices = []
    for line in path.read_text().split():
        entry = line.strip()
        if entry.isdigit() and int(entry) < len(names):
            indices.append(int(entry))
        elif Path(entry).stem in stems:
            indices.append(stems[Path(entry).stem])
        else:
            raise InputError(path, f"entry {entry!r} is neither a file index nor a file name of 30m/lst")
    return indices


def scan_layout(root: str | os.PathLike[str]) -> GrokLayout:
    """Find the HR files, the LR scales present and the split lists; clear errors otherwise."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(base, "GrokLST folder not found")
    names = _mat_names(base / f"{HR_RESOLUTION}m" / "lst")
    if not names:
        raise InputError(base / f"{HR_RESOLUTION}m" / "lst", "no .mat files", "is this the GrokLST data root?")
    guidance = _mat_names(base / f"{HR_RESOLUTION}m" / "guidance")
    if guidance != names:
        raise InputError(base / f"{HR_RESOLUTION}m" / "guidance", "file names differ from 30m/lst")
    scales = []
    for folder in sorted(base.glob("*m"), key=lambda p: p.name):
        res = folder.name[:-1]
        if not res.isdigit() or int(res) == HR_RESOLUTION or not (folder / "lst").is_dir():
            continue
        if int(res) % HR_RESOLUTION:
            raise InputError(folder, f"{res} m is not a multiple of {HR_RESOLUTION} m")
        if _mat_names(folder / "lst") != names:
            raise InputError(folder / "lst", "file names differ from 30m/lst")
        scales.append(int(res) // HR_RESOLUTION)
    if not scales:
        raise InputError(base, "no LR folder (60m, 120m or 240m) with lst/*.mat")
    splits = {}
    for split in SPLITS:
        path = base / "split" / f"{split}.txt"
        if not path.is_file():
            raise InputError(path, "split list not found", "the GrokLST layout has split/train.txt, val.txt, test.txt")
        splits[split] = _split_entries(path, names)
    return GrokLayout(base, names, sorted(scales), splits)


def _load(path: Path) -> dict[str, Any]:
    try:
        return scipy.io.loadmat(path)
    except Exception as exc:  # noqa: BLE001 - MatReadError, truncation, HDF5 (v7.3) files, ...
        raise InputError(path, f"not a readable .mat file ({type(exc).__name__})") from exc


def _field(path: Path, content: dict[str, Any], name: str) -> np.ndarray:
    if name not in content:
        raise InputError(path, f"missing band {name!r} (has {sorted(k for k in content if not k.startswith('__'))})")
    value = np.asarray(content[name], dtype=np.float32)
    if value.ndim != 2:
        raise InputError(path, f"variable {name!r} is not a 2-D array (shape {value.shape})")
    return value


def read_lst(path: Path) -> np.ndarray:
    """LST in Kelvin from variable ``data`` (or the file's only array); NaN = nodata.

    Refused unless every valid value is a plausible temperature in Kelvin (the rule of every
    LST read, :mod:`pipelines.lst_values`): a damaged or foreign file must not become training
    data. +-inf and values beyond float32's range are refused as in :func:`read_guidance`
    (they were nodata here, holes in the training data, while every other LST read refuses them).
    """
    content = _load(path)
    arrays = [k for k in content if not k.startswith("__")]
    name = LST_FIELD if LST_FIELD in content else (arrays[0] if len(arrays) == 1 else LST_FIELD)
    _refuse_unusable(path, content, name, "surface temperature")
    lst = _field(path, content, name)
    found = implausible_kelvin(lst)
    if found is not None:
        lo, hi = PLAUSIBLE_KELVIN
        raise InputError(path, f"LST values {found[1]:.6g}..{found[2]:.6g} are not all plausible "
                               f"temperatures in Kelvin ({lo:g}..{hi:g} K)",
                         "GrokLST stores Kelvin: the file may be damaged or from another dataset")
    return lst.astype(np.float32)


def read_guidance(path: Path) -> np.ndarray:
    """The ten guidance bands ``(10, H, W)`` in GrokLST order; NaN is nodata, +-inf and values
    beyond float32's range are refused (:func:`refuse_band_values`): they reached hole filling
    and the model as they were."""
    content = _load(path)
    for band in GROKLST_BANDS:
        _refuse_unusable(path, content, band)
    return np.stack([_field(path, content, band) for band in GROKLST_BANDS])


def _refuse_unusable(path: Path, content: dict[str, Any], name: str,
                     quantity: str = "reflectance, elevation or index") -> None:
    """Refuse +-inf and values beyond float32's range in variable ``name`` (holding ``quantity``)
    as stored (:func:`refuse_band_values`), before :func:`_field` narrows it to float32."""
    stored = np.asarray(content.get(name, ()))
    if stored.dtype.kind in "fiu" and stored.ndim == 2:  # others: refused by _field
        refuse_band_values(path, f"band {name!r}", stored, hint=MAT_VALUES_HINT, quantity=quantity)


def _on_hr_grid(guidance: np.ndarray, patch: int) -> np.ndarray:
    """Area-average guidance that is an integer factor finer than the HR LST onto its grid."""
    rows = guidance.shape[1]
    if rows != patch and rows % patch == 0 and guidance.shape[2] == rows:
        return block_mean(guidance, rows // patch)
    return guidance


def import_groklst(
    root: str | os.PathLike[str],
    out: Path,
    *,
    overwrite: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the benchmark at ``root`` as a prepared dataset at ``out``; return info.json."""
    check_writable(out, overwrite, kind=OutputKind.dataset)
    layout = scan_layout(root)
    order = [(i, split) for split in SPLITS for i in layout.splits[split]]
    order.sort()
    shape = read_lst(layout.root / f"{HR_RESOLUTION}m" / "lst" / layout.names[0]).shape
    if shape[0] != shape[1]:
        raise InputError(layout.root / f"{HR_RESOLUTION}m" / "lst" / layout.names[0], f"patches must be square, got {shape}")
    patch = shape[0]
    bad = [s for s in layout.scales if patch % s]
    if bad:
        raise InputError(layout.root, f"patch size {patch} is not a multiple of scale(s) {bad}")
    transform = Affine(HR_RESOLUTION, 0.0, 0.0, 0.0, -HR_RESOLUTION, 0.0)
    records = [PatchRecord(Path(layout.names[i]).stem, split, 0, 0, transform, "") for i, split in order]
    info = {
        "source": "groklst",
        "root": str(layout.root),
        "bands": list(GROKLST_BANDS),
        "patches": {s: sum(1 for _, sp in order if sp == s) for s in SPLITS},
        "total": len(order),
        "dropped_nodata": 0,
        "dropped_split_boundary": 0,
        "not_in_any_split": len(layout.names) - len({i for i, _ in order}),
        "files": [layout.names[i] for i, _ in order],
        "settings": {"scales": layout.scales, "patch": patch, "hr_resolution": float(HR_RESOLUTION)},
    }
    if len({i for i, _ in order}) != len(order):
        raise InputError(layout.root / "split", "a file is listed in more than one split")
    attrs = {"hr_resolution": float(HR_RESOLUTION), "hr_resolution_units": "m", "stride": patch,
             "degrade": "groklst"}
    with atomic_output(out, overwrite=overwrite, kind=OutputKind.dataset, check=partial(check_written, out)) as tmp:
        writer = DatasetWriter(tmp, records, bands=GROKLST_BANDS, scales=layout.scales, patch=patch, attrs=attrs)
        for index, (i, _) in enumerate(order):
            name = layout.names[i]
            hr = read_lst(layout.root / f"{HR_RESOLUTION}m" / "lst" / name)
            guidance = _on_hr_grid(read_guidance(layout.root / f"{HR_RESOLUTION}m" / "guidance" / name), patch)
            if hr.shape != (patch, patch) or guidance.shape[1:] != (patch, patch):
                raise InputError(layout.root / f"{HR_RESOLUTION}m" / "lst" / name, f"shape differs from {patch}x{patch}")
            lr = {}
            for s in layout.scales:
                path = layout.root / f"{s * HR_RESOLUTION}m" / "lst" / name
                lr[s] = read_lst(path)
                if lr[s].shape != (patch // s, patch // s):
                    raise InputError(path, f"shape {lr[s].shape} is not the HR shape / {s}")
            writer.write(index, hr, guidance, lr)
            if on_progress:
                on_progress("patches written", index + 1, len(order))
        writer.finish(info)
        write_through(tmp, out)
    return info

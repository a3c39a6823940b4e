"""What makes a prepared dataset the one a run trained on, wherever it lies.

A run records its dataset's identity in ``config.json``; ``train --resume`` compares it with
the dataset it is given. The identity is the content a run depends on, not the path: the
bands, scales and patch size, the normalisation statistics (what the weights were learned
with), each split's patch list and the values of its patches (what validation scores and
``best.pt`` compare on: a dataset made again from changed scenes can keep the same lists and,
when only val or test pixels changed, the same statistics). A dataset moved elsewhere, or made
again by ``prepare --overwrite`` from the same scenes and settings, has the same identity; one
prepared from other scenes or with another split has not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import zarr

from pipelines.dataset import STORE, PreparedDataset, store_path
from pipelines.patches import SPLITS

# How each part of the identity is named when it differs.
_PARTS = {"bands": "bands", "scales": "scales", "patch": "patch size", "stats": "statistics",
          **{f"split_{name}": f"{name} split" for name in SPLITS},
          **{f"content_{name}": f"{name} patch values" for name in SPLITS}}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _patch_arrays(ds: PreparedDataset) -> list[zarr.Array]:
    """The arrays holding each patch's pixels: HR LST, guidance, then LR LST at each scale."""
    group = zarr.open_group(store_path(ds.path), mode="r")
    return [group[name] for name in ("hr_lst", "guidance", *(f"lr_lst_x{s}" for s in ds.scales))]


def _chunk_file(ds: PreparedDataset, array: zarr.Array, index: int) -> Path:
    """The file of patch ``index``'s chunk of ``array`` (one chunk per patch)."""
    return ds.path / STORE / array.path / array.metadata.encode_chunk_key((index,) + (0,) * (array.ndim - 1))


def _content_digest(ds: PreparedDataset, indices: Sequence[int]) -> str:
    """Digest of the stored chunks of the patches at ``indices``, read one file at a time.

    The compressed bytes, not the decoded values: several times cheaper (no decoding), and the
    same for a moved copy or a dataset made again with the same groklst and zarr (the codec is
    deterministic); one made again with another codec version may differ, and is then refused.
    """
    arrays = _patch_arrays(ds)
    digest = hashlib.sha256()
    for index in indices:
        for array in arrays:
            data = _chunk_file(ds, array, index).read_bytes()
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()[:16]


def dataset_identity(ds: PreparedDataset) -> dict[str, Any]:
    """The identity of ``ds`` as JSON-ready values (digests for statistics, splits and patches)."""
    return {**_listed_parts(ds), **{f"content_{name}": _content_digest(ds, ds.indices(name)) for name in SPLITS}}


def _listed_parts(ds: PreparedDataset) -> dict[str, Any]:
    """The identity but the patch values: settings, statistics and split lists (no pixel read)."""
    return {"bands": list(ds.bands), "scales": list(ds.scales), "patch": ds.patch,
            "stats": _digest(asdict(ds.stats)),
            **{f"split_{name}": _digest(ds.indices(name)) for name in SPLITS}}


def identity_differences(recorded: Mapping[str, Any], ds: PreparedDataset) -> list[str]:
    """The parts of ``ds``'s identity that differ from ``recorded`` (empty: the same dataset).

    A split's patch values are compared only when the run recorded them (a run recorded before
    they were is compared on the other parts) and the split lists the same patches (another list
    is already a difference): no pixel is read in vain.
    """
    current = _listed_parts(ds)
    for name in SPLITS:
        key = f"content_{name}"
        if key in recorded and recorded.get(f"split_{name}") == current[f"split_{name}"]:
            current[key] = _content_digest(ds, ds.indices(name))
    return [label for key, label in _PARTS.items() if key in current and recorded.get(key) != current[key]]

"""What makes a prepared dataset the one a run trained on, wherever it lies.

A run records its dataset's identity in ``config.json``; ``train --resume`` compares it with
the dataset it is given. The identity is the content a run depends on, not the path: the
bands, scales and patch size, the normalisation statistics (what the weights were learned
with) and each split's patches (what validation scores and ``best.pt`` compare on). A dataset
moved elsewhere, or made again by ``prepare --overwrite`` from the same scenes and settings,
has the same identity; one prepared from other scenes or with another split has not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from pipelines.dataset import PreparedDataset
from pipelines.patches import SPLITS

# How each part of the identity is named when it differs.
_PARTS = {"bands": "bands", "scales": "scales", "patch": "patch size", "stats": "statistics",
          **{f"split_{name}": f"{name} split" for name in SPLITS}}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def dataset_identity(ds: PreparedDataset) -> dict[str, Any]:
    """The identity of ``ds`` as JSON-ready values (digests for statistics and splits)."""
    return {"bands": list(ds.bands), "scales": list(ds.scales), "patch": ds.patch,
            "stats": _digest(asdict(ds.stats)),
            **{f"split_{name}": _digest(ds.indices(name)) for name in SPLITS}}


def identity_differences(recorded: Mapping[str, Any], ds: PreparedDataset) -> list[str]:
    """The parts of ``ds``'s identity that differ from ``recorded`` (empty: the same dataset)."""
    current = dataset_identity(ds)
    return [label for key, label in _PARTS.items() if recorded.get(key) != current[key]]

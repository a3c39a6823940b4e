"""JSON text every tool can parse: NaN and infinities, which JSON has no value for, become null.

Python's ``json.dumps`` writes ``NaN`` for a metric that could not be computed (the
correlation of a constant raster, an R² without data); ``jq`` and most JSON parsers refuse
the whole line then. Every JSON groklst writes goes through :func:`dumps`.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float, however deeply nested, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``value`` with non-finite floats as null (strict JSON)."""
    return json.dumps(finite_or_null(value), allow_nan=False, **kwargs)

"""strict_json: what groklst writes as JSON parses everywhere (no NaN or Infinity tokens)."""

from __future__ import annotations

import json

import numpy as np

from pipelines import strict_json


def test_non_finite_floats_become_null_at_any_depth() -> None:
    value = {"a": float("nan"), "b": [1.0, float("inf"), {"c": np.float64("-inf"), "d": 2}], "e": (np.nan,), "f": "x"}
    text = strict_json.dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, {"c": None, "d": 2}], "e": [None], "f": "x"}
    assert strict_json.dumps({"g": 0.25}, indent=2) == json.dumps({"g": 0.25}, indent=2)

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


def test_lone_surrogates_become_u_fffd_as_in_error_messages() -> None:
    """QA: a path that is not UTF-8 (byte 0xff, U+DCFF after surrogateescape) was written as
    "\\udcff", which serde_json refuses and Python cannot encode; the same line's error said
    U+FFFD. Undecodable bytes read as printable_path shows them, keys included."""
    import os

    from pipelines.errors import printable_path

    odd = os.fsdecode(b"nu/x\xff_lst.tif")
    text = strict_json.dumps({"input": odd, odd: [odd, "a\ud800b"], "ok": "é"})
    assert "\\ud" not in text
    text.encode("utf-8")
    assert json.loads(text) == {"input": "nu/x\ufffd_lst.tif", "nu/x\ufffd_lst.tif": ["nu/x\ufffd_lst.tif", "a\ufffdb"],
                                "ok": "é"}
    for raw in (b"\xff", b"\xe2\x82", b"a\xc3(b", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80\xff\xfe\xc3\xa9"):
        assert strict_json.well_formed(os.fsdecode(raw)) == printable_path(os.fsdecode(raw)), raw
    assert strict_json.dumps({"a": "é"}, ensure_ascii=False) == '{"a": "é"}'

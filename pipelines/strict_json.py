"""JSON text every tool can parse: no NaN or infinities, no lone surrogates.

Python's ``json.dumps`` writes ``NaN`` for a metric that could not be computed (the
correlation of a constant raster, an R² without data); ``jq`` and most JSON parsers refuse
the whole line then: non-finite floats become null. A path that is not UTF-8 reaches Python
as a string with lone surrogates (``surrogateescape``: byte 0xff is U+DCFF), which
``json.dumps`` writes as ``"\\udcff"``: JSON that strict parsers (Rust's serde_json) refuse and
that Python cannot encode again. Such strings are written as :func:`printable_path` shows
them in error messages, undecodable bytes as U+FFFD. Every JSON groklst writes goes
through :func:`dumps`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")  # what surrogateescape made of undecodable bytes
_SURROGATES = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """``text`` without lone surrogates: bytes escaped by ``surrogateescape`` decoded as
    UTF-8 with U+FFFD for what is not (as in error messages), any other surrogate U+FFFD."""
    if not _SURROGATES.search(text):
        return text
    text = _ESCAPED_BYTES.sub(
        lambda match: bytes(ord(char) - 0xDC00 for char in match.group()).decode("utf-8", "replace"),
        text,
    )
    return _SURROGATES.sub("\ufffd", text)


def strict(value: Any) -> Any:
    """``value`` with every non-finite float, however deeply nested, replaced by None and every
    string (keys too) made :func:`well_formed`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, dict):
        return {well_formed(key) if isinstance(key, str) else key: strict(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


finite_or_null = strict  # the name it had when only floats were made strict


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``value`` made :func:`strict`: non-finite floats as null, strings
    without lone surrogates (strict JSON)."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)

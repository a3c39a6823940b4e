"""``tomllib`` on every supported Python: the standard library from 3.11, ``tomli`` on 3.10."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

__all__ = ["tomllib"]

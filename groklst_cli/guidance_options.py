"""``--guidance-bands``: naming a guidance file's bands, the same way in every command."""

from __future__ import annotations

from typing import Any, Optional

import typer

from pipelines.errors import InputError


def guidance_bands_option() -> Any:
    return typer.Option(None, "--guidance-bands", help="Names of the guidance file's bands in file order, comma-separated (instead of its band descriptions).")


def band_list(text: Optional[str]) -> Optional[tuple[str, ...]]:
    """The names ``--guidance-bands`` gives, lower-case; refused when empty or repeated."""
    if text is None:
        return None
    names = tuple(n.strip().lower() for n in text.split(","))
    if not all(names) or len(set(names)) != len(names):
        raise InputError("--guidance-bands", f"{text!r} must be distinct comma-separated names",
                         "e.g. --guidance-bands dem,deepblue,blue,green,red,vre,nir,ndmvi,ndvi,ndwi")
    return names

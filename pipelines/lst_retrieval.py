"""Approximate LST from SDGSAT-1 TIS brightness temperatures.

Split window on TIS B2 (10.73 um, ``t2``) and B3 (11.72 um, ``t3``), in the generalised form
of Jiménez-Muñoz & Sobrino (2008, doi:10.1109/LGRS.2008.2001636)::

    LST = t2 + c1 (t2 - t3) + c2 (t2 - t3)^2 + c0 + (c3 + c4 w)(1 - e) + (c5 + c6 w) de

with ``e = (e2 + e3) / 2``, ``de = e2 - e3`` and ``w`` the total column water vapour (g cm-2).
SDGSAT-1-specific coefficients are not openly published, so they come from a TOML file; the
defaults are the published Landsat-8 TIRS B10/B11 values (Jiménez-Muñoz et al. 2014,
doi:10.1109/LGRS.2013.2294563), whose bands are close to TIS B2/B3. Results are approximate
and ingest tags them so. TOML layout (every key optional, defaults shown)::

    [split_window]
    c = [-0.268, 1.378, 0.183, 54.30, -2.238, -129.20, 16.40]  # c0..c6
    water_vapour = 1.5        # g cm-2, scene-wide; or the path of a single-band GeoTIFF of it
                              # (relative to this file's folder; ~ is the home folder), read on the LST grid
    # water_vapour_units = "kg/m2"  # the raster's: any word of UNIT_WORDS, as its band unit tag
                              # may say it ("g/cm2", "cm"; "kg/m2", "kg m**-2", "mm" = ERA5 TCWV);
                              # left out: its band unit tag, else g/cm2
    check_coefficients = true # false: accept c however far its LST is from the defaults' on the
                              # probe surfaces (PROBE_*); ingest then tags and warns it unchecked

    [emissivity]              # NDVI-threshold method (Sobrino et al. 2004)
    ndvi_soil = 0.2           # NDVI below: bare soil
    ndvi_vegetation = 0.5     # NDVI above: full vegetation
    ndwi_water = 0.0          # NDWI above: water
    soil = [0.971, 0.977]     # TIS B2, B3
    vegetation = [0.987, 0.989]
    water = [0.991, 0.986]
    cavity = 0.55             # geometric factor F of the cavity term

Single-channel fallback without atmospheric correction (one band, no coefficients):
``LST = t / (1 + (lambda t / rho) ln e)`` with rho = 14388 um K.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from pipelines.errors import InputError, not_found_error, unreachable_error
from pipelines.toml_compat import tomllib

RHO_UM_K = 14388.0  # h c / k_B in um K


@dataclass(frozen=True)
class RetrievalConfig:
    """Split-window coefficients, water vapour and emissivity parameters."""

    c: tuple[float, ...] = (-0.268, 1.378, 0.183, 54.30, -2.238, -129.20, 16.40)
    water_vapour: float | Path = 1.5  # g cm-2 scene-wide, or a raster of it (pipelines.water_vapour)
    water_vapour_units: str | None = None  # the raster's; None: its band unit tag, else g/cm2
    ndvi_soil: float = 0.2
    ndvi_vegetation: float = 0.5
    ndwi_water: float = 0.0
    soil: tuple[float, float] = (0.971, 0.977)
    vegetation: tuple[float, float] = (0.987, 0.989)
    water: tuple[float, float] = (0.991, 0.986)
    cavity: float = 0.55
    check_coefficients: bool = True  # compare c with the defaults on the probe surfaces (PROBE_*)

    @property
    def water_vapour_raster(self) -> Path | None:
        """The water vapour raster the config names, None where it gives a number: a file the
        retrieval reads, so no output may replace it."""
        return self.water_vapour if isinstance(self.water_vapour, Path) else None


_SECTIONS = {"split_window": ("c", "water_vapour", "water_vapour_units", "check_coefficients"),
             "emissivity": ("ndvi_soil", "ndvi_vegetation", "ndwi_water", "soil", "vegetation", "water", "cavity")}


def load_config(path: str | Path | None) -> RetrievalConfig:
    """Read a retrieval TOML (see module docstring); ``None`` gives the documented defaults."""
    if path is None:
        return RetrievalConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise not_found_error(path) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise unreachable_error(path) or InputError(path, f"not a readable TOML file ({exc})") from exc
    values: dict[str, object] = {}
    for section, table in data.items():
        if section not in _SECTIONS or not isinstance(table, dict):
            raise InputError(path, f"unknown section [{section}]", "expected [split_window] and [emissivity]")
        for key, value in table.items():
            if key not in _SECTIONS[section]:
                raise InputError(path, f"unknown key {key!r} in [{section}]", f"expected one of {_SECTIONS[section]}")
            values[key] = _parsed(path, section, key, value)
    defaults = RetrievalConfig()
    for spec in fields(RetrievalConfig):
        expected = len(getattr(defaults, spec.name)) if isinstance(getattr(defaults, spec.name), tuple) else None
        got = values.get(spec.name)
        if got is not None and (expected is not None) != isinstance(got, tuple):
            raise InputError(path, f"{spec.name} must be {'a list' if expected else 'a number'}")
        if expected is not None and got is not None and len(got) != expected:
            raise InputError(path, f"{spec.name} needs {expected} values, got {len(got)}")
    config = RetrievalConfig(**values)
    _check_water_vapour_raster(path, config)
    _check_ranges(path, config)
    if config.check_coefficients:
        _check_coefficients(path, config.c)
    return config


TO_G_CM2 = {"g/cm2": 1.0, "kg/m2": 0.1}  # 1 kg m-2 = 1 mm of precipitable water = 0.1 g cm-2
# The one table of water vapour unit words, read for both the TOML's water_vapour_units and a
# raster's band unit tag: the word (spaces, "^" and "**" removed, lower case) -> a key of
# TO_G_CM2. "cm": MODIS MOD05 precipitable water, 1 cm of liquid water = 1 g cm-2.
UNIT_WORDS = {"g/cm2": "g/cm2", "gcm-2": "g/cm2", "cm": "g/cm2", "kg/m2": "kg/m2", "kgm-2": "kg/m2", "mm": "kg/m2"}


def water_vapour_units(word: str) -> str | None:
    """The unit (a key of ``TO_G_CM2``) a unit word names, ``None`` for an unknown one."""
    key = word.strip().lower().replace(" ", "").replace("**", "").replace("^", "").replace("²", "2")
    return UNIT_WORDS.get(key)


def unit_words() -> str:
    """The accepted unit words grouped by the unit they name, for an error's hint."""
    groups = [", ".join(f'"{w}"' for w, u in UNIT_WORDS.items() if u == unit) + f" ({unit})" for unit in TO_G_CM2]
    return " or ".join(groups) + '; spaces, "^" and "**" are ignored (kg/m2 = mm, as ERA5 TCWV)'


def _parsed(path: Path, section: str, key: str, value: object) -> float | tuple[float, ...] | Path | str | bool:
    """One TOML value as the config holds it: a number or list of numbers, the water vapour
    raster's path (relative to the TOML's folder), its units (normalised as a band unit tag
    is, so "cm" reads as "g/cm2") or the check_coefficients switch. A boolean elsewhere is
    refused: Python reads ``true`` as 1.0, which would pass silently."""
    if key == "check_coefficients":
        if not isinstance(value, bool):
            raise InputError(path, f"check_coefficients in [{section}] must be true or false, got {_toml_text(value)}",
                             "write true or false, unquoted")
        return value
    if key == "water_vapour" and isinstance(value, str):
        return path.parent / Path(value).expanduser()  # "~/tcwv.tif": the home folder, not the TOML's
    if key == "water_vapour_units":
        units = water_vapour_units(value) if isinstance(value, str) else None
        if units is None:
            raise InputError(path, f"water_vapour_units in [split_window] is {_toml_text(value)}, not a unit "
                             "groklst knows", f"use one of {unit_words()}")
        return units
    items = value if isinstance(value, list) else [value]
    if any(isinstance(v, bool) for v in items):
        shown = "[" + ", ".join(_toml_text(v) for v in items) + "]" if isinstance(value, list) else _toml_text(value)
        raise InputError(path, f"{key} in [{section}] must be {'numbers' if isinstance(value, list) else 'a number'}"
                         f", got {shown}")
    try:
        return tuple(float(v) for v in items) if isinstance(value, list) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"{key} in [{section}] must be numeric, got {value!r}") from exc


def _toml_text(value: object) -> str:
    """A TOML value as typed (``true``, ``0.9``)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _check_water_vapour_raster(path: Path, config: RetrievalConfig) -> None:
    """Refuse units given for a scalar water vapour (they only describe a raster) and a raster
    path that does not exist, before any product is read."""
    raster = config.water_vapour
    if not isinstance(raster, Path):
        if config.water_vapour_units is not None:
            raise InputError(path, "water_vapour_units in [split_window] describes a water vapour raster, "
                             f"but water_vapour is the number {raster:g}",
                             'give the number in g/cm2, or water_vapour = "tcwv.tif" (a path)')
        return
    if not raster.is_file():
        raise unreachable_error(raster) or InputError(
            path, f"water_vapour in [split_window] names {raster}, which is not a file",
            "give the path of a single-band GeoTIFF, relative to this TOML's folder")


# Probe surfaces spanning typical land: band difference T2 - T3, mean emissivity e, emissivity
# difference de and column water vapour w (g cm-2). The LST is bilinear in w and (e, de), so the
# corners bound those, and quadratic in T2 - T3, sampled every 1 K. Configured coefficients are
# compared with the defaults on every probe (T2 cancels out): a misplaced or badly scaled one (the
# list reversed; c1, c2, c3, c5 or c6 ten times too large; c4 or c5 sign-flipped and scaled) moves
# some probe's LST by tens of K, while a refit that shifts c0 by 2 K or flips c5 alone (5.2 K) passes.
PROBE_K = 300.0  # T2 of the probes
PROBE_DIFFERENCE_K = tuple(float(d) for d in np.arange(-5.0, 5.5, 1.0))
PROBE_EMISSIVITY = (0.95, 0.99)
PROBE_EMISSIVITY_DIFFERENCE = (-0.02, 0.0, 0.02)
PROBE_WATER_VAPOUR = (0.0, 6.0)
PROBE_TOLERANCE_K = 10.0


def _probes() -> tuple[np.ndarray, ...]:
    """(T2 - T3, e2, e3, w) of every probe surface, flattened."""
    d, e, de, w = (a.ravel() for a in np.meshgrid(PROBE_DIFFERENCE_K, PROBE_EMISSIVITY,
                                                   PROBE_EMISSIVITY_DIFFERENCE, PROBE_WATER_VAPOUR))
    return d, e + de / 2.0, e - de / 2.0, w


@dataclass(frozen=True)
class ProbeDeparture:
    """The probe surface where coefficients' LST is farthest from the defaults', and both LSTs."""

    surface: str
    found_k: float
    default_k: float


def probe_departure(c: tuple[float, ...]) -> ProbeDeparture:
    """Where on the probe surfaces (see ``PROBE_*``) the LST of ``c`` is farthest from the defaults'."""
    d, e2, e3, w = _probes()
    found = split_window(PROBE_K, PROBE_K - d, e2, e3, RetrievalConfig(c=c), w)
    expected = split_window(PROBE_K, PROBE_K - d, e2, e3, RetrievalConfig(), w)
    worst = int(np.argmax(np.abs(found - expected)))
    surface = (f"T2 = {PROBE_K:g} K, T3 = {PROBE_K - d[worst]:g} K, emissivities {e2[worst]:g} and "
               f"{e3[worst]:g}, water vapour {w[worst]:g} g/cm2")
    return ProbeDeparture(surface, float(found[worst]), float(expected[worst]))


def _check_coefficients(path: Path, c: tuple[float, ...]) -> None:
    """Refuse split-window coefficients whose LST on some probe surface is more than
    ``PROBE_TOLERANCE_K`` from the defaults' LST there, naming the worst probe and the key that
    accepts them (a published set for other atmospheres may differ that much on purpose)."""
    worst = probe_departure(c)
    if abs(worst.found_k - worst.default_k) > PROBE_TOLERANCE_K:
        raise InputError(path, f"c in [split_window] is {_shown(c)}, which gives a probe surface ({worst.surface}) an "
                         f"LST of {worst.found_k:.1f} K where the default coefficients give {worst.default_k:.1f} K, "
                         f"more than {PROBE_TOLERANCE_K:g} K apart",
                         f"check the order (c0..c6), signs and units (K, water vapour in g/cm2), e.g. the default "
                         f"{_shown(RetrievalConfig().c)}; if these are the coefficients you mean, set "
                         "check_coefficients = false in [split_window]")


def unchecked_coefficients(config: RetrievalConfig) -> str | None:
    """What ingest tags and warns when ``check_coefficients = false`` (None when they were
    checked): that c was not compared with the defaults, and its worst probe departure, so that
    the choice shows in the output."""
    if config.check_coefficients:
        return None
    worst = probe_departure(config.c)
    return (f"c not checked against the default coefficients (check_coefficients = false in [split_window]); "
            f"its LST is {worst.found_k - worst.default_k:+.1f} K from theirs on the farthest of the "
            f"{_probes()[0].size} probe surfaces ({worst.surface}: {worst.found_k:.1f} K, "
            f"defaults {worst.default_k:.1f} K)")


# Physically possible values, key -> (low, high, low excluded, what the key is). A value outside
# gives a plausible-looking but meaningless LST (QA: soil emissivity 1.2 still gave 290-323 K).
_BOUNDS: dict[str, tuple[float, float, bool, str]] = {
    # Column water vapour cannot be negative, and the wettest tropical columns hold about
    # 7 g cm-2; 8 leaves margin. Split-window coefficients are fitted to simulated atmospheres
    # inside this span, so a value beyond it extrapolates the fit.
    "water_vapour": (0.0, 8.0, False, "column water vapour, g/cm2"),
    # NDVI and NDWI are normalised differences, so they cannot leave [-1, 1].
    "ndvi_soil": (-1.0, 1.0, False, "an NDVI"),
    "ndvi_vegetation": (-1.0, 1.0, False, "an NDVI"),
    "ndwi_water": (-1.0, 1.0, False, "an NDWI"),
    # Emissivity cannot exceed 1 (a black body); at 10-12 um natural land and water surfaces
    # stay above 0.8, and lower values come from a unit or band mix-up.
    "soil": (0.8, 1.0, True, "a TIS B2/B3 emissivity"),
    "vegetation": (0.8, 1.0, True, "a TIS B2/B3 emissivity"),
    "water": (0.8, 1.0, True, "a TIS B2/B3 emissivity"),
    # F is the geometric factor of the cavity term (1 - es) ev F (1 - Pv), not the term itself
    # (Sobrino et al. 2004: F in [0, 1], mean 0.55); F <= 1 keeps the mixed emissivity <= 1.
    "cavity": (0.0, 1.0, False, "the cavity term's geometric factor F"),
}


def _section(key: str) -> str:
    """The TOML table ``key`` is read from, for the error line (``split_window``, ``emissivity``)."""
    return next(name for name, keys in _SECTIONS.items() if key in keys)


def _check_ranges(path: Path, config: RetrievalConfig) -> None:
    """Refuse values no real surface or atmosphere has (see ``_BOUNDS``) and NaN or infinite
    coefficients, naming the key, the value found and the allowed range."""
    defaults = RetrievalConfig()
    for key in ("c", *_BOUNDS):
        value = getattr(config, key)
        if isinstance(value, Path):  # a water vapour raster: its values are checked when read
            continue
        if not np.all(np.isfinite(value)):
            raise InputError(path, f"{key} in [{_section(key)}] is {_shown(value)}, not finite",
                             f"finite numbers, e.g. the default {_shown(getattr(defaults, key))}")
    for key, (low, high, low_open, meaning) in _BOUNDS.items():
        value = getattr(config, key)
        if isinstance(value, Path):
            continue
        allowed = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        if any((v <= low if low_open else v < low) or v > high for v in np.atleast_1d(value)):
            what = "values" if isinstance(value, tuple) else "a value"
            raise InputError(path, f"{key} in [{_section(key)}] is {_shown(value)}, outside {allowed} for {meaning}",
                             f"{what} in {allowed}, e.g. the default {_shown(getattr(defaults, key))}")
    if config.ndvi_soil >= config.ndvi_vegetation:
        raise InputError(path, f"ndvi_soil ({config.ndvi_soil:g}) in [emissivity] is not below "
                         f"ndvi_vegetation ({config.ndvi_vegetation:g})",
                         "a soil threshold below the vegetation one, e.g. the defaults 0.2 and 0.5")


def _shown(value: float | tuple[float, ...]) -> str:
    """A number or list as typed in TOML (``1.2``, ``[1.2, 1.3]``)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return f"{value:g}"


def vegetation_proportion(ndvi: np.ndarray, config: RetrievalConfig) -> np.ndarray:
    """``Pv``: 0 at the soil threshold and below, 1 at the vegetation threshold and above."""
    span = config.ndvi_vegetation - config.ndvi_soil
    return np.clip((np.asarray(ndvi, dtype=np.float64) - config.ndvi_soil) / span, 0.0, 1.0) ** 2


def emissivity(ndvi: np.ndarray, ndwi: np.ndarray, config: RetrievalConfig) -> tuple[np.ndarray, np.ndarray]:
    """NDVI-threshold emissivity for TIS B2 and B3 (water where NDWI exceeds its threshold).

    Between the soil and vegetation thresholds the vegetation proportion is
    ``Pv = ((NDVI - NDVIs) / (NDVIv - NDVIs))^2`` and
    ``e = ev Pv + es (1 - Pv) + (1 - es) ev F (1 - Pv)`` (Sobrino et al. 2004,
    doi:10.1016/j.rse.2004.02.003).
    """
    ndvi = np.asarray(ndvi, dtype=np.float64)
    pv = vegetation_proportion(ndvi, config)
    out = []
    for band in range(2):
        es, ev = config.soil[band], config.vegetation[band]
        mixed = ev * pv + es * (1.0 - pv) + (1.0 - es) * ev * config.cavity * (1.0 - pv)
        eps = np.where(ndvi < config.ndvi_soil, es, np.where(ndvi > config.ndvi_vegetation, ev, mixed))
        eps = np.where(np.asarray(ndwi) > config.ndwi_water, config.water[band], eps)
        out.append(np.where(np.isfinite(ndvi), eps, np.nan))
    return out[0], out[1]


def _atmosphere_and_surface(e2: np.ndarray, e3: np.ndarray, config: RetrievalConfig,
                            water_vapour: float | np.ndarray | None) -> np.ndarray:
    """The terms after the band difference; ``water_vapour`` None: the config's scalar."""
    c = config.c
    w = config.water_vapour if water_vapour is None else water_vapour
    if isinstance(w, Path):
        raise TypeError("a water vapour raster is read by pipelines.water_vapour: pass its values")
    mean, diff = (e2 + e3) / 2.0, e2 - e3
    return c[0] + (c[3] + c[4] * w) * (1.0 - mean) + (c[5] + c[6] * w) * diff


def split_window(t2: np.ndarray | float, t3: np.ndarray | float, e2: np.ndarray, e3: np.ndarray,
                 config: RetrievalConfig, water_vapour: float | np.ndarray | None = None) -> np.ndarray:
    """LST (K) from TIS B2/B3 brightness temperatures and emissivities (see module docstring),
    with ``water_vapour`` (g cm-2, per pixel from a raster) or else the config's scalar."""
    c = config.c
    d = np.asarray(t2, dtype=np.float64) - t3
    return t2 + c[1] * d + c[2] * d**2 + _atmosphere_and_surface(e2, e3, config, water_vapour)


def split_window_inverse(lst: np.ndarray, e2: np.ndarray, e3: np.ndarray, config: RetrievalConfig,
                         difference: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brightness temperatures (t2, t3) with ``t2 - t3 = difference`` that give ``lst``.

    Used to build product fixtures whose retrieval reproduces a known LST exactly.
    """
    c = config.c
    d = np.asarray(difference, dtype=np.float64)
    t2 = lst - c[1] * d - c[2] * d**2 - _atmosphere_and_surface(e2, e3, config, None)
    return t2, t2 - d


def single_channel(t: np.ndarray, eps: np.ndarray, wavelength_um: float = 10.73) -> np.ndarray:
    """Emissivity-corrected brightness temperature, no atmosphere: t / (1 + (lambda t / rho) ln e)."""
    t = np.asarray(t, dtype=np.float64)
    return t / (1.0 + (wavelength_um * t / RHO_UM_K) * np.log(eps))

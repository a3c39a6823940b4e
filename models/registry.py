"""Name -> constructor registry for every downscaling model groklst knows.

Each factory takes ``scale`` and ``guidance_channels`` (ignored by single-image models) plus
its own keyword arguments, so a checkpoint can rebuild its model from JSON-able data alone.
A model whose design only works at some scales lists them in ``scales``; ``build_model``
refuses the others with a message that names them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

ModelFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model."""

    name: str
    factory: ModelFactory
    guided: bool
    learned: bool
    description: str
    scales: tuple[int, ...] | None = None  # None: every integer scale >= 2

    def supports(self, scale: int) -> bool:
        """Whether the model can be built for integer ``scale``."""
        return self.scales is None or scale in self.scales

    @property
    def scales_text(self) -> str:
        """'any' or the supported scales, e.g. 'x4, x8, x16'."""
        return "any" if self.scales is None else ", ".join(f"x{s}" for s in self.scales)


_REGISTRY: dict[str, ModelSpec] = {}

# Modules whose import registers models; imported lazily on first look-up.
_MODEL_MODULES: tuple[str, ...] = (
    "models.interpolation",
    "models.mocolsk",
    "models.edsr",
    "models.rcan",
    "models.djfr",
    "models.fdsr",
    "models.suft",
    "models.ahmf",
    "models.rsag",
    "models.dkn",
    "models.dagf",
    "models.svlrm",
    "models.msgnet",
    "models.dgf",
    "models.p2p",
    "models.dsrn",
    "models.codon",
    "models.rdn",
    "models.dbpn",
    "models.srfbn",
    "models.ctnet",
    "models.fenet",
    "models.cfgn",
    "models.fenet_freq",
    "models.dctlsa",
)
_loaded = False


def register(
    name: str,
    *,
    guided: bool,
    learned: bool,
    description: str,
    scales: tuple[int, ...] | None = None,
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that registers a factory under ``name`` (``scales``: see :class:`ModelSpec`)."""

    def decorate(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(name, factory, guided, learned, description, scales)
        return factory

    return decorate


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _MODEL_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_models() -> list[ModelSpec]:
    """Every registered model, in the order of ``_MODEL_MODULES`` (then of registration).

    The order does not depend on which model module happened to be imported first.
    """
    _ensure_loaded()
    position = {module: i for i, module in enumerate(_MODEL_MODULES)}
    return sorted(
        _REGISTRY.values(), key=lambda spec: position.get(spec.factory.__module__, len(position))
    )


class UnknownModelError(KeyError, ValueError):
    """A model name the registry does not know. A ``ValueError``, as torchvision's
    ``get_model`` raises, and still the ``KeyError`` callers catch; printed as its message
    (a plain ``KeyError`` prints the repr of its message, quotes and escapes included)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_spec(name: str) -> ModelSpec:
    """The spec for ``name``; :class:`UnknownModelError` with the known names if there is none."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def build_model(name: str, *, scale: int, guidance_channels: int, **kwargs: Any) -> nn.Module:
    """Construct model ``name`` for an integer ``scale`` and ``guidance_channels`` bands.

    The name is looked up first: it decides which scales are valid, and a misspelt name
    reported as a bad scale sent the caller to fix the wrong argument."""
    spec = get_spec(name)
    if int(scale) != scale or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale}")
    if not spec.supports(int(scale)):
        raise ValueError(f"model {name!r} works at {spec.scales_text} only, not x{scale}")
    return spec.factory(scale=int(scale), guidance_channels=guidance_channels, **kwargs)

"""Name -> constructor registry for every downscaling model groklst knows.

Each factory takes ``scale`` and ``guidance_channels`` (ignored by single-image models) plus
its own keyword arguments, so a checkpoint can rebuild its model from JSON-able data alone.
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


_REGISTRY: dict[str, ModelSpec] = {}

# Modules whose import registers models; imported lazily on first look-up.
_MODEL_MODULES: tuple[str, ...] = (
    "models.interpolation",
    "models.mocolsk",
    "models.edsr",
    "models.rcan",
    "models.djfr",
    "models.fdsr",
)
_loaded = False


def register(
    name: str, *, guided: bool, learned: bool, description: str
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that registers a factory under ``name``."""

    def decorate(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(name, factory, guided, learned, description)
        return factory

    return decorate


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _MODEL_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_models() -> list[ModelSpec]:
    """Every registered model, in registration order."""
    _ensure_loaded()
    return list(_REGISTRY.values())


def get_spec(name: str) -> ModelSpec:
    """The spec for ``name``; ``KeyError`` with the known names if there is none."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None


def build_model(name: str, *, scale: int, guidance_channels: int, **kwargs: Any) -> nn.Module:
    """Construct model ``name`` for an integer ``scale`` and ``guidance_channels`` bands."""
    if int(scale) != scale or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale}")
    return get_spec(name).factory(scale=int(scale), guidance_channels=guidance_channels, **kwargs)

"""The model costs ``groklst models`` measured, kept between runs.

Tracing every registered model with torch's flop counter takes about 10 s on 2 cores, and gives
the same numbers until the model code or torch changes, so each figure is stored under a key
holding a fingerprint of both. The file lives in ``$GROKLST_CACHE_DIR``, else
``$XDG_CACHE_HOME/groklst``, else ``~/.cache/groklst``; it is written atomically, and a cache
that cannot be read or written is ignored (the costs are then measured as before). A write that
fails or is interrupted removes its temporary file, locked while it is written; one a killed run
left (``.NAME.XXXXXXXX.partial``) is removed by the next save once it is a day old, as for every
groklst output, and a live save's never.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from pipelines.atomic import MKSTEMP_RANDOM, held_while_in_use, remove_stale

CACHE_ENV = "GROKLST_CACHE_DIR"
CACHE_FILE = "model-costs.json"


def _temporaries(name: str) -> re.Pattern[str]:
    """The names :meth:`CostCache.save` gives its temporary files for the cache file ``name``."""
    return re.compile(re.escape(f".{name}.") + MKSTEMP_RANDOM + re.escape(".partial"))


def cache_dir() -> Path:
    """Where groklst keeps its caches."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "groklst"


def code_fingerprint() -> str:
    """A hash of torch's version and every model source file: a cost measured under another
    fingerprint may no longer hold."""
    import torch

    import models

    digest = hashlib.sha256(torch.__version__.encode())
    for source in sorted(Path(models.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:16]


class CostCache:
    """``(params, gflop_per_mpx)`` per model, scale, band count and trace size."""

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = path, fingerprint
        try:
            stored = json.loads(path.read_text())
            self.entries = stored["costs"] if stored.get("fingerprint") == fingerprint else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}
        self._changed = False

    @classmethod
    def open(cls) -> CostCache:
        return cls(cache_dir() / CACHE_FILE, code_fingerprint())

    @staticmethod
    def key(name: str, scale: int, bands: int, lr_size: int) -> str:
        return f"{name} x{scale} {bands} bands {lr_size} px"

    def get(self, key: str) -> tuple[int, float] | None:
        value = self.entries.get(key)
        if isinstance(value, list) and len(value) == 2:
            return int(value[0]), float(value[1])
        return None

    def put(self, key: str, params: int, gflop_per_mpx: float) -> None:
        self.entries[key] = [params, gflop_per_mpx]
        self._changed = True

    def save(self) -> None:
        """Write the entries (only those of this fingerprint) atomically; never fails the command."""
        if not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(self.path.parent, _temporaries(self.path.name))
            handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        except OSError:
            return
        renamed = False
        try:
            with held_while_in_use(Path(name)):  # another save's remove_stale leaves it alone
                with os.fdopen(handle, "w") as out:
                    json.dump({"fingerprint": self.fingerprint, "costs": self.entries}, out)
                os.replace(name, self.path)
            renamed = True
        except OSError:
            pass
        finally:  # also on Ctrl-C, SIGTERM or an entry json cannot write
            if not renamed:
                Path(name).unlink(missing_ok=True)

"""The files of a training run directory (written by rank 0 only).

Kept free of heavy imports so the CLI can check a run directory before loading torch.
"""

from __future__ import annotations

CONFIG_FILE = "config.json"  # the effective settings (+ dataset facts)
METRICS_FILE = "metrics.jsonl"  # one JSON line per validation: iteration, train loss, val metrics
LAST = "last.pt"  # checkpoint after the latest validation / the end (enough to downscale with)
BEST = "best.pt"  # checkpoint with the lowest validation RMSE
STATE = "state.pt"  # everything --resume needs: weights, optimiser, scheduler, RNG, counters
RUN_FILES = (CONFIG_FILE, METRICS_FILE, LAST, BEST, STATE)

"""Streaming mosaic: blend weighted tile predictions and write finished rows as they complete.

Only the rows that tiles still touch are held in memory (plus at most one GeoTIFF block-row of
finished output), so peak memory depends on tile size and scene width, not on scene height.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rasterio.io import DatasetWriter
from rasterio.windows import Window

RowHook = Callable[[np.ndarray, int], np.ndarray]


class StreamingMosaic:
    """Weighted average of overlapping tile predictions, written in order of rows.

    ``add`` accumulates ``weight * prediction`` and ``weight`` (pixels where a prediction is
    NaN get no weight, so they stay NaN unless another tile covers them). ``finish_rows(r)``
    declares rows above ``r`` final: they are normalised, passed through ``on_finished`` (e.g.
    energy conservation), and written in whole GeoTIFF block-rows.
    """

    def __init__(
        self,
        dst: DatasetWriter,
        *,
        block_rows: int = 512,
        on_finished: RowHook | None = None,
    ):
        self.dst = dst
        self.width = dst.width
        self.height = dst.height
        self.block_rows = block_rows
        self.on_finished = on_finished
        self._top = 0  # first row not yet finished
        self._num = np.zeros((0, self.width), np.float64)
        self._den = np.zeros((0, self.width), np.float64)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._written = 0

    def _grow(self, bottom: int) -> None:
        extra = bottom - (self._top + self._num.shape[0])
        if extra > 0:
            pad = np.zeros((extra, self.width), np.float64)
            self._num = np.concatenate([self._num, pad])
            self._den = np.concatenate([self._den, pad.copy()])

    def add(self, row: int, col: int, prediction: np.ndarray, weight: np.ndarray) -> None:
        """Accumulate one tile's prediction with its blending weights at output offset (row, col).

        What lies outside the raster (a negative offset, or beyond its size) is dropped.
        """
        h, w = prediction.shape
        r0, c0 = max(0, -row), max(0, -col)
        r1, c1 = min(h, self.height - row), min(w, self.width - col)
        if r1 <= r0 or c1 <= c0:
            return
        prediction, weight = prediction[r0:r1, c0:c1], weight[r0:r1, c0:c1]
        row, col = row + r0, col + c0
        if row < self._top:
            raise ValueError(f"row {row} is already finished (rows < {self._top} are)")
        h, w = prediction.shape
        self._grow(row + h)
        valid = np.isfinite(prediction)
        r0 = row - self._top
        wv = np.where(valid, weight, 0.0)
        self._num[r0 : r0 + h, col : col + w] += np.where(valid, prediction, 0.0) * wv
        self._den[r0 : r0 + h, col : col + w] += wv

    def finish_rows(self, row: int) -> None:
        """Rows above ``row`` receive no more tiles: normalise, post-process and queue them."""
        row = min(row, self.height)
        n = row - self._top
        if n <= 0:
            return
        self._grow(row)
        num, den = self._num[:n], self._den[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, np.nan).astype(np.float32)
        if self.on_finished is not None:
            out = self.on_finished(out, self._top)
        self._pending.append(out)
        self._pending_rows += n
        self._num, self._den = self._num[n:], self._den[n:]
        self._top = row
        self._flush(final=row >= self.height)

    def _flush(self, final: bool) -> None:
        rows = self._pending_rows if final else self._pending_rows // self.block_rows * self.block_rows
        if rows == 0:
            return
        block = np.concatenate(self._pending)
        self.dst.write(block[:rows], 1, window=Window(0, self._written, self.width, rows))
        self._written += rows
        rest = block[rows:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_rows = rest.shape[0]

    def close(self) -> None:
        """Finish every remaining row (rows no tile reached are NaN)."""
        self.finish_rows(self.height)
        if self._written != self.height:
            raise RuntimeError(f"mosaic wrote {self._written} of {self.height} rows")

"""How many CPU threads groklst's work may use: every usable core unless told otherwise.

Several groklst processes side by side (GNU parallel -j N, a job array on shared nodes) each
start one thread per core by default, so the machine runs N times more threads than cores and
the OpenMP and oneDNN pools spin against each other. :func:`thread_limit` caps, for the time
it is entered, every pool a groklst run uses: torch's intra-op threads (the networks), the
OpenMP and BLAS pools threadpoolctl finds (NumPy's least squares in tsharp/gwr), GDAL's
decoding threads, dask's threaded scheduler (prepare's scans) and the dms trees (joblib).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_limit: dict[str, int | None] = {"threads": None}


def joblib_jobs() -> int:
    """``n_jobs`` for joblib: the thread limit, else every core (-1)."""
    return _limit["threads"] or -1


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Run with at most ``threads`` threads in each pool; everything is restored on leaving."""
    import dask
    import torch
    from threadpoolctl import threadpool_limits

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch_threads, previous = torch.get_num_threads(), _limit["threads"]
    gdal_threads = os.environ.get("GDAL_NUM_THREADS")
    with threadpool_limits(limits=threads), dask.config.set(num_workers=threads):
        torch.set_num_threads(threads)
        os.environ["GDAL_NUM_THREADS"] = str(threads)
        _limit["threads"] = threads
        try:
            yield
        finally:
            _limit["threads"] = previous
            torch.set_num_threads(torch_threads)
            if gdal_threads is None:
                os.environ.pop("GDAL_NUM_THREADS", None)
            else:
                os.environ["GDAL_NUM_THREADS"] = gdal_threads

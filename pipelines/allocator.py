"""Keep freed memory in the process, so that large tensors do not cost fresh pages each time.

glibc's malloc hands every large block back to the kernel when it is freed (``munmap``), and
the next tensor of that size gets new pages that the kernel must zero: in a ``groklst
downscale`` run about as much CPU time went to the kernel (9.6 M minor page faults at
1998 x 1998 px) as to the network. ``mallopt(M_MMAP_MAX, 0)`` serves large blocks from the
heap and ``M_TRIM_THRESHOLD`` keeps the heap's free top, so freed pages are reused;
``M_ARENA_MAX`` 1 keeps the tile-reading thread's blocks (GDAL's, numpy's) in that same heap
too, as a thread's own arena gives its 64 MiB heaps back as soon as they are empty (3999 x
3999 px: system time 3.8-8.7 s -> 1.7-2.3 s, steadier peak RSS). Results are bit-identical;
the cost is that the process keeps its peak heap until it exits (benchmarks/downscale_speed.py
prints peak RSS with and without). Transparent huge pages for PyTorch's tensors
(``THP_MEM_ALLOC_ENABLE=1``) were measured and are not used: 3.4x fewer faults, but each
fault zeroes 2 MiB, so system time rose (999 px: 0.6 -> 3.0 s; 3999 px: 2.0 -> 6.3 s) and
peak RSS by 35 %.

Applied once per process by the CLI; ``GROKLST_KEEP_FREED_MEMORY=0`` turns it off. A no-op
where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ENV = "GROKLST_KEEP_FREED_MEMORY"
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_TRIM_NEVER = 2**31 - 1  # bytes; mallopt takes an int

_state = {"applied": False}


def keep_freed_memory() -> bool:
    """Tune glibc malloc to reuse freed memory; ``True`` if this call applied it.

    ``False`` when already applied, turned off by ``GROKLST_KEEP_FREED_MEMORY=0``, or not
    possible (no glibc).
    """
    if _state["applied"] or os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER)
            and mallopt(_M_ARENA_MAX, 1)):
        return False
    _state["applied"] = True
    return True


def applied() -> bool:
    """Whether :func:`keep_freed_memory` has tuned this process."""
    return _state["applied"]

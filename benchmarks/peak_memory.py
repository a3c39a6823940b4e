"""Peak resident memory of the current process, for benchmarks that run each case in a child.

``ru_maxrss`` is not usable there: on Linux a child started with fork + exec keeps the
parent's high-water mark, so a benchmark parent that holds big arrays inflates every child's
figure. ``VmHWM`` belongs to the process's own address space and starts afresh at exec.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (VmHWM; ru_maxrss where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

"""groklst: guided land-surface-temperature downscaling from the command line."""

import os
from importlib.metadata import PackageNotFoundError, version


def _keep_stderr_descriptor() -> None:
    """Put /dev/null on descriptor 2 when the run started with it closed (``groklst ... 2>&-``),
    before any module opens a file: otherwise the first file opened (proj.db, an output) takes
    descriptor 2 and every C library message meant for stderr is written into it."""
    try:
        os.fstat(2)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != 2:
            os.dup2(devnull, 2)
            os.close(devnull)


_keep_stderr_descriptor()

try:
    __version__ = version("groklst")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

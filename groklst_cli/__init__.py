"""groklst: guided land-surface-temperature downscaling from the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("groklst")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

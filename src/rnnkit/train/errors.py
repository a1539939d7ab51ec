"""User-facing errors: anything a user can cause (bad option, bad file) raises one of these.

The CLI prints them as one line and exits non-zero; library users can catch
``RnnkitError``. Internal invariants use ``assert`` instead.
"""


class RnnkitError(Exception):
    """Base class for errors caused by user input; the message names the problem."""


class ConfigError(RnnkitError, ValueError):
    """A configuration value (from a recipe, TOML file or command line) is invalid."""


class DataError(RnnkitError, ValueError):
    """An input data file is missing, empty, binary or not UTF-8."""


class CheckpointError(RnnkitError):
    """A checkpoint or run folder is missing, truncated, corrupt or incompatible."""

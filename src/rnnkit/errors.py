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


def unknown_name(what: str, name, choices) -> str:
    """The one wording for a name that is not in a registry (backend, cell, recipe, ...):
    ``unknown backend 'nope' (choose from: auto, native, torch)``. Callers raise it as a
    ValueError at the library boundary, or as a ConfigError for a config or CLI value."""
    return f"unknown {what} {name!r} (choose from: {', '.join(str(c) for c in choices)})"

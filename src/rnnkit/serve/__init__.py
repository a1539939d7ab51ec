"""``rnnkit serve``: trained runs behind an HTTP service (FastAPI on uvicorn), with a page to
try them.

    limits.py    request size limits, timeouts and batching settings, with their reasons
    batching.py  requests arriving within a few milliseconds become one forward pass
    models.py    one wrapper per kind of run over the library's own calls (no HTTP here)
    app.py       the FastAPI app: endpoints, JSON errors, the body-size guard, the page
    static/      index.html, the page served at ``/``

The web framework is an optional dependency (``pip install 'rnnkit[serve]'``): this module
imports none of it, so ``require_packages`` can say in one line what is missing.
"""

from __future__ import annotations

import importlib

from rnnkit.errors import ConfigError

EXTRA = "pip install 'rnnkit[serve]'"
PACKAGES = ("fastapi", "uvicorn", "python_multipart")  # python-multipart: audio uploads


def require_packages() -> None:
    """Import the serve extra's packages, or say in one line how to install them."""
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            shown = name.replace("_", "-")
            raise ConfigError(f"serving needs fastapi, uvicorn and python-multipart "
                              f"({shown} is missing): {EXTRA}") from None

"""What every served model shares: the ``Served`` base (a name, a lock, limits, a
description), the ``RequestError`` a refused request raises with its HTTP status, and
helpers for limits and uploaded files. Nothing here knows HTTP."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.recipes.base import KIND_NAMES, LoadedRun
from rnnkit.serve.batching import Batcher
from rnnkit.serve.limits import Limits


class RequestError(RnnkitError):
    """A request the server refuses; ``status`` is its HTTP status (4xx, or 503/504)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


class TimedOut(RequestError):
    def __init__(self, seconds: float):
        super().__init__(f"the request took longer than this server's limit of {seconds:g} s",
                         504)


def check_limit(what: str, value: float, limit: float, unit: str = "") -> None:
    """RequestError 413 when ``value`` is above the server's ``limit``."""
    if value > limit:
        raise RequestError(f"{what}: {value:,}{unit} is above this server's limit of "
                           f"{limit:,}{unit}", 413)


@contextmanager
def as_file(data: bytes, name: str, shown: str | None = None) -> Iterator[Path]:
    """``data`` as a file called ``name`` in a fresh folder, for the library's readers; their
    DataErrors come back as RequestErrors naming ``shown`` (default ``name``), not the
    server's temporary folder."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-serve-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            yield path
        except RnnkitError as e:
            if isinstance(e, RequestError):
                raise
            raise RequestError(str(e).replace(str(path), shown or name)) from None


def upload_name(filename: str | None, default: str) -> str:
    """A client's file name fit to quote in a message: its last part, printable, short."""
    name = "".join(c for c in Path(filename or "").name if c.isprintable())[:100]
    return name or default


class Served:
    """A loaded run under its name, with its lock, limits and batcher (if it batches)."""

    endpoints: tuple[str, ...] = ()

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        self.name, self.run, self.limits = name, run, limits
        self.lock = threading.Lock()
        self.batcher: Batcher | None = None
        self.counts: dict[str, int] = {}

    def make_batcher(self, size=lambda item: 1) -> Batcher:
        lim = self.limits
        return Batcher(self.run_batch, window_s=lim.batch_window_ms / 1000,
                       max_batch=lim.max_batch, max_pending=lim.max_pending, size=size)

    def run_batch(self, items: list) -> list:
        raise NotImplementedError

    def describe(self) -> dict:
        """What ``GET /v1/models`` lists for this model."""
        cfg, m = self.run.config, self.run.config.model
        return {"name": self.name, "kind": KIND_NAMES[self.run.kind], "recipe": cfg.recipe,
                "endpoints": [f"/v1/models/{self.name}/{e}" for e in self.endpoints],
                "model": f"{m.cell} {m.num_layers}x{m.hidden_size}"
                         f"{' bidirectional' if m.bidirectional else ''}",
                "parameters": sum(p.numel() for p in self.run.model.parameters()),
                "checkpoint": str(self.run.file), **self.details()}

    def details(self) -> dict:
        return {}

    def stats(self) -> dict:
        out = {"kind": KIND_NAMES[self.run.kind], "requests": dict(self.counts)}
        if self.batcher is not None:
            b = self.batcher.stats
            out["batches"] = {"requests": b.requests, "batches": b.batches, "items": b.items,
                              "largest": b.largest_batch,
                              "requests_per_batch": {str(k): v for k, v in
                                                     sorted(b.sizes.items())}}
        return out

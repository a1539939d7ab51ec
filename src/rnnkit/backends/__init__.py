"""Backends run a normalised ``RNNCall``; ``select`` picks one and says why.

Adding a backend: write a class with ``name``, ``description``, ``why_not(call) -> str | None``
(why it cannot run a call), ``avoid(call) -> str | None`` (why ``auto`` should pass it over
although it could run: it would not be fastest there) and ``run(call) -> (y, h_n, c_n)``
(and ``compile_note``, a sentence for ``explain``, if torch.compile cannot trace ``run``;
``describe(call) -> str | None``, a line for ``explain`` about how it runs the call), then
insert an instance into ``BACKENDS`` at its place in the speed ranking. ``auto`` takes the
first backend in that ranking that neither refuses nor avoids the call.
"""

from __future__ import annotations

from rnnkit.backends.base import RNNCall
from rnnkit.backends.engine import EngineBackend
from rnnkit.backends.fused import TorchBackend
from rnnkit.backends.gpu import TritonBackend
from rnnkit.backends.native import NativeBackend
from rnnkit.backends.reference import ReferenceBackend
from rnnkit.errors import ConfigError, unknown_name

# Fastest first: this order is what "auto" means.
BACKENDS = {
    b.name: b
    for b in (
        NativeBackend(),
        TritonBackend(),
        TorchBackend(),
        EngineBackend(),
        ReferenceBackend(),
    )
}
BACKEND_CHOICES = ("auto", *BACKENDS)


def check_backend_name(name: str) -> str:
    """Return ``name`` if it names a backend or "auto", else raise a ValueError listing them."""
    if name not in BACKEND_CHOICES:
        raise ValueError(unknown_name("backend", name, BACKEND_CHOICES))
    return name


def select(name: str, call: RNNCall):
    """The backend that runs ``call`` for the module setting ``name``.

    Raises ConfigError (a ValueError) when a backend named explicitly cannot run the call,
    saying why: the choice of backend is the user's, so the CLI prints it as one line.
    """
    check_backend_name(name)
    if name != "auto":
        backend = BACKENDS[name]
        reason = backend.why_not(call)
        if reason is not None:
            raise ConfigError(f"backend {name!r} cannot run this call: {reason}")
        return backend
    for backend in BACKENDS.values():
        if _auto_reason(backend, call) is None:
            return backend
    raise AssertionError("the reference backend accepts every call")


def _auto_reason(backend, call: RNNCall) -> str | None:
    """Why ``auto`` does not take ``backend`` for ``call``, or None if it may."""
    reason = backend.why_not(call)
    if reason is not None:
        return f"unavailable: {reason}"
    reason = backend.avoid(call)
    return f"passed over: {reason}" if reason is not None else None


def explain(name: str, call: RNNCall) -> str:
    """A few lines naming the backend that would run ``call`` and why the faster ones don't."""
    lines = []
    chosen = None
    for backend in BACKENDS.values():
        reason = _auto_reason(backend, call) if name == "auto" else backend.why_not(call)
        if name not in ("auto", backend.name):
            status = "not requested"
        elif reason is not None:
            status = reason if name == "auto" else f"unavailable: {reason}"
        elif chosen is None:
            chosen = backend.name
            status = "RUNS"
        else:
            status = "available"
        lines.append(f"  {backend.name:<10} {status}  ({backend.description})")
    if chosen is None:
        head = f"backend={name!r} cannot run this call"
    elif name == "auto":
        head = f"backend='auto' runs {chosen!r}, the fastest backend that accepts this call"
    else:
        head = f"backend={name!r} was requested and runs"
    describe = getattr(BACKENDS[chosen], "describe", None) if chosen is not None else None
    detail = describe(call) if describe is not None else None
    if detail is not None:  # e.g. the precision of a quantised layer, kept weights
        lines += [f"  {line}" for line in detail.split("\n")]
    note = getattr(BACKENDS[chosen], "compile_note", None) if chosen is not None else None
    if note is not None:  # a graph break under torch.compile, and why
        lines.append(f"  torch.compile: {note}")
    return "\n".join([head, *lines])


__all__ = ["BACKENDS", "BACKEND_CHOICES", "RNNCall", "check_backend_name", "explain", "select"]

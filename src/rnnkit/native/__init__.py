"""Build (once, cached) and load rnnkit's native BPTT kernels.

The C++ source (``rnn_kernels.cpp``, one translation unit) is compiled on first use with
torch's extension tooling, ``-O3 -march=native`` so the gate math is vectorised for the
processor it runs on. The build lands in a cache directory keyed by the source, the flags,
the torch version and the CPU, so later processes (and later test sessions) reuse it:

    $RNNKIT_NATIVE_CACHE, else $XDG_CACHE_HOME/rnnkit/native, else ~/.cache/rnnkit/native

``load()`` returns the module, or None when the build is impossible (no compiler, no
ninja, a link error); ``unavailable_reason()`` then says why, and a single
``NativeUnavailableWarning`` is issued per process. Nothing here raises.

The kernels read their ``RNNKIT_NATIVE_*`` switches (A/B timing; the table is in
``settings.h`` and docs/PERFORMANCE.md) from the environment once per process;
``settings()`` shows them and ``reload_settings()`` re-reads them after the environment
changed, in every extension loaded so far.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # not POSIX: builds are not serialised beyond torch's own lock
    fcntl = None

HERE = Path(__file__).parent
SOURCE = HERE / "rnn_kernels.cpp"
# Every header here, by job (gemm.h, packing.h, settings.h, ...): the built-in kernels and
# the generated custom cells include them, so all of them key the build cache.
HEADERS = tuple(sorted(HERE.glob("*.h")))
# -march=native: build for the processor at hand (AVX2/FMA here, AVX-512 where present);
# -fopenmp: at::parallel_for's OpenMP pragma is inline in ATen's headers, so without it every
#   "parallel" loop here ran on one thread; the GOMP_* calls resolve to the libgomp that
#   libtorch_cpu already loaded (the link line names no OpenMP runtime of its own). A torch
#   built without OpenMP leaves them unresolved: the load fails and rnnkit falls back;
# -fno-trapping-math: lets GCC vectorise the float-to-int step of exp (torch builds so too).
CFLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]


class NativeUnavailableWarning(RuntimeWarning):
    """The native backend could not be built; rnnkit falls back to its engine backend."""


_module = None
_reason: str | None = None
_tried = False
_cell_modules: list = []  # custom cells' extensions loaded in this process (build_extension)
build_seconds: float | None = None  # wall time of the last build in this process (None: cached)


def cache_dir() -> Path:
    """Where builds live; one subdirectory per (source, flags, torch, CPU) combination."""
    root = os.environ.get("RNNKIT_NATIVE_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "rnnkit" / "native"


def _cpu_key() -> str:
    """The CPU model and flags: -march=native code must not run on a different processor."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def build_key() -> str:
    """Hash of what every build depends on besides its own source: headers, flags, torch, CPU."""
    h = hashlib.sha256()
    for part in (*(p.read_bytes() for p in HEADERS), " ".join(CFLAGS).encode()):
        h.update(part)
    h.update(torch.__version__.encode())
    h.update(_cpu_key().encode())
    h.update(sys.version.encode())
    return h.hexdigest()


def _ensure_ninja_on_path() -> None:
    """torch's builder runs `ninja` from PATH; the pip package puts it beside the venv python."""
    try:
        import ninja  # the PyPI wheel, a project dependency
    except ImportError:
        return
    bin_dir = getattr(ninja, "BIN_DIR", None)
    if bin_dir and bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


@contextlib.contextmanager
def _build_lock(build_dir: Path):
    """Serialise builds across processes with a lock the kernel releases if its holder dies.

    torch's own build lock is a plain file that a killed build (a test timeout, Ctrl-C)
    leaves behind, after which every later process waits on it forever. Holding this flock
    means no live rnnkit process is inside the build, so such a leftover file is stale.
    """
    if fcntl is None:
        yield
        return
    with open(build_dir / "rnnkit.flock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            (build_dir / "lock").unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _compile(name: str, source: Path, build_dir: Path):
    """cpp_extension.load under our lock; returns (module, seconds if it was built, else None)."""
    from torch.utils import cpp_extension

    _ensure_ninja_on_path()
    fresh = not any(build_dir.glob("*.so"))
    t0 = time.perf_counter()
    with _build_lock(build_dir):
        module = cpp_extension.load(
            name=name,
            sources=[str(source)],
            extra_cflags=CFLAGS,
            extra_include_paths=[str(HERE)],
            build_directory=str(build_dir),
            verbose=False,
        )
    return module, (time.perf_counter() - t0 if fresh else None)


def load():
    """The compiled extension module, building it on first use; None if that is impossible."""
    global _module, _reason, _tried, build_seconds
    if _tried:
        return _module
    _tried = True
    if os.environ.get("RNNKIT_DISABLE_NATIVE"):
        _reason = "disabled by the RNNKIT_DISABLE_NATIVE environment variable"
        return None
    try:
        key = hashlib.sha256(SOURCE.read_bytes() + build_key().encode()).hexdigest()[:16]
        build_dir = cache_dir() / key
        build_dir.mkdir(parents=True, exist_ok=True)
        _module, seconds = _compile("rnnkit_native", SOURCE, build_dir)
        build_seconds = seconds if seconds is not None else build_seconds
    except Exception as exc:  # noqa: BLE001 - any build or load failure means "fall back"
        _module = None
        _reason = f"the native extension could not be built or loaded ({_summary(exc)})"
        warnings.warn(
            f"rnnkit: {_reason}; falling back to the engine backend. Install a C++ compiler "
            "(g++) and the `ninja` package, or set RNNKIT_DISABLE_NATIVE=1 to silence this.",
            NativeUnavailableWarning,
            stacklevel=2,
        )
    return _module


def build_extension(name: str, source_text: str, key: str):
    """Compile generated C++ (a custom cell) into the cache; returns (module, None) or
    (None, reason). Failures warn once per source, as for the built-in kernels."""
    try:
        build_dir = cache_dir() / "cells" / key
        build_dir.mkdir(parents=True, exist_ok=True)
        source = build_dir / f"{name}.cpp"
        if not source.exists() or source.read_text() != source_text:
            tmp = source.with_suffix(".tmp")
            tmp.write_text(source_text)
            os.replace(tmp, source)  # never a half-written source for a concurrent build
        module, _ = _compile(name, source, build_dir)
        _cell_modules.append(module)
        return module, None
    except Exception as exc:  # noqa: BLE001 - any build or load failure means "fall back"
        reason = f"the custom cell could not be built or loaded ({_summary(exc)})"
        warnings.warn(f"rnnkit: {reason}", NativeUnavailableWarning, stacklevel=3)
        return None, reason


def _summary(exc: Exception) -> str:
    """The compiler's first error line if there is one, else the exception's first line."""
    text = str(exc).strip()
    lines = text.splitlines()
    errors = [ln.strip() for ln in lines if "error" in ln.lower() and ": " in ln]
    line = errors[-1] if len(errors) > 1 else (lines[0] if lines else type(exc).__name__)
    return f"{type(exc).__name__}: {line[:300]}"


def unavailable_reason() -> str | None:
    """Why the native kernels cannot run here (building them if not yet tried), or None."""
    load()
    return _reason


def settings() -> dict[str, int | bool] | None:
    """The kernel switches in force in the built-in kernels (field names of settings.h's
    Settings, e.g. ``{"no_pack": False, "pack_min_steps": 8, ...}``); None when the native
    backend is unavailable. Read from the environment on first use."""
    ext = load()
    return None if ext is None else dict(ext.settings())


def reload_settings() -> dict[str, int | bool] | None:
    """Re-read the ``RNNKIT_NATIVE_*`` switches from the environment in the built-in kernels
    and every custom cell's module loaded so far; returns the new settings (None when the
    native backend is unavailable). Raises RuntimeError naming the variable when a number
    is not a whole number >= 0; the settings in force are then kept. Call it between kernel
    calls, not while one runs in another thread."""
    ext = load()
    if ext is None:
        return None
    new = dict(ext.reload_settings())  # an invalid value raises here, before any change
    for module in _cell_modules:
        module.reload_settings()
    return new


def _reset_for_tests() -> None:
    """Forget the load attempt, so a test can provoke (and then undo) a build failure."""
    global _module, _reason, _tried
    _module, _reason, _tried = None, None, False


__all__ = [
    "NativeUnavailableWarning",
    "build_extension",
    "build_key",
    "cache_dir",
    "load",
    "reload_settings",
    "settings",
    "unavailable_reason",
]

"""The one checkpoint format: atomic writes, keep-last-K, safe loading.

A checkpoint is a ``torch.save``d dict of tensors and plain Python values only, so it
loads with ``torch.load(weights_only=True)``, which never unpickles arbitrary objects:

    format      "rnnkit-checkpoint/1"
    model       model.state_dict()
    optimizer   optimizer.state_dict()
    scheduler   scheduler.state_dict() or None
    rng         {"python", "numpy", "torch", "cuda"} generator states (lists / tensors)
    step        optimiser updates done
    data        StreamBatcher position {"epoch", "pos"}
    state       carried hidden state(s) of all streams (tensor, list of tensors, or None)
    loop        loop bookkeeping (best valid loss, evaluations without improvement, ...)
    config      RunConfig.to_dict()
    vocab       Vocab.to_dict()

Writes go to a temporary file in the same folder, are fsynced, then ``os.replace``d over
the final name, so a crash or a second Ctrl-C mid-write never damages an existing file.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.files import write_atomically
from rnnkit.errors import CheckpointError

FORMAT = "rnnkit-checkpoint/1"
_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")
REQUIRED = ("format", "model", "step", "config")


def ckpt_path(run_dir: Path, step: int) -> Path:
    return run_dir / f"ckpt-{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints in a run folder, oldest first."""
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def save_atomic(payload: dict, path: Path) -> None:
    """Write ``payload`` to ``path`` so that ``path`` is either the old or the new file."""
    write_atomically(path, lambda fh: torch.save(payload, fh))


def prune(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and stale temp files."""
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)


def mismatch(e: Exception) -> str:
    """torch's load_state_dict error in one line: its first specific problem, and how many
    more there are (torch lists every missing key and shape on lines of its own)."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    detail = lines[1:] or lines[:1]
    more = f" and {len(detail) - 1} more" if len(detail) > 1 else ""
    return f"{detail[0]}{more}"


def remove_stale_temps(run_dir: Path) -> None:
    """Temp files left by a killed process (never valid checkpoints)."""
    for tmp in run_dir.glob(".ckpt-*.tmp"):
        tmp.unlink(missing_ok=True)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint; CheckpointError naming the file if it is unusable."""
    p = Path(path)
    ckpt, problem = _try_load(p, map_location)
    if problem is not None:
        raise CheckpointError(f"{p}: {problem}")
    return ckpt


def _try_load(p: Path, map_location) -> tuple[dict | None, str | None]:
    """(checkpoint, None), or (None, what is wrong with the file) without the file name."""
    if not p.is_file():
        return None, "no such checkpoint file"
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"truncated or corrupt checkpoint ({reason[:160]})"
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        return None, f"not an rnnkit checkpoint (expected format {FORMAT})"
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        return None, f"checkpoint is missing {', '.join(missing)}"
    return ckpt, None


def newest_loadable(run_dir: Path, map_location: str | torch.device = "cpu"
                    ) -> tuple[Path, dict, list[str]]:
    """The newest checkpoint of a run folder that loads: (path, checkpoint, skipped), where
    ``skipped`` has one line per newer file that did not load and why. A crash or a full
    disk while copying a run can damage the newest file; the one before it is still a
    consistent state to resume from. CheckpointError listing what was tried if none loads.
    """
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"{run_dir}: run folder has no checkpoints (ckpt-*.pt)")
    skipped = []
    for path in reversed(found):
        ckpt, problem = _try_load(path, map_location)
        if problem is None:
            return path, ckpt, skipped
        skipped.append(f"{path.name}: {problem}")
    # The newest file's problem in full, the older ones' without torch's detail: one line.
    tried = [skipped[0], *(line.split(" (")[0] for line in skipped[1:3])]
    more = f"; and {len(skipped) - 3} older" if len(skipped) > 3 else ""
    raise CheckpointError(f"{run_dir}: no checkpoint loads (tried {'; '.join(tried)}{more})")


def resolve(run_or_ckpt: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint in a run folder."""
    p = Path(run_or_ckpt)
    if p.is_dir():
        found = list_checkpoints(p)
        if not found:
            raise CheckpointError(f"{p}: run folder has no checkpoints (ckpt-*.pt)")
        return found[-1]
    if not p.exists():
        raise CheckpointError(f"{p}: no such run folder or checkpoint")
    return p


def capture_rng() -> dict:
    """Every generator the loop may touch, as tensors/lists (weights_only-safe)."""
    np_state = np.random.get_state()  # noqa: NPY002 - global state, as seeded
    return {
        "python": _to_lists(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(rng: dict) -> None:
    random.setstate(_to_tuples(rng["python"]))
    n = rng["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))  # noqa: NPY002
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _to_lists(x):
    return [_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


def _to_tuples(x):
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x

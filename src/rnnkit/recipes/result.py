"""What a recipe promises (``Target``) and what a run measured (``result.json``).

Every run writes ``result.json``: the recipe, its metric names and values, the baseline
and target it was judged against, the rnnkit version and git commit, a hash of the
resolved config, the processor, threads, seed, wall and CPU seconds. docs/ tables are
made from such files (``rnnkit.experiments.docs_tables``), never typed in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.files import write_atomically
from rnnkit.train.config import RunConfig, to_toml

OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
       "<": lambda a, b: a < b, ">": lambda a, b: a > b}


@dataclass(frozen=True)
class Target:
    """A recipe's promise: ``metric op value`` within ``budget`` (run with the recipe's
    defaults). ``hours``: roughly how long ``pytest -m target`` takes to check it."""

    metric: str
    op: str
    value: float
    text: str
    budget: str = "the recipe's defaults"
    hours: float = 0.1

    def __post_init__(self):
        assert self.op in OPS, f"unknown comparison {self.op!r}"

    def met(self, metrics: dict[str, float]) -> bool | None:
        """True/False, or None when the run did not measure the metric."""
        if self.metric not in metrics:
            return None
        return bool(OPS[self.op](metrics[self.metric], self.value))

    def line(self, metrics: dict[str, float]) -> str:
        """One markdown line: the target and whether this run met it."""
        met = self.met(metrics)
        word = "not measured" if met is None else ("met" if met else "NOT met")
        return f"- target ({self.text}): **{word}**"

    def to_dict(self, metrics: dict[str, float] | None = None) -> dict:
        d = {"metric": self.metric, "op": self.op, "value": self.value, "text": self.text,
             "budget": self.budget}
        if metrics is not None:
            d["met"] = self.met(metrics)
        return d


def processor() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the rnnkit checkout this code runs from (None when not a checkout),
    with "-dirty" when it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def clock() -> tuple[float, float]:
    """(wall, CPU) seconds now, for ``measurement_fields(since=...)``."""
    return time.perf_counter(), time.process_time()


def measurement_fields(command: str, *, seed: int | None, threads: int,
               since: tuple[float, float] | None = None) -> dict:
    """The fields a measurement record carries besides its values: the command that wrote
    it, seed, processor, threads, versions, commit, UTC date, and the wall and CPU seconds
    since ``since`` (a ``clock()``; None when the record times nothing)."""
    from rnnkit import __version__

    wall = cpu = None
    if since is not None:
        wall, cpu = time.perf_counter() - since[0], time.process_time() - since[1]
    return {"command": command, "seed": seed, "processor": processor(), "threads": threads,
            "cpu_count": os.cpu_count(), "wall_s": wall, "cpu_s": cpu,
            "torch": torch.__version__, "rnnkit": __version__, "commit": git_commit(),
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def config_hash(cfg: RunConfig) -> str:
    """sha256 of the resolved config's TOML (first 16 hex digits)."""
    return hashlib.sha256(to_toml(cfg).encode()).hexdigest()[:16]


def write_result(path: Path, cfg: RunConfig, fit, *, metrics: dict[str, float],
                 baseline: dict | None, target: Target | None, n_params: int,
                 wall_s: float, cpu_s: float) -> dict:
    """Write ``result.json`` atomically and return what was written."""
    from rnnkit import __version__

    result = {
        "recipe": cfg.recipe,
        "run": path.parent.name,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "baseline": baseline,
        "target": None if target is None else target.to_dict(metrics),
        "steps": fit.steps,
        "stopped": fit.stopped,
        "best_valid_loss": None if math.isinf(fit.best_valid_loss) else fit.best_valid_loss,
        "parameters": n_params,
        "seed": cfg.train.seed,
        "rnnkit": __version__,
        "commit": git_commit(),
        "config_hash": config_hash(cfg),
        "processor": processor(),
        "threads": torch.get_num_threads(),
        "training_s": fit.elapsed_s,
        "training_cpu_s": fit.cpu_s,  # both summed over resumed sessions
        "wall_s": wall_s,  # this session: build, training, finish
        "cpu_s": cpu_s,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    text = json.dumps(result, indent=1, default=_plain) + "\n"
    write_atomically(path, lambda fh: fh.write(text.encode()))
    return result


def _plain(x):
    """JSON for infinities and tensors that slip into metrics."""
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return str(x)

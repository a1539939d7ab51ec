"""Running a recipe: the steps every recipe shares, around the one training loop.

    setup = build(cfg)             # the recipe's model, Task and checkpoint metadata
    fit = Trainer(...).fit()       # train (or resume) with checkpoints, metrics, diagnostics
    lines = setup.finish(trainer, fit)   # the recipe's own results (test metrics, samples...)
    report.md                      # config, training, those lines, diagnostics figures

A recipe module provides ``DEFAULTS``, ``SMOKE`` and ``build(cfg) -> Setup``;
``Recipe.from_module(name, module, summary)`` makes the registry entry (``recipes.py``),
and ``rnnkit train NAME`` runs it through ``run_recipe``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.tasks.models import count_parameters
from rnnkit.train.config import RunConfig, to_toml
from rnnkit.train.diagnose import report_section
from rnnkit.train.distributed import init_from_env, shutdown
from rnnkit.train.loop import FitResult, Trainer, resolve_device
from rnnkit.train.task import Task


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch generators; CPU kernels are deterministic given these."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what other code uses
    torch.manual_seed(seed)


@dataclass
class Setup:
    """What a recipe's ``build`` returns.

    ``finish(trainer, fit)`` runs on the main process after training and returns markdown
    lines for the report and the terminal (e.g. test accuracy of the best checkpoint);
    ``describe`` is one line saying what data the run trains on.
    """

    model: nn.Module
    task: Task
    meta: dict = field(default_factory=dict)
    describe: str = ""
    finish: Callable[[Trainer, FitResult], list[str]] | None = None


@dataclass
class RecipeResult:
    run_dir: Path
    fit: FitResult
    lines: list[str]              # the recipe's result lines (markdown)
    setup: Setup

    def summary(self) -> list[str]:
        """The recipe's result lines for a terminal (markdown emphasis removed)."""
        return [line.replace("**", "") for line in self.lines if line.startswith("- ")]


@dataclass(frozen=True)
class Recipe:
    """A named recipe: its defaults, its seconds-long smoke settings, and how it runs:
    ``run(cfg, run_dir, *, resume_from, progress, should_stop)`` -> a result with ``.fit``,
    ``.run_dir`` and ``.summary()`` (lines for the terminal)."""

    name: str
    summary: str
    defaults: dict[str, Any]
    smoke: dict[str, Any]
    run: Callable[..., Any]

    @classmethod
    def from_module(cls, name: str, module, summary: str) -> Recipe:
        """A recipe from a module with ``DEFAULTS``, ``SMOKE`` and ``build(cfg) -> Setup``."""
        def run(cfg, run_dir, **kw):
            return run_recipe(cfg, run_dir, module.build, **kw)

        return cls(name, summary, module.DEFAULTS, module.SMOKE, run)


def run_recipe(cfg: RunConfig, run_dir: Path, build: Callable[[RunConfig], Setup], *,
               resume_from: Path | None = None, progress: bool = True,
               should_stop=None) -> RecipeResult:
    """Build, train (or resume) and report one recipe run in ``run_dir``."""
    cfg.validate()
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    # Denormal floats (tiny gradients, Adam moments) make CPU math several times slower.
    torch.set_flush_denormal(True)
    world = init_from_env(resolve_device(cfg.train.device))
    try:
        seed_everything(cfg.train.seed)
        setup = build(cfg)
        if world.active:  # different dropout masks per process; same initial weights
            torch.manual_seed(cfg.train.seed + 7919 * world.rank)
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.toml").write_text(to_toml(cfg))
        n_params = count_parameters(setup.model)
        trainer = Trainer(setup.model, setup.task, cfg=cfg, run_dir=run_dir,
                          meta={**setup.meta, "n_params": n_params}, world=world,
                          progress=progress)
        t0 = time.perf_counter()
        fit = trainer.fit(resume_from=resume_from, should_stop=should_stop)
        lines: list[str] = []
        if world.is_main:
            if setup.finish is not None:
                lines = setup.finish(trainer, fit)
            write_report(run_dir, cfg, fit, setup, lines, n_params=n_params,
                         wall_s=time.perf_counter() - t0)
        return RecipeResult(run_dir, fit, lines, setup)
    finally:
        shutdown(world)


def write_report(run_dir: Path, cfg: RunConfig, fit: FitResult, setup: Setup,
                 lines: list[str], *, n_params: int, wall_s: float) -> Path:
    """report.md: what was trained, how it went, the recipe's results, diagnostics."""
    m, t = cfg.model, cfg.train
    valid = ", ".join(f"{k} {v:.4g}" for k, v in (fit.last_valid or {}).items())
    out = [
        f"# Run `{run_dir.name}`",
        "",
        f"- recipe `{cfg.recipe}`{'; ' + setup.describe if setup.describe else ''}",
        f"- model: {m.cell} {m.num_layers}x{m.hidden_size}"
        f"{' bidirectional' if m.bidirectional else ''}, {n_params:,} parameters",
        f"- training: {fit.steps:,} updates of batch {t.batch_size}, {t.optimizer} lr {t.lr:g} "
        f"{t.schedule}; stopped by {fit.stopped} after {fit.elapsed_s:.0f} s training "
        f"({wall_s:.0f} s this session)",
        f"- best validation loss {fit.best_valid_loss:.4g}; last evaluation: {valid or 'none'}",
        *lines,
        "",
        "![loss curve](loss.png)",
        *report_section(run_dir),
        "",
        "Files: `config.toml` (repeat with `rnnkit train --config config.toml`), "
        "`metrics.jsonl`, `ckpt-*.pt`, `best.pt`.",
    ]
    path = run_dir / "report.md"
    path.write_text("\n".join(out) + "\n")
    return path


def load_run_model(path: str | Path, kind: str, build: Callable[[RunConfig, dict], nn.Module],
                   device: str = "cpu") -> tuple[nn.Module, dict, RunConfig, dict]:
    """(model in eval mode, spec, config, checkpoint) from a run folder (its best.pt, else
    the newest checkpoint) or a checkpoint file whose metadata holds ``ck[kind]`` (the
    spec ``build(cfg, spec)`` rebuilds the model from, e.g. "classifier", "tagger")."""
    from rnnkit.train import checkpoint as ckpt_io

    p = Path(path)
    file = p / "best.pt" if (p / "best.pt").is_file() else ckpt_io.resolve(p)
    ck = ckpt_io.load(file)
    if kind not in ck:
        raise ckpt_io.CheckpointError(f"{file}: not a {kind} checkpoint "
                                      f"(recipe {ck.get('config', {}).get('recipe')!r})")
    cfg = RunConfig.from_dict(ck["config"], source=str(file))
    model = build(cfg, ck[kind])
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise ckpt_io.CheckpointError(f"{file}: weights do not fit its config ({e})") from None
    return model.to(device).eval(), ck[kind], cfg, ck


def load_best(trainer: Trainer) -> None:
    """Load best.pt's weights into the trainer's model (for test-set scoring after fit)."""
    from rnnkit.train import checkpoint as ckpt_io

    best = trainer.run_dir / "best.pt" if trainer.run_dir is not None else None
    if best is not None and best.is_file():
        trainer.model.load_state_dict(ckpt_io.load(best)["model"])



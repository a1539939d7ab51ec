"""The one recipe path: every recipe is declared the same way and run by ``run_recipe``.

    setup = recipe.build(cfg)            # the recipe's model, Task and checkpoint metadata
    fit = Trainer(...).fit()             # train (or resume): checkpoints, metrics, diagnostics
    outcome = setup.finish(trainer, fit) # the recipe's results: report lines, metrics
    report.md, result.json               # written here for every recipe

A recipe is a ``Recipe``: a name, ``defaults`` (with their reasons, in the recipe's
module), a seconds-long ``smoke`` config, ``build(cfg) -> Setup``, and optionally the
``Target`` it promises and ``readers`` for ``rnnkit predict`` / ``rnnkit eval``.
``load_run`` rebuilds any run's model from its checkpoint.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.layers.quantize import quantize
from rnnkit.models.ctc import ctc_model_from_spec
from rnnkit.models.handwriting import writer_from_spec
from rnnkit.models.language import TokenLM, count_parameters
from rnnkit.models.music import music_model_from_spec
from rnnkit.models.sequence import classifier_from_spec, tagger_from_spec
from rnnkit.models.translation import model_from_spec as translation_model_from_spec
from rnnkit.models.tts_spec import tts_model_from_spec
from rnnkit.recipes.result import Target, write_result
from rnnkit.train import checkpoint as ckpt_io
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
class Outcome:
    """What a recipe's finish step returns.

    ``metrics``: the run's headline numbers (test accuracy, validation bits/char...), the
    ones its ``Target`` names; ``baseline``: {"name": ..., "metrics": {...}} of the
    reference it is compared with; ``lines``: markdown for the report and the terminal;
    ``extras``: anything else a caller may want (e.g. generated samples).
    """

    lines: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict | None = None
    extras: dict = field(default_factory=dict)


@dataclass
class Setup:
    """What a recipe's ``build`` returns: the model, its Task, metadata stored in every
    checkpoint (what rebuilds the model: ``vocab``, ``classifier`` or ``tagger``), one line
    saying what data the run trains on, and the finish step (run on the main process after
    training)."""

    model: nn.Module
    task: Task
    meta: dict = field(default_factory=dict)
    describe: str = ""
    finish: Callable[[Trainer, FitResult], Outcome] | None = None


@dataclass(frozen=True)
class Recipe:
    """A named recipe: defaults, smoke settings, how to build it, what it promises."""

    name: str
    summary: str
    defaults: dict[str, Any]
    smoke: dict[str, Any]
    build: Callable[[RunConfig], Setup]
    target: Target | None = None
    readers: dict | None = None  # see rnnkit.recipes.genome for the contract
    resumable: bool = True

    def run(self, cfg: RunConfig, run_dir: Path, **kw) -> RecipeResult:
        """``run_recipe(self, cfg, run_dir, **kw)``."""
        return run_recipe(self, cfg, run_dir, **kw)


@dataclass
class RecipeResult:
    """The one result type of a recipe run."""

    run_dir: Path
    fit: FitResult
    outcome: Outcome
    setup: Setup

    def summary(self) -> list[str]:
        """The recipe's result lines for a terminal (markdown emphasis removed)."""
        return [line.replace("**", "") for line in self.outcome.lines if line.startswith("- ")]


def run_recipe(recipe: Recipe, cfg: RunConfig, run_dir: Path, *,
               resume_from: Path | None = None, progress: bool = True,
               should_stop=None) -> RecipeResult:
    """Build, train (or resume) and report one run of ``recipe`` in ``run_dir``."""
    if resume_from is not None and not recipe.resumable:
        raise ConfigError(f"{recipe.name}: this recipe has no resumable state; start it "
                          "again with a new --name")
    cfg.validate()
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    # Denormal floats (tiny gradients, Adam moments) make CPU math several times slower.
    torch.set_flush_denormal(True)
    world = init_from_env(resolve_device(cfg.train.device))
    t0, cpu0 = time.perf_counter(), time.process_time()
    finished = False
    try:
        seed_everything(cfg.train.seed)
        setup = recipe.build(cfg)
        if cfg.train.init_from and resume_from is None:
            init_weights(setup, cfg.train.init_from)
        if world.active:  # different dropout masks per process; same initial weights
            torch.manual_seed(cfg.train.seed + 7919 * world.rank)
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.toml").write_text(to_toml(cfg))
        n_params = count_parameters(setup.model)
        trainer = Trainer(setup.model, setup.task, cfg=cfg, run_dir=run_dir,
                          meta={**setup.meta, "n_params": n_params}, world=world,
                          progress=progress)
        fit = trainer.fit(resume_from=resume_from, should_stop=should_stop)
        outcome = Outcome()
        if world.is_main:
            if setup.finish is not None:
                outcome = setup.finish(trainer, fit)
            if recipe.target is not None:  # after the result bullets, before figures
                at = next((i for i, ln in enumerate(outcome.lines) if not ln.startswith("- ")),
                          len(outcome.lines))
                outcome.lines.insert(at, recipe.target.line(outcome.metrics))
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            write_report(run_dir, cfg, fit, setup, outcome.lines, n_params=n_params,
                         wall_s=wall)
            write_result(run_dir / "result.json", cfg, fit, metrics=outcome.metrics,
                         baseline=outcome.baseline, target=recipe.target,
                         n_params=n_params, wall_s=wall, cpu_s=cpu)
        finished = True
        return RecipeResult(run_dir, fit, outcome, setup)
    finally:
        shutdown(world, finished=finished)


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
        f"- best validation {setup.task.select_by} {fit.best_valid_loss:.4g} (picks best.pt); "
        f"last evaluation: {valid or 'none'}",
        *lines,
        "",
        "![loss curve](loss.png)",
        *report_section(run_dir),
        "",
        "Files: `config.toml` (repeat with `rnnkit train --config config.toml`), "
        "`metrics.jsonl`, `result.json`, `ckpt-*.pt`, `best.pt`.",
    ]
    path = run_dir / "report.md"
    path.write_text("\n".join(out) + "\n")
    return path


# ---- loading any run's model ---------------------------------------------------------------

# What a checkpoint's metadata key says about its model, and how to rebuild it.
MODEL_KINDS: dict[str, Callable[[RunConfig, dict], nn.Module]] = {
    "vocab": lambda cfg, vocab: TokenLM(len(vocab["tokens"]), cfg.model),
    "classifier": lambda cfg, spec: classifier_from_spec(cfg.model, spec),
    "tagger": lambda cfg, spec: tagger_from_spec(cfg.model, spec),
    "translator": lambda cfg, spec: translation_model_from_spec(cfg.model, spec),
    "music": lambda cfg, spec: music_model_from_spec(cfg.model, spec),
    "writer": lambda cfg, spec: writer_from_spec(cfg.model, spec),
    "recogniser": lambda cfg, spec: ctc_model_from_spec(cfg.model, spec),
    "tts": lambda cfg, spec: tts_model_from_spec(cfg.model, spec),
}
KIND_NAMES = {"vocab": "language-model", "classifier": "classifier", "tagger": "tagger",
              "translator": "translation", "music": "music", "writer": "handwriting",
              "recogniser": "speech-recognition", "tts": "text-to-speech"}


@dataclass
class LoadedRun:
    """A trained model in eval mode with what it was trained with."""

    model: nn.Module
    kind: str            # a key of MODEL_KINDS ("vocab": a language model)
    spec: dict           # the checkpoint's metadata under ``kind``
    config: RunConfig
    checkpoint: dict
    file: Path


def checkpoint_file(path: str | Path) -> Path:
    """A run folder's best.pt (best validation loss), else its newest checkpoint; or a file."""
    p = Path(path)
    return p / "best.pt" if (p / "best.pt").is_file() else ckpt_io.resolve(p)


def load_run(path: str | Path, kinds: tuple[str, ...] = tuple(MODEL_KINDS),
             device: str = "cpu", precision: str = "float32") -> LoadedRun:
    """The model of a run folder or checkpoint file, which must be one of ``kinds``, in
    eval mode; ``precision`` "int8" or "bfloat16" quantises its recurrent layers
    (rnnkit.quantize) for inference."""
    file = checkpoint_file(path)
    ck = ckpt_io.load(file)
    kind = next((k for k in MODEL_KINDS if k in ck), None)
    if kind not in kinds:
        wanted = " or ".join(KIND_NAMES[k] for k in kinds)
        raise CheckpointError(f"{file}: not a {wanted} checkpoint "
                              f"(recipe {ck.get('config', {}).get('recipe')!r})")
    cfg = RunConfig.from_dict(ck["config"], source=str(file))
    model = MODEL_KINDS[kind](cfg, ck[kind])
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{file}: weights do not fit its config "
                              f"({ckpt_io.mismatch(e)})") from None
    model = model.to(resolve_device(device)).eval()
    if precision != "float32":
        try:
            quantize(model, precision)
        except ValueError as e:
            raise ConfigError(f"{file}: {e}") from None
    return LoadedRun(model, kind, ck[kind], cfg, ck, file)


def init_weights(setup: Setup, path: str | Path) -> None:
    """Load another run's weights (``--init-from``) into a freshly built model: the run must
    be of the same kind with the same description (vocabulary, characters, sizes: the
    checkpoint metadata the model is rebuilt from), else CheckpointError saying what
    differs. The optimiser, schedule and step count start afresh."""
    try:
        file = checkpoint_file(path)
        ck = ckpt_io.load(file)
    except CheckpointError as e:
        raise CheckpointError(f"--init-from: {e}") from None
    kind = next((k for k in MODEL_KINDS if k in setup.meta), None)
    if kind is not None:  # recipes without a model description are checked by shapes alone
        if kind not in ck:
            raise CheckpointError(f"--init-from {file}: not a {KIND_NAMES[kind]} checkpoint "
                                  f"(recipe {ck.get('config', {}).get('recipe')!r})")
        ours, theirs = (json.loads(json.dumps(d, default=str)) for d in (setup.meta[kind],
                                                                         ck[kind]))
        differ = sorted(k for k in {*ours, *theirs} if ours.get(k) != theirs.get(k))
        if differ:
            raise CheckpointError(f"--init-from {file}: trained on a different "
                                  f"{KIND_NAMES[kind]} description (differs in "
                                  f"{', '.join(differ)})")
    try:
        setup.model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise CheckpointError(f"--init-from {file}: its weights do not fit this model "
                              f"({ckpt_io.mismatch(e)})") from None


def load_best(trainer: Trainer) -> None:
    """Load best.pt's weights into the trainer's model (for test-set scoring after fit)."""
    best = trainer.run_dir / "best.pt" if trainer.run_dir is not None else None
    if best is not None and best.is_file():
        trainer.model.load_state_dict(ckpt_io.load(best)["model"])

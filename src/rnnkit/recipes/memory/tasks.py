"""Long-range memory recipes (issue #5): adding, copy, temporal order, pixel digits.

    rnnkit train adding --length 200 --cell gru       # MSE at the last step vs 0.167
    rnnkit train copy --length 100                    # recall 10 symbols after T blanks
    rnnkit train temporal --length 100                # 4 classes from two early symbols
    rnnkit train digits | pdigits                     # sklearn 8x8 digits, pixel by pixel

Every recipe is one recurrent layer plus a linear read-out (``rnnkit.models.memory.MemoryNet``),
trained by the one loop. The generated tasks (adding, copy, temporal) draw a fresh batch per
update from a seeded generator (``GeneratedTask``) and evaluate on a fixed validation set of
``VALID_SIZE`` sequences; evaluation returns ``loss`` plus ``baseline`` (the trivial
predictor's loss, ``data.memory``), ``ratio`` = loss / baseline and ``mse`` or ``accuracy``.
``solved(name, metrics)`` is each task's target (``TARGETS``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.data import memory
from rnnkit.errors import ConfigError
from rnnkit.models.memory import MemoryNet
from rnnkit.recipes.base import Outcome, Recipe, Setup, load_best
from rnnkit.recipes.result import Target
from rnnkit.train.config import RunConfig
from rnnkit.train.task import BatchTask, GeneratedTask

VALID_SIZE = 1000   # fixed validation sequences: MSE of 0.01 is measured to about +-0.001
DIGITS_VALID = 150  # digits: training images held out for validation (test set: 25%)
DATA_SEED = 0       # digits split and pixel permutation: the same images for every run

# Shared defaults, with reasons: one layer of 128 is the classic size for these tasks
# (Le et al. 2015 use 100, Arjovsky et al. 2016 use 40-128); Adam at 1e-3 with a constant
# rate (a cosine decay would starve the late, sudden drop of the loss these tasks show);
# clipping at 1.0 because a jump in the loss landscape at the moment a long dependency is
# found otherwise throws the weights off (Pascanu et al. 2013, sec. 3.2).
BASE = {
    "model": {"cell": "lstm", "hidden_size": 128, "num_layers": 1},
    "train": {"batch_size": 64, "optimizer": "adam", "lr": 1e-3, "schedule": "constant",
              "warmup_steps": 0, "clip_norm": 1.0, "max_steps": 5000, "eval_every": 100,
              "ckpt_every": 500, "log_every": 20, "threads": 1},
}
SMOKE = {
    "model": {"hidden_size": 16},
    "data": {"length": 10},
    "train": {"batch_size": 8, "max_steps": 12, "eval_every": 6, "ckpt_every": 6,
              "log_every": 3},
}
# Targets (issue #5): what "solved" means for each task, on the validation set (digits:
# the test set).
TARGETS = {
    "adding": Target("mse", "<", 0.01, "mse < 0.01", "5,000 updates at T = 200", 0.3),
    "copy": Target("accuracy", ">", 0.99, "accuracy > 0.99", "10,000 updates at T = 100", 1.0),
    "temporal": Target("accuracy", ">", 0.99, "accuracy > 0.99", "5,000 updates at T = 100",
                       0.3),
    "digits": Target("accuracy", ">", 0.9, "test accuracy > 0.9", "3,000 updates", 0.1),
    "pdigits": Target("accuracy", ">", 0.9, "test accuracy > 0.9", "3,000 updates", 0.1)}


def solved(name: str, metrics: dict[str, float] | None) -> bool:
    """Whether ``metrics`` (an evaluation) meets task ``name``'s target."""
    return bool(metrics) and TARGETS[name].met(metrics) is True


def target_text(name: str) -> str:
    """The target as words, e.g. ``mse < 0.01``."""
    return TARGETS[name].text


# ---------------------------------------------------------------- generated tasks
@dataclass(frozen=True)
class Generated:
    """One generated task: data, read-out shape, loss and metrics, with lag ``T`` bound."""

    name: str
    input_size: int
    output_size: int
    per_step: bool
    default_length: int
    minimum_length: int
    generate: Callable[[int, int, torch.Generator], tuple[Tensor, Tensor]]  # time-major
    loss: Callable[[Tensor, Tensor], Tensor]                   # (output, target) -> scalar
    metrics: Callable[[Tensor, Tensor, int], dict[str, float]]  # (output, target, T)
    describe: str


def _mse(out: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(out, y)


def _adding_metrics(out: Tensor, y: Tensor, T: int) -> dict[str, float]:
    mse = float(F.mse_loss(out, y))
    base = memory.ADDING_BASELINE_MSE
    return {"loss": mse, "mse": mse, "baseline": base, "ratio": mse / base}


def _copy_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1))  # over all T+20


def _copy_metrics(out: Tensor, y: Tensor, T: int) -> dict[str, float]:
    loss = float(_copy_loss(out, y))
    k = memory.COPY_LENGTH
    acc = float((out[:, -k:].argmax(-1) == y[:, -k:]).float().mean())  # recalled symbols
    base = memory.copy_baseline(T)
    return {"loss": loss, "accuracy": acc, "baseline": base, "ratio": loss / base}


def _class_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out, y)


def _temporal_metrics(out: Tensor, y: Tensor, T: int) -> dict[str, float]:
    loss = float(_class_loss(out, y))
    acc = float((out.argmax(-1) == y).float().mean())
    base = math.log(4)  # chance over XX, XY, YX, YY
    return {"loss": loss, "accuracy": acc, "baseline": base, "ratio": loss / base}


GENERATED = {
    "adding": Generated("adding", 2, 1, False, 200, 2, memory.adding_problem, _mse,
                        _adding_metrics, "adding problem"),
    "copy": Generated("copy", 10, 10, True, 100, 1, memory.copy_memory, _copy_loss,
                      _copy_metrics, "copy memory"),
    "temporal": Generated("temporal", 8, 4, False, 100, 20, memory.temporal_order,
                          _class_loss, _temporal_metrics, "temporal order"),
}


def batch_first(batch: tuple[Tensor, Tensor], per_step: bool) -> tuple[Tensor, Tensor]:
    """Generators give time-major (T, n, C) inputs; the task needs rows first so data
    parallelism can split them. Per-step targets (T, n) turn too; (n, ...) ones stay."""
    x, y = batch
    x = x.transpose(0, 1).contiguous()                      # (n, T, C)
    if per_step:
        y = y.transpose(0, 1).contiguous()                  # copy: (n, T+20)
    return x, y


def lag(cfg: RunConfig, spec: Generated) -> int:
    """The sequence length or lag T: ``data.length``, else the task's default."""
    T = spec.default_length if cfg.data.length is None else cfg.data.length
    if T < spec.minimum_length:
        raise ConfigError(f"--length {T}: the {spec.describe} needs T >= {spec.minimum_length}")
    return T


def make_model(cfg: RunConfig, input_size: int, output_size: int, per_step: bool) -> MemoryNet:
    """The recipe's ``MemoryNet`` from ``cfg.model`` (single layer: the benchmarks measure
    one recurrence, so ``num_layers`` > 1 is refused rather than silently ignored)."""
    m = cfg.model
    if m.num_layers != 1 or m.bidirectional:
        raise ConfigError("memory recipes use one unidirectional layer "
                          "(drop --layers/--bidirectional)")
    if m.forget_bias is not None and m.cell != "lstm":
        raise ConfigError(f"--forget-bias applies to LSTMs only, not {m.cell}")
    return MemoryNet(m.cell, input_size, m.hidden_size, output_size, per_step=per_step,
                     recurrent_init=m.recurrent_init, forget_bias=m.forget_bias,
                     backend=m.backend)


def build_generated(name: str, cfg: RunConfig, valid_size: int = VALID_SIZE) -> Setup:
    """Model and ``GeneratedTask`` for adding / copy / temporal at lag ``data.length``."""
    spec = GENERATED[name]
    T = lag(cfg, spec)

    def make_batch(n: int, g: torch.Generator):
        return batch_first(spec.generate(n, T, g), spec.per_step)

    def loss(model, batch):
        x, y = batch
        return spec.loss(model(x), y)

    def metrics(model, batch):
        x, y = batch
        return spec.metrics(model(x), y, T)

    t = cfg.train
    task = GeneratedTask(make_batch, loss, t.batch_size, valid_size=valid_size, seed=t.seed,
                         metrics=metrics)
    model = make_model(cfg, spec.input_size, spec.output_size, spec.per_step)

    def finish(trainer, fit) -> Outcome:
        valid = fit.last_valid or {}
        baseline = {"name": "trivial predictor (data.memory)",
                    "metrics": {"loss": valid["baseline"]}} if valid else None
        return Outcome(result_lines(name, fit.last_valid, fit.steps), dict(valid), baseline)

    return Setup(model, task, meta={"lag": T},
                 describe=f"{spec.describe}, T = {T}, fresh batches each update, "
                          f"{valid_size} fixed validation sequences", finish=finish)


def result_lines(name: str, metrics: dict[str, float] | None, steps: int) -> list[str]:
    """Markdown result lines: the metric, the baseline and their ratio."""
    if not metrics:
        return ["- no evaluation yet"]
    key = TARGETS[name].metric
    lines = [f"- **{name}**: validation loss {metrics['loss']:.4g} vs baseline "
             f"{metrics['baseline']:.4g} (ratio {metrics['loss'] / metrics['baseline']:.3g})"]
    if key in metrics and key != "loss":
        lines.append(f"- {key}: {metrics[key]:.4g}")
    lines.append(f"- last evaluated after {steps:,} updates")
    return lines


# ---------------------------------------------------------------- pixel digits
def digits_splits(permute: bool) -> dict[str, list[tuple[Tensor, Tensor]]]:
    """train / valid / test lists of (x (64, 1), label) examples; fixed by ``DATA_SEED``."""
    out = {}
    for split in ("train", "test"):
        x, y = memory.pixel_digits(split, permute, seed=DATA_SEED)  # (64, n, 1), (n,)
        out[split] = list(zip(x.transpose(0, 1), y, strict=True))
    out["valid"], out["train"] = out["train"][:DIGITS_VALID], out["train"][DIGITS_VALID:]
    return out


def _collate(examples: list) -> tuple[Tensor, Tensor]:
    xs, ys = zip(*examples, strict=True)
    return torch.stack(xs), torch.stack(ys)  # (B, 64, 1), (B,)


def _digits_loss(model, batch) -> Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def majority_accuracy(train: list, test: list) -> float:
    """Accuracy of always predicting the training set's most frequent label."""
    labels = torch.stack([y for _, y in train])
    top = int(torch.bincount(labels).argmax())
    return float(sum(int(y) == top for _, y in test) / len(test))


def digits_metrics(baseline: float):
    """Evaluation over batches: mean loss, accuracy, and the majority-class baseline."""
    def metrics(model, batches) -> dict[str, float]:
        loss = correct = n = 0.0
        for x, y in batches:
            out = model(x)
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            correct += float((out.argmax(-1) == y).sum())
            n += len(y)
        return {"loss": loss / n, "accuracy": correct / n, "baseline": baseline}
    return metrics


def build_digits(name: str, cfg: RunConfig) -> Setup:
    """Sequential (``digits``) or permuted (``pdigits``) 8x8 digits, one pixel per step."""
    permute = name == "pdigits"
    data = digits_splits(permute)
    base = majority_accuracy(data["train"], data["test"])
    metrics = digits_metrics(base)
    t = cfg.train
    task = BatchTask(data["train"], data["valid"], t.batch_size, _collate, _digits_loss,
                     seed=t.seed, metrics=metrics)
    model = make_model(cfg, 1, 10, per_step=False)

    def finish(trainer, fit) -> Outcome:
        load_best(trainer)  # test on the best validation checkpoint, not the last weights
        trainer.model.eval()
        with torch.no_grad():
            batches = [tuple(b.to(trainer.device) for b in _collate(data["test"][i:i + 256]))
                       for i in range(0, len(data["test"]), 256)]
            test = metrics(trainer.model, batches)
        return Outcome([f"- **{name}**: test accuracy {test['accuracy']:.4f} "
                        f"(majority class {base:.4f}); test loss {test['loss']:.4g}"],
                       {"accuracy": test["accuracy"], "loss": test["loss"]},
                       {"name": "majority class", "metrics": {"accuracy": base}})

    kind = "permuted " if permute else ""
    return Setup(model, task, meta={"lag": 64},
                 describe=f"sklearn 8x8 digits, {kind}pixel by pixel (T = 64); "
                          f"{len(data['train'])} train / {len(data['valid'])} valid / "
                          f"{len(data['test'])} test images", finish=finish)


# ---------------------------------------------------------------- registry
def build(name: str, cfg: RunConfig) -> Setup:
    """The Setup of memory recipe ``name`` for ``cfg``."""
    if name in GENERATED:
        return build_generated(name, cfg)
    return build_digits(name, cfg)


def _merge(*dicts: dict) -> dict:
    out: dict = {}
    for d in dicts:
        for section, values in d.items():
            out.setdefault(section, {}).update(values)
    return out


def _recipe(name: str, summary: str, defaults: dict, smoke: dict) -> Recipe:
    return Recipe(name, summary, _merge(BASE, defaults), smoke,
                  functools.partial(build, name), TARGETS[name])


DIGITS_SMOKE = _merge(SMOKE, {"data": {"length": None}})
RECIPES = (
    _recipe("adding", "adding problem: sum two marked values after T steps; "
                      "MSE vs 0.167 (--length T, default 200)",
                      # lr 1e-2: LSTM 64 at T = 50 left the 0.155 plateau after ~550
                      # updates (1e-3: ~1900); clipping keeps it stable.
                      {"data": {"length": 200}, "train": {"lr": 1e-2}}, SMOKE),
    _recipe("copy", "copy memory: recall 10 symbols after T blanks; CE vs "
                    "10 ln 8/(T+20) (--length T, default 100)",
                    {"data": {"length": 100}, "train": {"max_steps": 10000}}, SMOKE),
    _recipe("temporal", "temporal order: classify X/Y at two early positions "
                        "(--length T, default 100)",
                        {"data": {"length": 100}}, _merge(SMOKE, {"data": {"length": 20}})),
    _recipe("digits", "sklearn 8x8 digits read pixel by pixel (T = 64)",
                      {"train": {"max_steps": 3000}}, DIGITS_SMOKE),
    _recipe("pdigits", "permuted pixel-by-pixel 8x8 digits (T = 64)",
                       {"train": {"max_steps": 3000}}, DIGITS_SMOKE),
)

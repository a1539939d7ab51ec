"""Sequence classification as a recipe: the model, the Task and the test-set report that
every classification recipe (splice, promoters, handwriting, spoken words, time series)
shares. A recipe's ``build(cfg)`` loads its data as ``LabelledSequences`` and returns
``classifier_setup(cfg, train, valid, test)``.

    train/valid  -> BatchTask: cross-entropy, reshuffled every epoch; validation loss,
                    accuracy and macro-F1 decide the best checkpoint (by loss)
    finish       -> best.pt scored on the test set: accuracy, macro-F1, per-class report,
                    confusion.png, test_report.json

Checkpoints carry what is needed to rebuild the model without the recipe's data
(``meta["classifier"]``), so ``base.load_run(run)`` serves ``rnnkit eval`` and
``rnnkit predict``. ``signal_recipe`` declares the handwriting, speech and time-series
recipes, which share one model shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.sequences import LabelledSequences, collate
from rnnkit.errors import DataError
from rnnkit.models.sequence import classifier_from_spec
from rnnkit.recipes.base import Outcome, Recipe, Setup, load_best
from rnnkit.recipes.result import Target
from rnnkit.train.config import RunConfig
from rnnkit.train.scoring import ClassificationReport, plot_confusion, report_from_confusion
from rnnkit.train.scoring import confusion_matrix as make_confusion
from rnnkit.train.task import BatchTask


def classifier_spec(cfg: RunConfig, data: LabelledSequences, **extra) -> dict:
    """Everything that fixes the classifier's shape: stored in checkpoints.

    ``extra`` takes recipe-specific model arguments (e.g. ``pool_steps``, ``position_bias``)
    and ``features``: a dict of input settings for the recipe's readers (not passed to the
    model).
    """
    tokens = data.num_features is None
    vocab = int(max(int(x.max()) for x in data.inputs if len(x)) + 1) if tokens else None
    return {"classes": list(data.classes), "vocab_size": extra.pop("vocab_size", vocab),
            "num_features": data.num_features, **extra}


def classification_loss(model: nn.Module, batch) -> Tensor:
    x, lengths, y = batch
    return F.cross_entropy(model(x, lengths), y)


@torch.no_grad()
def predict(model: nn.Module, batches) -> tuple[Tensor, Tensor, Tensor]:
    """(true labels, predicted labels, class probabilities) over batches of (x, lengths, y)."""
    ys, probs = [], []
    for x, lengths, y in batches:
        probs.append(torch.softmax(model(x, lengths), dim=-1).cpu())
        ys.append(y.cpu())
    p = torch.cat(probs)
    return torch.cat(ys), p.argmax(-1), p


def score(model: nn.Module, batches, classes: list[str]) -> tuple[dict, ClassificationReport]:
    """Mean loss, accuracy and macro-F1 of ``model`` over batches, and the full report."""
    was_training = model.training
    model.eval()
    try:
        y, pred, p = predict(model, batches)
    finally:
        model.train(was_training)
    loss = float(F.nll_loss(torch.log(p.clamp_min(1e-12)), y))
    report = report_from_confusion(make_confusion(y, pred, len(classes)), classes)
    return {"loss": loss, "accuracy": report.accuracy, "macro_f1": report.macro_f1}, report


def batches_of(data: LabelledSequences, batch_size: int, device) -> list:
    """``data`` in order as device batches."""
    from rnnkit.train.task import ordered_batches

    return ordered_batches(data, batch_size, collate, device)


def check_splits(train, valid, test) -> None:
    """DataError naming the first empty split (test may be None)."""
    for name, part in (("training", train), ("validation", valid), ("test", test)):
        if part is not None and len(part) == 0:
            raise DataError(f"the {name} set is empty")


def describe_splits(train, valid, test, n_labels: int, labels: str) -> str:
    return (f"{len(train):,} train / {len(valid):,} valid"
            f"{f' / {len(test):,} test' if test is not None else ''} sequences, "
            f"{n_labels} {labels}")


def save_scored_split(run_dir: Path, title: str, report: ClassificationReport,
                      classes: list[str], payload: dict) -> None:
    """confusion.png and test_report.json (``payload`` plus the full report) of the split
    that ``finish`` scored."""
    plot_confusion(report.confusion, classes, run_dir / "confusion.png", title=title)
    (run_dir / "test_report.json").write_text(json.dumps(
        {**payload, "report": report.to_dict()}, indent=1))


def score_best(trainer, make_batches, scorer, name: str, cfg: RunConfig, size: str,
               payload: dict) -> tuple[dict, ClassificationReport]:
    """Score best.pt on one split (the test split, else validation): ``make_batches(device)``
    gives its batches, ``scorer(model, batches) -> (metrics, report)``; saves confusion.png
    and test_report.json."""
    load_best(trainer)
    metrics, report = scorer(trainer.model, make_batches(trainer.device))
    save_scored_split(trainer.run_dir, f"{cfg.recipe}: {name} set ({size})", report,
                      report.classes, {"split": name, **payload, **metrics})
    return metrics, report


def report_block(report: ClassificationReport) -> list[str]:
    """The confusion plot and the printed per-class report, for report.md."""
    return ["", "![confusion matrix](confusion.png)", "", "```", str(report), "```"]


def classifier_setup(cfg: RunConfig, train: LabelledSequences, valid: LabelledSequences,
                     test: LabelledSequences | None = None, *, describe: str = "",
                     spec: dict | None = None, meta: dict | None = None,
                     baseline: tuple[str, float] | None = None) -> Setup:
    """Model + BatchTask + test-set report for a classification recipe.

    ``baseline`` = (name, accuracy) of a reference (published result, majority class...)
    printed beside the test accuracy.
    """
    check_splits(train, valid, test)
    spec = spec or classifier_spec(cfg, train)
    classes = spec["classes"]
    model = classifier_from_spec(cfg.model, spec)
    task = BatchTask(train, valid, cfg.train.batch_size, collate, classification_loss,
                     seed=cfg.train.seed,
                     metrics=lambda model, batches: score(model, batches, classes)[0])

    def finish(trainer, fit) -> Outcome:
        part, name = (test, "test") if test is not None else (valid, "validation")
        metrics, report = score_best(
            trainer, lambda dev: batches_of(part, cfg.train.batch_size, dev),
            lambda m, b: score(m, b, classes), name, cfg, f"{len(part)} sequences",
            {"n": len(part)})
        majority = max(part.class_counts().values()) / len(part)
        lines = [f"- {name} accuracy: **{metrics['accuracy']:.2%}** "
                 f"({len(part):,} sequences), macro-F1 {metrics['macro_f1']:.3f}",
                 f"- majority-class baseline: {majority:.2%}"]
        ref = baseline or ("majority class", majority)
        if baseline is not None:
            lines.append(f"- reference ({baseline[0]}): {baseline[1]:.2%}")
        lines += report_block(report)
        key = "test" if name == "test" else "valid"
        return Outcome(lines, {f"{key}_accuracy": metrics["accuracy"],
                               f"{key}_macro_f1": metrics["macro_f1"]},
                       baseline={"name": ref[0], "metrics": {f"{key}_accuracy": ref[1]}})

    return Setup(model, task, meta={"classifier": spec, **(meta or {})},
                 describe=describe or describe_splits(train, valid, test, len(classes),
                                                      "classes"), finish=finish)


# ---- the signal recipes' shared settings (handwriting, speech, time series) ----------------

# A small bidirectional GRU whose mean-pooled states feed the classifier. Mean pooling lets
# every step vote (the last state of a 100-step trajectory forgets its start, where LASA
# shapes differ most); bidirectional so each step sees the whole drawing or clip.
SIGNAL_MODEL = {"cell": "gru", "bidirectional": True, "pooling": "mean", "num_layers": 1}
SIGNAL_TRAIN = {"optimizer": "adam", "schedule": "cosine", "threads": 1, "clip_norm": 5.0,
                "warmup_steps": 50, "ckpt_every": 500, "log_every": 50}
SIGNAL_SMOKE = {"model": {"hidden_size": 16, "embed_size": 8, "dropout": 0.0},
                "train": {"batch_size": 8, "max_steps": 6, "max_seconds": None,
                          "eval_every": 3, "ckpt_every": 3, "log_every": 2,
                          "warmup_steps": 1}}
USER_SPLIT = (0.15, 0.15)  # valid, test fractions of a user's folder


def signal_recipe(name: str, summary: str, build, model: dict, train: dict, *,
                  target: Target | None = None, readers: dict | None = None) -> Recipe:
    """A signal classification recipe: the shared settings above plus its own."""
    return Recipe(name, summary, {"model": {**SIGNAL_MODEL, **model},
                                  "train": {**SIGNAL_TRAIN, **train}},
                  SIGNAL_SMOKE, build, target, readers)

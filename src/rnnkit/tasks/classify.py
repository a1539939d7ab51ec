"""Sequence classification as a recipe: the model, the Task and the test-set report that
every classification recipe (splice, promoters, handwriting, spoken words, time series)
shares. A recipe's ``build(cfg)`` loads its data as ``LabelledSequences`` and returns
``classifier_setup(cfg, train, valid, test)``.

    train/valid  -> BatchTask: cross-entropy, reshuffled every epoch; validation loss,
                    accuracy and macro-F1 decide the best checkpoint (by loss)
    finish       -> best.pt scored on the test set: accuracy, macro-F1, per-class report,
                    confusion.png, test_report.json

Checkpoints carry what is needed to rebuild the model without the recipe's data
(``meta["classifier"]``), so ``load_classifier(run)`` serves ``rnnkit eval`` and
``rnnkit predict``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.sequences import LabelledSequences, collate
from rnnkit.tasks.metrics import ClassificationReport, plot_confusion, report_from_confusion
from rnnkit.tasks.metrics import confusion_matrix as make_confusion
from rnnkit.tasks.runner import Setup, load_best, load_run_model
from rnnkit.tasks.seqclass import SequenceClassifier
from rnnkit.train.config import RunConfig
from rnnkit.train.errors import DataError
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


def build_classifier(cfg: RunConfig, spec: dict) -> SequenceClassifier:
    m = cfg.model
    # "features": how a recipe's readers turn files into inputs (scales, rates); not a
    # model argument.
    extra = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()
             if k not in ("classes", "vocab_size", "num_features", "features")}
    return SequenceClassifier(
        len(spec["classes"]), vocab_size=spec["vocab_size"],
        num_features=None if spec["vocab_size"] is not None else spec["num_features"],
        pooling=m.pooling, embed_size=m.embed_size, cell=m.cell, hidden_size=m.hidden_size,
        num_layers=m.num_layers, bidirectional=m.bidirectional, dropout=m.dropout,
        backend=m.backend, **extra)


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
    from rnnkit.train.task import to_device

    return [to_device(collate([data[j] for j in range(i, min(i + batch_size, len(data)))]),
                      device) for i in range(0, len(data), batch_size)]


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
    model = build_classifier(cfg, spec)
    task = BatchTask(train, valid, cfg.train.batch_size, collate, classification_loss,
                     seed=cfg.train.seed,
                     metrics=lambda model, batches: score(model, batches, classes)[0])

    def finish(trainer, fit) -> list[str]:
        load_best(trainer)
        part, name = (test, "test") if test is not None else (valid, "validation")
        metrics, report = score(trainer.model, batches_of(part, cfg.train.batch_size,
                                                          trainer.device), classes)
        save_scored_split(trainer.run_dir, f"{cfg.recipe}: {name} set ({len(part)} sequences)",
                          report, classes, {"split": name, "n": len(part), **metrics})
        majority = max(part.class_counts().values()) / len(part)
        lines = [f"- {name} accuracy: **{metrics['accuracy']:.2%}** "
                 f"({len(part):,} sequences), macro-F1 {metrics['macro_f1']:.3f}",
                 f"- majority-class baseline: {majority:.2%}"]
        if baseline is not None:
            lines.append(f"- reference ({baseline[0]}): {baseline[1]:.2%}")
        lines += ["", "![confusion matrix](confusion.png)", "", "```", str(report), "```"]
        return lines

    return Setup(model, task, meta={"classifier": spec, **(meta or {})},
                 describe=describe or describe_splits(train, valid, test, len(classes),
                                                      "classes"), finish=finish)


def load_classifier(path: str | Path, device: str = "cpu"
                    ) -> tuple[SequenceClassifier, dict, RunConfig, dict]:
    """(model in eval mode, spec, config, checkpoint) from a classification run or file."""
    return load_run_model(path, "classifier", build_classifier, device)

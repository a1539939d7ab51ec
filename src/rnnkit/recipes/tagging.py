"""Per-step tagging as a recipe: the tagging counterpart of ``classify.classifier_setup``.

A recipe loads its data as ``TaggedSequences`` (one tag per step) and returns
``tagger_setup(cfg, train, valid, test)``:

    train/valid  -> BatchTask: cross-entropy over valid steps; validation loss, per-step
                    accuracy and macro-F1 decide the best checkpoint (by loss)
    finish       -> best.pt scored on the test set (per-step report, confusion.png,
                    test_report.json), beside any baselines the recipe scored itself

Checkpoints carry ``meta["tagger"]`` (tag names, vocabulary size) so the model can be
rebuilt without the recipe's data (``base.load_run``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.data.sequences import pad_batch
from rnnkit.models.sequence import tagger_from_spec, tagging_loss, valid_steps
from rnnkit.recipes.base import Outcome, Setup
from rnnkit.recipes.classify import check_splits, describe_splits, report_block, score_best
from rnnkit.train.config import RunConfig
from rnnkit.train.scoring import (
    ClassificationReport,
    confusion_matrix,
    report_from_confusion,
)
from rnnkit.train.task import BatchTask, ordered_batches


@dataclass
class TaggedSequences:
    """N sequences with one tag per step: ``inputs[i]`` (T_i,) int64 or (T_i, F) float,
    ``tags[i]`` (T_i,) int64 in [0, len(classes))."""

    inputs: list[Tensor]
    tags: list[Tensor]
    classes: list[str]
    ids: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.ids:
            self.ids = [str(k) for k in range(len(self.inputs))]
        assert len(self.inputs) == len(self.tags) == len(self.ids), "ragged dataset"
        assert all(len(x) == len(t) for x, t in zip(self.inputs, self.tags, strict=True))

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.inputs[i], self.tags[i]

    def tag_counts(self) -> Tensor:
        """(K,) int64 number of steps with each tag."""
        return torch.bincount(torch.cat(self.tags), minlength=len(self.classes))


def collate_tags(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """[(x_i, tags_i)] -> x (B, T_max, ...), lengths (B,), tags (B, T_max) (padding 0,
    ignored by the loss and metrics through the lengths)."""
    xs, ts = zip(*batch, strict=True)
    x, lengths = pad_batch(xs)
    tags, _ = pad_batch(ts)
    return x, lengths, tags


def tagger_loss(model: nn.Module, batch, weight: Tensor | None = None) -> Tensor:
    """Mean (optionally tag-weighted) cross-entropy over the valid steps of a batch."""
    x, lengths, tags = batch
    return tagging_loss(model(x, lengths), tags, lengths,
                        None if weight is None else weight.to(x.device))


@torch.no_grad()
def tag_predictions(model: nn.Module, batches) -> tuple[Tensor, Tensor]:
    """(true tags, predicted tags) over the valid steps of batches of (x, lengths, tags)."""
    ys, preds = [], []
    for x, lengths, tags in batches:
        logits = model(x, lengths)
        ys.append(valid_steps(tags, lengths).cpu())
        preds.append(valid_steps(logits.argmax(-1), lengths).cpu())
    return torch.cat(ys), torch.cat(preds)


def score_tags(model: nn.Module, batches, classes: list[str], weight: Tensor | None = None
               ) -> tuple[dict, ClassificationReport]:
    """Mean per-step loss (weighted as in training), accuracy and macro-F1 over batches,
    and the full report."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            steps = sum(int(b[1].sum()) for b in batches)
            loss = sum(float(tagger_loss(model, b, weight)) * int(b[1].sum())
                       for b in batches)
            y, pred = tag_predictions(model, batches)
    finally:
        model.train(was_training)
    report = report_from_confusion(confusion_matrix(y, pred, len(classes)), classes)
    return {"loss": loss / max(steps, 1), "accuracy": report.accuracy,
            "macro_f1": report.macro_f1}, report


def batches_of(data: TaggedSequences, batch_size: int, device) -> list:
    """``data`` in order as device batches."""
    return ordered_batches(data, batch_size, collate_tags, device)


def tagger_setup(cfg: RunConfig, train: TaggedSequences, valid: TaggedSequences,
                 test: TaggedSequences | None = None, *, spec: dict, describe: str = "",
                 meta: dict | None = None,
                 baselines: list[tuple[str, ClassificationReport]] | None = None,
                 tag_weights: list[float] | None = None) -> Setup:
    """Model + BatchTask + test-set report for a tagging recipe.

    ``spec``: {"classes", "vocab_size", "num_features", ...} (stored in checkpoints).
    ``baselines``: (name, report on the same test steps) printed beside the model's scores.
    ``tag_weights``: per-tag loss weights (training and validation loss), e.g. to make a
    rare tag count for F1; None = plain cross-entropy.
    """
    check_splits(train, valid, test)
    classes = spec["classes"]
    model = tagger_from_spec(cfg.model, spec)
    weight = None if tag_weights is None else torch.tensor(tag_weights, dtype=torch.float32)
    task = BatchTask(train, valid, cfg.train.batch_size, collate_tags,
                     lambda model, batch: tagger_loss(model, batch, weight),
                     seed=cfg.train.seed,
                     metrics=lambda model, batches: score_tags(model, batches, classes,
                                                               weight)[0])

    def finish(trainer, fit) -> Outcome:
        part, name = (test, "test") if test is not None else (valid, "validation")
        n_steps = int(part.tag_counts().sum())
        metrics, report = score_best(
            trainer, lambda dev: batches_of(part, cfg.train.batch_size, dev),
            lambda m, b: score_tags(m, b, classes), name, cfg, f"{n_steps:,} steps",
            {"steps": n_steps, "baselines": {b: r.to_dict() for b, r in baselines or []}})
        lines = [f"- {name} per-step accuracy: **{metrics['accuracy']:.2%}**, macro-F1 "
                 f"**{metrics['macro_f1']:.3f}**, F1 per tag {_per_tag(classes, report)} "
                 f"({n_steps:,} steps)"]
        for b, r in baselines or []:
            lines.append(f"- baseline ({b}): accuracy {r.accuracy:.2%}, macro-F1 "
                         f"{r.macro_f1:.3f}, F1 per tag {_per_tag(classes, r)}")
        key = "test" if name == "test" else "valid"
        ref = None
        if baselines:  # the strongest baseline by macro-F1 is what the model must beat
            b, r = max(baselines, key=lambda br: br[1].macro_f1)
            ref = {"name": b, "metrics": {f"{key}_accuracy": r.accuracy,
                                          f"{key}_macro_f1": r.macro_f1}}
        return Outcome(lines + report_block(report),
                       {f"{key}_accuracy": metrics["accuracy"],
                        f"{key}_macro_f1": metrics["macro_f1"]}, baseline=ref)

    return Setup(model, task, meta={"tagger": spec, **(meta or {})},
                 describe=describe or describe_splits(train, valid, test, len(classes),
                                                      "tags"), finish=finish)


def _per_tag(classes: list[str], report: ClassificationReport) -> str:
    return ", ".join(f"{c} {f:.3f}" for c, f in zip(classes, report.f1, strict=True))

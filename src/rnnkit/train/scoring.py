"""Classification scores: confusion matrix, accuracy, per-class precision/recall/F1,
macro-F1, a printable report, a confusion-matrix plot, and mean/spread over seeds.

(``rnnkit.train.metrics`` is the training loop's JSONL log and loss plot; this module
scores predictions, and ``ClassificationReport.to_dict()`` is what goes into that log.)

Definitions, with C[i, j] = number of examples of true class i predicted as j:

    accuracy   = trace(C) / sum(C)
    precision_k = C[k, k] / sum_i C[i, k]     recall_k = C[k, k] / sum_j C[k, j]
    F1_k        = 2 P_k R_k / (P_k + R_k)     (0 where P_k + R_k = 0)
    macro-F1    = mean of F1_k over the classes that occur in the labels or predictions
                  (scikit-learn's default), so every class counts equally however rare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> Tensor:
    """(K, K) int64 counts; rows are true classes, columns predictions."""
    y_true, y_pred = torch.as_tensor(y_true).flatten(), torch.as_tensor(y_pred).flatten()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in size: {len(y_true)} vs {len(y_pred)}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} has labels outside 0..{num_classes - 1}")
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def _safe_div(a: Tensor, b: Tensor) -> Tensor:
    return torch.where(b > 0, a / b.clamp_min(1), torch.zeros_like(a))


@dataclass
class ClassificationReport:
    """Scores of one set of predictions; ``str()`` prints a table."""

    classes: list[str]
    confusion: Tensor  # (K, K) int64
    accuracy: float
    macro_f1: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]

    def to_dict(self) -> dict:
        """JSON-able (for the metrics log and RESULTS tables)."""
        return {
            "accuracy": self.accuracy, "macro_f1": self.macro_f1, "classes": self.classes,
            "confusion": self.confusion.tolist(),
            "per_class": {c: {"precision": p, "recall": r, "f1": f, "support": s}
                          for c, p, r, f, s in zip(self.classes, self.precision, self.recall,
                                                   self.f1, self.support, strict=True)},
        }

    def __str__(self) -> str:
        w = max(8, *(len(c) for c in self.classes))
        lines = [f"{'class':<{w}}  precision  recall      f1  support"]
        for c, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1,
                                 self.support, strict=True):
            lines.append(f"{c:<{w}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {s:7d}")
        n = sum(self.support)
        lines.append(f"{'accuracy':<{w}}  {'':9}  {'':6}  {self.accuracy:6.4f}  {n:7d}")
        lines.append(f"{'macro-F1':<{w}}  {'':9}  {'':6}  {self.macro_f1:6.4f}  {n:7d}")
        return "\n".join(lines)


def report_from_confusion(confusion: Tensor, classes: Sequence[str]) -> ClassificationReport:
    C = confusion.double()
    tp = C.diag()
    predicted, actual = C.sum(0), C.sum(1)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, actual)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = (predicted + actual) > 0
    total = C.sum()
    return ClassificationReport(
        classes=list(classes), confusion=confusion.clone(),
        accuracy=float(tp.sum() / total) if total > 0 else math.nan,
        macro_f1=float(f1[present].mean()) if present.any() else math.nan,
        precision=precision.tolist(), recall=recall.tolist(), f1=f1.tolist(),
        support=[int(v) for v in actual],
    )


def classification_report(y_true: Tensor, y_pred: Tensor, classes: Sequence[str]
                          ) -> ClassificationReport:
    """Score predictions (ints in 0..K-1, K = len(classes)); see the module docstring."""
    return report_from_confusion(confusion_matrix(y_true, y_pred, len(classes)), classes)


def plot_confusion(confusion: Tensor, classes: Sequence[str], path: str | Path,
                   title: str = "", normalise: bool = True) -> Path:
    """Save the confusion matrix as a PNG: colour = row-normalised rate (recall per true
    class) when ``normalise``, so rare classes are as visible as common ones; the cells
    print the counts (up to 30 classes)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in tests
    import matplotlib.pyplot as plt

    C = confusion.double()
    shown = _safe_div(C, C.sum(1, keepdim=True)) if normalise else C
    K = len(classes)
    size = min(4 + 0.35 * K, 16)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=100)
    im = ax.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=1 if normalise else None)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class" if normalise
                 else "count")
    if K <= 30:
        ax.set_xticks(range(K), classes, rotation=90 if K > 8 else 0)
        ax.set_yticks(range(K), classes)
        for i in range(K):
            for j in range(K):
                if confusion[i, j]:
                    ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if shown[i, j] > 0.5 * float(shown.max()) else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def mean_and_spread(values: Sequence[float]) -> dict[str, float]:
    """Summary of one score over seeds: mean, sample std (n-1), min, max, n."""
    v = torch.tensor([float(x) for x in values], dtype=torch.float64)
    if len(v) == 0:
        raise ValueError("no values to summarise")
    return {"mean": float(v.mean()), "std": float(v.std()) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": len(v)}

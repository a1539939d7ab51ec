"""Pictures of pen trajectories for the handwriting recipes: one example per class, and
the test items the model got wrong (drawn beside an example of the class it chose)."""

from __future__ import annotations

import math
from pathlib import Path

from torch import Tensor


def _draw(ax, x: Tensor, title: str, color: str = "k") -> None:
    """One drawing: (T, >=2) positions, strokes split where column 4 (pen) is 1."""
    xy = x[:, :2].numpy()
    pen = x[:, -1].numpy() if x.shape[1] in (3, 5) else None
    start = 0
    ends = [i for i in range(len(xy)) if pen is not None and pen[i] > 0.5] or [len(xy) - 1]
    for k, e in enumerate(ends):
        seg = xy[start:e + 1]
        ax.plot(seg[:, 0], seg[:, 1], "-", color=color, lw=1.2)
        ax.plot(seg[:1, 0], seg[:1, 1], "o", color="tab:green" if k == 0 else color, ms=2.5)
        start = e + 1
    ax.set_title(title, fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])


def label_text(label: str) -> str:
    """A class name the default font can draw: CJK characters become their code points."""
    return "".join(c if ord(c) < 0x2E80 else f"U+{ord(c):04X}" for c in str(label))


def _grid(n: int, path: Path, draw_items, title: str, flip_y: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    cols = max(1, min(n, 8))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows), dpi=100,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (x, label, color) in zip(axes.flat, draw_items, strict=False):
        ax.axis("on")
        _draw(ax, x, label_text(label), color)
        if flip_y:
            ax.invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_examples(inputs: list[Tensor], labels: list[str], path: str | Path, title: str,
                  limit: int = 32, flip_y: bool = False) -> Path:
    """A grid of drawings (first ``limit``) titled with their labels; the green dot is where
    the pen starts."""
    items = [(x, str(c), "k") for x, c in zip(inputs[:limit], labels[:limit], strict=False)]
    return _grid(len(items), Path(path), items, title, flip_y)


def plot_mistakes(mistakes: list[tuple[Tensor, str, str, Tensor | None]], path: str | Path,
                  title: str, limit: int = 12, flip_y: bool = False) -> Path:
    """Pairs of panels: a misread test drawing ("true -> predicted", red) and a training
    example of the predicted class (grey), so one sees why they were confused."""
    items = []
    for x, true, pred, example in mistakes[:limit]:
        items.append((x, f"{true} -> {pred}", "tab:red"))
        if example is not None:
            items.append((example, f"a training {pred}", "0.4"))
    if not items:
        return _grid(0, Path(path), [], title + ": no mistakes", flip_y)
    return _grid(len(items), Path(path), items, title, flip_y)

"""Metrics as JSON lines (one object per line, ``kind`` = "train" or "valid"), and the
loss-curve plot drawn from them.

train lines: step, epoch, loss (nats/token), bpc (bits/token), grad_norm, clipped
             (fraction of updates since the last line that were clipped), lr,
             tokens_per_s, elapsed_s
valid lines: step, valid_loss, valid_bpc, best
"""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    """Append-only JSONL file. On resume, lines after the resumed step are dropped:
    that work was lost with the process and will be redone identically."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.exists():
            keep = [ln for ln in read_metrics(path) if ln["step"] <= resume_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in keep))
        elif resume_step is None:
            path.write_text("")

    def write(self, record: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict]:
    """All records of a metrics file (a torn last line from a crash is skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_losses(metrics_path: Path, out_png: Path, title: str = "") -> Path | None:
    """Train and valid loss against step (bits/token where the task logs bpc, else the
    task's loss); None if there is nothing to plot."""
    records = read_metrics(metrics_path)
    bits = any("bpc" in r for r in records)
    key = "bpc" if bits else "loss"
    train = [(r["step"], r[key]) for r in records if r.get("kind") == "train"]
    valid = [(r["step"], r[f"valid_{key}"]) for r in records if r.get("kind") == "valid"]
    if not train and not valid:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in tests
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train", lw=1, alpha=0.8)
    if valid:
        ax.plot(*zip(*valid, strict=True), "o-", label="valid", lw=2)
    ax.set_xlabel("update step")
    ax.set_ylabel("bits per token" if bits else "loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png

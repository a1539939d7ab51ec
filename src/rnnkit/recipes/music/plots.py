"""Piano-roll pictures: real pieces beside sampled ones, time across, pitch up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.data.music import LOW


def plot_rolls(real: list[np.ndarray], sampled: list[np.ndarray], path: Path) -> Path:
    """One row per pair: a real roll (T, K) on the left, a sampled one on the right;
    either list may be empty."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    rows = max(len(real), len(sampled), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(10, 1.8 * rows), squeeze=False)
    for col, (rolls, name) in enumerate(((real, "real"), (sampled, "sampled"))):
        for row in range(rows):
            ax = axes[row][col]
            if row < len(rolls):
                draw_roll(ax, rolls[row], f"{name} {row + 1}")
            else:
                ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def draw_roll(ax, roll: np.ndarray, title: str = "") -> None:
    """(T, K) 0/1 frames as an image, only the pitch rows the piece uses (plus a margin)."""
    roll = np.asarray(roll)
    used = np.flatnonzero(roll.any(0))
    lo, hi = (max(used[0] - 2, 0), min(used[-1] + 3, roll.shape[1])) if len(used) else (0, 1)
    ax.imshow(roll[:, lo:hi].T, origin="lower", aspect="auto", cmap="Greys",
              interpolation="nearest", extent=(0, len(roll), LOW + lo - 0.5, LOW + hi - 0.5))
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("frame", fontsize=7)
    ax.set_ylabel("MIDI pitch", fontsize=7)
    ax.tick_params(labelsize=6)

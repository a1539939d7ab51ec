"""Synthesised frames beside the teacher's, with the attention that made them."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor


def plot_synthesis(reference: Tensor | None, synthesised: Tensor, attention: Tensor,
                   path: str | Path, title: str = "") -> Path:
    """The teacher's frames (T, M) (None: left out), ours (T', M) and our attention
    (steps, S) one above the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(x, name) for x, name in ((reference, "teacher"), (synthesised, "ours"))
              if x is not None]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(9, 2.5 * (len(panels) + 1)))
    for ax, (x, name) in zip(axes, panels, strict=False):
        ax.imshow(x.float().numpy().T, origin="lower", aspect="auto", cmap="magma")
        ax.set_ylabel(f"{name}: mel band")
    axes[0].set_title(title, fontsize=9)
    axes[-1].imshow(attention.float().numpy().T, origin="lower", aspect="auto", cmap="Greys",
                   vmin=0, vmax=1)
    axes[-1].set_ylabel("character")
    axes[-1].set_xlabel("decoder step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

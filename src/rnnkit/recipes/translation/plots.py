"""Attention heat-maps: which source tokens each output token looked at."""

from __future__ import annotations

from pathlib import Path


def plot_attention(translation, path: str | Path, title: str = "") -> Path:
    """Heat-map of ``translation.attention`` (T, S): rows output tokens, columns source
    tokens (the EOS step included when the model attended for it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = translation.attention.float().cpu().numpy()
    src, tgt = translation.src_pieces, translation.tgt_pieces
    rows = tgt + ["</s>"] * (a.shape[0] - len(tgt))
    fig, ax = plt.subplots(figsize=(1.5 + 0.35 * len(src), 1.2 + 0.3 * len(rows)))
    ax.imshow(a[:, :len(src)], cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""Spectrogram with the CTC alignment under it: where in the audio each character fired."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor


def plot_alignment(feats: Tensor, log_probs: Tensor, alphabet, path: str | Path,
                   title: str = "") -> Path:
    """Top: the normalised log-mel features (T, F). Bottom: the per-step posteriors
    (T', V+1) with the best path's characters written where they are emitted (the blank
    is the first row). Steps are ``T / T'`` frames wide (frame stacking)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, p = feats.float().numpy(), log_probs.float().exp().numpy()
    k = x.shape[0] / max(p.shape[0], 1)  # frames per output step
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(min(4 + x.shape[0] / 40, 16), 5),
                                      sharex=True, height_ratios=(1, 1.2))
    top.imshow(x.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, x.shape[0], 0, x.shape[1]))
    top.set_ylabel("mel band")
    top.set_title(title, fontsize=9)
    bottom.imshow(p.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
                  extent=(0, p.shape[0] * k, 0, p.shape[1]))
    best = p.argmax(1)
    for t, label in enumerate(best):
        if label != 0 and (t == 0 or label != best[t - 1]):
            ch = alphabet.chars[label - 1]
            bottom.text((t + 0.5) * k, label + 0.5, "␣" if ch == " " else ch, fontsize=7,
                        color="tab:red", ha="center", va="center")
    bottom.set_ylabel("output (0 = blank)")
    bottom.set_xlabel(f"frame ({k:.0f} per output step)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


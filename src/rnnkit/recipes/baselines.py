"""Reference classifiers the sequence recipes report beside their models: 1-nearest-
neighbour on fixed-length resampled features, and DTW template matching."""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.data.dtw import dtw, euclidean_cost
from rnnkit.data.sequences import LabelledSequences


def nearest_neighbour_accuracy(train: LabelledSequences, test: LabelledSequences,
                               n: int = 64) -> float:
    """1-nearest-neighbour accuracy (Euclidean) on sequences linearly re-sampled to ``n``
    steps: the simple baseline beside the RNN for fixed-shape trajectories."""

    def fixed(x):  # (T, F) -> (n * F,)
        t = torch.linspace(0, len(x) - 1, n)
        lo = t.floor().long().clamp(max=len(x) - 1)
        hi = (lo + 1).clamp(max=len(x) - 1)
        w = (t - lo)[:, None]
        return (x[lo] * (1 - w) + x[hi] * w).flatten()

    a = torch.stack([fixed(x) for x in train.inputs])
    b = torch.stack([fixed(x) for x in test.inputs])
    pred = train.labels[torch.cdist(b, a).argmin(1)]
    return float((pred == test.labels).float().mean())


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping distance (Sakoe & Chiba 1978, symmetric steps, Euclidean
    frame cost; ``rnnkit.data.dtw``), divided by len(a) + len(b) so long and short words
    compare fairly."""
    total, _ = dtw(euclidean_cost(a, b), path=False)
    return total / (len(a) + len(b))


def dtw_accuracy(templates: LabelledSequences, test: LabelledSequences) -> float:
    """1-NN DTW template matching: the classic isolated-word recogniser, as a baseline."""
    A = [x.numpy() for x in templates.inputs]
    correct = 0
    for x, y in zip(test.inputs, test.labels.tolist(), strict=True):
        d = [dtw_distance(x.numpy(), a) for a in A]
        correct += int(templates.labels[int(np.argmin(d))]) == y
    return correct / len(test)

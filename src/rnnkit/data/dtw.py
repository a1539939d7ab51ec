"""Dynamic time warping over a frame-cost matrix: the one DTW in rnnkit.

Two sequences of Ta and Tb frames and a cost c[i, j] >= 0 of pairing frame i of the first
with frame j of the second. A warping path runs from (0, 0) to (Ta - 1, Tb - 1) in steps
(1, 0), (0, 1) and (1, 1) (Sakoe & Chiba 1978, symmetric steps without weights); DTW finds
the path of least total cost:

    D[i, j] = c[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1]),   D[0, 0] = c[0, 0]

Users: the 1-NN template-matching baseline of the speech recipes (``recipes.baselines``)
and the DTW-aligned mel-cepstral distortion (``data.speech_quality``).

Vectorised per row. Within row i the horizontal step makes D[i, :] a running minimum:
with m[j] = min(D[i-1, j], D[i-1, j-1]) (the best way to enter row i at column j) and
S[j] = c[i, 0] + ... + c[i, j],

    D[i, j] = min_{k <= j} (m[k] + c[i, k] + ... + c[i, j])
            = S[j] + min_{k <= j} (m[k] - S[k-1]),                     S[-1] = 0

which is one cumulative sum and one ``np.minimum.accumulate`` per row: Ta numpy calls on
rows of Tb values instead of Ta * Tb Python steps (0.006 s instead of 0.3 s at
Ta = Tb = 500).
Integer costs stay exact in float64; others round at 1e-16 of the row's sum.
"""

from __future__ import annotations

import numpy as np


def dtw(cost: np.ndarray, path: bool = True) -> tuple[float, np.ndarray | None]:
    """The least total cost of a warping path through ``cost`` and, with ``path``, the path.

    Args:
        cost: (Ta, Tb) frame-pair costs, finite and >= 0, Ta, Tb >= 1.
        path: also return the path (keeps the whole (Ta, Tb) table for the backtrace;
            without it only two rows are kept).

    Returns:
        (total, path): total = sum of cost over the path's pairs; path (L, 2) int64 rows
        (i, j) from (0, 0) to (Ta - 1, Tb - 1), max(Ta, Tb) <= L <= Ta + Tb - 1, or None.
        Among paths of equal cost the backtrace prefers the diagonal step, then (1, 0),
        then (0, 1).
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"dtw: cost must be a non-empty (Ta, Tb) matrix, got shape "
                         f"{cost.shape}")
    if not np.isfinite(cost).all() or (cost < 0).any():
        raise ValueError("dtw: costs must be finite and >= 0")
    Ta, Tb = cost.shape
    table = np.empty((Ta, Tb)) if path else None
    row = np.cumsum(cost[0])  # (Tb,) D[0, :]: only horizontal steps from (0, 0)
    if table is not None:
        table[0] = row
    for i in range(1, Ta):
        enter = row.copy()  # (Tb,) m[j] = min(D[i-1, j], D[i-1, j-1])
        np.minimum(enter[1:], row[:-1], out=enter[1:])
        S = np.cumsum(cost[i])  # (Tb,)
        row = S + np.minimum.accumulate(enter - (S - cost[i]))
        if table is not None:
            table[i] = row
    total = float(row[-1])
    return total, (None if table is None else _backtrace(table))


def _backtrace(D: np.ndarray) -> np.ndarray:
    """The path (L, 2) ending at the last cell, stepping back to the cheapest predecessor."""
    i, j = D.shape[0] - 1, D.shape[1] - 1
    steps = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag, up, left = D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]
            if diag <= up and diag <= left:
                i, j = i - 1, j - 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
        steps.append((i, j))
    return np.array(steps[::-1], dtype=np.int64)


def euclidean_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Ta, F), (Tb, F) -> (Ta, Tb) Euclidean distances between frames (scipy's cdist:
    differences taken exactly, so equal frames cost exactly 0)."""
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frames must be (T, F) with the same F, got {a.shape} and {b.shape}")
    return cdist(a, b)  # (Ta, Tb)

"""The one DTW: a case worked by hand, the vectorised rows against the textbook double
loop, and the template-matching baseline that calls it."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.dtw import dtw, euclidean_cost
from rnnkit.recipes import baselines


def loop_dtw(cost: np.ndarray) -> float:
    """The recurrence as written (Sakoe & Chiba), one cell at a time."""
    Ta, Tb = cost.shape
    D = np.full((Ta + 1, Tb + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, Ta + 1):
        for j in range(1, Tb + 1):
            D[i, j] = cost[i - 1, j - 1] + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return float(D[-1, -1])


def test_dtw_by_hand():
    # a = [0, 1, 3], b = [0, 0, 1, 2], cost |a_i - b_j|:
    #        b: 0  0  1  2          D (cumulative):  0  0  1  3
    #   a=0     0  0  1  2                           1  1  0  1
    #   a=1     1  1  0  1                           4  4  2  1
    #   a=3     3  3  2  1
    # path (0,0) (0,1) (1,2) (2,3), costs 0 + 0 + 0 + 1 = 1
    cost = np.abs(np.array([0, 1, 3])[:, None] - np.array([0, 0, 1, 2])[None, :]).astype(float)
    total, path = dtw(cost)
    assert total == 1.0
    assert path.tolist() == [[0, 0], [0, 1], [1, 2], [2, 3]]
    assert dtw(cost, path=False) == (1.0, None)


def test_dtw_matches_the_double_loop():
    rng = np.random.default_rng(0)
    for Ta, Tb in [(1, 1), (1, 5), (6, 1), (7, 7), (9, 13), (20, 11)]:
        cost = rng.integers(0, 9, size=(Ta, Tb)).astype(float)  # integers: exact sums
        total, path = dtw(cost)
        assert total == loop_dtw(cost)
        assert cost[path[:, 0], path[:, 1]].sum() == total  # the path is one of that cost
        steps = np.diff(path, axis=0)
        assert path[0].tolist() == [0, 0] and path[-1].tolist() == [Ta - 1, Tb - 1]
        assert {tuple(s) for s in steps} <= {(0, 1), (1, 0), (1, 1)}
        real = rng.random((Ta, Tb))
        assert dtw(real, path=False)[0] == pytest.approx(loop_dtw(real), rel=1e-12)


def test_dtw_rejects_bad_costs():
    for bad in (np.zeros((0, 3)), np.zeros(3), np.array([[1.0, -1.0]]), np.array([[np.nan]])):
        with pytest.raises(ValueError, match="dtw"):
            dtw(bad)


def test_template_baseline_distance_is_unchanged():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 5)), rng.normal(size=(8, 5))
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # the old cost, (12, 8)
    assert np.allclose(euclidean_cost(a, b), cost)
    assert baselines.dtw_distance(a, b) == pytest.approx(loop_dtw(cost) / 20, rel=1e-12)

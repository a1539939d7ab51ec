"""The long-range memory generators: shapes, determinism, and the baselines' values."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data import memory


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    x, y = memory.adding_problem(500, 50, g())
    assert x.shape == (50, 500, 2) and y.shape == (500, 1)
    marks = x[..., 1]
    assert torch.equal(marks.sum(0), torch.full((500,), 2.0))
    assert torch.equal(marks[:25].sum(0), torch.ones(500))
    torch.testing.assert_close((x[..., 0] * marks).sum(0, keepdim=True).T, y)


def test_adding_baseline_is_what_predicting_one_scores():
    _, y = memory.adding_problem(200_000, 10, g())
    assert float(((y - 1) ** 2).mean()) == pytest.approx(memory.ADDING_BASELINE_MSE, abs=2e-3)
    assert memory.ADDING_BASELINE_MSE == pytest.approx(0.167, abs=1e-3)


def test_copy_memory_layout_and_baseline():
    T = 30
    x, y = memory.copy_memory(64, T, g())
    assert x.shape == (T + 20, 64, 10) and y.shape == (T + 20, 64)
    symbols = x[:10].argmax(-1)
    assert torch.equal(y[-10:], symbols) and int(symbols.max()) < 8
    assert torch.equal(x[10 + T - 1].argmax(-1), torch.full((64,), memory.COPY_DELIMITER))
    assert torch.equal(y[:-10], torch.full((T + 10, 64), memory.COPY_BLANK))
    # The baseline's predictor: certain blanks, then uniform over the 8 symbols.
    probs = torch.zeros(T + 20, 64, 10)
    probs[:-10, :, memory.COPY_BLANK] = 1.0
    probs[-10:, :, :8] = 1 / 8
    ce = -torch.log(probs.gather(2, y.unsqueeze(-1)).clamp_min(1e-30)).mean()
    assert float(ce) == pytest.approx(memory.copy_baseline(T))
    assert memory.copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)


def test_temporal_order_labels_follow_the_two_relevant_symbols():
    x, labels = memory.temporal_order(300, 100, g())
    assert x.shape == (100, 300, 8)
    seq = x.argmax(-1)
    for b in range(300):
        relevant = [int(s) - 4 for s in seq[:, b] if int(s) in (4, 5)]
        assert len(relevant) == 2
        assert int(labels[b]) == 2 * relevant[0] + relevant[1]
    assert set(labels.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("make", [memory.adding_problem, memory.copy_memory, memory.temporal_order])
def test_generators_are_deterministic_per_seed(make):
    a, b, c = make(8, 40, g(1)), make(8, 40, g(1)), make(8, 40, g(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_pixel_digits_split_and_permutation():
    xtr, ytr = memory.pixel_digits("train", permute=False)
    xte, yte = memory.pixel_digits("test", permute=False)
    assert xtr.shape[0] == 64 and xtr.shape[2] == 1 and len(ytr) + len(yte) == 1797
    assert 0 <= float(xtr.min()) and float(xtr.max()) <= 1
    xp, yp = memory.pixel_digits("train", permute=True)
    assert torch.equal(yp, ytr)
    assert torch.equal(xp.sort(0).values, xtr.sort(0).values)  # same pixels, new order
    assert not torch.equal(xp, xtr)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: memory.adding_problem(0, 10, g()), "number of sequences"),
        (lambda: memory.adding_problem(4, 1, g()), "length must be >= 2"),
        (lambda: memory.temporal_order(4, 10, g()), "length must be >= 20"),
        (lambda: memory.pixel_digits("valid", False), "split must be"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()

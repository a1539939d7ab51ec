"""Seeded generators for the classic long-range memory tasks, with their trivial baselines.

Each generator returns (inputs, targets) for ``n`` sequences, drawn from a torch.Generator so
the same seed gives the same data everywhere. Inputs are time-major floats (T, n, C), the
layout rnnkit's layers take by default.

- adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): inputs (T, n, 2), U(0,1)
  values and a 0/1 marker on two steps, one in each half; target their sum at the end; MSE.
  Baseline: always predict 1, MSE = Var(U1 + U2) = 1/6 = 0.167.
- copy memory (Arjovsky et al. 2016): one-hot inputs (T+20, n, 10) holding 10 symbols of 8,
  T-1 blanks, a delimiter and 10 blanks; targets are blanks, then the 10 symbols; CE per step.
  Baseline: blanks, then a uniform guess: 10 ln 8 / (T+20).
- temporal order (Hochreiter & Schmidhuber 1997, task 6a): one-hot inputs (T, n, 8) with
  distractors a-d and X/Y at an early and a late position; 4 classes (XX, XY, YX, YY); CE at
  the end. Baseline: chance, ln 4.
- sequential / permuted digits: scikit-learn's 8x8 digits read pixel by pixel, (64, n, 1);
  10 classes; CE at the end. Baseline: the majority class.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ADDING_BASELINE_MSE = 1.0 / 6.0  # predict 1: E[(U1 + U2 - 1)^2] = Var(U1 + U2) = 2/12
COPY_SYMBOLS, COPY_LENGTH = 8, 10  # 8 data symbols; 10 of them to remember
COPY_BLANK, COPY_DELIMITER = 8, 9  # the two extra symbols; 10 input/output classes in all
TEMPORAL_SYMBOLS = "abcdXYBE"  # distractors a-d, the relevant X/Y, end B, start E


def _check(n: int, T: int, minimum: int, task: str) -> None:
    if n < 1:
        raise ValueError(f"{task}: the number of sequences must be >= 1, got {n}")
    if T < minimum:
        raise ValueError(f"{task}: the sequence length must be >= {minimum}, got {T}")


def adding_problem(n: int, T: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Inputs (T, n, 2) and targets (n, 1): the sum of the two marked values."""
    _check(n, T, 2, "adding problem")
    values = torch.rand(T, n, generator=generator)
    half = T // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, T, (n,), generator=generator)
    marks = torch.zeros(T, n)
    cols = torch.arange(n)
    marks[first, cols] = 1.0
    marks[second, cols] = 1.0
    targets = (values[first, cols] + values[second, cols]).unsqueeze(1)
    return torch.stack((values, marks), dim=2), targets


def copy_memory(n: int, T: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One-hot inputs (T+20, n, 10) and target classes (T+20, n): recall 10 symbols after T."""
    _check(n, T, 1, "copy memory")
    symbols = torch.randint(0, COPY_SYMBOLS, (COPY_LENGTH, n), generator=generator)
    total = T + 2 * COPY_LENGTH
    inputs = torch.full((total, n), COPY_BLANK)
    inputs[:COPY_LENGTH] = symbols
    inputs[COPY_LENGTH + T - 1] = COPY_DELIMITER
    targets = torch.full((total, n), COPY_BLANK)
    targets[-COPY_LENGTH:] = symbols
    return torch.nn.functional.one_hot(inputs, 10).float(), targets


def copy_baseline(T: int) -> float:
    """Cross-entropy per step of predicting blanks, then a uniform guess over the 8 symbols."""
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)


def temporal_order(n: int, T: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One-hot inputs (T, n, 8) and classes (n,): 0 XX, 1 XY, 2 YX, 3 YY.

    As in the original task with T = 100, the relevant symbols sit at t1 in [T/10, 2T/10] and
    t2 in [5T/10, 6T/10]; every other inner step holds a random distractor.
    """
    _check(n, T, 20, "temporal order")
    seq = torch.randint(0, 4, (T, n), generator=generator)  # distractors a-d
    seq[0] = TEMPORAL_SYMBOLS.index("E")
    seq[-1] = TEMPORAL_SYMBOLS.index("B")
    t1 = torch.randint(T // 10, 2 * T // 10 + 1, (n,), generator=generator)
    t2 = torch.randint(5 * T // 10, 6 * T // 10 + 1, (n,), generator=generator)
    x_or_y = torch.randint(0, 2, (2, n), generator=generator)  # 0 = X, 1 = Y
    cols = torch.arange(n)
    seq[t1, cols] = 4 + x_or_y[0]
    seq[t2, cols] = 4 + x_or_y[1]
    labels = 2 * x_or_y[0] + x_or_y[1]
    return torch.nn.functional.one_hot(seq, 8).float(), labels


def pixel_digits(
    split: str, permute: bool, seed: int = 0, test_fraction: float = 0.25
) -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits read pixel by pixel: inputs (64, n, 1) in [0, 1], labels (n,).

    The split (train/test) is a seeded shuffle; ``permute`` applies one fixed seeded pixel
    permutation to every image (the "permuted" variant of Le et al. 2015).
    """
    if split not in ("train", "test"):
        raise ValueError(f"pixel digits: split must be 'train' or 'test', got {split!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("the digits tasks need scikit-learn: pip install scikit-learn") from e
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (1797, 64)
    labels = torch.tensor(digits.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    n_test = int(round(test_fraction * len(labels)))
    idx = order[:n_test] if split == "test" else order[n_test:]
    pixels = images[idx]
    if permute:
        pixels = pixels[:, torch.randperm(64, generator=g)]
    return pixels.T.unsqueeze(-1).contiguous(), labels[idx]

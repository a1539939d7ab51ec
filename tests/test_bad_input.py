"""Bad input gives a clear error that names the problem, never a silent wrong result."""

from __future__ import annotations

import re

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rnnkit

X = torch.randn(5, 2, 3)  # (T, B, I) for modules built with input_size=3


@pytest.mark.parametrize("backend", ["auto", "engine", "reference", "torch"])
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m: m(torch.randn(5, 2, 3, 1)), ValueError, "2D or 3D, got 4D"),
        (lambda m: m(torch.randn(5)), ValueError, "2D or 3D, got 1D"),
        (lambda m: m(torch.randn(5, 2, 4)), ValueError, "input_size. Expected 3, got 4"),
        (lambda m: m(torch.ones(5, 2, 3, dtype=torch.long)), TypeError, "floating-point.*int64"),
        (lambda m: m(X.double()), ValueError, "dtype .*float64.* does not match"),
        (lambda m: m(X.numpy()), TypeError, "must be a torch.Tensor"),
        (lambda m: m(torch.randn(0, 2, 3)), ValueError, "no time steps"),
        (
            lambda m: m(X, (torch.zeros(1, 3, 4), torch.zeros(1, 2, 4))),
            ValueError,
            r"h_0 of shape \(1, 2, 4\)",
        ),
        (
            lambda m: m(X, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4))),
            ValueError,
            r"c_0 of shape \(1, 2, 4\)",
        ),
        (lambda m: m(X, torch.zeros(1, 2, 4)), TypeError, r"tuple \(h_0, c_0\)"),
        (
            lambda m: m(X, (torch.zeros(1, 2, 4, dtype=torch.int32),) * 2),
            TypeError,
            "h_0 must be a floating",
        ),
        (
            lambda m: m(X[:, 0], (torch.zeros(1, 1, 4),) * 2),
            ValueError,
            "unbatched 2-D input, h_0 must be 2-D",
        ),
        (lambda m: m(X, lengths=[5, 6]), ValueError, r"length \(6\) exceeds .* \(5 steps\)"),
        (lambda m: m(X, lengths=[5, -1]), ValueError, "lengths must be >= 0"),
        (lambda m: m(X, lengths=[5, 2, 1]), ValueError, r"one entry per sequence, shape \(2,\)"),
        (lambda m: m(X, lengths=[5.0, 2.0]), TypeError, "lengths must be integers"),
        (lambda m: m(X[:, 0], lengths=[5]), ValueError, "lengths needs a batched"),
        (lambda m: m(pack_sequence([X[:, 0]]), lengths=[5]), ValueError, "not a PackedSequence"),
        (
            lambda m: m(pack_sequence([torch.ones(2, 3, dtype=torch.long)])),
            TypeError,
            "floating-point",
        ),
    ],
)
def test_lstm_forward_rejects(backend, call, error, match):
    m = rnnkit.LSTM(3, 4, backend=backend)
    with pytest.raises(error, match=match):
        call(m)


def test_gru_hidden_of_wrong_shape():
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        rnnkit.GRU(3, 4, bidirectional=True)(X, torch.zeros(1, 2, 4))


def test_projected_lstm_checks_both_state_sizes():
    m = rnnkit.LSTM(3, 4, proj_size=2)
    m(X, (torch.zeros(1, 2, 2), torch.zeros(1, 2, 4)))  # h has proj_size, c has hidden_size
    with pytest.raises(ValueError, match=r"h_0 of shape \(1, 2, 2\)"):
        m(X, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: rnnkit.LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
        (lambda: rnnkit.LSTM(3, 4, 0), ValueError, "num_layers must be greater than zero"),
        (lambda: rnnkit.LSTM(3.0, 4), TypeError, "input_size must be an int"),
        (lambda: rnnkit.LSTM(3, 4, 2, dropout=1.5), ValueError, r"dropout must be in \[0, 1\]"),
        (lambda: rnnkit.LSTM(3, 4, 2, dropout="0.1"), TypeError, "dropout must be a number"),
        (lambda: rnnkit.LSTM(3, 4, proj_size=4), ValueError, "smaller than hidden_size"),
        (lambda: rnnkit.LSTM(3, 4, proj_size=-1), ValueError, "proj_size must be >= 0"),
        (lambda: rnnkit.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "Unknown nonlinearity"),
        (lambda: rnnkit.GRU(3, 4, backend="cudnn"), ValueError, "unknown backend 'cudnn'"),
        (lambda: rnnkit.GRU(3, 4, recurrent_init="xavier"), ValueError,
         r"GRU: unknown recurrent_init 'xavier' \(choose from: default, orthogonal\)"),
        (lambda: rnnkit.LSTMCell(3, 0), ValueError, "hidden_size must be greater than zero"),
        (lambda: rnnkit.RNNCell(3, 4, nonlinearity="gelu"), ValueError, "Unknown nonlinearity"),
    ],
)
def test_constructor_rejects(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_backend_changed_after_construction_is_checked():
    m = rnnkit.GRU(3, 4)
    m.backend = "fast"
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        m(X)


def _choices(names) -> str:
    """The ``(choose from: ...)`` tail of an unknown-name error, as a regex."""
    return re.escape(f"(choose from: {', '.join(names)})")


def test_unknown_names_are_value_errors_listing_the_choices():
    """Every registry a library user can name: ValueError (torch.nn's convention) naming
    the bad value and every choice, raised when the object is built, not when it runs."""
    from rnnkit.backends import BACKEND_CHOICES
    from rnnkit.core.gated_cell import GATED_CELLS
    from rnnkit.models.language import CELLS, make_recurrent
    from rnnkit.models.memory import GATES, hidden_size_for_budget
    from rnnkit.models.sequence import POOLINGS, SequenceClassifier
    from rnnkit.train.config import TrainConfig, field_choices
    from rnnkit.train.optim import build_optimizer, build_scheduler

    cases = [
        (lambda: rnnkit.LSTM(3, 4, backend="nope"), "backend", BACKEND_CHOICES),
        (lambda: rnnkit.CustomRNN(GATED_CELLS["mgu"](), 3, 4, backend="nope"), "backend",
         BACKEND_CHOICES),
        (lambda: make_recurrent("nope", 3, 4), "cell", CELLS),
        (lambda: hidden_size_for_budget("nope", 100, 1, 1), "cell", GATES),
        (lambda: SequenceClassifier(2, vocab_size=5, pooling="nope"), "pooling", POOLINGS),
        (lambda: build_optimizer([torch.nn.Parameter(torch.ones(1))],
                                 TrainConfig(optimizer="nope")),
         "optimizer", field_choices(TrainConfig, "optimizer")),
        (lambda: build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0),
                                 TrainConfig(schedule="nope")),
         "schedule", field_choices(TrainConfig, "schedule")),
    ]
    for build, what, names in cases:
        with pytest.raises(ValueError, match=f"unknown {what} 'nope' {_choices(names)}"):
            build()

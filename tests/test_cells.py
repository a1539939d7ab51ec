"""Single-step cells match torch.nn's cells, batched and unbatched, with gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit

PAIRS = {
    "rnn_tanh": (rnnkit.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTMCell, nn.LSTMCell, {}),
    "gru": (rnnkit.GRUCell, nn.GRUCell, {}),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("cell", list(PAIRS))
def test_cell_matches_torch(cell, batched, bias):
    ours_cls, theirs_cls, extra = PAIRS[cell]
    theirs = theirs_cls(5, 4, bias=bias, **extra)
    ours = ours_cls(5, 4, bias=bias, **extra)
    ours.load_state_dict(theirs.state_dict())
    shape = (3,) if batched else ()
    x = torch.randn(*shape, 5)
    hx = (
        (torch.randn(*shape, 4), torch.randn(*shape, 4))
        if cell == "lstm"
        else torch.randn(*shape, 4)
    )
    outs, grads = [], []
    for m in (ours, theirs):
        out = m(x, hx)
        out = out if isinstance(out, tuple) else (out,)
        sum(o.sum() * (k + 1) for k, o in enumerate(out)).backward()
        outs.append(out)
        grads.append([p.grad for p in m.parameters()])
    for a, b in zip(outs[0], outs[1], strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b)


def test_cell_default_state_is_zero():
    cell = rnnkit.LSTMCell(3, 4)
    x = torch.randn(2, 3)
    h, c = cell(x)
    h0, c0 = cell(x, (torch.zeros(2, 4), torch.zeros(2, 4)))
    assert torch.equal(h, h0) and torch.equal(c, c0)


def test_cell_step_by_step_equals_layer():
    """Unrolling LSTMCell over time gives the one-layer LSTM's outputs (the streaming use)."""
    layer = rnnkit.LSTM(3, 4)
    cell = rnnkit.LSTMCell(3, 4)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(6, 2, 3)
    out, (h_n, c_n) = layer(x)
    h = c = torch.zeros(2, 4)
    for t in range(6):
        h, c = cell(x[t], (h, c))
        torch.testing.assert_close(h, out[t])
    torch.testing.assert_close(c, c_n[0])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda c: c(torch.randn(2, 3, 3)), ValueError, "1D or 2D"),
        (lambda c: c(torch.randn(2, 5)), ValueError, "input_size=3"),
        (lambda c: c(torch.ones(2, 3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda c: c(torch.randn(2, 3), (torch.randn(3, 4),) * 2), ValueError, r"shape \(2, 4\)"),
        (lambda c: c(torch.randn(2, 3), torch.randn(2, 4)), TypeError, "tuple"),
    ],
)
def test_cell_bad_input(call, error, match):
    cell = rnnkit.LSTMCell(3, 4)
    with pytest.raises(error, match=match):
        call(cell)

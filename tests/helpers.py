"""Builders shared by the layer tests: matching rnnkit/torch.nn pairs and random inputs."""

from __future__ import annotations

import torch
from torch import nn

import rnnkit

CELLS = {
    "rnn_tanh": (rnnkit.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, nn.LSTM, {}),
    "lstm_proj": (rnnkit.LSTM, nn.LSTM, {"proj_size": 3}),
    "gru": (rnnkit.GRU, nn.GRU, {}),
}


def make_pair(cell, *, backend="auto", dtype=torch.float32, **kwargs):
    """A torch.nn module and an rnnkit module with identical weights."""
    ours_cls, theirs_cls, extra = CELLS[cell]
    kwargs = {**extra, **kwargs}
    theirs = theirs_cls(dtype=dtype, **kwargs)
    ours = ours_cls(dtype=dtype, backend=backend, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def initial_state(module, batch, dtype=torch.float32, requires_grad=True):
    """Random (h0,) or (h0, c0) for ``module`` with leaf tensors that collect gradients."""
    LD = module.num_layers * (2 if module.bidirectional else 1)
    proj = getattr(module, "proj_size", 0)
    h0 = torch.randn(
        LD, batch, proj or module.hidden_size, dtype=dtype, requires_grad=requires_grad
    )
    if isinstance(module, nn.LSTM | rnnkit.LSTM):
        c0 = torch.randn(LD, batch, module.hidden_size, dtype=dtype, requires_grad=requires_grad)
        return (h0, c0)
    return (h0,)

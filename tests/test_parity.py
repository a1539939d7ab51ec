"""Parity with torch.nn: same weights give the same outputs, final states and gradients."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers import CELLS, initial_state, make_pair

T, B, I, H = 6, 4, 5, 4
LENGTHS = torch.tensor([6, 2, 5, 1])  # unequal, unsorted, one full-length

GRID = list(
    itertools.product(
        CELLS,  # cell type (lstm_proj covers proj_size)
        [1, 2, 3],  # num_layers
        [False, True],  # bidirectional
        [False, True],  # batch_first
        ["full", "padded", "packed"],  # how lengths are given
        [True, False],  # bias
    )
)


def _grads(tensors):
    return [t.grad.clone() for t in tensors]


def _run(module, x, state, layout, batch_first):
    """Forward + a backward through outputs and final states; returns (out, states, grads)."""
    hx = state if len(state) == 2 else state[0]
    if layout == "packed":
        inp = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, hn = module(inp, hx)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    elif layout == "padded" and not isinstance(module, torch.nn.RNNBase):
        out, hn = module(x, hx, lengths=LENGTHS)
    elif layout == "padded":  # torch.nn has no lengths= argument: the packed path is its answer
        inp = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, hn = module(inp, hx)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    else:
        out, hn = module(x, hx)
    states = hn if isinstance(hn, tuple) else (hn,)
    # Fixed random weights on every output make each gradient path distinct.
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g)).sum()
    for s in states:
        loss = loss + (s * torch.randn(s.shape, generator=g)).sum()
    loss.backward()
    return out.detach(), [s.detach() for s in states]


@pytest.mark.parametrize("backend", ["engine", "reference", "torch", "native"])
@pytest.mark.parametrize("cell,layers,bidir,batch_first,layout,bias", GRID)
def test_matches_torch_nn(cell, layers, bidir, batch_first, layout, bias, backend):
    kwargs = dict(
        input_size=I,
        hidden_size=H,
        num_layers=layers,
        bidirectional=bidir,
        batch_first=batch_first,
        bias=bias,
    )
    ours, theirs = make_pair(cell, backend=backend, **kwargs)
    x = torch.randn((B, T, I) if batch_first else (T, B, I))
    state = initial_state(theirs, B, requires_grad=False)

    results = []
    for module in (ours, theirs):
        xi = x.clone().requires_grad_()
        si = [s.clone().requires_grad_() for s in state]
        out, states = _run(module, xi, si, layout, batch_first)
        results.append((out, states, _grads([xi, *si]), _grads(module.parameters())))
    assert ours.last_backend == backend
    (o1, s1, g1, p1), (o2, s2, g2, p2) = results
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-5)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for a, b in zip(g1 + p1, g2 + p2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)

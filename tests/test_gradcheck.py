"""torch.autograd.gradcheck in float64 for every cell type and backend, on small sizes."""

from __future__ import annotations

import pytest
import torch

from helpers import CELLS, initial_state, make_pair

T, B, I, H = 3, 3, 2, 4


def _gradcheck(cell, backend, variable_lengths, num_layers, fast_mode):
    ours, _ = make_pair(
        cell,
        backend=backend,
        dtype=torch.float64,
        input_size=I,
        hidden_size=H,
        num_layers=num_layers,
        bidirectional=True,
    )
    names, params = zip(*ours.named_parameters(), strict=True)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    state = initial_state(ours, B, dtype=torch.float64)
    lengths = torch.tensor([3, 1, 2]) if variable_lengths else None
    if cell == "rnn_relu":
        # Keep pre-activations away from relu's kink, where finite differences are undefined.
        x = (x.detach() * 0.1).requires_grad_()

    def f(x, *tensors):
        states, weights = tensors[: len(state)], tensors[len(state) :]
        out, hn = torch.func.functional_call(
            ours,
            dict(zip(names, weights, strict=True)),
            (x, states if len(states) == 2 else states[0]),
            {"lengths": lengths},
        )
        hn = hn if isinstance(hn, tuple) else (hn,)
        return (out, *hn)

    assert torch.autograd.gradcheck(
        f, (x, *state, *params), eps=1e-6, atol=1e-5, fast_mode=fast_mode
    )


@pytest.mark.parametrize("backend", ["engine", "reference", "torch", "native"])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("variable_lengths", [False, True])
def test_gradcheck_two_layers(cell, backend, variable_lengths):
    """Two bidirectional layers; fast mode checks random projections of the Jacobian."""
    _gradcheck(cell, backend, variable_lengths, num_layers=2, fast_mode=True)


@pytest.mark.parametrize("cell", list(CELLS))
def test_gradcheck_engine_full_jacobian(cell):
    """The engine's backward against the complete finite-difference Jacobian."""
    _gradcheck(cell, "engine", True, num_layers=1, fast_mode=False)

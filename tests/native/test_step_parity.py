"""The step API's parity: a sequence fed to a layer one step per call, carrying the state,
gives the whole-sequence call's output bit for bit in float64 and to 1e-6 in float32, with
and without autograd; cells stepped over time give the one-layer call's output."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import native

needs_native = pytest.mark.skipif(native.load() is None, reason="needs the native kernels")
CELLS = {"LSTM": rnnkit.LSTMCell, "GRU": rnnkit.GRUCell, "RNN": rnnkit.RNNCell}


def stepped(layer, x, batch_first: bool):
    """The layer called once per time step, carrying its state; outputs concatenated."""
    state, outs = None, []
    for t in range(x.shape[1 if batch_first else 0]):
        xt = x[:, t : t + 1] if batch_first else x[t : t + 1]
        y, state = layer(xt, state)
        outs.append(y)
    return torch.cat(outs, 1 if batch_first else 0), state


def states(s):
    return s if isinstance(s, tuple) else (s,)


@needs_native
@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_one_step_per_call_equals_the_whole_call(name, dtype, grad, batch_first):
    torch.manual_seed(7)
    layer = getattr(rnnkit, name)(5, 9, num_layers=2, batch_first=batch_first,
                                  dtype=dtype).eval()
    x = torch.randn((4, 11, 5) if batch_first else (11, 4, 5), dtype=dtype)
    with torch.set_grad_enabled(grad):
        whole, s_whole = layer(x)
        steps, s_steps = stepped(layer, x, batch_first)
    pairs = [(steps, whole), *zip(states(s_steps), states(s_whole), strict=True)]
    for got, want in pairs:
        if dtype == torch.float64:
            assert torch.equal(got, want)
        else:
            torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cells_stepped_over_time_equal_the_layer(name, dtype):
    torch.manual_seed(8)
    layer = getattr(rnnkit, name)(5, 9, dtype=dtype)
    cell = CELLS[name](5, 9, dtype=dtype)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(11, 4, 5, dtype=dtype)
    with torch.no_grad():
        whole, _ = layer(x)
        h = torch.zeros(4, 9, dtype=dtype)
        state = (h, h) if name == "LSTM" else h
        for t in range(11):
            state = cell(x[t], state)
            torch.testing.assert_close(states(state)[0], whole[t], atol=1e-6, rtol=0)


class Stepper(torch.nn.Module):
    """``stepped`` as a module, so torch.func.functional_call can swap its parameters."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return stepped(self.layer, x, False)[0]


@needs_native
@pytest.mark.parametrize("name", list(CELLS))
def test_gradients_through_steps_pass_gradcheck(name):
    torch.manual_seed(9)
    stepper = Stepper(getattr(rnnkit, name)(3, 4, dtype=torch.float64))
    names = [n for n, _ in stepper.named_parameters()]
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)

    def run(x, *ps):
        return torch.func.functional_call(stepper, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(run, (x, *stepper.parameters()))

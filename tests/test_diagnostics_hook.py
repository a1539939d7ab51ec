"""The engine's diagnostics hook: per-step norms of dL/dh_t, checked against autograd."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.core.cells import LayerWeights, cell_step


def _autograd_norms(m, x, lengths):
    """||dL/dh_t|| by retain_grad on a hand-written loop (one layer, forward direction)."""
    w = LayerWeights(m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    T, B, _ = x.shape
    h = torch.zeros(B, m.hidden_size)
    c = torch.zeros(B, m.hidden_size) if m.mode == "LSTM" else None
    hs, ys = [], []
    for t in range(T):
        h_new, c_new = cell_step(m.mode, x[t], h, c, w)
        h_new.retain_grad()
        hs.append(h_new)
        valid = (t < lengths).unsqueeze(1)
        ys.append(torch.where(valid, h_new, 0))
        h = torch.where(valid, h_new, h)
        c = torch.where(valid, c_new, c) if c is not None else None
    return torch.stack(ys), hs


@pytest.mark.parametrize("backend", ["auto", "engine", "reference"])
@pytest.mark.parametrize("cls", [rnnkit.RNN, rnnkit.LSTM, rnnkit.GRU])
def test_recorded_norms_equal_autograd(cls, backend):
    m = cls(3, 5, backend=backend)
    x = torch.randn(7, 3, 3)
    lengths = torch.tensor([7, 4, 1])
    target = torch.randn(7, 3, 5)
    with rnnkit.diagnostics.record_hidden_grads(m) as rec:
        out, _ = m(x, lengths=lengths)
        ((out - target) ** 2).sum().backward()
    assert m.last_backend != "torch"  # fused kernels cannot record
    y, hs = _autograd_norms(m, x, lengths)
    ((y - target) ** 2).sum().backward()
    expected = torch.stack([h.grad.norm(dim=-1) for h in hs])  # (T, B)
    torch.testing.assert_close(rec.norms[("", 0, 0)], expected)
    assert torch.equal(rec.norms[("", 0, 0)][4:, 1], torch.zeros(3))  # padded steps get none
    torch.testing.assert_close(rec.time_profile(), expected.norm(dim=1))


def test_engine_and_reference_agree_on_every_layer_and_direction():
    records = {}
    for backend in ("engine", "reference"):
        torch.manual_seed(0)
        model = torch.nn.Sequential()
        model.add_module(
            "rnn", rnnkit.LSTM(3, 4, 2, bidirectional=True, proj_size=2, backend=backend)
        )
        x = torch.randn(6, 2, 3)
        with rnnkit.diagnostics.record_hidden_grads(model) as rec:
            out, _ = model.rnn(x, lengths=[6, 3])
            out[-1].pow(2).sum().backward()
        records[backend] = rec.norms
    assert sorted(records["engine"]) == [("rnn", k, d) for k in (0, 1) for d in (0, 1)]
    for key, value in records["engine"].items():
        torch.testing.assert_close(value, records["reference"][key])
        assert value.abs().sum() > 0


def test_recording_off_outside_the_context_and_no_rnn_is_an_error():
    m = rnnkit.GRU(3, 4)
    with rnnkit.diagnostics.record_hidden_grads(m):
        pass
    assert m._grad_record is None
    assert "per-step gradient norms" not in m.explain(torch.randn(3, 1, 3))
    with pytest.raises(ValueError, match="no RNN/LSTM/GRU"):
        with rnnkit.diagnostics.record_hidden_grads(torch.nn.Linear(3, 4)):
            pass


def test_torch_nn_layers_are_recorded_through_twins():
    theirs = torch.nn.LSTM(3, 4, bidirectional=True)
    ours = rnnkit.LSTM(3, 4, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 2, 3)
    norms = []
    for m in (theirs, ours):
        with rnnkit.diagnostics.record_hidden_grads(m) as rec:
            m(x)[0].sum().backward()
        norms.append(rec.norms)
    for key, value in norms[1].items():
        torch.testing.assert_close(norms[0][key], value)
    torch.testing.assert_close(theirs.weight_hh_l0.grad, ours.weight_hh_l0.grad)


def test_torch_backend_refuses_to_record():
    m = rnnkit.GRU(3, 4, backend="torch")
    with rnnkit.diagnostics.record_hidden_grads(m), pytest.raises(ValueError, match="per-step"):
        m(torch.randn(3, 1, 3))

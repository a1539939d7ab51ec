"""Diagnostics checked against hand-computed values on tiny models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit import diagnostics as dg

A = 0.5  # recurrent gain of the linear RNN below


def linear_rnn(bidirectional=False, hidden=3):
    """A relu RNN kept in its linear regime: positive weights and inputs, W_hh = A * I.

    Then h_t = W_ih x_t + A h_{t-1} exactly, and for a loss v . h_n the gradient is
    dL/dh_t = A^(distance from the end of the sweep) * v: a closed form to test against.
    """
    m = rnnkit.RNN(2, hidden, nonlinearity="relu", bias=False, bidirectional=bidirectional)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(A * torch.eye(hidden) if name.startswith("weight_hh") else p.abs())
    return m


@pytest.mark.parametrize("backend", ["engine", "reference"])
def test_linear_rnn_norms_decay_exactly_geometrically(backend):
    m = linear_rnn()
    m.backend = backend
    T, v = 12, torch.tensor([1.0, 2.0, 2.0])  # ||v|| = 3
    x = torch.rand(T, 4, 2)
    lengths = torch.tensor([12, 9, 5, 1])

    flow = dg.gradient_flow(m, lambda: (m(x, lengths=lengths)[1][0] * v).sum())
    f = flow.layers[("", 0, 0)]
    for b, L in enumerate(lengths.tolist()):
        expected = torch.zeros(T)
        expected[:L] = 3 * A ** torch.arange(L - 1, -1, -1, dtype=torch.float32)
        torch.testing.assert_close(f.norms[:, b], expected)
    torch.testing.assert_close(f.ratios.float(), A ** torch.arange(T, dtype=torch.float32))
    assert f.rho == pytest.approx(A, rel=1e-5)
    assert f.span == 7  # 0.5**6 = 0.0156 >= 0.01 > 0.5**7 = 0.0078
    assert f.nonfinite_at is None


def test_reverse_direction_distance_counts_from_the_start():
    m = linear_rnn(bidirectional=True)
    x = torch.rand(8, 2, 2)
    flow = dg.gradient_flow(m, lambda: m(x)[1][1].sum())  # loss on the reverse final state
    f = flow.layers[("", 0, 1)]
    torch.testing.assert_close(f.norms[:, 0], math.sqrt(3) * A ** torch.arange(8.0))
    assert f.rho == pytest.approx(A, rel=1e-5)
    assert flow.layers[("", 0, 0)].norms.abs().sum() == 0  # forward direction gets no gradient


def test_memory_span_and_decay_helpers():
    r = torch.tensor([1.0, 0.5, 0.2, 0.009, 0.001])
    assert dg.memory_span(r, 0.01) == 3
    assert dg.memory_span(r, 1e-4) == 5  # never below: reported as T
    assert dg.decay_per_step(0.9 ** torch.arange(20.0)) == pytest.approx(0.9)


def test_gradient_flow_on_torch_nn_equals_rnnkit_and_leaves_grads_alone():
    torch.manual_seed(1)
    theirs = nn.GRU(3, 5, 2, batch_first=True)
    ours = rnnkit.GRU(3, 5, 2, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 9, 3)
    flows = [dg.gradient_flow(m, lambda m=m: m(x)[0][:, -1].pow(2).sum()) for m in (theirs, ours)]
    for key, f in flows[1].layers.items():
        torch.testing.assert_close(flows[0].layers[key].norms, f.norms)
    loss = theirs(x)[0][:, -1].pow(2).sum()
    grads = torch.autograd.grad(loss, list(theirs.parameters()))
    for (name, _), g in zip(theirs.named_parameters(), grads, strict=True):
        assert flows[0].param_norms[name] == pytest.approx(float(g.norm()), rel=1e-5)
    assert all(p.grad is None for p in theirs.parameters())
    assert "forward" not in vars(theirs)  # the twin is gone after the call
    assert "memory span" in flows[0].summary()


def test_spectra_of_known_matrices():
    m = nn.RNN(2, 2)
    with torch.no_grad():
        m.weight_hh_l0.copy_(torch.tensor([[0.0, 2.0], [0.5, 0.0]]))  # eigenvalues +-1
    (s,) = dg.recurrent_spectra(m)
    assert s.sigma_max == pytest.approx(2.0) and s.sigma_min == pytest.approx(0.5)
    assert s.spectral_radius == pytest.approx(1.0)
    lstm = rnnkit.LSTM(2, 4, proj_size=2, bidirectional=True)
    rows = dg.recurrent_spectra(lstm)
    assert [r.gate for r in rows] == ["i", "f", "g", "o"] * 2
    assert all(r.spectral_radius is None for r in rows)  # 4x2 blocks are not square


def test_gate_saturation_of_constructed_lstm():
    m = rnnkit.LSTM(2, 3, forget_bias=10.0)
    with torch.no_grad():
        m.weight_ih_l0.zero_()
        m.weight_hh_l0.zero_()
        m.bias_ih_l0[:3] = 0.0  # i = sigmoid(0) = 0.5: not saturated
        m.bias_hh_l0.zero_()
        m.bias_ih_l0[6:9] = -10.0  # g = tanh(-10): at its lower limit
    x = torch.randn(5, 2, 2)
    rows = {r.gate: r for r in dg.gate_saturation(m, lambda: m(x, lengths=[5, 2]))}
    assert rows["f"].high == 1.0 and rows["f"].low == 0.0
    assert rows["i"].high == 0.0 and rows["i"].low == 0.0 and rows["i"].mean == pytest.approx(0.5)
    assert rows["g"].low == 1.0
    advice = dg.advise(saturation=list(rows.values()))
    assert any("gate 'g'" in line for line in advice)


def test_advice_for_closed_forget_gate_and_vanishing_rnn():
    m = rnnkit.LSTM(2, 3, forget_bias=-10.0)
    with torch.no_grad():
        m.weight_hh_l0.zero_()
        m.weight_ih_l0.zero_()
    sat = dg.gate_saturation(m, lambda: m(torch.randn(4, 1, 2)))
    assert any("forget_bias=1.0" in line for line in dg.advise(saturation=sat))
    rnn = linear_rnn()
    x = torch.rand(30, 2, 2)
    flow = dg.gradient_flow(rnn, lambda: rnn(x)[1].sum())
    advice = dg.advise(flow)
    assert any(
        "gradients vanish" in a and "after 7 of 30" in a and "LSTM or GRU" in a for a in advice
    )


def test_gradient_watch_finds_first_explosion_and_nan():
    model = nn.Linear(2, 1, bias=False)
    watch = dg.GradientWatch(threshold=50.0, warmup=3, jump=10.0)
    for step, g in enumerate([1.0, 1.2, 0.9, 1.1, 30.0, 100.0, float("nan")]):
        model.weight.grad = torch.tensor([[g, 0.0]])
        watch.update(step, model)
    assert watch.first_explosion == (4, 30.0)  # 30 > 10 x median(~1.1) before the threshold
    assert watch.first_nonfinite == (6, "weight")
    advice = dg.advise(watch=watch)
    assert "NaN/Inf at step 6" in advice[0] and "exploded at step 4" in advice[1]


def test_diagnostics_reject_models_without_recurrent_layers():
    for fn in (
        lambda: dg.gradient_flow(nn.Linear(2, 2), lambda: torch.zeros(())),
        lambda: dg.recurrent_spectra(nn.Linear(2, 2)),
        lambda: dg.gate_saturation(nn.Linear(2, 2), lambda: None),
    ):
        with pytest.raises(ValueError, match="no RNN/LSTM/GRU"):
            fn()

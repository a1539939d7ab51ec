"""Module behaviour beyond parity: weights, dropout, init, dispatch, dtypes, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from helpers import CELLS, make_pair

BACKENDS = ["engine", "reference", "torch"]


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_dict_round_trip_both_ways(cell):
    ours, theirs = make_pair(cell, input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    fresh_torch = type(theirs)(3, 5, 2, bidirectional=True, **CELLS[cell][2])
    fresh_torch.load_state_dict(ours.state_dict())
    for (k, a), (_, b) in zip(
        ours.state_dict().items(), fresh_torch.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(ours(x)[0], fresh_torch(x)[0])


def test_repr_and_all_weights_match_torch():
    kwargs = dict(num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)
    assert repr(rnnkit.LSTM(3, 5, proj_size=2, **kwargs)) == repr(
        nn.LSTM(3, 5, proj_size=2, **kwargs)
    )
    # torch.nn leaves the nonlinearity out of its repr; ours shows it.
    assert repr(rnnkit.RNN(3, 5, nonlinearity="relu")) == "RNN(3, 5, nonlinearity='relu')"
    assert "backend='engine'" in repr(rnnkit.GRU(3, 5, backend="engine"))
    ours, theirs = rnnkit.GRU(3, 5, 2), nn.GRU(3, 5, 2)
    assert [[p.shape for p in ws] for ws in ours.all_weights] == [
        [p.shape for p in ws] for ws in theirs.all_weights
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_active_in_train_only(backend):
    ours, theirs = make_pair(
        "lstm", backend=backend, input_size=3, hidden_size=8, num_layers=3, dropout=0.5
    )
    x = torch.randn(5, 4, 3)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.train()
    a, b = ours(x)[0], ours(x)[0]
    assert not torch.equal(a, b), "dropout must make two training passes differ"
    ours.eval()
    assert torch.equal(ours(x)[0], ours(x)[0])


def test_dropout_on_single_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        rnnkit.GRU(3, 4, 1, dropout=0.2)


@pytest.mark.parametrize("cls", [rnnkit.RNN, rnnkit.LSTM, rnnkit.GRU])
def test_orthogonal_recurrent_init(cls):
    m = cls(3, 6, 2, bidirectional=True, recurrent_init="orthogonal")
    for name, p in m.named_parameters():
        if name.startswith("weight_hh"):
            for block in p.detach().split(6):
                torch.testing.assert_close(block.T @ block, torch.eye(6), atol=1e-5, rtol=0)


def test_forget_bias_option_and_helper_on_torch_modules():
    m = rnnkit.LSTM(3, 4, 2, forget_bias=1.0)
    for name, p in m.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.equal(p[4:8], torch.ones(4))
        if name.startswith("bias_hh"):
            assert torch.equal(p[4:8], torch.zeros(4))
    t = nn.LSTMCell(3, 4)
    rnnkit.forget_gate_bias_(t, 2.0)
    assert torch.equal(t.bias_ih[4:8] + t.bias_hh[4:8], torch.full((4,), 2.0))
    with pytest.raises(TypeError, match="forget_bias"):
        rnnkit.GRU(3, 4, forget_bias=1.0)
    with pytest.raises(ValueError, match="LSTM layers only"):
        rnnkit.forget_gate_bias_(nn.GRU(3, 4), 1.0)


def test_default_init_bounds_match_torch():
    m = rnnkit.GRU(3, 16)
    bound = 1 / 16**0.5
    for p in m.parameters():
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.5 * bound  # actually drawn, not left at zero


def _auto_choice(m, *args, **kwargs):
    """The backend that auto ran, checked against what explain() says it would run."""
    text = m.explain(*args, **kwargs)
    m(*args, **kwargs)
    assert f"runs {m.last_backend!r}" in text
    return m.last_backend, text


def test_auto_runs_the_first_backend_in_the_ranking_that_accepts():
    from rnnkit.backends import BACKENDS

    m = rnnkit.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    chosen, text = _auto_choice(m, x)
    ranking = list(BACKENDS)
    for faster in ranking[: ranking.index(chosen)]:  # every faster backend says why not
        assert f"  {faster:<10} unavailable" in text or f"  {faster:<10} passed over" in text
    chosen, text = _auto_choice(m, x, lengths=[5, 0])
    assert chosen != "torch" and "torch      unavailable: some sequences have length 0" in text
    with rnnkit.diagnostics.record_hidden_grads(m):
        chosen, text = _auto_choice(m, x)
        assert chosen != "torch" and "per-step gradient norms" in text
    assert "per-step gradient norms" not in m.explain(x)


def test_auto_passes_over_torch_for_lstm_projection_on_cpu():
    m = rnnkit.LSTM(3, 4, proj_size=2)
    chosen, text = _auto_choice(m, torch.randn(5, 2, 3))
    assert chosen != "torch"
    assert "passed over: oneDNN has no fused LSTM-with-projection" in text


def test_explicit_backend_that_cannot_run_raises():
    m = rnnkit.GRU(3, 4, backend="torch")
    with pytest.raises(ValueError, match="backend 'torch' cannot run this call: .*length 0"):
        m(torch.randn(4, 2, 3), lengths=[4, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_input_matches_batch_of_one(backend):
    m = rnnkit.LSTM(3, 4, 2, bidirectional=True, backend=backend)
    x = torch.randn(6, 3)
    h0, c0 = torch.randn(4, 4), torch.randn(4, 4)
    out, (h, c) = m(x, (h0, c0))
    out_b, (h_b, c_b) = m(x.unsqueeze(1), (h0.unsqueeze(1), c0.unsqueeze(1)))
    assert out.shape == (6, 8) and h.shape == (4, 4)
    torch.testing.assert_close(out, out_b.squeeze(1))
    torch.testing.assert_close(c, c_b.squeeze(1))


@pytest.mark.parametrize("backend", ["engine", "reference", "native"])
def test_zero_length_sequence_keeps_initial_state(backend):
    m = rnnkit.GRU(3, 4, bidirectional=True, backend=backend)
    x = torch.randn(5, 2, 3, requires_grad=True)
    h0 = torch.randn(2, 2, 4)
    out, h = m(x, h0, lengths=[5, 0])
    assert torch.equal(out[:, 1], torch.zeros(5, 8))
    assert torch.equal(h[:, 1], h0[:, 1])
    out.sum().backward()
    assert torch.equal(x.grad[:, 1], torch.zeros(5, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_gives_empty_output_like_torch(backend):
    m = rnnkit.LSTM(3, 4, backend=backend)
    out, (h, c) = m(torch.randn(5, 0, 3))
    assert out.shape == (5, 0, 4) and h.shape == (1, 0, 4) and c.shape == (1, 0, 4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("backend", BACKENDS)
def test_low_precision_runs_close_to_float32(backend, dtype):
    m32 = rnnkit.GRU(3, 8, backend=backend)
    m = rnnkit.GRU(3, 8, backend=backend).to(dtype)
    m.load_state_dict(m32.state_dict())
    x = torch.randn(6, 2, 3)
    out, _ = m(x.to(dtype))
    assert out.dtype == dtype
    out.float().sum().backward()
    assert m.weight_hh_l0.grad.dtype == dtype
    torch.testing.assert_close(out.float(), m32(x)[0], atol=3e-2, rtol=0)


def test_engine_refuses_double_backward_clearly():
    m = rnnkit.LSTM(3, 4, backend="engine")
    x = torch.randn(4, 2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(m(x)[0].sum(), x, create_graph=True)


def test_reference_supports_double_backward():
    m = rnnkit.GRU(3, 4, backend="reference")
    x = torch.randn(4, 2, 3, requires_grad=True)
    (g,) = torch.autograd.grad((m(x)[0] ** 2).sum(), x, create_graph=True)
    g.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_retain_graph_allows_a_second_backward(backend):
    m = rnnkit.LSTM(3, 4, backend=backend)
    out = m(torch.randn(4, 2, 3))[0].sum()
    out.backward(retain_graph=True)
    first = m.weight_hh_l0.grad.clone()
    out.backward()
    torch.testing.assert_close(m.weight_hh_l0.grad, 2 * first)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_bits(backend):
    def run():
        torch.manual_seed(123)
        m = rnnkit.LSTM(3, 8, 2, dropout=0.3, bidirectional=True, backend=backend)
        x = torch.randn(7, 4, 3)
        out, _ = m(x, lengths=[7, 3, 5, 1])
        out.sum().backward()
        return [out.detach(), *[p.grad for p in m.parameters()]]

    for a, b in zip(run(), run(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_cuda_matches_cpu(cell, backend):
    ours, _ = make_pair(cell, backend=backend, input_size=3, hidden_size=8, num_layers=2)
    x = torch.randn(7, 4, 3)
    lengths = [7, 5, 2, 1]
    out_cpu = ours(x, lengths=lengths)[0]
    out_cpu.sum().backward()
    grad_cpu = ours.weight_hh_l0.grad.clone()
    ours.zero_grad()
    ours.cuda()
    out_gpu = ours(x.cuda(), lengths=lengths)[0]
    out_gpu.sum().backward()
    torch.testing.assert_close(out_gpu.cpu(), out_cpu, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.weight_hh_l0.grad.cpu(), grad_cpu, atol=1e-4, rtol=1e-4)

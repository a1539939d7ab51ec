"""Inference at few steps per call (decoders, streams) on panels packed once per model and
kept in the module (backends.native.kept_panels): the same outputs as the engine, repacked
whenever a weight changes, never kept for training or pickled."""

from __future__ import annotations

import copy
import io

import pytest
import torch

import rnnkit
from rnnkit import native
from rnnkit.backends.native import KEEP_MAX_STEPS

needs_panels = pytest.mark.skipif(
    native.load() is None or not native.load().panel_kernel,
    reason="the kept step panels need the AVX-512 panel kernel",
)


def kept(layer) -> bool:
    return bool(layer.__dict__.get("_backend_cache", {}).get("native_step"))


@needs_panels
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_few_step_inference_on_kept_panels_matches_the_engine(name, bidirectional):
    torch.manual_seed(0)
    layer = getattr(rnnkit, name)(7, 24, num_layers=2, bidirectional=bidirectional).eval()
    engine = copy.deepcopy(layer)
    engine.backend = "engine"
    for T, B in ((1, 1), (3, 5), (KEEP_MAX_STEPS, 9)):
        x = torch.randn(T, B, 7)
        lengths = torch.randint(1, T + 1, (B,))
        with torch.no_grad():
            y, s = layer(x, lengths=lengths)
            y_ref, s_ref = engine(x, lengths=lengths)
        assert layer.last_backend == "native" and kept(layer)
        torch.testing.assert_close(y, y_ref, atol=2e-6, rtol=1e-5)
        for a, b in zip(s if isinstance(s, tuple) else (s,),
                        s_ref if isinstance(s_ref, tuple) else (s_ref,), strict=True):
            torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)


@needs_panels
def test_a_decoding_loop_carries_state_like_one_long_call():
    torch.manual_seed(1)
    layer = rnnkit.LSTM(5, 16).eval()
    x = torch.randn(20, 3, 5)
    with torch.no_grad():
        whole, _ = layer(x)  # 20 steps: packed per call, nothing kept
        assert not kept(layer)
        state, steps = None, []
        for t in range(20):
            y, state = layer(x[t : t + 1], state)
            steps.append(y)
    assert kept(layer)
    torch.testing.assert_close(torch.cat(steps), whole, atol=2e-6, rtol=1e-5)


@needs_panels
def test_kept_panels_follow_the_weights():
    torch.manual_seed(2)
    layer = rnnkit.GRU(4, 8).eval()
    x = torch.randn(1, 2, 4)
    with torch.no_grad():
        before, _ = layer(x)
        layer.weight_ih_l0.mul_(0.5)  # in place, as an optimizer step
        after, _ = layer(x)
        layer.load_state_dict(rnnkit.GRU(4, 8).state_dict())  # new values, same tensors
        loaded, _ = layer(x)
        engine = copy.deepcopy(layer)
        engine.backend = "engine"
        torch.testing.assert_close(loaded, engine(x)[0], atol=2e-6, rtol=1e-5)
    assert not torch.equal(before, after) and not torch.equal(after, loaded)


@needs_panels
def test_nothing_is_kept_for_training_or_in_files():
    layer = rnnkit.LSTM(4, 8)
    x = torch.randn(1, 2, 4)
    y, _ = layer(x)  # records a graph: trains through the usual kernels
    y.sum().backward()
    assert not kept(layer) and layer.weight_hh_l0.grad is not None
    with torch.no_grad():
        layer(x)
    assert kept(layer)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    assert not kept(torch.load(buffer)) and not kept(copy.deepcopy(layer))
    assert "_backend_cache" not in layer.state_dict()


@needs_panels
def test_auto_takes_native_for_one_step_where_onednn_repacks():
    layer = rnnkit.LSTM(1024, 1024).eval()
    with torch.no_grad():
        assert "'native'" in layer.explain(torch.zeros(1, 1, 1024)).splitlines()[1]
        assert "'native'" not in layer.explain(torch.zeros(50, 1, 1024)).splitlines()[1]


@needs_panels
@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_step_on_kept_panels_like_the_reference(name):
    torch.manual_seed(3)
    cell = getattr(rnnkit, name)(6, 20)
    x, h = torch.randn(4, 6), torch.randn(4, 20)
    hx = (h, torch.randn(4, 20)) if name == "LSTMCell" else h
    want = cell(x, hx)  # records a graph: the reference equations under autograd
    assert not kept(cell)
    with torch.no_grad():
        got = cell(x, hx)
        unbatched = cell(x[0], tuple(s[0] for s in hx) if name == "LSTMCell" else hx[0])
    assert kept(cell)
    for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want)), strict=True):
        torch.testing.assert_close(g, w.detach(), atol=2e-6, rtol=1e-5)
    first = got[0][0] if name == "LSTMCell" else got[0]
    torch.testing.assert_close(unbatched[0] if name == "LSTMCell" else unbatched, first)


def test_panels_pay_by_rows_weights_and_work():
    from rnnkit.backends.native import KEEP_SMALL_BATCH, panels_pay
    from rnnkit.core.cells import LayerWeights

    def w(G, H):  # LayerWeights of an H -> H layer with G gates (only shapes are read)
        return LayerWeights(torch.empty(G * H, H), torch.empty(G * H, H), None, None)

    assert panels_pay(KEEP_SMALL_BATCH, w(3, 2048))        # few rows: always
    assert not panels_pay(KEEP_SMALL_BATCH + 1, w(3, 2048))  # 100 MB of weights
    assert panels_pay(200, w(3, 600)) and not panels_pay(300, w(4, 700))  # the GEMM's size
    assert panels_pay(512, w(4, 64))


@needs_panels
def test_where_panels_do_not_pay_cells_use_torchs_fused_cells(monkeypatch):
    from rnnkit.backends import native as nb

    monkeypatch.setattr(nb, "KEEP_MAX_MACS", 0)
    torch.manual_seed(4)
    B = nb.KEEP_SMALL_BATCH + 1
    for name in ("LSTMCell", "GRUCell", "RNNCell"):
        cell = getattr(rnnkit, name)(5, 12)
        x, h = torch.randn(B, 5), torch.randn(B, 12)
        hx = (h, torch.randn(B, 12)) if name == "LSTMCell" else h
        want = cell(x, hx)
        with torch.no_grad():
            got = cell(x, hx)
        assert not kept(cell)
        for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want)),
                        strict=True):
            torch.testing.assert_close(g, w.detach(), atol=2e-6, rtol=1e-5)


@needs_panels
def test_explain_says_whether_the_weights_are_kept(monkeypatch):
    from rnnkit.backends import native as nb

    layer = rnnkit.GRU(6, 10)
    with torch.no_grad():
        assert "weights: packed once and kept" in layer.explain(torch.randn(1, 3, 6))
        assert "weights:" not in layer.explain(torch.randn(50, 3, 6))  # a whole sequence
        monkeypatch.setattr(nb, "KEEP_MAX_MACS", 0)
        assert "weights: not kept" in layer.explain(torch.randn(1, nb.KEEP_SMALL_BATCH + 1, 6))
    assert "weights:" not in layer.explain(torch.randn(1, 3, 6))  # autograd records it


def _states(s):
    return s if isinstance(s, tuple) else (s,)


@needs_panels
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize(("layers", "bidirectional", "batch_first"),
                         [(1, False, False), (2, True, False), (3, False, True)])
@pytest.mark.parametrize("precision", ["float32", "int8"])
@pytest.mark.parametrize("T", [1, 4])
def test_few_step_calls_take_the_lean_path_with_the_general_paths_results(
        name, layers, bidirectional, batch_first, precision, T):
    torch.manual_seed(5)
    layer = getattr(rnnkit, name)(6, 16, num_layers=layers, bidirectional=bidirectional,
                                  batch_first=batch_first).eval()
    if precision != "float32":
        rnnkit.quantize(layer, precision)
    x = torch.randn(3, T, 6) if batch_first else torch.randn(T, 3, 6)
    with torch.no_grad():
        first, state = layer(x)  # no state given: zeros
        assert kept(layer) or precision != "float32"
        y, s = layer(x, state)
        # lengths= takes the general path (backend choice, run_stacked, masked kernels)
        y_ref, s_ref = layer(x, state, lengths=torch.full((3,), T))
    assert layer.last_backend == "native"
    D = 1 + bidirectional
    assert y.shape == ((3, T, D * 16) if batch_first else (T, 3, D * 16))
    assert [t.shape for t in _states(s)] == [(layers * D, 3, 16)] * len(_states(s))
    torch.testing.assert_close(y, y_ref, atol=2e-6, rtol=1e-5)
    for a, b in zip(_states(s), _states(s_ref), strict=True):
        torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)


@needs_panels
def test_one_step_calls_are_checked_like_any_call():
    layer = rnnkit.LSTM(6, 16, num_layers=2, dropout=0.5)
    x = torch.randn(1, 3, 6)
    h = torch.zeros(2, 3, 16)
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 3, 16\)"):
            layer(x, (h[:1], h))  # one layer's state for two layers
        with pytest.raises(TypeError, match="tuple"):
            layer(x, h)
        with pytest.raises(ValueError, match="input_size"):
            layer(torch.randn(1, 3, 5))
        # training mode: dropout between the layers, as on the general path
        torch.manual_seed(0)
        a, _ = layer(x)
        torch.manual_seed(1)
        b, _ = layer(x)
    assert not torch.equal(a, b)

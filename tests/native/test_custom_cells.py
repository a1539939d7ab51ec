"""User-defined gated cells (rnnkit.GatedCell + rnnkit.CustomRNN): tracing and its errors,
the reference loop against torch.nn, and the generated native kernels against the reference
(values, gradients, float64 gradcheck, masks, both directions, stacks, initial states)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit import native
from rnnkit.core.gated_cell import gated_gru, gated_lstm
from rnnkit.native import codegen

needs_native = pytest.mark.skipif(
    native.unavailable_reason() is not None, reason=f"{native.unavailable_reason()}"
)


def mgu_step(x, h, state):
    """Minimal gated unit (Zhou et al. 2016): not fused (f multiplies h.n)."""
    f = torch.sigmoid(x.f + h.f)
    n = (x.n + f * h.n).tanh()
    return {"h": (1 - f) * state.h + f * n}


def odd_step(x, h, state):
    """Every operation the tracer knows, with a second state that is used and carried."""
    a = (x.a + h.a).relu() / (1 + (x.b * 0.5).exp())
    b = -(h.b - x.a).sigmoid() + 2.0 * state.m
    m = (state.m * a - b / 3).tanh()
    return {"h": (a * b + m).tanh() + +state.h * 0.5, "m": m}


MGU = rnnkit.GatedCell("mgu", ("f", "n"), mgu_step)
ODD = rnnkit.GatedCell("odd", ("a", "b"), odd_step, states=("h", "m"))


# ---- the cell specification -------------------------------------------------------------


def test_fused_layout_is_detected():
    assert gated_lstm().graph.fused
    assert not gated_gru().graph.fused
    assert not MGU.graph.fused


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gates": ("f",), "step": lambda x, h, s: x.q + s.h}, "x has no 'q'; it has: f"),
        ({"gates": ("f",), "step": lambda x, h, s: torch.matmul(x.f, h.f)}, "could not trace"),
        ({"gates": ("f",), "step": lambda x, h, s: {"h": x.f, "c": h.f}}, "unknown ['c']"),
        ({"gates": ("f",), "step": lambda x, h, s: (x.f, h.f)}, "returned 2 values"),
        ({"gates": ("f",), "step": lambda x, h, s: 1.0}, "must depend on the inputs"),
        ({"gates": ("f",), "step": lambda x, h, s: x.f if x.f else h.f}, "cannot branch"),
        ({"gates": ("f", "f"), "step": lambda x, h, s: x.f}, "repeated gate names"),
        ({"gates": ("1x",), "step": lambda x, h, s: s.h}, "not a Python identifier"),
        ({"gates": ("f",), "step": lambda x, h, s: s.h, "states": ("c", "h")}, "first state"),
        ({"gates": (), "step": lambda x, h, s: s.h}, "at least one gate"),
    ],
)
def test_bad_cells_are_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=None) as err:
        rnnkit.GatedCell("bad", **kwargs)
    assert message in str(err.value)


def test_custom_rnn_checks_its_arguments():
    with pytest.raises(TypeError, match="GatedCell"):
        rnnkit.CustomRNN("lstm", 3, 4)
    layer = rnnkit.CustomRNN(gated_lstm(), 3, 4)
    with pytest.raises(TypeError, match="tuple of 2 tensors"):
        layer(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="c_0"):
        layer(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 3, 4)))


def test_parameters_are_named_and_shaped_like_torch_nn():
    ours = rnnkit.CustomRNN(gated_gru(), 5, 7, num_layers=2, bidirectional=True)
    theirs = nn.GRU(5, 7, num_layers=2, bidirectional=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert "CustomRNN(gru, 5, 7" in repr(ours)


def test_other_backends_refuse_a_custom_cell_and_say_so():
    layer = rnnkit.CustomRNN(MGU, 3, 4, backend="torch")
    with pytest.raises(ValueError, match="built-in cells only"):
        layer(torch.randn(2, 1, 3))
    text = rnnkit.CustomRNN(MGU, 3, 4).explain()
    assert "built-in cells only" in text


# ---- reference loop = torch.nn for the LSTM and GRU written as gated cells --------------


@pytest.mark.parametrize(("cell", "torch_cls"), [(gated_lstm, nn.LSTM), (gated_gru, nn.GRU)])
@pytest.mark.parametrize("backend", ["reference", pytest.param("native", marks=needs_native)])
@pytest.mark.parametrize("H", [8, 21])  # float32 rows: 16 columns as a vector, 5 padded
def test_builtin_cells_written_as_gated_cells_match_torch_nn(cell, torch_cls, backend, H):
    torch.manual_seed(0)
    theirs = torch_cls(6, H, num_layers=2, bidirectional=True, batch_first=True)
    ours = rnnkit.CustomRNN(cell(), 6, H, num_layers=2, bidirectional=True, batch_first=True,
                            backend=backend)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 9, 6)
    results = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        y, state = m(xi)
        states = state if isinstance(state, tuple) else (state,)
        loss = (y * torch.linspace(-1, 1, 2 * H)).sum() + sum(s.square().sum() for s in states)
        loss.backward()
        results.append((y.detach(), [s.detach() for s in states], xi.grad,
                        [p.grad for p in m.parameters()]))
    (y1, s1, dx1, g1), (y2, s2, dx2, g2) = results
    assert ours.last_backend == backend
    torch.testing.assert_close(y1, y2, atol=2e-6, rtol=1e-5)
    for a, b in zip([*s1, dx1, *g1], [*s2, dx2, *g2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ---- generated native kernels = reference loop --------------------------------------------


def _run(layer, x, hx, lengths, weights):
    x = x.clone().requires_grad_()
    hx = tuple(h.clone().requires_grad_() for h in hx)
    y, state = layer(x, hx if len(hx) > 1 else hx[0], lengths=lengths)
    states = state if isinstance(state, tuple) else (state,)
    loss = (y * weights).sum() + sum((s * s.detach().sign()).sum() for s in states)
    loss.backward()
    return [y, *states, x.grad, *(h.grad for h in hx), *(p.grad for p in layer.parameters())]


@needs_native
@pytest.mark.parametrize("cell", [MGU, ODD, gated_lstm(), gated_gru()], ids=lambda c: c.name)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_native_kernels_match_the_reference_loop(cell, bidirectional, masked):
    torch.manual_seed(1)
    T, B, I, H, L = 6, 5, 4, 9, 2
    ref = rnnkit.CustomRNN(cell, I, H, num_layers=L, bidirectional=bidirectional,
                           backend="reference", dtype=torch.float64)
    nat = rnnkit.CustomRNN(cell, I, H, num_layers=L, bidirectional=bidirectional,
                           backend="native", dtype=torch.float64)
    nat.load_state_dict(ref.state_dict())
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I, dtype=torch.float64)
    hx = tuple(torch.randn(L * D, B, H, dtype=torch.float64) for _ in cell.states)
    lengths = torch.tensor([6, 1, 0, 4, 6]) if masked else None
    weights = torch.randn(T, B, D * H, dtype=torch.float64)
    for a, b in zip(_run(nat, x, hx, lengths, weights), _run(ref, x, hx, lengths, weights),
                    strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
    assert nat.last_backend == "native"


@needs_native
@pytest.mark.parametrize("cell", [MGU, ODD], ids=lambda c: c.name)
@pytest.mark.parametrize("T", [6, 7])  # odd T: the adjoint buffers end swapped
def test_batch_split_across_threads_matches_the_reference_loop(cell, T):
    """Two threads and >= 8 rows: each thread runs the time loops for its own rows."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(4)
        B, I, H = 19, 4, 9
        ref = rnnkit.CustomRNN(cell, I, H, backend="reference", dtype=torch.float64)
        nat = rnnkit.CustomRNN(cell, I, H, backend="native", dtype=torch.float64)
        nat.load_state_dict(ref.state_dict())
        x = torch.randn(T, B, I, dtype=torch.float64)
        hx = tuple(torch.randn(1, B, H, dtype=torch.float64) for _ in cell.states)
        lengths = torch.randint(0, T + 1, (B,))
        weights = torch.randn(T, B, H, dtype=torch.float64)
        for a, b in zip(_run(nat, x, hx, lengths, weights), _run(ref, x, hx, lengths, weights),
                        strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
    finally:
        torch.set_num_threads(previous)


@needs_native
@pytest.mark.parametrize("cell", [MGU, ODD], ids=lambda c: c.name)
def test_native_kernels_pass_gradcheck(cell):
    torch.manual_seed(2)
    layer = rnnkit.CustomRNN(cell, 3, 4, backend="native", dtype=torch.float64)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True) for _ in cell.states)
    names = [n for n, _ in layer.named_parameters()]
    S = len(cell.states)

    def f(x, *rest):
        states, weights = rest[:S], rest[S:]
        y, s = torch.func.functional_call(
            layer, dict(zip(names, weights, strict=True)), (x, states if S > 1 else states[0])
        )
        return (y, *(s if isinstance(s, tuple) else (s,)))

    inputs = (x, *hx, *(p.detach().clone().requires_grad_() for p in layer.parameters()))
    assert torch.autograd.gradcheck(f, inputs)


@needs_native
def test_float32_native_matches_reference_and_unbatched_input_works():
    torch.manual_seed(3)
    ref = rnnkit.CustomRNN(gated_lstm(), 5, 16, backend="reference")
    nat = rnnkit.CustomRNN(gated_lstm(), 5, 16, backend="native")
    nat.load_state_dict(ref.state_dict())
    x = torch.randn(7, 5)  # unbatched
    (y1, (h1, c1)), (y2, (h2, c2)) = nat(x), ref(x)
    assert y1.shape == (7, 16) and h1.shape == (1, 16) and c1.shape == (1, 16)
    for a, b in ((y1, y2), (h1, h2), (c1, c2)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@needs_native
def test_recompute_gives_the_same_gradients():
    from rnnkit.backends.native import recompute_activations

    torch.manual_seed(4)
    layer = rnnkit.CustomRNN(ODD, 3, 6, num_layers=2, backend="native", dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    grads = []
    for on in (False, True):
        layer.zero_grad()
        with recompute_activations(on):
            y, _ = layer(x)
        y.sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@needs_native
def test_generated_source_is_cached_per_cell():
    same = rnnkit.GatedCell("mgu", ("f", "n"), mgu_step)
    assert codegen.load_cell(MGU) is codegen.load_cell(same)
    src = codegen.cell_source(gated_lstm())
    assert "FUSED = true" in src and "A::sigmoid" in src


def test_diagnostics_cover_custom_cells():
    from rnnkit import diagnostics as dg

    torch.manual_seed(5)
    layer = rnnkit.CustomRNN(MGU, 4, 8)
    x = torch.randn(20, 2, 4)
    flow = dg.gradient_flow(layer, lambda: layer(x)[0][-1].pow(2).sum())
    ref = rnnkit.CustomRNN(MGU, 4, 8, backend="reference")
    ref.load_state_dict(layer.state_dict())
    flow_ref = dg.gradient_flow(ref, lambda: ref(x)[0][-1].pow(2).sum())
    (_, f), (_, f_ref) = *flow.layers.items(), *flow_ref.layers.items()
    assert layer.last_backend == "native" and ref.last_backend == "reference"
    torch.testing.assert_close(f.norms, f_ref.norms, rtol=1e-4, atol=1e-9)
    assert f.norms.shape == (20, 2) and float(f.norms[-1].min()) > 0
    spectra = dg.recurrent_spectra(layer)
    assert [b.gate for b in spectra] == ["f", "n"]
    assert all(isinstance(line, str) for line in dg.advise(flow, spectra))
    with pytest.raises(ValueError, match="not a CustomRNN"):
        dg.gate_saturation(layer, lambda: layer(x))

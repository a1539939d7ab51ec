"""The native backend beyond the shared parity grid: accuracy of its fast activations,
threaded sizes, diagnostics, dtype fallback, module behaviour, and a failed build."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from helpers import assert_grad_norms_match, initial_state, make_pair
from rnnkit import native
from rnnkit.backends import BACKENDS
from rnnkit.backends.native import KEEP_MAX_STEPS

pytestmark = pytest.mark.skipif(
    native.unavailable_reason() is not None, reason=f"{native.unavailable_reason()}"
)


def test_fast_float32_activations_are_accurate():
    """The float32 exp/sigmoid/tanh of the kernels, against float64 libm (stated accuracy)."""
    x = torch.linspace(-30, 30, 200_001)
    exp, sig, tanh = native.load().fast_activations(x).double()
    xd = x.double()
    inside = xd.abs() < 80  # where exp is a normal float
    rel = ((exp - xd.exp()) / xd.exp())[inside].abs().max()
    assert rel < 3e-7, rel
    assert (sig - xd.sigmoid()).abs().max() < 3e-7
    assert (tanh - xd.tanh()).abs().max() < 3e-7
    big = native.load().fast_activations(torch.tensor([-1e4, 1e4]))  # saturates, no inf/nan
    torch.testing.assert_close(big[1:], torch.tensor([[0.0, 1.0], [-1.0, 1.0]]), atol=1e-30, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "lstm_proj"])
def test_threaded_sizes_match_torch_nn(cell):
    """Large enough that gate loops split across threads and step GEMMs run threaded."""
    T, B, H = 3, 64, 160
    kw = {"proj_size": 40} if cell == "lstm_proj" else {}
    ours, theirs = make_pair(
        cell.replace("_proj", "") if kw else cell,
        backend="native",
        input_size=24,
        hidden_size=H,
        bidirectional=True,
        **kw,
    )
    x = torch.randn(T, B, 24)
    lengths = torch.randint(1, T + 1, (B,))
    outs = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        packed = torch.nn.utils.rnn.pack_padded_sequence(xi, lengths, enforce_sorted=False)
        y, _ = m(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=T)
        (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
        outs.append((y.detach(), xi.grad, [p.grad for p in m.parameters()]))
    (y1, dx1, g1), (y2, dx2, g2) = outs
    assert ours.last_backend == "native"
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    for a, b in zip([dx1, *g1], [dx2, *g2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu", "lstm_proj"])
def test_grad_norms_match_engine(cell):
    """The diagnostics hook: ||dL/dh_t|| per step, layer and direction, as the engine writes it."""
    assert_grad_norms_match(cell, "native")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_other_dtypes_fall_back_with_a_reason(dtype):
    m = rnnkit.GRU(3, 4).to(dtype)
    x = torch.randn(5, 2, 3, dtype=dtype)
    m(x)
    assert m.last_backend != "native"
    assert "float32 and float64" in m.explain(x)
    with pytest.raises(ValueError, match="native.*float32 and float64"):
        rnnkit.GRU(3, 4, backend="native").to(dtype)(x)


def test_module_behaviour_on_native():
    """Dropout, unbatched input, empty batch, zero lengths, retain_graph, double backward."""
    ours, theirs = make_pair(
        "lstm", backend="native", input_size=3, hidden_size=8, num_layers=3, dropout=0.5
    )
    x = torch.randn(5, 4, 3)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.train()
    assert not torch.equal(ours(x)[0], ours(x)[0])

    m = rnnkit.LSTM(3, 4, 2, bidirectional=True, backend="native")
    xu, h0, c0 = torch.randn(6, 3), torch.randn(4, 4), torch.randn(4, 4)
    out, (h, c) = m(xu, (h0, c0))
    out_b, (h_b, c_b) = m(xu.unsqueeze(1), (h0.unsqueeze(1), c0.unsqueeze(1)))
    torch.testing.assert_close(out, out_b.squeeze(1))
    torch.testing.assert_close(c, c_b.squeeze(1))

    out, (h, c) = rnnkit.LSTM(3, 4, backend="native")(torch.randn(5, 0, 3))
    assert out.shape == (5, 0, 4) and h.shape == (1, 0, 4)

    g = rnnkit.GRU(3, 4, bidirectional=True, backend="native")
    xg = torch.randn(5, 2, 3, requires_grad=True)
    h0 = torch.randn(2, 2, 4)
    out, h = g(xg, h0, lengths=[5, 0])
    assert torch.equal(out[:, 1], torch.zeros(5, 8)) and torch.equal(h[:, 1], h0[:, 1])
    out.sum().backward(retain_graph=True)
    assert torch.equal(xg.grad[:, 1], torch.zeros(5, 3))
    first = g.weight_hh_l0.grad.clone()
    out.sum().backward()
    torch.testing.assert_close(g.weight_hh_l0.grad, 2 * first)

    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(g(xg)[0].sum(), xg, create_graph=True)


def test_same_seed_same_bits():
    def run():
        torch.manual_seed(123)
        m = rnnkit.LSTM(3, 8, 2, dropout=0.3, bidirectional=True, backend="native")
        out, _ = m(torch.randn(7, 4, 3), lengths=[7, 3, 5, 1])
        out.sum().backward()
        return [out.detach(), *[p.grad for p in m.parameters()]]

    for a, b in zip(run(), run(), strict=True):
        assert torch.equal(a, b)


def test_float64_initial_state_grads_match_torch_nn():
    ours, theirs = make_pair(
        "lstm", backend="native", dtype=torch.float64, input_size=3, hidden_size=5, num_layers=2
    )
    x = torch.randn(4, 3, 3, dtype=torch.float64)
    state = initial_state(ours, 3, dtype=torch.float64, requires_grad=False)
    grads = []
    for m in (ours, theirs):
        h0, c0 = (s.clone().requires_grad_() for s in state)
        out, (h, c) = m(x, (h0, c0))
        (out.sum() + h.pow(2).sum() + c.sum()).backward()
        grads.append((h0.grad, c0.grad))
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_native_is_registered_first():
    assert next(iter(BACKENDS)) == "native"


@pytest.mark.parametrize("cell", ["lstm_proj", "gru"])
def test_recompute_gives_the_same_gradients(cell):
    from rnnkit.backends.native import recompute_activations

    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        m, _ = make_pair(cell, backend="native", input_size=3, hidden_size=6, num_layers=2,
                         bidirectional=True)  # fmt: skip
        x = torch.randn(5, 3, 3, requires_grad=True)
        with recompute_activations(recompute):
            out = m(x, lengths=[5, 2, 4])[0]
        (out * out).sum().backward()
        grads.append([x.grad, *[p.grad for p in m.parameters()]])
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "lstm_proj", "gru", "rnn_tanh"])
@pytest.mark.parametrize("B", [1, 2])
@pytest.mark.parametrize("H", [5, 37])
def test_small_batch_micro_kernel_matches_torch_nn(cell, B, H):
    """Batch 1-2 runs the register-blocked micro-kernel: odd H exercises its vector tails."""
    kw = {"proj_size": 3} if cell == "lstm_proj" else {}
    base = "lstm" if kw else cell
    ours, theirs = make_pair(base, backend="native", input_size=4, hidden_size=H,
                             bidirectional=True, **kw)  # fmt: skip
    x = torch.randn(5, B, 4)
    state = initial_state(theirs, B, requires_grad=False)
    results = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        si = [s.clone().requires_grad_() for s in state]
        out, hn = m(xi, si[0] if len(si) == 1 else tuple(si))
        hn = hn if isinstance(hn, tuple) else (hn,)
        loss = (out * torch.linspace(-1, 1, out.shape[-1])).sum() + sum(h.sum() for h in hn)
        loss.backward()
        results.append([out.detach(), xi.grad, *[s.grad for s in si],
                        *[p.grad for p in m.parameters()]])  # fmt: skip
    assert ours.last_backend == "native"
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(results[0][1:], results[1][1:], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("H", [15, 16, 17, 45])
def test_gate_loop_tails_match_torch_nn(cell, H):
    """The gate loops run H % 16 last columns on padded copies: widths around a vector's
    16 lanes, forward and gradients, at a batch (4) on the packed-panel path."""
    ours, theirs = make_pair(cell, backend="native", input_size=6, hidden_size=H)
    x = torch.randn(7, 4, 6)
    results = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        out, _ = m(xi)
        (out * torch.linspace(-1, 1, H)).sum().backward()
        with torch.no_grad():
            infer = m(x)[0]
        results.append([out.detach(), infer, xi.grad, *[p.grad for p in m.parameters()]])
    assert ours.last_backend == "native"
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("cls", "B", "H", "grad", "runs", "runs_on_panels"),
    [
        (rnnkit.LSTM, 16, 64, False, "native", "native"),  # faster than oneDNN since session 3
        (rnnkit.LSTM, 16, 256, False, "torch", "native"),  # oneDNN faster on AVX2 builds
        (rnnkit.LSTM, 1, 1024, False, "native", "torch"),
        (rnnkit.LSTM, 64, 64, False, "native", "native"),
        (rnnkit.GRU, 64, 64, False, "torch", "native"),
        (rnnkit.GRU, 16, 64, False, "native", "native"),
        (rnnkit.GRU, 256, 64, True, "native", "native"),  # training: native everywhere
    ],
)
def test_auto_follows_the_measured_ranking(cls, B, H, grad, runs, runs_on_panels):
    """The ranking depends on the build: the AVX-512 panel kernel changed it (PERFORMANCE.md)."""
    if native.load().panel_kernel:
        runs = runs_on_panels
    layer = cls(8, H)
    with torch.set_grad_enabled(grad):  # longer than a kept-panel call (test_step_panels.py)
        layer(torch.randn(KEEP_MAX_STEPS + 4, B, 8))
    assert layer.last_backend == runs


def assert_same_training_step(ours, theirs, x, forward=lambda m, x: m(x)[0]):
    """Outputs, input gradient and every parameter gradient of one weighted-sum loss agree."""
    out = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        y = forward(m, xi)
        (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
        out.append((y.detach(), xi.grad, [p.grad for p in m.parameters()]))
    (y1, dx1, g1), (y2, dx2, g2) = out
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    for u, v in zip([dx1, *g1], [dx2, *g2], strict=True):
        torch.testing.assert_close(u, v, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("B", [3, 6, 7, 8])
def test_micro_kernel_batches_match_torch_nn(cell, B):
    """Batches 3-8 at H <= 64 run the per-step matmuls on the 6/4/2/1-row micro-kernel tiles."""
    ours, theirs = make_pair(cell, backend="native", input_size=16, hidden_size=64)
    assert_same_training_step(ours, theirs, torch.randn(5, B, 16))


@pytest.mark.parametrize(
    ("M", "K", "N", "a_t", "b_t", "bias"),
    [
        (300, 130, 50, False, True, True),  # panel path (where built): masked last panel
        (257, 1100, 64, False, False, False),  # sum longer than one k-block (512)
        (257, 1100, 40, False, False, True),  # the bias in the first k-block only
        (1000, 256, 96, False, True, True),  # many row tiles, uneven split
        (64, 40, 33, False, False, True),  # small: ATen
        (300, 200, 70, True, False, False),  # transposed a (weight gradients): ATen
    ],
)
def test_batched_matmul_matches_torch(M, K, N, a_t, b_t, bias):
    """The matmul the kernels use before and after the time loop equals torch.mm/addmm."""
    ext = native.load()
    g = torch.Generator().manual_seed(M + K + N)
    a = torch.randn(K, M, generator=g).t() if a_t else torch.randn(M, K, generator=g)
    b = torch.randn(N, K, generator=g).t() if b_t else torch.randn(K, N, generator=g)
    c = torch.randn(N, generator=g) if bias else None
    want = torch.addmm(c, a, b) if bias else a @ b
    torch.testing.assert_close(ext.matmul(a, b, c), want, atol=2e-4 * K**0.5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("B", "H"), [(13, 33), (5, 256), (1, 48)])
def test_per_step_kernel_shapes_match_torch_nn(cell, B, H):
    """Row tiles of uneven height (13 = 7 + 6), a masked last column panel (H = 33), the
    packed-input path (backward row stride 4H = 1024 at H = 256) and batch 1."""
    ours, theirs = make_pair(cell, backend="native", input_size=20, hidden_size=H)
    assert_same_training_step(ours, theirs, torch.randn(4, B, 20))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("T", "B"), [(3, 2), (3, 16), (9, 2), (9, 16)])
def test_large_weights_match_torch_nn(cell, T, B):
    """Recurrent weights past 1 MB (4H x H at H = 520): unpacked per-step GEMMs below 8
    steps (also the fused LSTM inference's fallback at B = 16), packed with streaming
    stores (>= 4 MB) from 8 steps; training step and inference."""
    ours, theirs = make_pair(cell, backend="native", input_size=24, hidden_size=520)
    x = torch.randn(T, B, 24)
    assert_same_training_step(ours, theirs, x)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("B", [16, 23])
def test_lstm_inference_fused_step_matches_torch_nn(B):
    """Inference at batch >= 16 runs one GEMM per step over [x_t, h, 1] on AVX-512 builds:
    two bidirectional layers, an initial state, and padded steps (lengths) against the
    reference loop."""
    ours, theirs = make_pair("lstm", backend="native", input_size=12, hidden_size=40,
                             num_layers=2, bidirectional=True)
    x = torch.randn(7, B, 12)
    h0 = initial_state(ours, B, requires_grad=False)
    with torch.no_grad():
        y1, (h1, c1) = ours(x, h0)
        y2, (h2, c2) = theirs(x, h0)
        for u, v in ((y1, y2), (h1, h2), (c1, c2)):
            torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-5)
        lengths = torch.randint(0, 8, (B,))
        ref = rnnkit.LSTM(12, 40, num_layers=2, bidirectional=True, backend="reference")
        ref.load_state_dict(ours.state_dict())
        for u, v in zip(ours(x, h0, lengths=lengths)[0], ref(x, h0, lengths=lengths)[0],
                        strict=True):
            torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-5)
    assert ours.last_backend == "native"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weights_packed_across_threads_match_torch_nn(cell):
    """With two threads, weights of 256 KB or more are packed into panels by both threads
    (pack_w): a batch too small to split (5 rows) over 60 steps, whose input projection and
    recurrent weights are both packed per call, equals torch.nn in training and inference."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ours, theirs = make_pair(cell, backend="native", input_size=150, hidden_size=170)
        x = torch.randn(60, 5, 150)
        assert_same_training_step(ours, theirs, x)
        with torch.no_grad():
            torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=2e-5, rtol=1e-4)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_batch_split_across_threads_matches_torch_nn(cell):
    """With two threads, batches of >= 8 rows run one time loop per thread over their own
    rows (panel builds): outputs and every gradient still equal torch.nn's, lengths too."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ours, theirs = make_pair(cell, backend="native", input_size=10, hidden_size=24,
                                 bidirectional=True)
        lengths = torch.randint(1, 7, (19,)).sort(descending=True).values

        def packed_forward(m, x):
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths)
            return torch.nn.utils.rnn.pad_packed_sequence(m(packed)[0])[0]

        assert_same_training_step(ours, theirs, torch.randn(6, 19, 10), packed_forward)
    finally:
        torch.set_num_threads(previous)

"""The triton (GPU) backend. Without a GPU its kernels run in Triton's CPU interpreter
(TRITON_INTERPRET=1, set here before the kernels are first defined); with one, the last test
also checks them against cuDNN."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

import rnnkit  # noqa: E402
import test_parity  # noqa: E402
from helpers import assert_grad_norms_match, initial_state, make_pair  # noqa: E402

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]

# The shared parity grid less what the backend refuses (proj_size), at 1-2 layers and
# time-major only (the interpreter runs a kernel's every operation in Python).
GRID = list(
    itertools.product(CELLS, [1, 2], [False, True], ["full", "padded", "packed"], [True, False])
)


@pytest.mark.parametrize("cell,layers,bidir,layout,bias", GRID)
def test_matches_torch_nn(cell, layers, bidir, layout, bias):
    test_parity.test_matches_torch_nn(cell, layers, bidir, False, layout, bias, "triton")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("B", "H"), [(17, 70), (1, 16), (40, 33)])
def test_block_edges_match_torch_nn(cell, B, H):
    """Several programs (B = 17, 40 over 16-row blocks; 40 also a 64-row block), hidden
    chunks with a masked tail (H = 70 = 64 + 6, 33) and a single row."""
    ours, theirs = make_pair(cell, backend="triton", input_size=9, hidden_size=H)
    x = torch.randn(4, B, 9)
    state = initial_state(theirs, B)
    results = []
    for m in (ours, theirs):
        xi = x.clone().requires_grad_()
        si = [s.detach().clone().requires_grad_() for s in state]
        y, hn = m(xi, si[0] if len(si) == 1 else tuple(si))
        finals = hn if isinstance(hn, tuple) else (hn,)
        loss = (y * torch.linspace(-1, 1, H)).sum() + sum(f.sum() for f in finals)
        loss.backward()
        results.append([y.detach(), *finals, xi.grad, *(s.grad for s in si),
                        *(p.grad for p in m.parameters())])  # fmt: skip
    assert ours.last_backend == "triton"
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_grad_norms_match_engine(cell):
    """The diagnostics hook: ||dL/dh_t|| per step, layer and direction, as the engine writes it."""
    assert_grad_norms_match(cell, "triton")


def test_inference_and_refusals():
    """No graph: forward only; an empty batch. Refused with a reason: float64, projections,
    double backward, and the CPU without the interpreter. ``auto`` never picks it before it
    is measured."""
    ours, theirs = make_pair("lstm", backend="triton", input_size=4, hidden_size=8)
    x = torch.randn(5, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-5, rtol=1e-5)
    assert ours.last_backend == "triton"
    empty = torch.randn(5, 0, 4, requires_grad=True)  # an empty batch, through backward
    out, (h, c) = ours(empty)
    assert out.shape == (5, 0, 8) and h.shape == (1, 0, 8)
    out.sum().backward()
    assert empty.grad.shape == (5, 0, 4)

    with pytest.raises(ValueError, match="float32 only"):
        rnnkit.GRU(3, 4, backend="triton").double()(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="projections"):
        rnnkit.LSTM(3, 4, proj_size=2, backend="triton")(torch.randn(5, 2, 3))
    g = rnnkit.GRU(3, 4, backend="triton")
    xg = torch.randn(5, 2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="triton backend does not support double backward"):
        torch.autograd.grad(g(xg)[0].sum(), xg, create_graph=True)

    auto = rnnkit.GRU(3, 4)
    auto(torch.randn(5, 2, 3))
    assert auto.last_backend != "triton"
    assert "not yet measured against cuDNN" in auto.explain(torch.randn(5, 2, 3))

    os.environ["TRITON_INTERPRET"] = "0"
    try:
        with pytest.raises(ValueError, match="run on CUDA devices, not cpu"):
            rnnkit.GRU(3, 4, backend="triton")(torch.randn(5, 2, 3))
    finally:
        os.environ["TRITON_INTERPRET"] = "1"


def test_kernels_compile_for_hopper_without_a_gpu():
    """Ahead-of-time compilation for sm_90 (H100/H200) down to a cubin with Triton's own
    ptxas: what the interpreter cannot check, that the kernels lower to the GPU."""
    script = Path(__file__).parent / "triton_aot.py"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, str(script), "90"], env=env, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("cubin") == 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_gpu_matches_cudnn():
    """On a GPU: the compiled kernels (a fresh process, no interpreter) against cuDNN."""
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_bench.py"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, str(script), "--check"], env=env, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

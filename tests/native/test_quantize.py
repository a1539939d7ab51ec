"""Reduced-precision inference (rnnkit.quantize): the int8 and bfloat16 matmuls against
their arithmetic spelt out in torch, quantised layers against float32 layers holding the
same rounded weights, persistence (state_dict, deepcopy, torch.save) and the errors."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit import native
from rnnkit.layers.quantize import KIND, round_int8, rounded

needs_native = pytest.mark.skipif(
    native.unavailable_reason() is not None, reason=f"{native.unavailable_reason()}"
)


def int8_reference(x, w):
    """x @ w^T as the int8 kernel computes it: per-row scales for w and for x, exact sums."""
    q, s = round_int8(w)
    sx = x.abs().amax(dim=1) / 127
    sx = torch.where(sx > 0, sx, torch.ones_like(sx))
    qx = torch.round(x / sx[:, None])
    exact = qx.double() @ q.double().t()  # integers: exact in float64
    return (exact * sx[:, None].double() * s[None, :].double()).float()


@needs_native
@pytest.mark.parametrize(("M", "N", "K"), [(1, 16, 4), (3, 37, 13), (9, 100, 65), (50, 256, 128)])
def test_int8_matmul_is_the_spelt_out_integer_arithmetic(M, N, K):
    g = torch.Generator().manual_seed(M * N + K)
    x, w = torch.randn(M, K, generator=g), torch.randn(N, K, generator=g)
    x[0, :] = 0  # an all-zero row (scale 1, every byte 128)
    q, s = round_int8(w)
    rowsum = q.to(torch.int32).sum(1, dtype=torch.int32)
    ext = native.load()
    y = ext.lowp_matmul(x, KIND["int8"], ext.lowp_pack(q), N, s, rowsum)
    torch.testing.assert_close(y, int8_reference(x, w), rtol=1e-5, atol=1e-5)
    assert (y[0] == 0).all()


@needs_native
@pytest.mark.parametrize(("M", "N", "K"), [(1, 16, 4), (5, 37, 13), (64, 200, 96)])
def test_bfloat16_matmul_rounds_both_operands_and_sums_in_float32(M, N, K):
    g = torch.Generator().manual_seed(N + K)
    x, w = torch.randn(M, K, generator=g), torch.randn(N, K, generator=g)
    wb = w.to(torch.bfloat16)
    y = native.load().lowp_matmul(x, KIND["bfloat16"], wb, N, None, None)
    want = x.to(torch.bfloat16).double() @ wb.double().t()
    torch.testing.assert_close(y.double(), want, rtol=1e-5, atol=1e-5)


def test_rounding_is_idempotent_and_close():
    w = torch.randn(40, 30)
    for precision, tol in (("int8", 0.5 / 127), ("bfloat16", 2**-8)):
        r = rounded(w, precision)
        assert torch.equal(rounded(r, precision), r)
        rel = (r - w).abs() / w.abs().amax(dim=1, keepdim=True)
        assert rel.max() <= tol * 1.01


LAYERS = [
    ("LSTM", {}),
    ("LSTM", {"proj_size": 8}),
    ("GRU", {}),
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
]


@needs_native
@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
@pytest.mark.parametrize(("name", "kwargs"), LAYERS)
def test_quantised_layer_matches_float32_with_the_rounded_weights(name, kwargs, precision):
    torch.manual_seed(0)
    layer = getattr(rnnkit, name)(12, 32, num_layers=2, bidirectional=True, **kwargs).eval()
    original = copy.deepcopy(layer)
    rnnkit.quantize(layer, precision)
    rounded_float = copy.deepcopy(layer)
    rounded_float.precision = "float32"  # same rounded weights, float32 arithmetic
    x = torch.randn(20, 6, 12)
    lengths = torch.tensor([20, 13, 1, 7, 20, 2])
    with torch.no_grad():
        y, _ = layer(x, lengths=lengths)
        assert layer.last_backend == "native"
        y_float, _ = rounded_float(x, lengths=lengths)
        y_orig, _ = original(x, lengths=lengths)
    # Only the activations' rounding separates the first pair; the weights' the second.
    err = (y - y_float).abs().max().item()
    assert err < (0.03 if precision == "int8" else 0.01)
    assert err > 0  # the reduced-precision kernels ran, not the float32 ones
    assert (y_orig - y).abs().max().item() < (0.05 if precision == "int8" else 0.02)
    assert (y[1:, 2] == 0).all()  # padding stays zero


@needs_native
def test_quantised_model_persists_and_reloads_by_rounding():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 8), rnnkit.GRU(8, 16, batch_first=True))
    rnnkit.quantize(model, "int8")
    x = torch.randn(3, 9, 5)
    with torch.no_grad():
        want = model(x)[0]
        # deepcopy and torch.save (safe loading) keep the precision and give equal outputs
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        with torch.serialization.safe_globals([nn.Sequential, nn.Linear]):  # the user's own
            loaded = torch.load(buffer)
        for clone in (copy.deepcopy(model), loaded):
            assert clone[1].precision == "int8"
            assert torch.equal(clone(x)[0], want)
        # the state_dict holds the rounded weights: a float model loading it and quantised
        # gives the same outputs
        fresh = nn.Sequential(nn.Linear(5, 8), rnnkit.GRU(8, 16, batch_first=True))
        fresh.load_state_dict(model.state_dict(), strict=True)
        assert torch.equal(rnnkit.quantize(fresh, "int8")(x)[0], want)
        # new weights loaded into a quantised model are rounded on the next call
        other = nn.Sequential(nn.Linear(5, 8), rnnkit.GRU(8, 16, batch_first=True))
        model.load_state_dict(other.state_dict())
        got = model(x)[0]
        assert torch.equal(got, rnnkit.quantize(other, "int8")(x)[0])
        w = model[1].weight_hh_l0
        assert torch.equal(w, rounded(w, "int8"))


@needs_native
def test_quantised_layer_under_autograd_runs_float32_and_passes_gradients():
    layer = rnnkit.LSTM(4, 8)
    rnnkit.quantize(layer, "bfloat16")
    assert not any(p.requires_grad for p in layer.parameters())
    x = torch.randn(5, 2, 4, requires_grad=True)
    y, _ = layer(x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert "precision: autograd records this call" in layer.explain(x)
    assert "W_ih and W_hh in bfloat16" in layer.explain(x.detach())
    assert "precision='bfloat16'" in repr(layer)


def test_quantize_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        rnnkit.quantize(rnnkit.LSTM(2, 3), "int4")
    with pytest.raises(ValueError, match="has no rnnkit RNN, LSTM or GRU layer or cell"):
        rnnkit.quantize(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="quantise a float32 model"):
        rnnkit.quantize(rnnkit.GRU(2, 3).double())
    with pytest.raises(ValueError, match="GRUCell.weight_ih is torch.float64"):
        rnnkit.quantize(rnnkit.GRUCell(2, 3).double())
    weighted = rnnkit.GRU(2, 3)
    nn.utils.parametrizations.weight_norm(weighted, "weight_hh_l0")
    with pytest.raises(ValueError, match="weight_hh_l0 is computed"):
        rnnkit.quantize(weighted)


@needs_native
def test_quantised_layer_refuses_float64_input():
    layer = rnnkit.quantize(rnnkit.GRU(3, 4), "int8").double()
    with torch.no_grad(), pytest.raises(ValueError, match="quantised layer takes float32"):
        layer(torch.randn(2, 1, 3, dtype=torch.float64))


@needs_native
@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_quantised_cells_step_in_reduced_precision(name, precision):
    torch.manual_seed(5)
    cell = getattr(rnnkit, name)(9, 24)
    rnnkit.quantize(cell, precision)
    rounded_float = copy.deepcopy(cell)
    rounded_float.precision = "float32"
    x, h = torch.randn(3, 9), torch.randn(3, 24)
    hx = (h, torch.randn(3, 24)) if name == "LSTMCell" else h
    with torch.no_grad():
        got, want = cell(x, hx), rounded_float(x, hx)
    got, want = (got[0], want[0]) if name == "LSTMCell" else (got, want)
    err = (got - want).abs().max().item()
    assert 0 < err < (0.03 if precision == "int8" else 0.01)
    assert f"precision='{precision}'" in repr(cell)


SCALAR_SOURCE = r"""
#include "lowp.h"
#include <torch/extension.h>

// The int8 matmul of lowp.h built without AVX512_VNNI: the scalar loop other processors run.
at::Tensor scalar_int8(const at::Tensor& x, const at::Tensor& packed, int64_t n,
                       const at::Tensor& scale, const at::Tensor& rowsum) {
  lowp::Weights w;
  w.kind = lowp::INT8;
  w.N = n;
  w.K = x.size(1);
  w.packed = packed.data_ptr<uint8_t>();
  w.scale = scale.data_ptr<float>();
  w.rowsum = rowsum.data_ptr<int32_t>();
  at::Tensor out = at::empty({x.size(0), n}, x.options());
  lowp::mm(w, x.contiguous().data_ptr<float>(), x.size(0), out.data_ptr<float>(), n, 0.f);
  return out;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scalar_int8", &scalar_int8);
  m.attr("simd") = lowp::simd();
}
"""


@needs_native
def test_int8_without_vnni_gives_the_same_numbers():
    """Processors without AVX512_VNNI run lowp.h's scalar loop: built here with VNNI off,
    it must agree with the VNNI tile (the same integer sums, the same scaling)."""
    from torch.utils import cpp_extension

    from rnnkit.native import HERE, build_key, cache_dir

    build = cache_dir() / "tests" / f"lowp-scalar-{build_key()[:12]}"
    build.mkdir(parents=True, exist_ok=True)
    try:
        ext = cpp_extension.load_inline(
            "rnnkit_lowp_scalar", cpp_sources=[SCALAR_SOURCE], extra_include_paths=[str(HERE)],
            extra_cflags=["-O2", "-march=native", "-mno-avx512vnni", "-fopenmp"],
            build_directory=str(build), verbose=False)
    except Exception as e:  # noqa: BLE001 - a compiler without these flags: nothing to test
        pytest.skip(f"cannot build the scalar variant here: {str(e).splitlines()[0][:200]}")
    assert not ext.simd
    g = torch.Generator().manual_seed(9)
    x, w = torch.randn(5, 37, generator=g), torch.randn(45, 37, generator=g)
    q, s = round_int8(w)
    rowsum = q.to(torch.int32).sum(1, dtype=torch.int32)
    packed = native.load().lowp_pack(q)
    scalar = ext.scalar_int8(x, packed, 45, s, rowsum)
    tile = native.load().lowp_matmul(x, KIND["int8"], packed, 45, s, rowsum)
    torch.testing.assert_close(scalar, tile, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(scalar, int8_reference(x, w), rtol=1e-5, atol=1e-5)

"""Reduced-precision inference: int8 or bfloat16 recurrent weights on the native CPU path.

``rnnkit.quantize(model, "int8")`` rounds W_ih and W_hh of every rnnkit RNN, LSTM and GRU
in ``model`` to the chosen precision, in place:

- ``"int8"``: one scale per output row (s = max|w_row| / 127, w = s * round(w / s)); at run
  time each row of the input and of the state is scaled the same way and the matmul runs in
  int8 with int32 sums (AVX-512 VNNI: ``vpdpbusd``), a quarter of the float32 weight bytes.
- ``"bfloat16"``: weights rounded to bfloat16; inputs and states are rounded to bfloat16 for
  the matmul, which sums in float32 (MKL's bf16 GEMM), half the weight bytes.

Biases, the LSTM projection W_hr, states and gate arithmetic stay float32, and so does
everything outside the recurrent layers (embeddings, output layers). The layer's float32
W_ih and W_hh are overwritten with the rounded values and all its parameters are frozen
(``requires_grad=False``), so every path computes with the same weights: inference runs the
reduced-precision kernels (``explain()`` says so); a call that records a graph (an input
that requires grad), or a backend other than native, computes in float32 with the rounded
weights. A model stays quantised through ``state_dict`` round trips (the rounded values
re-round to themselves), ``deepcopy`` and ``torch.save``; loading other weights into it
re-rounds them on the next call.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit import native
from rnnkit.errors import unknown_name

PRECISIONS = ("int8", "bfloat16")
KIND = {"int8": 1, "bfloat16": 2}  # the kernels' numbers (native/lowp.h)


class QuantizedWeights(NamedTuple):
    """W_ih and W_hh of one layer and direction as the reduced-precision kernels take them.

    int8: ``ih``/``hh`` are the packed bytes (native ``lowp_pack``) with per-row float32
    ``*_scale`` and int32 ``*_rowsum`` (sum of the int8 row); bfloat16: ``ih``/``hh`` are
    the (G*H, I) / (G*H, Hr) bf16 weights and the rest is None.
    """

    kind: int
    rows: int  # G*H
    ih: Tensor
    ih_scale: Tensor | None
    ih_rowsum: Tensor | None
    hh: Tensor
    hh_scale: Tensor | None
    hh_rowsum: Tensor | None


def round_int8(w: Tensor) -> tuple[Tensor, Tensor]:
    """(q, scale): int8 q (N, K) and float32 scale (N,) with w ~ q * scale[:, None]."""
    w = w.detach().float()
    scale = w.abs().amax(dim=1) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


def rounded(w: Tensor, precision: str) -> Tensor:
    """``w`` rounded to ``precision`` and back to float32: the weights the kernels use."""
    if precision == "bfloat16":
        return w.detach().to(torch.bfloat16).float()
    q, scale = round_int8(w)
    return q.float() * scale[:, None]


def pack(w_ih: Tensor, w_hh: Tensor, precision: str) -> QuantizedWeights:
    """One layer and direction's weights in the kernels' form (see QuantizedWeights)."""
    kind = KIND[precision]
    if precision == "bfloat16":
        ih, hh = (w.detach().to(torch.bfloat16).contiguous() for w in (w_ih, w_hh))
        return QuantizedWeights(kind, w_ih.shape[0], ih, None, None, hh, None, None)
    ext = native.load()
    parts = []
    for w in (w_ih, w_hh):
        q, scale = round_int8(w)
        rowsum = q.to(torch.int32).sum(dim=1, dtype=torch.int32)
        parts += [ext.lowp_pack(q), scale.contiguous(), rowsum.contiguous()]
    return QuantizedWeights(kind, w_ih.shape[0], *parts)


class Quantizable:
    """What rnnkit's layers and cells share for quantize: the precision they run in, the
    weights it applies to, and caches that are rebuilt rather than pickled.

    A subclass lists its quantised weights (pairs of W_ih, W_hh) in ``quantizable_names``.
    """

    def quantizable_names(self) -> list[str]:
        raise NotImplementedError

    def set_precision(self, precision: str) -> None:
        """Run inference with W_ih and W_hh in ``precision`` ("int8", "bfloat16"): they are
        rounded now, and the module's parameters frozen. ``rnnkit.quantize`` calls this."""
        check_precision(precision)
        self.precision = precision
        self.__dict__.pop("_quantized", None)
        self.requires_grad_(False)
        layer_quantized(self)

    @property
    def _precision(self) -> str:
        # Modules pickled before quantisation existed have no attribute.
        return self.__dict__.get("precision", "float32")

    def __getstate__(self):
        # Packed weights (reduced-precision, the native step panels) are caches, rebuilt on
        # first use.
        state = dict(super().__getstate__())
        state.pop("_quantized", None)
        state.pop("_backend_cache", None)
        return state


def check_precision(precision: str) -> str:
    """``precision`` if it names one, else a ValueError listing them."""
    if precision not in PRECISIONS:
        raise ValueError(unknown_name("precision", precision, PRECISIONS))
    return precision


def quantize(model: nn.Module, precision: str = "int8") -> nn.Module:
    """Round the recurrent weights of every rnnkit RNN/LSTM/GRU in ``model`` to ``precision``
    ("int8" or "bfloat16") for inference on the native CPU kernels; returns ``model``.

    In place, like ``model.to``. Raises ValueError for an unknown precision or a model
    without such a layer (user-defined GatedCells keep float32: their kernels are generated).
    rnnkit's RNNCell, LSTMCell and GRUCell are quantised too.
    """
    check_precision(precision)
    layers = [m for m in model.modules()
              if isinstance(m, Quantizable) and getattr(m, "cell", None) is None]
    if not layers:
        raise ValueError(
            f"quantize: {type(model).__name__} has no rnnkit RNN, LSTM or GRU layer or cell to "
            "quantise"
        )
    for layer in layers:
        for name in layer.quantizable_names():
            param = layer._parameters.get(name)
            where = f"quantize: {type(layer).__name__}.{name}"
            if param is None:
                raise ValueError(f"{where} is computed (a parametrization such as "
                                 "weight_norm); remove it before quantising")
            if param.dtype != torch.float32:
                raise ValueError(f"{where} is {param.dtype}; quantise a float32 model")
        layer.set_precision(precision)
    return model


def layer_quantized(layer) -> list[QuantizedWeights] | None:
    """The layer's weights in the kernels' form, one per layer and direction (None without
    native kernels); packed again whenever a weight was replaced or changed in place since
    the last call, after rounding the new values as quantize does."""
    names = layer.quantizable_names()
    params = [layer._parameters[name] for name in names]
    key = tuple((p.data_ptr(), p._version) for p in params)
    cache = layer.__dict__.get("_quantized")
    if cache is not None and cache[0] == key:
        return cache[1]
    precision = layer.precision
    with torch.no_grad():
        for p in params:
            r = rounded(p, precision)
            if not torch.equal(r, p):
                p.copy_(r)  # new weights (a load_state_dict): round them as quantize did
    key = tuple((p.data_ptr(), p._version) for p in params)
    for name, p in zip(names, params, strict=True):
        set_stored(layer, name, p, precision)
    packed = None  # no native kernels here: every backend runs the rounded float32 weights
    if native.load() is not None:
        packed = [pack(params[k], params[k + 1], precision) for k in range(0, len(params), 2)]
    layer.__dict__["_quantized"] = (key, packed)
    return packed


def set_stored(layer: nn.Module, name: str, w: Tensor, precision: str) -> None:
    """Keep ``name`` as stored in ``precision`` beside the float32 parameter, as buffers
    (not in the state_dict): ``{name}_int8`` and ``{name}_scale``, or ``{name}_bf16``. A
    graph capture (ONNX export) reads these, so the file holds the smaller weights."""
    for suffix in ("_int8", "_scale", "_bf16"):
        layer._buffers.pop(name + suffix, None)
    if precision == "int8":
        q, scale = round_int8(w)
        layer.register_buffer(name + "_int8", q, persistent=False)
        layer.register_buffer(name + "_scale", scale, persistent=False)
    else:
        layer.register_buffer(name + "_bf16", w.detach().to(torch.bfloat16), persistent=False)


def stored(layer: nn.Module, name: str) -> Tensor:
    """The float32 weight computed from its stored form (set_stored), by torch operators."""
    buffers = layer._buffers
    if name + "_int8" in buffers:
        return buffers[name + "_int8"].float() * buffers[name + "_scale"].unsqueeze(1)
    return buffers[name + "_bf16"].float()


@contextlib.contextmanager
def float32_arithmetic(model: nn.Module):
    """Inside, quantised layers compute in float32 with their rounded weights: what a graph
    exported from them computes (the export check compares against this)."""
    layers = [m for m in model.modules() if m.__dict__.get("precision", "float32") != "float32"]
    saved = [m.precision for m in layers]
    for m in layers:
        m.precision = "float32"
    try:
        yield
    finally:
        for m, precision in zip(layers, saved, strict=True):
            m.precision = precision


__all__ = ["PRECISIONS", "QuantizedWeights", "quantize"]

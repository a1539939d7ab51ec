"""What every backend receives, and the stack/direction loop that per-layer backends share."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.core.cells import LayerWeights
from rnnkit.core.gated_cell import GatedCell


@dataclass
class RNNCall:
    """One forward call, normalised by the module: time-major, batched, checked.

    x is (T, B, I); h0 is (L*D, B, Hr); c0 is (L*D, B, H) for LSTM, else None; weights[k] are
    the weights of layer k // D in direction k % D; lengths is (B,) int64 on the CPU or None
    when every sequence fills all T steps; grad_norms, when diagnostics are recording, holds
    one (T, B) buffer per layer and direction for the backend to fill during backward.
    """

    mode: str
    x: Tensor
    h0: Tensor
    c0: Tensor | None
    weights: list[LayerWeights]
    num_layers: int
    bidirectional: bool
    dropout: float
    training: bool
    lengths: Tensor | None = None
    grad_norms: list[Tensor] | None = None
    cell: GatedCell | None = None  # a user-defined cell (mode "CUSTOM"); c0 then holds the
    # states after h, (L*D, S-1, B, H), or is None when h is the only state
    cache: dict | None = None  # the module's own dict for what a backend keeps between calls
    # (the native backend's step panels); None: keep nothing
    quantized: list | None = None  # rnnkit.quantize: per layer and direction, W_ih and W_hh
    # in reduced precision (layers/quantize.QuantizedWeights); weights hold their rounded
    # float32 values, which every backend but native's reduced-precision kernels use

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def mask(self) -> Tensor | None:
        """(T, B, 1) bool, True where a step is inside its sequence; None if all are."""
        if self.lengths is None:
            return None
        T = self.x.shape[0]
        steps = torch.arange(T, device=self.x.device).unsqueeze(1)  # (T, 1)
        return (steps < self.lengths.to(self.x.device).unsqueeze(0)).unsqueeze(-1)


# The kernels' mode numbers (rnnkit.native and the Triton kernels alike).
MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}


def records_graph(tensors) -> bool:
    """Whether autograd records this call (else it is inference: nothing to save)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def refuse_double_backward(backend: str) -> None:
    """Raise inside a kernel backend's backward when a graph of the backward is requested."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"rnnkit's {backend} backend does not support double backward (create_graph=True); "
            "use backend='reference' for higher-order gradients"
        )


def capture() -> str | None:
    """The graph capture recording this call, or None when it runs eagerly.

    "torch.export": torch.export.export, which torch.onnx.export(dynamo=True), torch's
    default exporter, runs (``onnx_exporting()`` tells them apart); "onnx-torchscript":
    torch.onnx.export(dynamo=False), which records with torch.jit's tracer; "jit.trace".
    """
    if torch.compiler.is_exporting():
        return "torch.export"
    if torch.jit.is_tracing():
        return "onnx-torchscript" if onnx_exporting() else "jit.trace"
    return None


def onnx_exporting() -> bool:
    """Whether torch.onnx.export (either exporter) is running."""
    # torch.onnx is imported on first use: if nobody imported it, no export runs (and
    # importing it here would cost every forward call).
    onnx = sys.modules.get("torch.onnx")
    return onnx is not None and onnx.is_in_onnx_export()


_CAPTURED_BY = {
    "torch.export": "torch.export (also torch.onnx.export's default, dynamo=True)",
    "onnx-torchscript": "torch.onnx.export(dynamo=False)",
    "jit.trace": "torch.jit.trace",
}


def untraceable_reason(kernels: str) -> str | None:
    """Why a backend whose time loop runs outside torch's operators cannot run now, or None.

    Graph captures record torch operators only: a C++ extension or Triton launch would be
    missing from a trace, which would replay its first outputs as constants, and
    torch.export runs on fake tensors that such kernels cannot read.
    """
    how = capture()
    if how is None:
        return None
    return (
        f"{_CAPTURED_BY[how]} cannot record the {kernels} (they are not torch operators, so "
        "the graph would miss them); backend='auto' takes one made of torch operators"
    )


# run_layer(mode, x, h0, c0, weights, mask, reverse, grad_norms) -> (y, h_n, c_n)
LayerFn = Callable[..., tuple[Tensor, Tensor, Tensor | None]]


def run_stacked(
    call: RNNCall, run_layer: LayerFn, weights: list | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Compose a per-layer, per-direction function into the full stacked (bi)RNN.

    Layer k reads the concatenated outputs of both directions of layer k-1; dropout is applied
    between layers (never after the last) in training mode, as torch.nn does. ``weights``
    (default ``call.weights``) is what run_layer gets for each layer and direction.
    """
    weights = call.weights if weights is None else weights
    D = call.num_directions
    mask = call.mask()
    x = call.x
    h_n, c_n = [], []
    # One unbind instead of an index per layer: each tensor op costs microseconds here.
    h0s = call.h0.unbind(0)
    c0s = call.c0.unbind(0) if call.c0 is not None else None
    for layer in range(call.num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            c0 = c0s[k] if c0s is not None else None
            norms = call.grad_norms[k] if call.grad_norms is not None else None
            y, h, c = run_layer(
                call.mode, x, h0s[k], c0, weights[k], mask, direction == 1, norms
            )
            outputs.append(y)
            h_n.append(h)
            c_n.append(c)
        x = outputs[0] if D == 1 else torch.cat(outputs, dim=2)  # (T, B, D*Hr)
        if call.dropout > 0 and call.training and layer < call.num_layers - 1:
            x = F.dropout(x, call.dropout, training=True)
    c_stack = _stack(c_n) if call.c0 is not None else None
    return x, _stack(h_n), c_stack


def _stack(tensors: list[Tensor]) -> Tensor:
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)

"""The torch backend: torch's own fused kernels (oneDNN on CPU, cuDNN on GPU).

torch.compile traces these kernels into its graph, where they fail in AOT autograd
(measured with torch 2.13 on the CPU: LSTM training with an input that needs no gradient,
and inductor's LSTM, fail in mkldnn_rnn_layer); torch keeps torch.nn.LSTM/GRU/RNN out of
its graphs for that reason (``torch._dynamo.config.allow_rnn`` is off by default). Build
the layer with backend="engine" to compile it.

torch.onnx.export(dynamo=False) writes these kernels as ONNX LSTM/GRU/RNN nodes with dynamic
batch and time axes, the lengths of a padded batch included (it exports the packing); the
dynamo-based exporter does not (see ``why_not``), so there the reference backend runs.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.backends.base import RNNCall, capture, onnx_exporting

_VF_FUNCTIONS = {
    "RNN_TANH": torch._VF.rnn_tanh,
    "RNN_RELU": torch._VF.rnn_relu,
    "LSTM": torch._VF.lstm,
    "GRU": torch._VF.gru,
}


COMPILE_NOTE = (
    "torch.compile cannot compile torch's fused RNN kernels here (they fail in AOT autograd; "
    "torch keeps torch.nn.LSTM/GRU/RNN out of its graphs): build the layer with "
    "backend='engine' to compile it"
)


class TorchBackend:
    """Delegates the whole stack to torch.nn's fused implementation."""

    name = "torch"
    description = "torch's fused kernels (oneDNN on CPU, cuDNN on GPU)"
    compile_note = COMPILE_NOTE

    def why_not(self, call: RNNCall) -> str | None:
        if call.cell is not None:
            return "it runs the built-in cells only (a GatedCell runs on native or reference)"
        if call.grad_norms is not None:
            return "fused kernels cannot report per-step gradient norms (diagnostics are on)"
        how = capture()
        if how == "torch.export" and onnx_exporting():
            return (
                "torch.onnx.export(dynamo=True) writes torch's fused RNN ops with the time axis "
                "fixed at the example's length (torch 2.13, onnxscript 0.7)"
            )
        if call.lengths is None:
            return None
        if how == "torch.export":
            return "packing a padded batch reads the lengths' values, which torch.export cannot"
        if how is None and int(call.lengths.min()) == 0:  # a trace cannot read values
            return "some sequences have length 0, which torch's packed path rejects"
        return None

    def avoid(self, call: RNNCall) -> str | None:
        if call.mode == "LSTM" and call.weights[0].w_hr is not None and call.x.device.type == "cpu":
            return (
                "oneDNN has no fused LSTM-with-projection kernel, so torch falls back to an "
                "unfused loop no faster than the engine"
            )
        return None

    def run(self, call: RNNCall):
        fn = _VF_FUNCTIONS[call.mode]
        flat = [p for w in call.weights for p in w if p is not None]
        has_bias = call.weights[0].b_ih is not None
        hx = (call.h0, call.c0) if call.c0 is not None else call.h0
        args = (has_bias, call.num_layers, call.dropout, call.training, call.bidirectional)

        if call.lengths is None:
            out = fn(call.x, hx, flat, *args, False)  # batch_first=False: x is time-major
            return _split(out, call)

        packed = pack_padded_sequence(call.x, call.lengths, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = (
            tuple(s.index_select(1, order) for s in hx)
            if call.c0 is not None
            else (hx.index_select(1, order))
        )
        out = fn(packed.data, packed.batch_sizes, hx, flat, *args)
        y = PackedSequence(out[0], packed.batch_sizes, order, unorder)
        y, _ = pad_packed_sequence(y, total_length=call.x.shape[0])  # back to input order
        states = [s.index_select(1, unorder) for s in out[1:]]
        return _split((y, *states), call)


def _split(out, call):
    y, h_n = out[0], out[1]
    c_n = out[2] if call.c0 is not None else None
    return y, h_n, c_n

"""The engine backend: rnnkit's explicit BPTT (``core/engine.py``) for every layer."""

from __future__ import annotations

from rnnkit.backends.base import RNNCall, capture, run_stacked
from rnnkit.core.engine import bptt_layer


class EngineBackend:
    """Explicit forward/backward sweeps with batched weight gradients; records dL/dh_t."""

    name = "engine"
    description = "rnnkit's explicit BPTT engine (batched input and weight-gradient matmuls)"

    def why_not(self, call: RNNCall) -> str | None:
        if call.cell is not None:
            return "it runs the built-in cells only (a GatedCell runs on native or reference)"
        how = capture()
        if how == "torch.export":
            return (
                "its time loop is a Python loop inside an autograd Function: torch.export would "
                "fix the time axis at the example's length (the reference backend runs as one "
                "scan op instead)"
            )
        if how == "onnx-torchscript":
            return (
                "torch.onnx.export(dynamo=False) does not export its autograd Function "
                "faithfully (the graph's outputs differ from the layer's)"
            )
        return None

    def avoid(self, call: RNNCall) -> str | None:
        return None

    def run(self, call: RNNCall):
        return run_stacked(call, bptt_layer)

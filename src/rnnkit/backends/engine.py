"""The engine backend: rnnkit's explicit BPTT (``core/engine.py``) for every layer."""

from __future__ import annotations

from rnnkit.backends.base import RNNCall, run_stacked
from rnnkit.core.engine import bptt_layer


class EngineBackend:
    """Explicit forward/backward sweeps with batched weight gradients; records dL/dh_t."""

    name = "engine"
    description = "rnnkit's explicit BPTT engine (batched input and weight-gradient matmuls)"

    def why_not(self, call: RNNCall) -> str | None:
        if call.cell is not None:
            return "it runs the built-in cells only (a GatedCell runs on native or reference)"
        return None

    def avoid(self, call: RNNCall) -> str | None:
        return None

    def run(self, call: RNNCall):
        return run_stacked(call, bptt_layer)

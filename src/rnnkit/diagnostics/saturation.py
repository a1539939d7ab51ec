"""Gate saturation: how often gates sit at their limits, where their gradients vanish.

A sigmoid gate near 0 or 1 (or a tanh near -1 or 1) has a derivative near 0, so almost no
gradient passes through it; an LSTM whose forget gates saturate at 0 forgets everything at
once, one whose input gates saturate at 0 stops learning. We report, per gate, the fraction
of activations within ``eps`` of each limit (steps past a sequence's length are excluded).
For an Elman RNN the "gate" is the state itself (tanh near +-1; relu: exactly 0 = dead unit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.backends.base import run_stacked
from rnnkit.backends.reference import reference_layer
from rnnkit.diagnostics.torch_twins import make_twin

TANH_GATES = {"g", "n"}  # gates with a tanh; the rest are sigmoids (or the Elman state)


@dataclass
class GateSaturation:
    """Fractions of one gate's activations near its lower and upper limits."""

    module: str
    layer: int
    direction: int
    gate: str
    low: float  # fraction near 0 (sigmoid), -1 (tanh) or exactly 0 (relu)
    high: float  # fraction near 1
    mean: float


def _limits(mode: str, gate: str) -> tuple[float, float]:
    if gate in TANH_GATES or mode == "RNN_TANH":
        return -1.0, 1.0
    return 0.0, 1.0


def trace_gates(call) -> dict[tuple[int, int], dict[str, Tensor]]:
    """Gate activations (T, B, H) for every (layer, direction) of a normalised ``RNNCall``.

    Runs the reference backend without dropout (what the model computes in eval mode).
    """
    trace: list[dict[str, Tensor]] = []
    run_stacked(
        replace(call, training=False, grad_norms=None),
        partial(reference_layer, gate_trace=trace),
    )
    D = call.num_directions
    return {(k // D, k % D): gates for k, gates in enumerate(trace)}  # run order: k = layer*D+dir


@contextmanager
def capture_layer_calls(model: nn.Module) -> Iterator[list]:
    """Collect ``(name, module, args, kwargs)`` of every RNN/LSTM/GRU layer call (rnnkit or
    torch.nn) made inside the block, through forward pre-hooks; trace them afterwards with
    ``saturation_of``. The calls keep references to their inputs until dropped."""
    from rnnkit.layers.rnn import RNNBase

    calls, handles = [], []
    for name, module in model.named_modules():
        if getattr(module, "cell", None) is not None:
            continue  # CustomRNN: its "gates" are arbitrary expressions, not sigmoid/tanh outputs
        if isinstance(module, RNNBase) or type(module) in (nn.RNN, nn.LSTM, nn.GRU):

            def capture(mod, args, kwargs, name=name):
                calls.append((name, mod, args, kwargs))

            handles.append(module.register_forward_pre_hook(capture, with_kwargs=True))
    if not handles:
        raise ValueError(
            f"{type(model).__name__} contains no RNN/LSTM/GRU layer (gate saturation covers "
            "the built-in cells, not a CustomRNN)"
        )
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def saturation_of(calls: list, eps: float = 0.05) -> list[GateSaturation]:
    """Gate saturation of every gate of every layer, from calls ``capture_layer_calls`` saw."""
    from rnnkit.layers.rnn import RNNBase

    rows = []
    for name, module, args, kwargs in calls:
        layer_module = module if isinstance(module, RNNBase) else make_twin(module)
        call, _ = layer_module._make_call(*_forward_args(args, kwargs))
        mask = call.mask()
        for (layer, direction), gates in trace_gates(call).items():
            for gate, a in gates.items():  # a: (T, B, H)
                valid = a if mask is None else a[mask.expand_as(a)]
                lo, hi = _limits(call.mode, gate)
                low = (valid == 0) if call.mode == "RNN_RELU" else (valid < lo + eps)
                rows.append(
                    GateSaturation(
                        name,
                        layer,
                        direction,
                        gate,
                        float(low.double().mean()),
                        float((valid > hi - eps).double().mean()),
                        float(valid.double().mean()),
                    )
                )
    return rows


@torch.no_grad()
def gate_saturation(model: nn.Module, run_forward: Callable[[], object], eps: float = 0.05):
    """Run ``run_forward()`` once and report the saturation of every gate of every layer.

    ``run_forward`` calls the model as usual; the inputs reaching each RNN/LSTM/GRU layer
    (rnnkit or torch.nn) are captured by forward pre-hooks and traced afterwards.
    """
    with capture_layer_calls(model) as calls:
        run_forward()
    return saturation_of(calls, eps)


def _forward_args(args, kwargs):
    """(input, hx, lengths) from the positional/keyword arguments of a layer call."""
    names = ("input", "hx", "lengths")
    values = dict(zip(names, args, strict=False)) | {k: v for k, v in kwargs.items() if k in names}
    return values.get("input"), values.get("hx"), values.get("lengths")

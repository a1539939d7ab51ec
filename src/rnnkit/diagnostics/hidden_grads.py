"""Record ||dL/dh_t|| at every time step, for every layer and direction, during backward.

    with rnnkit.diagnostics.record_hidden_grads(model) as rec:
        loss = criterion(model(x)[0], y)
        loss.backward()
    rec.norms[("", 0, 0)]        # (T, B): layer 0, forward direction of the module named ""

dL/dh_t is the total gradient reaching the output state of step t: from that step's output
and, through the recurrence, from every later step. Steps past a sequence's length get 0.
Recording runs on the native, engine and reference backends (``auto`` passes over torch's
fused kernels while a record is open); those kernels cannot report it and refuse when asked
explicitly.
torch.nn.RNN/LSTM/GRU layers are recorded through rnnkit twins that share their parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from rnnkit.diagnostics.torch_twins import rnnkit_twins


class HiddenGradRecord:
    """The norms recorded inside ``record_hidden_grads``: (module name, layer, direction) -> (T, B).

    Each forward call of a module replaces its entries; the buffers are filled in by backward.
    """

    def __init__(self, names: dict[nn.Module, str]) -> None:
        self._names = names
        self.norms: dict[tuple[str, int, int], Tensor] = {}
        self.lengths: dict[tuple[str, int, int], Tensor | None] = {}  # (B,) or None: all T
        self.modes: dict[tuple[str, int, int], str] = {}  # "LSTM", "GRU", "RNN_TANH", ...

    def buffers_for(
        self, module: nn.Module, T: int, B: int, like: Tensor, lengths: Tensor | None = None
    ) -> list[Tensor]:
        """Fresh (T, B) buffers for each layer and direction of ``module``, in weight order."""
        name = self._names[module]
        D = module.num_directions
        buffers = []
        for k in range(module.num_layers * D):
            buf = torch.zeros(T, B, dtype=like.dtype, device=like.device)
            key = (name, k // D, k % D)
            self.norms[key] = buf
            self.lengths[key] = lengths
            self.modes[key] = module.mode
            buffers.append(buf)
        return buffers

    def time_profile(self, key: tuple[str, int, int] | None = None) -> Tensor:
        """(T,) norm over the batch of dL/dh_t: sqrt(sum_b ||dL/dh_t[b]||^2)."""
        if key is None:
            if len(self.norms) != 1:
                raise ValueError(f"several layers were recorded; name one of {sorted(self.norms)}")
            (key,) = self.norms
        return torch.linalg.vector_norm(self.norms[key], dim=1)


@contextmanager
def record_hidden_grads(model: nn.Module) -> Iterator[HiddenGradRecord]:
    """Record per-step gradient norms for every RNN/LSTM/GRU layer inside ``model``.

    rnnkit layers record directly; torch.nn.RNN/LSTM/GRU layers run through rnnkit twins that
    share their parameters for the duration of the block (see ``torch_twins``).
    """
    from rnnkit.layers.rnn import RNNBase

    with rnnkit_twins(model) as twins:
        layers = {m: name for name, m in model.named_modules() if isinstance(m, RNNBase)}
        layers |= {twin: name for name, twin in twins.items()}
        if not layers:
            raise ValueError(f"{type(model).__name__} contains no RNN/LSTM/GRU layer to record")
        record = HiddenGradRecord(layers)
        for m in layers:
            m._grad_record = record
        try:
            yield record
        finally:
            for m in layers:
                m._grad_record = None

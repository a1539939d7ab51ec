"""The memory benchmarks' model and the equal-parameter-budget solver.

    x (B, T, C) --rnnkit RNN/LSTM/GRU--> h (B, T, H) --Linear--> (B, T, O)  per step (copy)
                                                             or (B, O)     last step only

One recurrent layer and a linear read-out, as in Hochreiter & Schmidhuber (1997) and
Arjovsky et al. (2016): the benchmark measures the recurrence, so nothing else may help.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.tasks.models import count_parameters, make_recurrent

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


class MemoryNet(nn.Module):
    """One recurrent layer plus a linear read-out, batch-first.

    Args:
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        input_size, hidden_size, output_size: C, H and O.
        per_step: read out every step ``(B, T, O)`` (copy memory) rather than the last
            one ``(B, O)`` (adding, temporal order, digits).
        recurrent_init, forget_bias, backend: passed to ``make_recurrent``.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int, *,
                 per_step: bool = False, recurrent_init: str = "default",
                 forget_bias: float | None = None, backend: str = "auto"):
        super().__init__()
        self.per_step = per_step
        self.rnn = make_recurrent(cell, input_size, hidden_size, backend=backend,
                                  batch_first=True, recurrent_init=recurrent_init,
                                  forget_bias=forget_bias)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)                      # (B, T, H)
        return self.head(out if self.per_step else out[:, -1])  # (B, T, O) or (B, O)


def parameter_count(cell: str, input_size: int, hidden_size: int, output_size: int) -> int:
    """Parameters of ``MemoryNet`` without building it: G (H (C + H) + 2H) + O (H + 1),
    G gate blocks, two bias vectors per block as in torch.nn."""
    H = hidden_size
    return GATES[cell] * (H * (input_size + H) + 2 * H) + output_size * (H + 1)


def hidden_size_for_budget(cell: str, budget: int, input_size: int, output_size: int) -> int:
    """The hidden size whose ``MemoryNet`` parameter count is closest to ``budget``.

    Used to compare cells at equal parameters (an LSTM of width H against a tanh RNN of
    roughly 2H): the count grows monotonically in H, so a scan up to the budget suffices.
    """
    if cell not in GATES:
        raise ValueError(f"cell must be one of {tuple(GATES)}, got {cell!r}")
    if budget < 1:
        raise ValueError(f"the parameter budget must be >= 1, got {budget}")
    best, H = 1, 1
    while True:
        n = parameter_count(cell, input_size, H, output_size)
        if abs(n - budget) < abs(parameter_count(cell, input_size, best, output_size) - budget):
            best = H
        if n >= budget:
            return best
        H += 1


def scale_recurrent_(model: nn.Module, radius: float) -> None:
    """Rescale a plain RNN's W_hh to spectral radius ``radius`` (an exploding configuration
    when > 1 for a tanh RNN in its linear regime; Pascanu et al. 2013, sec. 3)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "weight_hh" in name:
                if p.shape[0] != p.shape[1]:
                    raise ValueError(f"{name}: spectral scaling needs a plain RNN's square W_hh")
                rho = torch.linalg.eigvals(p.double()).abs().max().item()
                p.mul_(radius / max(rho, 1e-12))


__all__ = ["MemoryNet", "count_parameters", "hidden_size_for_budget", "parameter_count",
           "scale_recurrent_"]

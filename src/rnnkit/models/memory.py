"""The memory benchmarks' model and the equal-parameter-budget solver.

    x (B, T, C) --rnnkit RNN/LSTM/GRU--> h (B, T, H) --Linear--> (B, T, O)  per step (copy)
                                                             or (B, O)     last step only

One recurrent layer and a linear read-out, as in Hochreiter & Schmidhuber (1997) and
Arjovsky et al. (2016): the benchmark measures the recurrence, so nothing else may help.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import unknown_name
from rnnkit.models.language import count_parameters, make_recurrent, matching_width

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
    roughly 2H): the count grows monotonically in H (at least H), so H lies in 1..budget.
    """
    if cell not in GATES:
        raise ValueError(unknown_name("cell", cell, GATES))
    if budget < 1:
        raise ValueError(f"the parameter budget must be >= 1, got {budget}")
    return matching_width(lambda h: parameter_count(cell, input_size, h, output_size),
                          budget, budget)


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


@torch.no_grad()
def chrono_init_(model: nn.Module, t_max: int, generator: torch.Generator | None = None) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks warp
    time?"): gate biases that give the cell memory time scales spread over 1 ... ``t_max``.

    LSTM (gates i, f, g, o): forget bias b_f ~ log U(1, t_max - 1) per unit and input bias
    b_i = -b_f, so a unit both keeps its cell state and writes little into it while the
    input is uninformative. GRU (gates r, z, n; h' = (1 - z) n + z h): update bias
    b_z ~ log U(1, t_max - 1), so z starts near 1 and h is carried forward. The values go
    into ``bias_ih``; the ``bias_hh`` part of those gates becomes 0 (torch adds the two).
    A plain RNN has no gates: ValueError.
    """
    if t_max < 3:
        raise ValueError(f"chrono init needs t_max >= 3, got {t_max}")
    found = False
    for module in model.modules():
        mode = getattr(module, "mode", None) or type(module).__name__.upper()
        if not hasattr(module, "hidden_size") or not any(
                n.startswith("bias_ih") for n, _ in module.named_parameters(recurse=False)):
            continue
        H = module.hidden_size
        for name, p in module.named_parameters(recurse=False):
            if not name.startswith(("bias_ih", "bias_hh")):
                continue
            if "LSTM" in mode:
                blocks = {"f": slice(H, 2 * H), "i": slice(0, H)}
            elif "GRU" in mode:
                blocks = {"f": slice(H, 2 * H)}  # the update gate z
            else:
                raise ValueError(f"chrono init needs a gated cell (LSTM, GRU), not {mode}")
            if name.startswith("bias_hh"):
                for sl in blocks.values():
                    p[sl].zero_()
                continue
            u = torch.rand(H, generator=generator, dtype=p.dtype) * (t_max - 2) + 1
            b = torch.log(u).to(p.device)
            p[blocks["f"]].copy_(b)
            if "i" in blocks:
                p[blocks["i"]].copy_(-b)
            found = True
    if not found:
        raise ValueError("chrono init: no recurrent layer with gate biases (bias_ih) found")


__all__ = ["MemoryNet", "chrono_init_", "count_parameters", "hidden_size_for_budget",
           "parameter_count", "scale_recurrent_"]

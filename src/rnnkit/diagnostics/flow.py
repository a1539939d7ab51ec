"""Gradient flow through time: how ||dL/dh_t|| decays (or grows) with distance from the loss.

Definitions (used throughout rnnkit's reports):
- distance d: steps between h_t and the end of its layer's sweep, i.e. d = len - 1 - t for the
  forward direction and d = t for the reverse one. With a loss on the final output or final
  state, d is the distance from the loss.
- decay ratio r(d) = ||dL/dh at distance d|| / ||dL/dh at distance 0||, per sequence, averaged
  over the batch geometrically (mean of log ratios) so that one sequence cannot dominate.
- decay per step rho: exp of the least-squares slope of log r(d) against d. rho < 1 means
  vanishing gradients (r ~ rho^d), rho > 1 exploding ones.
- effective memory span (at threshold eps, default 0.01): the smallest distance d at which
  r(d) < eps, i.e. how far back the gradient still carries at least 1% of its strength at the
  loss. If r never falls below eps inside the sequence, the span is reported as T ("at least T").

These figures describe the recurrence when the loss sits at the end of the sweep (a loss on
the last output or final state, as in the memory tasks). For a reverse direction under such a
loss, or a lower layer that receives gradient at every step from the layer above, r(d) mixes
many paths; read those rows as profiles, not as decay rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.diagnostics.hidden_grads import record_hidden_grads

Key = tuple[str, int, int]  # (module name, layer, direction)


def decay_ratios(norms: Tensor, lengths: Tensor | None, reverse: bool) -> Tensor:
    """r(d) for d = 0..T-1 from per-step norms (T, B); NaN where no sequence reaches d."""
    T, B = norms.shape
    lengths = torch.full((B,), T) if lengths is None else lengths.cpu()
    logs = torch.full((T, B), float("nan"), dtype=torch.float64)
    n = norms.detach().double().cpu()
    for b in range(B):
        L = int(lengths[b])
        if L == 0:
            continue
        by_distance = n[:L, b] if reverse else n[:L, b].flip(0)  # index = distance d
        if by_distance[0] > 0:
            logs[:L, b] = torch.log(by_distance) - torch.log(by_distance[0])
    return torch.nanmean(logs, dim=1).exp()


def decay_per_step(ratios: Tensor) -> float:
    """rho = exp(slope) of the least-squares fit log r(d) ~ slope * d (through r(0) = 1)."""
    d = torch.arange(len(ratios), dtype=torch.float64)
    logs = torch.log(ratios.double())
    ok = torch.isfinite(logs)
    if ok.sum() < 2:
        return float("nan")
    d, logs = d[ok], logs[ok]
    return math.exp(float((d * logs).sum() / (d * d).sum()))


def memory_span(ratios: Tensor, threshold: float = 0.01) -> int:
    """Smallest distance d with r(d) < threshold; len(ratios) if there is none."""
    below = (ratios < threshold).nonzero()
    return int(below[0]) if len(below) else len(ratios)


@dataclass
class LayerFlow:
    """Gradient-flow figures of one layer and direction."""

    key: Key
    norms: Tensor  # (T, B) ||dL/dh_t||
    ratios: Tensor  # (T,) r(d)
    rho: float
    span: int
    nonfinite_at: int | None  # first time step whose gradient is NaN/Inf, if any
    mode: str = ""  # the layer's cell: "LSTM", "GRU", "RNN_TANH" or "RNN_RELU"


@dataclass
class GradientFlow:
    """What ``gradient_flow`` measured: per layer/direction figures and per-parameter norms."""

    layers: dict[Key, LayerFlow]
    param_norms: dict[str, float]
    loss: float
    threshold: float

    def summary(self) -> str:
        """A plain-text table, one row per layer and direction."""
        head = f"{'layer':<22}{'max |dL/dh_t|':>16}{'decay/step':>12}{'memory span':>13}"
        rows = [head, "-" * len(head)]
        for (name, layer, direction), f in self.layers.items():
            label = f"{name or 'model'}[{layer}]{'.reverse' if direction else ''}"
            peak = float(f.norms.max()) if f.norms.numel() else 0.0
            span = f"{f.span}" if f.span < len(f.ratios) else f">={f.span}"
            rows.append(f"{label:<22}{peak:>16.3e}{f.rho:>12.4f}{span:>13}")
        rows.append(
            f"(span: first distance where the gradient falls below {self.threshold:g} "
            "of its value at the loss)"
        )
        return "\n".join(rows)


def gradient_flow(
    model: nn.Module, compute_loss: Callable[[], Tensor], threshold: float = 0.01
) -> GradientFlow:
    """Run ``compute_loss()`` (forward pass + loss) once and measure how gradients flow.

    Uses torch.autograd.grad, so parameters' ``.grad`` are left untouched. Works for rnnkit
    layers and for torch.nn.RNN/LSTM/GRU (through twins, see ``torch_twins``).
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    with record_hidden_grads(model) as rec:
        loss = compute_loss()
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("compute_loss must return a scalar tensor")
        grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
    param_norms = {
        n: float(torch.linalg.vector_norm(g)) if g is not None else 0.0
        for (n, _), g in zip(params, grads, strict=True)
    }
    layers = {}
    for key, norms in rec.norms.items():
        ratios = decay_ratios(norms, rec.lengths[key], reverse=key[2] == 1)
        bad = (~torch.isfinite(norms)).any(dim=1).nonzero()
        layers[key] = LayerFlow(
            key,
            norms,
            ratios,
            decay_per_step(ratios),
            memory_span(ratios, threshold),
            int(bad[0]) if len(bad) else None,
            rec.modes[key],
        )
    return GradientFlow(layers, param_norms, float(loss.detach()), threshold)

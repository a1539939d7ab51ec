"""Watching gradients over training steps, and turning what was measured into advice."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


def parameter_grad_norms(model: nn.Module) -> dict[str, float]:
    """The L2 norm of each parameter's current ``.grad`` (parameters without one are left out)."""
    return {
        name: float(torch.linalg.vector_norm(p.grad.detach()))
        for name, p in model.named_parameters()
        if p.grad is not None
    }


@dataclass
class GradientWatch:
    """Follows the total gradient norm step by step; remembers the first explosion and NaN/Inf.

    Call ``update(step, model)`` after ``backward()`` and before clipping, every step or every N.
    An explosion is a total norm above ``threshold`` or above ``jump`` times the running median
    of the norms seen so far (after ``warmup`` observations).
    """

    threshold: float = 1e3
    jump: float = 100.0
    warmup: int = 10
    history: list[tuple[int, float]] = field(default_factory=list)
    first_explosion: tuple[int, float] | None = None
    first_nonfinite: tuple[int, str] | None = None

    def update(self, step: int, model: nn.Module) -> float:
        norms = parameter_grad_norms(model)
        total = math.sqrt(sum(n * n for n in norms.values()))
        if self.first_nonfinite is None:
            bad = [name for name, n in norms.items() if not math.isfinite(n)]
            if bad:
                self.first_nonfinite = (step, bad[0])
        if self.first_explosion is None and math.isfinite(total):
            seen = sorted(n for _, n in self.history if math.isfinite(n))
            median = seen[len(seen) // 2] if seen else None
            jumped = len(seen) >= self.warmup and total > self.jump * median
            if total > self.threshold or jumped:
                self.first_explosion = (step, total)
        self.history.append((step, total))
        return total


VANISHING_REMEDY = {
    "RNN_TANH": "switch to an LSTM or GRU, or use orthogonal recurrent init",
    "RNN_RELU": "switch to an LSTM or GRU, or use orthogonal (identity-like) recurrent init",
    "LSTM": "start the forget gate open (forget_bias=1.0) or use orthogonal recurrent init",
    "GRU": "use orthogonal recurrent init; check the update gate is not saturated",
    "CUSTOM": "give the cell an additive path for its state (as LSTM's c or GRU's z * h), "
    "or use orthogonal recurrent init",
    "": "switch a plain RNN to LSTM/GRU, or use orthogonal recurrent init",
}


def advise(flow=None, spectra=None, saturation=None, watch=None, high_fraction=0.5) -> list[str]:
    """Warning lines, each with a remedy, from the diagnostics measured (any may be None)."""
    lines = []
    if watch is not None and watch.first_nonfinite is not None:
        step, name = watch.first_nonfinite
        lines.append(
            f"gradients turned NaN/Inf at step {step} (first in {name}): lower the learning rate, "
            "clip gradients by norm, and check the data for NaN"
        )
    if watch is not None and watch.first_explosion is not None:
        step, norm = watch.first_explosion
        lines.append(
            f"gradients exploded at step {step} (total norm {norm:.3g}): clip by norm "
            "(e.g. 1.0-5.0), lower the learning rate, or use orthogonal recurrent init"
        )
    if flow is not None:
        for (name, layer, direction), f in flow.layers.items():
            label = f"{name or 'model'} layer {layer}{' (reverse)' if direction else ''}"
            T = len(f.ratios)
            if f.span < T and f.rho < 1:
                lines.append(
                    f"gradients vanish in {label}: below {flow.threshold:g} of their value after "
                    f"{f.span} of {T} steps (x{f.rho:.3f} per step): "
                    f"{VANISHING_REMEDY.get(f.mode, VANISHING_REMEDY[''])}"
                )
            elif f.rho > 1.05 and direction == 0:
                # Only the forward sweep ends where a sequence loss usually sits; a reverse
                # sweep's gradient enters at its far end, so its r(d) grows by construction.
                lines.append(
                    f"gradients grow backwards through time in {label} (x{f.rho:.3f} per step): "
                    "clip by norm, or rescale the recurrent weights (orthogonal init)"
                )
    if spectra is not None:
        for s in spectra:
            if s.gate == "h" and s.spectral_radius is not None and s.spectral_radius > 1.2:
                lines.append(
                    f"{s.module or 'model'} layer {s.layer}: recurrent spectral radius "
                    f"{s.spectral_radius:.2f} > 1 can make gradients explode: clip by norm or "
                    "use orthogonal init"
                )
    if saturation is not None:
        for s in saturation:
            where = f"{s.module or 'model'} layer {s.layer}{' (reverse)' if s.direction else ''}"
            if s.gate == "f" and s.low > high_fraction:
                lines.append(
                    f"forget gates in {where} are closed {s.low:.0%} of the time: the LSTM "
                    "forgets at every step; try forget_bias=1.0"
                )
            elif s.low + s.high > high_fraction:
                lines.append(
                    f"gate {s.gate!r} in {where} is saturated {s.low + s.high:.0%} of the time, "
                    "so little gradient passes: normalise the inputs or lower the learning rate"
                )
    return lines

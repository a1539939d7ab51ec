"""The reference backend: a plain autograd loop over ``core.cells``. Slow, obviously right."""

from __future__ import annotations

import torch

from rnnkit.backends.base import RNNCall, run_stacked
from rnnkit.core.cells import cell_step


def reference_layer(mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """One layer, one direction, step by step under autograd. Returns (y, h_n, c_n)."""
    T = x.shape[0]
    h, c = h0, c0
    ys = [None] * T
    for t in reversed(range(T)) if reverse else range(T):
        h_new, c_new = cell_step(mode, x[t], h, c, w)
        if grad_norms is not None and h_new.requires_grad:
            h_new.register_hook(_norm_writer(grad_norms, t))
        if mask is None:
            ys[t], h, c = h_new, h_new, c_new
        else:
            ys[t] = torch.where(mask[t], h_new, 0)
            h = torch.where(mask[t], h_new, h)
            c = torch.where(mask[t], c_new, c) if c is not None else None
    return torch.stack(ys), h, c


def _norm_writer(buffer, t):
    def hook(grad):
        buffer[t] = torch.linalg.vector_norm(grad.detach(), dim=-1)

    return hook


class ReferenceBackend:
    """Plain autograd over the cell equations: the readable specification."""

    name = "reference"
    description = "plain autograd loop over the cell equations (the specification)"

    def why_not(self, call: RNNCall) -> str | None:
        return None

    def avoid(self, call: RNNCall) -> str | None:
        return None

    def run(self, call: RNNCall):
        return run_stacked(call, reference_layer)

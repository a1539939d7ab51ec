"""The reference backend: a plain autograd loop over ``core.cells``. Slow, obviously right."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from rnnkit.backends.base import RNNCall, run_stacked
from rnnkit.core.cells import cell_step, cell_step_with_gates


def reference_layer(mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None, gate_trace=None):
    """One layer, one direction, step by step under autograd. Returns (y, h_n, c_n).

    With a list as ``gate_trace``, appends {gate name: activations (T, B, H)} for diagnostics.
    """
    T = x.shape[0]
    h, c = h0, c0
    ys = [None] * T
    gates = {}
    for t in reversed(range(T)) if reverse else range(T):
        if gate_trace is None:
            h_new, c_new = cell_step(mode, x[t], h, c, w)
        else:
            h_new, c_new, step_gates = cell_step_with_gates(mode, x[t], h, c, w)
            for name, value in step_gates.items():
                gates.setdefault(name, [None] * T)[t] = value
        if grad_norms is not None and h_new.requires_grad:
            h_new.register_hook(_norm_writer(grad_norms, t))
        if mask is None:
            ys[t], h, c = h_new, h_new, c_new
        else:
            ys[t] = torch.where(mask[t], h_new, 0)
            h = torch.where(mask[t], h_new, h)
            c = torch.where(mask[t], c_new, c) if c is not None else None
    if gate_trace is not None:
        gate_trace.append({name: torch.stack(v) for name, v in gates.items()})
    return torch.stack(ys), h, c


def reference_cell_layer(cell, mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """A GatedCell's layer, step by step under autograd: what users write by hand for a
    custom cell, and the specification its native kernel is tested against."""
    T = x.shape[0]
    xg = F.linear(x, w.w_ih, w.b_ih)  # (T, B, G*H): the input parts of every step at once
    states = [h0, *c0] if c0 is not None else [h0]
    ys = [None] * T
    for t in reversed(range(T)) if reverse else range(T):
        new = cell.apply(xg[t], F.linear(states[0], w.w_hh, w.b_hh), states)
        if grad_norms is not None and new[0].requires_grad:
            new[0].register_hook(_norm_writer(grad_norms, t))
        if mask is None:
            ys[t], states = new[0], new
        else:
            ys[t] = torch.where(mask[t], new[0], 0)
            states = [torch.where(mask[t], n, s) for n, s in zip(new, states, strict=True)]
    rest = torch.stack(states[1:]) if len(states) > 1 else None
    return torch.stack(ys), states[0], rest


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
        if call.cell is not None:
            return run_stacked(call, functools.partial(reference_cell_layer, call.cell))
        return run_stacked(call, reference_layer)

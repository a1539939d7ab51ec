"""The reference backend: a plain autograd loop over ``core.cells``. Slow, obviously right.

Under torch.export (and so torch.onnx.export's default, dynamo-based exporter) the same step
runs inside torch's ``scan`` instead of a Python loop: a loop would be unrolled for the
example's length, fixing the time axis, where one scan op keeps it symbolic (an ONNX Scan).
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F

from rnnkit.backends.base import RNNCall, capture, run_stacked
from rnnkit.core.cells import LayerWeights, cell_step, cell_step_with_gates


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


def scanned_layer(cell, mode, x, h0, c0, w, mask=None, reverse=False, grad_norms=None):
    """``reference_layer`` (``reference_cell_layer`` with a GatedCell ``cell``) as one scan op,
    for torch.export. Same arguments and results; ``grad_norms`` is not supported."""
    # torch's scan operator itself (a prototype, hence the private path): the public wrapper
    # runs it through torch.compile, whose guards on the previous call's sizes fix the batch
    # axis of every later scan in the process (measured with torch 2.13).
    from torch._higher_order_ops.scan import scan_op

    assert grad_norms is None, "export records no backward"
    if cell is None:
        xs = x                                           # (T, B, I)
        states = [h0] if c0 is None else [h0, c0]
    else:
        xs = F.linear(x, w.w_ih, w.b_ih)                 # (T, B, G*H)
        states = [h0, *c0] if c0 is not None else [h0]
    S = len(states)
    has = [t is not None for t in w]
    flat_w = [t for t in w if t is not None]

    def step(*args):  # (*states, x_t[, m_t], *weights) -> (*new states, y_t)
        old, x_t = list(args[:S]), args[S]
        m_t = args[S + 1] if mask is not None else None
        it = iter(args[S + 1 + (mask is not None):])
        lw = LayerWeights(*(next(it) if h else None for h in has))
        if cell is None:
            h_new, c_new = cell_step(mode, x_t, old[0], old[1] if S > 1 else None, lw)
            new = [h_new] if c_new is None else [h_new, c_new]
        else:
            new = cell.apply(x_t, F.linear(old[0], lw.w_hh, lw.b_hh), old)
        if m_t is None:
            return [*new, new[0].clone()]  # scan's outputs may not alias its carry
        y_t = torch.where(m_t, new[0], 0)
        return [*(torch.where(m_t, n, s) for n, s in zip(new, old, strict=True)), y_t]

    inputs = [xs] if mask is None else [xs, mask]        # (T, B, .), (T, B, 1)
    if reverse:
        inputs = [t.flip(0) for t in inputs]
    *final, y = scan_op(step, states, inputs, tuple(flat_w))
    if reverse:
        y = y.flip(0)                                    # (T, B, Hr)
    rest = (final[1] if cell is None else torch.stack(final[1:])) if S > 1 else None
    return y, final[0], rest


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
        how = capture()
        if how == "torch.export":
            return run_stacked(call, functools.partial(scanned_layer, call.cell))
        if how == "onnx-torchscript":  # reached by calls the torch backend cannot export
            warnings.warn(
                "torch.onnx.export(dynamo=False) unrolls the reference backend's time loop: "
                f"the exported graph takes exactly {call.x.shape[0]} time steps. Export with "
                "dynamo=True (torch's default) for a dynamic time axis",
                stacklevel=2,
            )
        if call.cell is not None:
            return run_stacked(call, functools.partial(reference_cell_layer, call.cell))
        return run_stacked(call, reference_layer)

"""One time step of each recurrent cell, as pure functions: the readable specification.

Gate order follows torch.nn throughout: (i, f, g, o) for LSTM and (r, z, n) for GRU, so
weights are interchangeable with torch.nn. These functions run under autograd; the BPTT
engine (``core/engine.py``) derives its explicit backward from the same equations and is
tested against them.

Shapes: x (B, I), h (B, Hr), c (B, H); Hr = proj_size if the LSTM has a projection, else H.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class LayerWeights(NamedTuple):
    """The parameters of one layer in one direction, named as in torch.nn."""

    w_ih: Tensor  # (G*H, I)
    w_hh: Tensor  # (G*H, Hr)
    b_ih: Tensor | None  # (G*H,)
    b_hh: Tensor | None  # (G*H,)
    w_hr: Tensor | None = None  # (P, H), LSTM projection only


def rnn_cell(x: Tensor, h: Tensor, w: LayerWeights, nonlinearity: str = "tanh") -> Tensor:
    """Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu."""
    pre = F.linear(x, w.w_ih, w.b_ih) + F.linear(h, w.w_hh, w.b_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w: LayerWeights) -> tuple[Tensor, Tensor]:
    """LSTM (Hochreiter & Schmidhuber 1997, with forget gate; projection of Sak et al. 2014).

    i, f, g, o = sigma(.), sigma(.), tanh(.), sigma(.) of W_ih x + b_ih + W_hh h + b_hh
    c' = f * c + i * g
    h' = o * tanh(c')            (then h' = W_hr h' when proj_size > 0)
    """
    return lstm_cell_with_gates(x, h, c, w)[:2]


def lstm_cell_with_gates(x, h, c, w: LayerWeights):
    """``lstm_cell`` that also returns its gate activations {"i", "f", "g", "o"}."""
    gates = F.linear(x, w.w_ih, w.b_ih) + F.linear(h, w.w_hh, w.b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if w.w_hr is not None:
        h_new = F.linear(h_new, w.w_hr)  # (B, P)
    return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}


def gru_cell(x: Tensor, h: Tensor, w: LayerWeights) -> Tensor:
    """GRU (Cho et al. 2014) in torch.nn's form, where the reset gate scales W_hn h + b_hn.

    r = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h
    """
    return gru_cell_with_gates(x, h, w)[0]


def gru_cell_with_gates(x, h, w: LayerWeights):
    """``gru_cell`` that also returns its gate activations {"r", "z", "n"}."""
    xr, xz, xn = F.linear(x, w.w_ih, w.b_ih).chunk(3, dim=1)
    hr, hz, hn = F.linear(h, w.w_hh, w.b_hh).chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h, {"r": r, "z": z, "n": n}


def cell_step(
    mode: str, x: Tensor, h: Tensor, c: Tensor | None, w: LayerWeights
) -> tuple[Tensor, Tensor | None]:
    """One step of the cell named by ``mode``; returns (h', c') with c' None except for LSTM."""
    if mode == "LSTM":
        return lstm_cell(x, h, c, w)
    if mode == "GRU":
        return gru_cell(x, h, w), None
    return rnn_cell(x, h, w, "tanh" if mode == "RNN_TANH" else "relu"), None


def cell_step_with_gates(mode: str, x: Tensor, h: Tensor, c: Tensor | None, w: LayerWeights):
    """``cell_step`` plus the activations of each gate (for an Elman RNN: {"h": h'})."""
    if mode == "LSTM":
        return lstm_cell_with_gates(x, h, c, w)
    if mode == "GRU":
        h_new, gates = gru_cell_with_gates(x, h, w)
        return h_new, None, gates
    h_new = rnn_cell(x, h, w, "tanh" if mode == "RNN_TANH" else "relu")
    return h_new, None, {"h": h_new}

"""Initialisation schemes for recurrent weights; each works on rnnkit and torch.nn modules.

torch.nn's default draws every parameter from U(-1/sqrt(H), 1/sqrt(H)). Two documented
alternatives help long-range learning:
- orthogonal recurrent weights (Saxe et al. 2014; Le et al. 2015): each gate's H x Hr block of
  W_hh starts orthogonal, so the recurrent Jacobian neither shrinks nor grows norms at first;
- a positive LSTM forget-gate bias (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1):
  the cell starts by remembering, so gradients survive many steps early in training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RECURRENT_INITS = ("default", "orthogonal")


def default_init_(module: nn.Module) -> None:
    """torch.nn's initialisation: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


@torch.no_grad()
def orthogonal_recurrent_(module: nn.Module, gain: float = 1.0) -> None:
    """Make each gate block of every ``weight_hh*`` an orthogonal matrix (times ``gain``)."""
    H = module.hidden_size
    found = False
    for name, p in module.named_parameters():
        if name.startswith("weight_hh"):
            found = True
            for block in p.split(H, dim=0):  # one (H, Hr) block per gate
                nn.init.orthogonal_(block, gain=gain)
    if not found:
        raise ValueError(f"{type(module).__name__} has no recurrent weights (weight_hh*)")


@torch.no_grad()
def forget_gate_bias_(module: nn.Module, value: float = 1.0) -> None:
    """Set the LSTM forget-gate bias to ``value`` (in bias_ih; the bias_hh part becomes 0).

    torch.nn adds b_ih and b_hh, so the effective forget bias is exactly ``value``.
    """
    if not _is_lstm(module):
        raise ValueError(f"forget_bias applies to LSTM layers only, not {type(module).__name__}")
    H = module.hidden_size
    found = False
    for name, p in module.named_parameters():
        if name.startswith("bias_ih"):
            p[H : 2 * H].fill_(value)
            found = True
        elif name.startswith("bias_hh"):
            p[H : 2 * H].zero_()
    if not found:
        raise ValueError("forget_bias needs bias=True: this LSTM has no bias parameters")


def _is_lstm(module: nn.Module) -> bool:
    return getattr(module, "mode", None) == "LSTM" or isinstance(module, nn.LSTM | nn.LSTMCell)

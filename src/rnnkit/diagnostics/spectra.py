"""Spectra of the recurrent weight matrices: the linear part of the step-to-step Jacobian.

For an Elman RNN, dh_t/dh_{t-1} = diag(act') W_hh, so the largest singular value of W_hh
bounds how fast gradients can grow per step (Pascanu et al. 2013: sigma_max < 1/gamma, with
gamma the bound on act', is sufficient for vanishing; spectral radius > 1 is necessary for
exploding). For gated cells each gate block is reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

GATE_NAMES = {
    "RNN_TANH": ("h",),
    "RNN_RELU": ("h",),
    "LSTM": ("i", "f", "g", "o"),
    "GRU": ("r", "z", "n"),
}


@dataclass
class BlockSpectrum:
    """Spectrum of one gate block of one layer's W_hh."""

    module: str
    layer: int
    direction: int
    gate: str
    sigma_max: float
    sigma_min: float
    spectral_radius: float | None  # None when the block is not square (LSTM projection)


def layer_mode(module: nn.Module) -> str | None:
    """rnnkit's mode name for an rnnkit or torch.nn recurrent layer, else None."""
    if hasattr(module, "mode") and hasattr(module, "num_layers"):
        return module.mode
    if isinstance(module, nn.RNNBase):
        return module.mode
    return None


@torch.no_grad()
def recurrent_spectra(model: nn.Module) -> list[BlockSpectrum]:
    """Singular values and spectral radius of every gate block of every W_hh in ``model``."""
    rows = []
    for name, module in model.named_modules():
        mode = layer_mode(module)
        if mode is None:
            continue
        cell = getattr(module, "cell", None)  # CustomRNN: the GatedCell's own gate names
        gates = cell.gates if cell is not None else GATE_NAMES[mode]
        D = 2 if module.bidirectional else 1
        for layer in range(module.num_layers):
            for direction in range(D):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                w = getattr(module, "weight_hh" + suffix).detach().double().cpu()
                for gate, block in zip(gates, w.split(module.hidden_size), strict=True):
                    s = torch.linalg.svdvals(block)
                    radius = None
                    if block.shape[0] == block.shape[1]:
                        radius = float(torch.linalg.eigvals(block).abs().max())
                    rows.append(
                        BlockSpectrum(
                            name, layer, direction, gate, float(s[0]), float(s[-1]), radius
                        )
                    )
    if not rows:
        raise ValueError(f"{type(model).__name__} contains no RNN/LSTM/GRU layer")
    return rows

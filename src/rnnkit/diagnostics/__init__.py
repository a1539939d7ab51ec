"""Observing training: gradient flow through time, recurrent spectra, gate saturation.

    flow = gradient_flow(model, lambda: loss_fn(model(x)[0][-1], y))
    print(flow.summary())                   # decay per step, effective memory span
    spectra = recurrent_spectra(model)      # singular values / spectral radius of W_hh blocks
    sat = gate_saturation(model, lambda: model(x))
    for line in advise(flow, spectra, sat): print("warning:", line)

Works on rnnkit layers directly and on torch.nn.RNN/LSTM/GRU through rnnkit twins that share
their parameters (see ``torch_twins``). Recording costs nothing when it is off.
"""

from rnnkit.diagnostics.flow import (
    GradientFlow,
    LayerFlow,
    decay_per_step,
    decay_ratios,
    gradient_flow,
    memory_span,
)
from rnnkit.diagnostics.hidden_grads import HiddenGradRecord, record_hidden_grads
from rnnkit.diagnostics.saturation import GateSaturation, gate_saturation
from rnnkit.diagnostics.spectra import BlockSpectrum, recurrent_spectra
from rnnkit.diagnostics.watch import GradientWatch, advise, parameter_grad_norms

__all__ = [
    "BlockSpectrum",
    "GateSaturation",
    "GradientFlow",
    "GradientWatch",
    "HiddenGradRecord",
    "LayerFlow",
    "advise",
    "decay_per_step",
    "decay_ratios",
    "gate_saturation",
    "gradient_flow",
    "memory_span",
    "parameter_grad_norms",
    "record_hidden_grads",
    "recurrent_spectra",
]

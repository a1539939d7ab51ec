"""rnnkit: recurrent neural networks done right.

Drop-in replacements for torch.nn's recurrent layers, running on rnnkit's own
backpropagation-through-time engine, with a choice of backend and gradient diagnostics.
"""

from rnnkit import diagnostics
from rnnkit.backends import BACKEND_CHOICES
from rnnkit.core.gated_cell import GatedCell
from rnnkit.core.init import forget_gate_bias_, orthogonal_recurrent_
from rnnkit.layers.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers.custom import CustomRNN
from rnnkit.layers.quantize import quantize
from rnnkit.layers.rnn import GRU, LSTM, RNN, RNNBase

__version__ = "0.1.0"

__all__ = [
    "BACKEND_CHOICES",
    "CustomRNN",
    "GRU",
    "GRUCell",
    "GatedCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNBase",
    "RNNCell",
    "__version__",
    "diagnostics",
    "forget_gate_bias_",
    "orthogonal_recurrent_",
    "quantize",
]

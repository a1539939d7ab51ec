"""Single-step cells with torch.nn's signatures: the building block for streaming and custom loops.

Each cell runs the reference equations of ``core/cells.py`` under autograd (inference: the
native kernels on panels kept per cell, else torch's fused cell kernels), with parameters
named as in torch.nn (weight_ih, weight_hh, bias_ih, bias_hh) so state_dicts are interchangeable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.backends.base import records_graph
from rnnkit.backends.native import kept_cell_step, kept_panels, lowp_cell_step
from rnnkit.core import init as rinit
from rnnkit.core.cells import GATES, LayerWeights, cell_step
from rnnkit.layers import quantize
from rnnkit.layers.checks import check_input_tensor, check_positive_int, check_shape
from rnnkit.layers.pickling import safe_pickling


class RNNCellBase(quantize.Quantizable, nn.Module):
    """Shared machinery of RNNCell, LSTMCell and GRUCell; use those classes."""

    def __init__(self, mode, input_size, hidden_size, bias, device=None, dtype=None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.mode = mode
        self.input_size = check_positive_int(input_size, "input_size", owner)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", owner)
        self.bias = bias
        factory = {"device": device, "dtype": dtype}
        G = GATES[mode]
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(G * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.precision = "float32"  # or "int8" / "bfloat16": rnnkit.quantize
        self.reset_parameters()

    def quantizable_names(self) -> list[str]:
        """W_ih and W_hh: what quantize rounds."""
        return ["weight_ih", "weight_hh"]

    def reset_parameters(self) -> None:
        """torch.nn's default: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
        rinit.default_init_(self)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity=relu"  # torch.nn's cells print it unquoted
        if self._precision != "float32":
            s += f", precision={self._precision!r}"
        return s

    def _weights(self) -> LayerWeights:
        # _parameters directly: nn.Module.__getattr__ costs microseconds per name, and a step
        # of a small cell takes tens of them; a parametrized weight (no longer in
        # _parameters) is computed by getattr.
        p = self._parameters
        try:
            return LayerWeights(p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
        except KeyError:
            return LayerWeights(*(p[n] if n in p else getattr(self, n)
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))

    def _step(self, input: Tensor, states: list[Tensor | None]):
        """Check shapes, add a batch dim if needed, run one step; returns (h', c')."""
        w = self._weights()
        owner = type(self).__name__
        check_input_tensor(input, "input", owner, w.w_ih)
        if input.dim() not in (1, 2):
            raise ValueError(f"{owner}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input has {input.shape[-1]} features, "
                f"expected input_size={self.input_size}"
            )
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        B = x.shape[0]
        want = (self.hidden_size,) if unbatched else (B, self.hidden_size)
        for k, s in enumerate(states):
            if s is None:
                states[k] = x.new_zeros(B, self.hidden_size)
                continue
            check_input_tensor(s, ("h", "c")[k], owner, w.w_ih)
            if s.shape != want:
                check_shape(s, want, ("h", "c")[k], owner)
            if unbatched:
                states[k] = s.unsqueeze(0)
        h0, c0 = states[0], (states[1] if len(states) > 1 else None)
        if records_graph((x, h0, c0, *w)):
            h, c = cell_step(self.mode, x, h0, c0, w)
        else:
            h, c = self._infer(x, h0, c0, w)
        if unbatched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return h, c

    def _infer(self, x: Tensor, h: Tensor, c: Tensor | None, w: LayerWeights):
        """One step without autograd: x (B, I), h and c (B, H) -> (h', c' or None)."""
        cache = self.__dict__.get("_backend_cache")
        if cache is None:
            cache = self.__dict__["_backend_cache"] = {}
        if self._precision != "float32":
            low = quantize.layer_quantized(self)  # None without the native kernels
            if low:  # rnnkit.quantize: W_ih and W_hh in int8 / bfloat16
                return lowp_cell_step(self.mode, x, h, c, w, low[0])
        panels = kept_panels(self.mode, [w], cache, x, step=True)
        if panels is not None:  # one step on panels packed once (native)
            return kept_cell_step(self.mode, x, h, c, w, panels[0])
        return torch_cell_step(self.mode, x, h, c, w)


def torch_cell_step(mode: str, x: Tensor, h: Tensor, c: Tensor | None, w: LayerWeights):
    """One step on torch's fused cell kernels (what torch.nn's cells call): inference where
    the kept native panels do not apply. The same equations as ``cell_step``."""
    if mode == "LSTM":
        return torch._VF.lstm_cell(x, (h, c), *w[:4])
    if mode == "GRU":
        return torch._VF.gru_cell(x, h, *w[:4]), None
    step = torch._VF.rnn_tanh_cell if mode == "RNN_TANH" else torch._VF.rnn_relu_cell
    return step(x, h, *w[:4]), None


@safe_pickling
class RNNCell(RNNCellBase):
    """One Elman step: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.

    Inputs: input (N, H_in) or (H_in,), hx (N, H) or (H,) (zeros if omitted). Output: h' like hx.
    """

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(
                f"Unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(modes[nonlinearity], input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, [hx])[0]


@safe_pickling
class LSTMCell(RNNCellBase):
    """One LSTM step (gate order i, f, g, o): c' = f c + i g, h' = o tanh(c').

    Inputs: input (N, H_in) or (H_in,), hx = (h, c) each (N, H) or (H,) (zeros if omitted).
    Output: (h', c').
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        if hx is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise TypeError("LSTMCell: hx must be a tuple (h, c) of two tensors")
        return self._step(input, list(hx) if hx is not None else [None, None])


@safe_pickling
class GRUCell(RNNCellBase):
    """One GRU step in torch.nn's form (gate order r, z, n): h' = (1 - z) n + z h.

    Inputs: input (N, H_in) or (H_in,), hx (N, H) or (H,) (zeros if omitted). Output: h'.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, [hx])[0]

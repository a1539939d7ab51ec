"""Stacked, optionally bidirectional RNN, LSTM and GRU layers: drop-in for torch.nn.

Same constructor arguments, input/output shapes, state tuples, PackedSequence support and
state_dict keys as torch.nn.RNN/LSTM/GRU, so weights move both ways with load_state_dict.
Additions, all keyword-only or optional: ``backend=`` chooses who runs the time loop,
``lengths=`` in forward masks a padded batch without packing it, ``explain()`` says which
backend runs and why, and ``recurrent_init=`` / ``forget_bias=`` pick the initialisation.

Under ``torch.autocast`` a layer runs in the autocast dtype, as torch.nn's recurrent layers
do on CUDA and torch.nn.LSTM/RNN on the CPU: the input, state and weights are cast once at
the boundary (float64 is left alone, as autocast does) and the backend runs with autocast off.

Layering (see backends/): this module checks and normalises the call into an ``RNNCall``
(time-major, batched); a backend runs it; this module restores the caller's layout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit import backends
from rnnkit.backends import RNNCall
from rnnkit.backends.base import capture
from rnnkit.backends.native import KEEP_MAX_STEPS, kept_layer, kept_panels, quantized_layer
from rnnkit.core import init as rinit
from rnnkit.core.cells import GATES, LayerWeights
from rnnkit.errors import ConfigError, unknown_name
from rnnkit.layers import quantize
from rnnkit.layers.checks import check_input_tensor, check_lengths, check_positive_int, check_shape
from rnnkit.layers.pickling import safe_pickling


@dataclass
class _Layout:
    """How the caller laid out the input, so the output can be laid out the same way."""

    batch_first: bool
    unbatched: bool = False
    packed: PackedSequence | None = None
    lengths: Tensor | None = None  # (B,) lengths of the packed input, in batch order

    def restore(self, y: Tensor):  # y (T, B, D*Hr)
        if self.packed is not None:
            order = self.packed.sorted_indices
            y_sorted = y if order is None else y.index_select(1, order.to(y.device))
            lens = self.lengths if order is None else self.lengths[order.cpu()]
            data = pack_padded_sequence(y_sorted, lens, enforce_sorted=True).data
            p = self.packed
            return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
        if self.unbatched:
            return y.squeeze(1)
        return y.transpose(0, 1) if self.batch_first else y


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype torch.autocast runs the layer in on this device, or None when it is off."""
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None


def _cast(t, dtype: torch.dtype):
    """``t`` (a tensor, a tuple of them, a PackedSequence or None) cast as autocast casts an
    op's arguments: floating-point tensors other than float64 go to ``dtype``."""
    if isinstance(t, PackedSequence):
        data = _cast(t.data, dtype)
        return PackedSequence(data, t.batch_sizes, t.sorted_indices, t.unsorted_indices)
    if isinstance(t, tuple | list):
        return tuple(_cast(s, dtype) for s in t)
    if isinstance(t, Tensor) and t.is_floating_point() and t.dtype != torch.float64:
        return t.to(dtype)
    return t


# Backend settings under which few-step inference may skip the general path (_lean_step).
_LEAN_BACKENDS = ("auto", "native")


@safe_pickling
class RNNBase(quantize.Quantizable, nn.Module):
    """Shared machinery of RNN, LSTM, GRU and CustomRNN; use those classes."""

    cell = None  # CustomRNN: the GatedCell it runs

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        recurrent_init: str = "default",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        owner = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        self.mode = mode
        self.input_size = check_positive_int(input_size, "input_size", owner)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", owner)
        self.num_layers = check_positive_int(num_layers, "num_layers", owner)
        self.bias = bias
        self.batch_first = batch_first
        self.bidirectional = bidirectional
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"{owner}: dropout must be a number, got {type(dropout).__name__}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{owner}: dropout must be in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        self.dropout = float(dropout)
        if proj_size < 0:
            raise ValueError(f"{owner}: proj_size must be >= 0, got {proj_size}")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"{owner}: proj_size ({proj_size}) must be smaller than hidden_size")
        self.proj_size = proj_size
        self.backend = backends.check_backend_name(backend)
        if recurrent_init not in rinit.RECURRENT_INITS:
            message = unknown_name("recurrent_init", recurrent_init, rinit.RECURRENT_INITS)
            raise ValueError(f"{owner}: {message}")
        self.recurrent_init = recurrent_init
        if forget_bias is not None and mode != "LSTM":
            raise ValueError(f"forget_bias applies to LSTM only, not {owner}")
        self.forget_bias = forget_bias

        # Parameters in torch.nn's order and names, so state_dicts are interchangeable.
        factory = {"device": device, "dtype": dtype}
        gate_size = self._gate_count() * hidden_size
        real_hidden = proj_size or hidden_size
        D = 2 if bidirectional else 1
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * D
            for direction in range(D):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, real_hidden),
                }
                if bias:
                    shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    self.register_parameter(
                        name + suffix, nn.Parameter(torch.empty(shape, **factory))
                    )
                self._all_weights.append([name + suffix for name in shapes])
        self._grad_record = None  # set by rnnkit.diagnostics.record_hidden_grads
        self.last_backend: str | None = None
        self.precision = "float32"  # or "int8" / "bfloat16": rnnkit.quantize
        self.reset_parameters()

    def _gate_count(self) -> int:
        return GATES[self.mode]

    @property
    def _owner(self) -> str:
        return type(self).__name__

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per layer and direction, as torch.nn exposes them."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def reset_parameters(self) -> None:
        """torch.nn's default init, then the orthogonal / forget-bias options if chosen."""
        rinit.default_init_(self)
        if self.recurrent_init == "orthogonal":
            rinit.orthogonal_recurrent_(self)
        if self.forget_bias is not None:
            rinit.forget_gate_bias_(self, self.forget_bias)

    def quantizable_names(self) -> list[str]:
        """W_ih and W_hh of each layer and direction, in that order: what quantize rounds."""
        return [name for names in self._all_weights for name in names[:2]]

    def flatten_parameters(self) -> None:
        """No-op, for code written against torch.nn (rnnkit keeps no flat weight buffer)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        if self._precision != "float32":
            s += f", precision={self._precision!r}"
        return s

    def _layer_weights(self) -> list[LayerWeights]:
        # Read _parameters directly: nn.Module.__getattr__ costs microseconds per name, and
        # this runs on every forward call (see "Python around the kernel" in PERFORMANCE.md).
        # A parametrized weight (weight_norm, spectral_norm, a weight-drop) is not there: its
        # attribute computes it.
        params = self._parameters
        # A graph capture (ONNX export) of a quantised layer computes W_ih and W_hh from
        # their int8 / bf16 form, so the file stores that, not float32.
        low = self._precision != "float32" and capture() is not None
        weights = []
        for names in self._all_weights:
            p = dict.fromkeys(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
            for k, name in enumerate(names):
                w = params.get(name)
                if low and k < 2:
                    w = quantize.stored(self, name)
                p[name.split("_l")[0]] = w if w is not None else getattr(self, name)
            weights.append(LayerWeights(*p.values()))
        return weights

    # ---- forward ---------------------------------------------------------------------------

    def _prepare_input(
        self, input, lengths, weight: Tensor
    ) -> tuple[Tensor, Tensor | None, _Layout]:
        """Return x (T, B, I) time-major, checked lengths or None, and the caller's layout.

        ``weight`` is the first weight as the backend gets it: the input must match its dtype.
        """
        owner = self._owner
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    f"{owner}: pass lengths only with a padded tensor, not a PackedSequence"
                )
            check_input_tensor(input.data, "input", owner, weight)
            x, lens = pad_packed_sequence(input)  # (T, B, I), lengths in batch order
            layout = _Layout(False, packed=input, lengths=lens)
            lengths = check_lengths(lens, x.shape[1], x.shape[0], owner)
        else:
            check_input_tensor(input, "input", owner, weight)
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{owner}: Expected input to be 2D or 3D, got {input.dim()}D instead"
                )
            layout = _Layout(self.batch_first, unbatched=input.dim() == 2)
            if layout.unbatched:
                if lengths is not None:
                    raise ValueError(f"{owner}: lengths needs a batched (3D) input")
                x = input.unsqueeze(1)
            else:
                x = input.transpose(0, 1) if self.batch_first else input
            if lengths is not None:
                lengths = check_lengths(lengths, x.shape[1], x.shape[0], owner)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {x.shape[-1]}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{owner}: the input has no time steps (sequence length 0)")
        return x, lengths, layout

    def _prepare_state(self, hx, x: Tensor, unbatched: bool) -> tuple[Tensor, Tensor | None]:
        """Return (h0, c0) shaped (L*D, B, Hr) and (L*D, B, H); c0 is None unless LSTM.

        x is already checked, so the states must match its dtype and device.
        """
        owner = self._owner
        B = x.shape[1]
        LD = self.num_layers * self.num_directions
        h_shape = (LD, B, self.proj_size or self.hidden_size)
        c_shape = (LD, B, self.hidden_size)
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = x.new_zeros(h_shape)
            return h0, (x.new_zeros(c_shape) if is_lstm else None)
        if is_lstm:
            if not (isinstance(hx, tuple | list) and len(hx) == 2):
                raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0) of two tensors")
            states = list(hx)
            names = ("h_0", "c_0")
        else:
            states = [hx]
            names = ("h_0",)
        for k, (s, name) in enumerate(zip(states, names, strict=True)):
            check_input_tensor(s, name, owner, x)
            want = h_shape if k == 0 else c_shape
            if unbatched:
                if s.dim() != 2:
                    raise ValueError(
                        f"{owner}: for unbatched 2-D input, {name} must be 2-D, got {s.dim()}-D"
                    )
                check_shape(s, (want[0], want[2]), name, owner)
                states[k] = s.unsqueeze(1)
            else:
                check_shape(s, want, name, owner)
        return states[0], (states[1] if is_lstm else None)

    def _make_call(self, input, hx, lengths) -> tuple[RNNCall, _Layout]:
        weights = self._layer_weights()
        cast = _autocast_dtype(weights[0].w_ih.device.type)
        if cast is not None:
            input, hx = _cast(input, cast), _cast(hx, cast)
            weights = [LayerWeights(*_cast(w, cast)) for w in weights]
        x, lengths, layout = self._prepare_input(input, lengths, weights[0].w_ih)
        h0, c0 = self._prepare_state(hx, x, layout.unbatched)
        grad_norms = None
        if self._grad_record is not None and torch.is_grad_enabled():
            grad_norms = self._grad_record.buffers_for(self, x.shape[0], x.shape[1], x, lengths)
        quantized = None  # a capture (export) reads the stored weights (_layer_weights)
        if self._precision != "float32" and capture() is None:
            quantized = quantize.layer_quantized(self)
        call = RNNCall(
            self.mode,
            x,
            h0,
            c0,
            weights,
            self.num_layers,
            self.bidirectional,
            self.dropout,
            self.training,
            lengths,
            grad_norms,
            self.cell,
            self.__dict__.setdefault("_backend_cache", {}),
            quantized,
        )
        return call, layout

    def forward(self, input, hx=None, lengths=None):
        """Run the stack. See the class docstring of RNN, LSTM or GRU for shapes."""
        if lengths is None and not torch.is_grad_enabled():
            out = self._lean_step(input, hx)
            if out is not None:
                return out
        call, layout = self._make_call(input, hx, lengths)
        device = call.x.device.type
        cast = _autocast_dtype(device)
        try:
            backend = backends.select(self.backend, call)
        except ConfigError as e:
            if cast is None:
                raise
            raise ConfigError(
                f"{e} (torch.autocast cast this call to {cast}, as it does for torch.nn's "
                "layers: backend='auto' takes a backend that runs it, or run the layer outside "
                "the autocast region)"
            ) from None
        if cast is None:
            y, h_n, c_n = backend.run(call)
        else:
            with torch.autocast(device, enabled=False):  # the call is cast already
                y, h_n, c_n = backend.run(call)
        self.__dict__["last_backend"] = backend.name  # not nn.Module.__setattr__: microseconds
        return layout.restore(y), self._final_state(h_n, c_n, layout.unbatched)

    def _lean_step(self, input, hx):
        """Inference over a few time steps (a decoder's step, a stream's chunk: at most
        KEEP_MAX_STEPS) on the native kernels' kept panels, or None where the general path
        must run it.

        The general path (checks into an RNNCall, backend choice, run_stacked) costs about
        20 us of Python per call, as much as a small layer's step; this one asks only what
        decides the call (a batched float32 CPU tensor, states of the layer's shapes, panels
        kept for these weights) and leaves every other case, errors included, to the general
        path. Same kernels, same results.
        """
        if (self.backend not in _LEAN_BACKENDS or self.cell is not None or self.proj_size
                or type(input) is not Tensor or input.dim() != 3
                or input.shape[1 if self.batch_first else 0] > KEEP_MAX_STEPS
                or (self.training and self.dropout and self.num_layers > 1)
                or capture() is not None or torch.compiler.is_compiling()
                or torch.is_autocast_enabled("cpu")):
            return None
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        if x.dtype != torch.float32 or not x.is_cpu or x.shape[2] != self.input_size:
            return None
        LD = self.num_layers * self.num_directions
        shape = (LD, x.shape[1], self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = x.new_zeros(shape)
            c0 = x.new_zeros(shape) if lstm else None
        else:
            h0, c0 = (hx if lstm and type(hx) is tuple and len(hx) == 2 else (hx, None))
            for s in (h0, c0) if lstm else (h0,):
                if type(s) is not Tensor or s.shape != shape or s.dtype != torch.float32 \
                        or not s.is_cpu:
                    return None
        weights = self._layer_weights()
        if self._precision != "float32":
            low = quantize.layer_quantized(self)
            if not low:
                return None
            run_layer, per_layer = quantized_layer, list(zip(weights, low, strict=True))
        else:
            cache = self.__dict__.setdefault("_backend_cache", {})
            panels = kept_panels(self.mode, weights, cache, x)
            if panels is None:
                return None
            run_layer, per_layer = kept_layer, list(zip(weights, panels, strict=True))
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                y, h, c = run_layer(self.mode, x, h0[k], c0[k] if lstm else None, per_layer[k],
                                    None, d == 1)
                outs.append(y)
                hs.append(h)
                cs.append(c)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, 2)  # (T, B, D*H)
        self.__dict__["last_backend"] = "native"
        y = x.transpose(0, 1) if self.batch_first else x
        h_n = hs[0].unsqueeze(0) if LD == 1 else torch.stack(hs)
        if not lstm:
            return y, h_n
        return y, (h_n, cs[0].unsqueeze(0) if LD == 1 else torch.stack(cs))

    def _final_state(self, h_n: Tensor, c_n: Tensor | None, unbatched: bool):
        """The state a caller gets back: h_n, or (h_n, c_n) for LSTM."""
        if unbatched:
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return (h_n, c_n) if self.mode == "LSTM" else h_n

    def explain(self, input=None, hx=None, lengths=None) -> str:
        """Say which backend runs for this input (a 1-step dummy if None) and why.

        Where the fastest backend is not chosen, the reason is given on its line.
        """
        if input is None:
            input = self.weight_ih_l0.new_zeros(1, self.input_size)  # unbatched, one step
        call, _ = self._make_call(input, hx, lengths)
        x = call.x
        head = (
            f"{self._owner}({self.extra_repr()}) on {x.dtype} {x.device.type} input "
            f"(T={x.shape[0]}, B={x.shape[1]}"
            + (", variable lengths)" if call.lengths is not None else ")")
        )
        return head + "\n" + backends.explain(self.backend, call)


_SHAPES_DOC = """
    Inputs: input, hx, lengths
        input: (L, N, H_in), or (N, L, H_in) with batch_first=True, or (L, H_in) unbatched,
            or a PackedSequence.
        hx: initial state{state}; zeros when omitted.
        lengths: optional (N,) ints; marks a padded batch without packing it. Steps at or past a
            sequence's length leave its state unchanged, give zero output and receive no gradient.
    Outputs: output, {out_state}
        output: (L, N, D * H_out) (batch_first: (N, L, D * H_out)), or a PackedSequence.
        {out_state_doc}
    with D = 2 if bidirectional else 1 and H_out = proj_size if proj_size > 0 else hidden_size.
    Extra keyword arguments (not in torch.nn):
        backend: "auto" (default: the fastest backend that can run the call), "native"
            (rnnkit's BPTT in C++), "torch" (fused kernels), "engine" (rnnkit's explicit BPTT
            in torch ops) or "reference" (plain autograd loop).
        recurrent_init: "default" (torch.nn's uniform) or "orthogonal" (per gate block).
"""


@safe_pickling
class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None (as torch.nn).
    """

    __doc__ += _SHAPES_DOC.format(
        state=": (D * num_layers, N, H_out) or (D * num_layers, H_out) unbatched",
        out_state="h_n",
        out_state_doc="h_n: (D * num_layers, N, H_out), the final state of each layer.",
    )

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        recurrent_init: str = "default",
    ) -> None:
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(
                f"Unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            modes[nonlinearity],
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            backend=backend,
            recurrent_init=recurrent_init,
        )


@safe_pickling
class LSTM(RNNBase):
    """LSTM with torch.nn's gate order (i, f, g, o) and optional projection (Sak et al. 2014).

        i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)   (h_t = W_hr h_t if proj_size > 0)

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None (as torch.nn), and
    forget_bias (keyword): if set, the forget-gate bias starts at this value (1.0 is common).
    """

    __doc__ += _SHAPES_DOC.format(
        state=" (h_0, c_0): (D * num_layers, N, H_out) and (D * num_layers, N, hidden_size)",
        out_state="(h_n, c_n)",
        out_state_doc="(h_n, c_n): final hidden and cell states of each layer and direction.",
    )

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        recurrent_init: str = "default",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            backend=backend,
            recurrent_init=recurrent_init,
            forget_bias=forget_bias,
        )


@safe_pickling
class GRU(RNNBase):
    """GRU in torch.nn's form (gate order r, z, n; reset gate applied to W_hn h + b_hn).

        r = sigma(W_ir x + b_ir + W_hr h + b_hr);  z = sigma(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h_t = (1 - z) * n + z * h_{t-1}

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None (as torch.nn).
    """

    __doc__ += _SHAPES_DOC.format(
        state=": (D * num_layers, N, H_out) or (D * num_layers, H_out) unbatched",
        out_state="h_n",
        out_state_doc="h_n: (D * num_layers, N, H_out), the final state of each layer.",
    )

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        recurrent_init: str = "default",
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            backend=backend,
            recurrent_init=recurrent_init,
        )

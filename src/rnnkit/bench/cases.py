"""The candidates of one benchmark point, each a ready-to-time training step and inference.

Every candidate runs the same stacked (bi)RNN with the same weights, copied from one torch.nn
module: torch.nn's fused path, each rnnkit backend, a Python loop over torch.nn cells (what a
user writes for a custom cell) and torch.compile of that loop. A training step is forward +
backward of ``out.sum()`` with respect to every parameter (``autograd.grad``, so no gradient
accumulates between calls); inference is forward under ``no_grad``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
from torch import nn

from rnnkit.backends import BACKEND_CHOICES
from rnnkit.core.gated_cell import GatedCell, gated_gru, gated_lstm
from rnnkit.layers.custom import CustomRNN
from rnnkit.layers.rnn import GRU, LSTM, RNN

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1}


@dataclass(frozen=True)
class Point:
    """One grid point: cell type and sizes. ``I`` (input size) equals H, as in most stacks."""

    cell: str  # LSTM, GRU or RNN_TANH
    T: int
    B: int
    H: int
    layers: int = 1
    bidirectional: bool = False

    @property
    def D(self) -> int:
        return 2 if self.bidirectional else 1

    def label(self) -> str:
        extra = f" L{self.layers}" + (" bi" if self.bidirectional else "")
        return f"{self.cell} T={self.T} B={self.B} H={self.H}" + (
            extra if self.layers > 1 or self.bidirectional else ""
        )

    def forward_flops(self) -> float:
        """Multiply-adds x 2 of the input and recurrent matmuls, all layers and directions."""
        G, H = GATES[self.cell], self.H
        total = 0.0
        for layer in range(self.layers):
            I = H if layer == 0 else H * self.D
            total += self.D * 2 * self.T * self.B * G * H * (I + H)
        return total

    def train_flops(self) -> float:
        """Forward plus backward: per layer and direction the recurrent and input-weight
        gradients and dL/dh_{t-1} (2 T B G H (I + 2 H)), plus dL/dx except for the first
        layer, whose input needs no gradient in the benchmark."""
        G, H = GATES[self.cell], self.H
        total = self.forward_flops()
        for layer in range(self.layers):
            I = H if layer == 0 else H * self.D
            dx = I if layer > 0 else 0
            total += self.D * 2 * self.T * self.B * G * H * (I + 2 * H + dx)
        return total

    def gemms(self, train: bool) -> list[tuple[int, int, int, int]]:
        """The matrix products every implementation of this point runs, as (M, N, K, count):
        per layer and direction the input projection over all steps and one recurrent
        product per step; for training also both weight gradients (over all steps), one
        dL/dh_{t-1} per step and dL/dx except for the first layer. Their FLOPs are
        ``forward_flops`` / ``train_flops``."""
        G, H, TB = GATES[self.cell], self.H, self.T * self.B
        counts: dict[tuple[int, int, int], int] = {}
        for layer in range(self.layers):
            I = H if layer == 0 else H * self.D
            products = [(TB, G * H, I, 1), (self.B, G * H, H, self.T)]
            if train:
                products += [(G * H, I, TB, 1), (G * H, H, TB, 1), (self.B, H, G * H, self.T)]
                if layer > 0:
                    products.append((TB, I, G * H, 1))
            for M, N, K, n in products:
                counts[M, N, K] = counts.get((M, N, K), 0) + n * self.D
        return [(M, N, K, n) for (M, N, K), n in counts.items()]

    def as_dict(self) -> dict:
        return asdict(self)


class PythonLoop(nn.Module):
    """A stacked (bi)RNN written the way users write custom cells: a Python loop over cells."""

    def __init__(self, ref: nn.RNNBase, cell: str):
        super().__init__()
        cls = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN_TANH": nn.RNNCell}[cell]
        self.is_lstm = cell == "LSTM"
        self.D = 2 if ref.bidirectional else 1
        self.cells = nn.ModuleList()
        for layer in range(ref.num_layers):
            for d in range(self.D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih = getattr(ref, "weight_ih" + sfx)
                c = cls(w_ih.shape[1], ref.hidden_size)
                with torch.no_grad():
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(c, name).copy_(getattr(ref, name + sfx))
                self.cells.append(c)

    def forward(self, x):  # x (T, B, I) -> (T, B, D*H)
        T, B = x.shape[0], x.shape[1]
        for layer in range(len(self.cells) // self.D):
            outs = []
            for d in range(self.D):
                cell = self.cells[layer * self.D + d]
                h = x.new_zeros(B, cell.hidden_size)
                state = (h, h) if self.is_lstm else h
                ys = [None] * T
                for t in reversed(range(T)) if d else range(T):
                    state = cell(x[t], state)
                    ys[t] = state[0] if self.is_lstm else state
                outs.append(torch.stack(ys))
            x = outs[0] if self.D == 1 else torch.cat(outs, dim=2)
        return x


def _torch_nn(p: Point, dtype) -> nn.RNNBase:
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN}[p.cell]
    return cls(p.H, p.H, p.layers, bidirectional=p.bidirectional, dtype=dtype)


def _tanh_step(x, h, state):
    return {"h": (x.a + h.a).tanh()}


def gated_cell_for(cell: str) -> GatedCell:
    """The benchmark's cell written as a user-defined GatedCell (same weights as torch.nn)."""
    if cell == "LSTM":
        return gated_lstm()
    if cell == "GRU":
        return gated_gru()
    return GatedCell("tanh_rnn", ("a",), _tanh_step)


def _rnnkit(p: Point, ref: nn.RNNBase, backend: str, custom: bool = False):
    """rnnkit's layer for ``p`` with ``ref``'s weights; ``custom``: the cell as a GatedCell."""
    if custom:
        make = functools.partial(CustomRNN, gated_cell_for(p.cell))
    else:
        make = {"LSTM": LSTM, "GRU": GRU, "RNN_TANH": RNN}[p.cell]
    m = make(
        p.H,
        p.H,
        p.layers,
        bidirectional=p.bidirectional,
        backend=backend,
        dtype=ref.weight_ih_l0.dtype,
    )
    m.load_state_dict(ref.state_dict())
    return m


def train_and_infer(model, x, first_output: bool = True):
    """(train, infer) callables to time: a forward + backward to the trainable parameters,
    and a forward under ``no_grad``. ``first_output``: the model returns (output, state)."""
    params = [q for q in model.parameters() if q.requires_grad]

    def out():
        y = model(x)
        return y[0] if first_output else y

    def train():
        torch.autograd.grad(out().sum(), params)

    def infer():
        with torch.no_grad():
            out()

    return train, infer


# Rough per-step Python/dispatch overhead (seconds, one layer-direction, forward+backward) of
# each candidate, used only to skip points that would take minutes: see ``estimate_s``.
STEP_OVERHEAD_S = {
    "torch.nn": 2e-5,
    "rnnkit:native": 1e-5,
    "rnnkit:auto": 1e-5,
    "rnnkit:torch": 2e-5,
    "rnnkit:engine": 3e-4,
    "rnnkit:reference": 6e-4,
    "python-loop": 4e-4,
    "custom:native": 1e-5,
    "custom:reference": 8e-4,
    "compiled-loop": 1e-4,
}


def estimate_s(p: Point, name: str, gflops: float) -> float:
    """A pessimistic guess at one training step's seconds, to trim the grid before timing."""
    steps = p.T * p.layers * p.D
    return p.train_flops() / (0.3 * gflops * 1e9) + steps * STEP_OVERHEAD_S.get(name, 1e-3)


def candidates(p: Point, names: list[str], dtype=torch.float32, seed: int = 0):
    """{name: (train_fn, infer_fn)} for the requested candidate names at point ``p``.

    Names: "torch.nn", "rnnkit:<backend>", "python-loop", "compiled-loop", and
    "custom:native" / "custom:reference" (the cell written as a GatedCell: its generated
    kernels / its equations in a Python loop under autograd). A candidate that
    cannot be built here (e.g. torch.compile failing) is returned as the exception instead.
    """
    torch.manual_seed(seed)
    ref = _torch_nn(p, dtype)
    x = torch.randn(p.T, p.B, p.H, dtype=dtype)
    out: dict[str, object] = {}
    for name in names:
        try:
            if name == "torch.nn":
                out[name] = train_and_infer(ref, x)
            elif name.startswith("rnnkit:"):
                backend = name.split(":", 1)[1]
                if backend not in BACKEND_CHOICES:
                    raise ValueError(f"no rnnkit backend {backend!r}")
                out[name] = train_and_infer(_rnnkit(p, ref, backend), x)
            elif name in ("custom:native", "custom:reference"):
                custom = _rnnkit(p, ref, name.split(":", 1)[1], custom=True)
                out[name] = train_and_infer(custom, x)
            elif name == "python-loop":
                out[name] = train_and_infer(PythonLoop(ref, p.cell), x, False)
            elif name == "compiled-loop":
                compiled = torch.compile(PythonLoop(ref, p.cell), dynamic=False)
                out[name] = train_and_infer(compiled, x, False)
            else:
                raise ValueError(f"unknown candidate {name!r}")
        except Exception as exc:  # noqa: BLE001 - recorded in the results, not fatal
            out[name] = exc
    return out

"""User-defined gated cells: write the step's equations once, get a fast native kernel.

A gated cell has G gate blocks and S states, each H wide. Per step, every gate k gets an
input part ``x.k = W_ik x_t + b_ik`` and a recurrent part ``h.k = W_hk h_{t-1} + b_hk`` (one
matmul each for all gates, as in torch.nn); the step function combines them element-wise
with the previous states into the new states. State ``h`` (always the first) is the output
and the input of the recurrent matmul; other states (an LSTM's ``c``) stay element-wise.

    def mgu(x, h, state):      # minimal gated unit (Zhou et al. 2016), gate after the matmul
        f = (x.f + h.f).sigmoid()
        n = (x.n + f * h.n).tanh()
        return {"h": (1 - f) * state.h + f * n}

    cell = rnnkit.GatedCell("mgu", gates=("f", "n"), step=mgu)
    layer = rnnkit.CustomRNN(cell, input_size=8, hidden_size=64, batch_first=True)

The step function may use ``+ - * /``, numbers, and ``.sigmoid() .tanh() .relu() .exp()``
(or ``torch.sigmoid`` and friends). It runs twice: on tensors, step by step under autograd
(the "reference" backend, the specification), and on symbols, once, to record an expression
graph from which ``rnnkit/native/codegen.py`` writes the C++ forward and (by reverse-mode
differentiation) backward of the element-wise step, compiled on first use.
"""

from __future__ import annotations

import keyword
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from torch import Tensor

UNARY = ("sigmoid", "tanh", "relu", "exp")
BINARY = ("add", "sub", "mul", "div")


@dataclass(frozen=True)
class Node:
    """One value of the traced step: a leaf ("x", "h", "state", "const") or an operation."""

    op: str
    args: tuple[int, ...] = ()
    name: str = ""  # leaves: the gate or state name
    index: int = 0  # leaves: the gate or state position
    value: float = 0.0  # "const"


@dataclass
class Graph:
    """The step as a list of nodes in creation (hence topological) order."""

    nodes: list[Node] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)  # one node per state
    fused: bool = False  # every gate enters only as x.k + h.k (see native/custom_loop.h)
    _consts: dict[float, int] = field(default_factory=dict)

    def add(self, node: Node) -> int:
        if node.op == "const":
            if node.value in self._consts:
                return self._consts[node.value]
            self._consts[node.value] = len(self.nodes)
        self.nodes.append(node)
        return len(self.nodes) - 1


class Symbol:
    """A traced value; arithmetic on it records nodes in its graph."""

    __slots__ = ("graph", "id")

    def __init__(self, graph: Graph, node_id: int) -> None:
        self.graph, self.id = graph, node_id

    def _lift(self, other) -> int:
        if isinstance(other, Symbol):
            return other.id
        if isinstance(other, int | float) and not isinstance(other, bool):
            return self.graph.add(Node("const", value=float(other)))
        raise TypeError(
            f"a gated cell's step can combine its values only with numbers and each other, "
            f"not {type(other).__name__}"
        )

    def _op(self, op: str, *args: int) -> Symbol:
        return Symbol(self.graph, self.graph.add(Node(op, args)))

    def __add__(self, o):
        return self._op("add", self.id, self._lift(o))

    def __radd__(self, o):
        return self._op("add", self._lift(o), self.id)

    def __sub__(self, o):
        return self._op("sub", self.id, self._lift(o))

    def __rsub__(self, o):
        return self._op("sub", self._lift(o), self.id)

    def __mul__(self, o):
        return self._op("mul", self.id, self._lift(o))

    def __rmul__(self, o):
        return self._op("mul", self._lift(o), self.id)

    def __truediv__(self, o):
        return self._op("div", self.id, self._lift(o))

    def __rtruediv__(self, o):
        return self._op("div", self._lift(o), self.id)

    def __neg__(self):
        return self._op("sub", self._lift(0.0), self.id)

    def __pos__(self):
        return self

    def sigmoid(self):
        return self._op("sigmoid", self.id)

    def tanh(self):
        return self._op("tanh", self.id)

    def relu(self):
        return self._op("relu", self.id)

    def exp(self):
        return self._op("exp", self.id)

    def __bool__(self):
        raise TypeError("a gated cell's step cannot branch on its values (no if/and/or/min/max)")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # torch.sigmoid(s), torch.tanh(s), F.relu(s), torch.exp(s) and the Tensor methods.
        name = getattr(func, "__name__", "")
        if name in UNARY and len(args) == 1 and not kwargs and isinstance(args[0], Symbol):
            return getattr(args[0], name)()
        return NotImplemented


class _Names(SimpleNamespace):
    """Gate or state values by name; a wrong name says which names exist."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        known = ", ".join(k for k in vars(self) if not k.startswith("_"))
        raise AttributeError(f"{self._what} has no {name!r}; it has: {known}")


def _names(what: str, values: dict) -> _Names:
    ns = _Names(**values)
    object.__setattr__(ns, "_what", what)
    return ns


class GatedCell:
    """A recurrent cell given by its gate names, state names and element-wise step function.

    ``step(x, h, state)`` receives the input parts (``x.<gate>``), the recurrent parts
    (``h.<gate>``) and the previous states (``state.<name>``) and returns the new states as
    a dict by name (or a tuple in ``states`` order, or one value when there is one state).
    """

    def __reduce_ex__(self, protocol):
        """rnnkit's own cells pickle by name (``builtin_cell``), others as usual."""
        entry = BUILTIN_CELLS.get(self.name)
        if entry is not None and self.step is entry[1]:
            return builtin_cell, (self.name,)
        return object.__reduce_ex__(self, protocol)

    def __init__(
        self,
        name: str,
        gates: Sequence[str],
        step: Callable,
        states: Sequence[str] = ("h",),
    ) -> None:
        self.name = str(name)
        self.gates = tuple(gates)
        self.states = tuple(states)
        self.step = step
        for kind, names in (("gate", self.gates), ("state", self.states)):
            if not names:
                raise ValueError(f"GatedCell {self.name!r}: needs at least one {kind}")
            for n in names:
                if not (isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n)):
                    raise ValueError(
                        f"GatedCell {self.name!r}: {kind} name {n!r} is not a Python identifier"
                    )
            if len(set(names)) != len(names):
                raise ValueError(f"GatedCell {self.name!r}: repeated {kind} names in {names}")
        if self.states[0] != "h":
            raise ValueError(
                f"GatedCell {self.name!r}: the first state must be 'h' (the output), "
                f"got {self.states}"
            )
        if not callable(step):
            raise TypeError(f"GatedCell {self.name!r}: step must be a function")
        self.graph = self._trace()

    def __repr__(self) -> str:
        return f"GatedCell({self.name!r}, gates={self.gates}, states={self.states})"

    # ---- the two ways to run the step ----------------------------------------------------

    def _new_states(self, result) -> list:
        if isinstance(result, dict):
            missing = [s for s in self.states if s not in result]
            extra = [k for k in result if k not in self.states]
            if missing or extra:
                raise ValueError(
                    f"GatedCell {self.name!r}: step must return the states {self.states}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {extra}" if extra else "")
                )
            return [result[s] for s in self.states]
        values = list(result) if isinstance(result, tuple | list) else [result]
        if len(values) != len(self.states):
            raise ValueError(
                f"GatedCell {self.name!r}: step returned {len(values)} values for the "
                f"{len(self.states)} states {self.states}"
            )
        return values

    def apply(self, xg: Tensor, hg: Tensor, states: Sequence[Tensor]) -> list[Tensor]:
        """One step on tensors: xg, hg (B, G*H) gate parts, states [(B, H)] -> new states."""
        G = len(self.gates)
        x = _names("x", dict(zip(self.gates, xg.chunk(G, dim=-1), strict=True)))
        h = _names("h", dict(zip(self.gates, hg.chunk(G, dim=-1), strict=True)))
        s = _names("state", dict(zip(self.states, states, strict=True)))
        return self._new_states(self.step(x, h, s))

    def _trace(self) -> Graph:
        g = Graph()

        def leaves(kind, names):
            return {n: Symbol(g, g.add(Node(kind, name=n, index=i))) for i, n in enumerate(names)}

        x, h = leaves("x", self.gates), leaves("h", self.gates)
        s = leaves("state", self.states)
        try:
            result = self.step(_names("x", x), _names("h", h), _names("state", s))
            outs = self._new_states(result)
        except (TypeError, AttributeError) as exc:
            raise ValueError(
                f"GatedCell {self.name!r}: could not trace the step function ({exc}). It may "
                "use + - * /, numbers and .sigmoid() .tanh() .relu() .exp() (or torch.sigmoid "
                "and friends) on its arguments, nothing else."
            ) from exc
        for state, out in zip(self.states, outs, strict=True):
            if not isinstance(out, Symbol):
                raise ValueError(
                    f"GatedCell {self.name!r}: new state {state!r} must depend on the inputs, "
                    f"got {out!r}"
                )
            g.outputs.append(out.id)
        g.fused = _fuse(g, len(self.gates))
        return g


def _fuse(g: Graph, G: int) -> bool:
    """If every gate k is used only as x.k + h.k, mark it so (the LSTM-like fast layout)."""
    users: dict[int, list[int]] = {}
    for i, node in enumerate(g.nodes):
        for a in node.args:
            users.setdefault(a, []).append(i)
    leaf = {(n.op, n.index): i for i, n in enumerate(g.nodes) if n.op in ("x", "h")}
    for k in range(G):
        xi, hi = leaf[("x", k)], leaf[("h", k)]
        ux, uh = users.get(xi, []), users.get(hi, [])
        if len(ux) != 1 or ux != uh or g.nodes[ux[0]].op != "add":
            return False
        if xi in g.outputs or hi in g.outputs:
            return False
    return True


def lstm_step(x, h, state):
    """The LSTM as a gated cell (gates i, f, g, o; states h, c), for tests and benchmarks."""
    i = (x.i + h.i).sigmoid()
    f = (x.f + h.f).sigmoid()
    g = (x.g + h.g).tanh()
    o = (x.o + h.o).sigmoid()
    c = f * state.c + i * g
    return {"h": o * c.tanh(), "c": c}


def gru_step(x, h, state):
    """The GRU in torch.nn's form as a gated cell (gates r, z, n)."""
    r = (x.r + h.r).sigmoid()
    z = (x.z + h.z).sigmoid()
    n = (x.n + r * h.n).tanh()
    return {"h": n + z * (state.h - n)}


def mgu_step(x, h, state):
    """Minimal gated unit (Zhou et al. 2016) with the forget gate applied after the recurrent
    matmul, as torch.nn.GRU applies its reset gate (gates f, n)."""
    f = (x.f + h.f).sigmoid()
    n = (x.n + f * h.n).tanh()
    return {"h": (1 - f) * state.h + f * n}


def cifg_step(x, h, state):
    """LSTM with coupled input and forget gates, i = 1 - f (Greff et al. 2017's CIFG; gates
    f, g, o; states h, c): a quarter fewer weights than the LSTM."""
    f = (x.f + h.f).sigmoid()
    g = (x.g + h.g).tanh()
    o = (x.o + h.o).sigmoid()
    c = f * state.c + (1 - f) * g
    return {"h": o * c.tanh(), "c": c}


def gated_mgu() -> GatedCell:
    """The minimal gated unit as a GatedCell (see ``mgu_step``)."""
    return GatedCell("mgu", ("f", "n"), mgu_step)


def gated_cifg() -> GatedCell:
    """The coupled input-forget-gate LSTM as a GatedCell (see ``cifg_step``)."""
    return GatedCell("lstm_cifg", ("f", "g", "o"), cifg_step, states=("h", "c"))


# Gated cells beyond torch.nn's three, by the name the toolkit's --cell option uses.
GATED_CELLS = {"mgu": gated_mgu, "lstm_cifg": gated_cifg}


def gated_lstm() -> GatedCell:
    """torch.nn.LSTM's cell written as a GatedCell."""
    return GatedCell("lstm", ("i", "f", "g", "o"), lstm_step, states=("h", "c"))


def gated_gru() -> GatedCell:
    """torch.nn.GRU's cell written as a GatedCell."""
    return GatedCell("gru", ("r", "z", "n"), gru_step)


# rnnkit's own cells, which pickle by name (``builtin_cell``); a user's cell pickles as usual
# and, loaded with weights_only, needs its step function in torch's safe globals.
BUILTIN_CELLS = {"mgu": (gated_mgu, mgu_step), "lstm_cifg": (gated_cifg, cifg_step),
                 "lstm": (gated_lstm, lstm_step), "gru": (gated_gru, gru_step)}


def builtin_cell(name: str) -> GatedCell:
    """The built-in gated cell ``name``, rebuilt from its definition (what unpickling one
    calls: safe for ``torch.load(weights_only=True)``, it takes nothing but the name)."""
    if not isinstance(name, str) or name not in BUILTIN_CELLS:
        raise pickle.UnpicklingError(f"not a built-in gated cell: {name!r}")
    return BUILTIN_CELLS[name][0]()


torch.serialization.add_safe_globals([builtin_cell])


__all__ = [
    "GATED_CELLS",
    "GatedCell",
    "Graph",
    "Node",
    "Symbol",
    "gated_cifg",
    "gated_gru",
    "gated_lstm",
    "gated_mgu",
]

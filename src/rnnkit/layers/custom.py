"""CustomRNN: a stacked, optionally bidirectional layer of a user-defined GatedCell.

Shapes, arguments, batch_first, PackedSequence, ``lengths=``, dropout between layers and
parameter names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse) are those
of rnnkit.GRU; gate k of the cell owns rows [k*H, (k+1)*H) of those matrices. The state is
``h`` alone (a tensor, as for GRU) or, for a cell with states (h, c, ...), a tuple in that
order (as for LSTM). ``backend="native"`` runs kernels generated from the cell's equations
(compiled on first use, cached); ``"reference"`` runs the equations step by step under
autograd; ``"auto"`` takes native where it can run.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.core.gated_cell import GatedCell
from rnnkit.layers.checks import check_input_tensor, check_shape
from rnnkit.layers.pickling import safe_pickling
from rnnkit.layers.rnn import _SHAPES_DOC, RNNBase


@safe_pickling
class CustomRNN(RNNBase):
    """Multi-layer RNN of a GatedCell: h_t and the cell's other states from its step function.

    Args: cell (a GatedCell), input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None.
    """

    __doc__ += _SHAPES_DOC.format(
        state=": h_0 (D * num_layers, N, H_out), or a tuple (h_0, s2_0, ...) with one tensor "
        "per state of the cell, each (D * num_layers, N, hidden_size)",
        out_state="h_n or (h_n, s2_n, ...)",
        out_state_doc="the final value of each state of each layer and direction.",
    )

    def __init__(
        self,
        cell: GatedCell,
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
        if not isinstance(cell, GatedCell):
            raise TypeError(
                f"CustomRNN: cell must be a rnnkit.GatedCell, got {type(cell).__name__}"
            )
        self.cell = cell
        super().__init__(
            "CUSTOM",
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

    def _gate_count(self) -> int:
        return len(self.cell.gates)

    def extra_repr(self) -> str:
        return f"{self.cell.name}, " + super().extra_repr()

    def _prepare_state(self, hx, x: Tensor, unbatched: bool) -> tuple[Tensor, Tensor | None]:
        """Return h0 (L*D, B, H) and the other states stacked (L*D, S-1, B, H) or None."""
        owner, S = self._owner, len(self.cell.states)
        B, LD, H = x.shape[1], self.num_layers * self.num_directions, self.hidden_size
        if hx is None:
            return x.new_zeros(LD, B, H), (x.new_zeros(LD, S - 1, B, H) if S > 1 else None)
        if S == 1:
            states = [hx]
        elif isinstance(hx, tuple | list) and len(hx) == S:
            states = list(hx)
        else:
            raise TypeError(f"{owner}: hx must be a tuple of {S} tensors {self.cell.states}")
        for k, s in enumerate(states):
            name = f"{self.cell.states[k]}_0"
            check_input_tensor(s, name, owner, x)
            if unbatched:
                check_shape(s, (LD, H), name, owner)
                states[k] = s.unsqueeze(1)
            else:
                check_shape(s, (LD, B, H), name, owner)
        rest = None if S == 1 else torch.stack(states[1:], dim=1)
        return states[0], rest

    def _final_state(self, h_n: Tensor, rest: Tensor | None, unbatched: bool):
        """h_n alone, or (h_n, s2_n, ...) from the other states stacked (L*D, S-1, B, H)."""
        states = [h_n] + ([] if rest is None else list(rest.unbind(1)))
        if unbatched:
            states = [s.squeeze(1) for s in states]
        return states[0] if len(states) == 1 else tuple(states)

"""Handwriting generation: a mixture-density RNN over pen offsets that writes a requested
character (Graves 2013, "Generating sequences with recurrent neural networks", sec. 4,
here conditioned on one character per drawing instead of sec. 5's soft window over text).

A drawing is (T, 3) points ``(dx, dy, pen)`` (``rnnkit.data.strokes.to_offsets``: offsets
from the previous point, the first from the origin; pen = 1 on a stroke's last point). The
model predicts point t from points < t and the character:

    x_t = [point_{t-1} ; embed(char)]             point_{-1} = (0, 0, 0) starts a drawing
    h^1_t = layer_1(x_t, h^1_{t-1})
    h^n_t = layer_n([x_t ; h^{n-1}_t], h^n_{t-1})               n = 2..N   (skip connections,
    y_t = MixtureHead([h^1_t ; ... ; h^N_t])                     Graves eqs. 1-3 and 15)

so every layer sees the input besides the layer below, and the head reads all layers
(one Linear over the concatenation = Graves' sum of per-layer output weights). Each layer
is its own single-layer ``make_recurrent`` stack, since rnnkit's stacked layers feed a
layer only from the one below.

What the pen has done so far is given, not left to the network to integrate (the first
run's samples, conditioned on the character alone, drew plausible strokes in the wrong
places: where a stroke starts depends on where the pen is and which stroke comes next):

    pos_t     = sum of the offsets < t (box units)                   where the pen is
    k_t       = the number of pen-ups < t                            strokes finished
    x_t       = [point_{t-1} ; pos_t ; embed(char) ; plan(char, min(k_t, K - 1))]

``plan`` is a learned vector per (character, stroke number): the model's memory of
"stroke k of this character" (for an unconditional model, per stroke number alone).
``position_scale`` turns the model's scaled offsets back into box units for pos_t.
``max_strokes=0`` turns both inputs off (the first run's model).

Where a drawing ends is learnt, not fixed: the head has a 4th Bernoulli, "this is the
drawing's last point" (``stop_logit``, target 1 at t = length - 1), trained with the rest
of the likelihood; sampling stops the drawing when it fires at a pen lift, or when the pen
lifts for the requested character's last stroke, or at ``max_points`` (``generate``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.language import make_recurrent
from rnnkit.models.mixture import MixtureHead, MixtureParams, mixture_nll, sample_point
from rnnkit.models.sequence import length_mask


class WindowLayer(nn.Module):
    """The no-recurrence ablation's layer: ``tanh(W [x_{t-K+1} ; ... ; x_t] + b)``, a
    feed-forward net over the last ``window`` inputs (zeros before the start), called like
    an rnnkit layer: x (T, B, I), state = the previous K - 1 inputs (K - 1, B, I) or None
    -> (T, B, H) and the new state. Causal, so padding after ``lengths`` changes nothing
    before it (``lengths`` is accepted and unused)."""

    def __init__(self, input_size: int, hidden_size: int, window: int):
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.proj = nn.Linear(window * input_size, hidden_size)

    def forward(self, x: Tensor, state: Tensor | None = None, lengths: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        T, B, I = x.shape
        before = x.new_zeros(self.window - 1, B, I) if state is None else state
        seq = torch.cat([before, x])                                  # (K - 1 + T, B, I)
        win = seq.unfold(0, self.window, 1)                           # (T, B, I, K)
        win = win.permute(0, 1, 3, 2).reshape(T, B, self.window * I)  # oldest first
        return torch.tanh(self.proj(win)), seq[len(seq) - self.window + 1:]


class StrokeWriter(nn.Module):
    """p(point_t | points_<t, char) for pen-offset drawings of single characters.

    Args:
        num_chars: number of character classes (a learned embedding conditions every step),
            or None for an unconditional model.
        cell, hidden_size, num_layers, backend: each recurrent layer (``make_recurrent``);
            Graves uses 3 LSTM layers of 400 units, the default 256 suits single characters.
        dropout: on each layer's output (to the next layer and the head), never on the state.
        components: M bivariate normals in the mixture (Graves: 20).
        char_embed: width of the character embedding (and of the stroke plan).
        max_strokes: K, stroke numbers the plan tells apart (later strokes share the last
            entry); 0 = no position or plan inputs.
        position_scale: box units per unit of the offsets the model reads.
        window: 0 = recurrent layers; K > 0 = the no-recurrence ablation: the first layer
            a ``WindowLayer`` over the last K inputs, the others ``WindowLayer``s of one
            step (so the model sees exactly K points back), ``cell`` unused.
    Inputs: points (T, B, 3), chars (B,) int64 or None, lengths (B,) or None (all T).
    Outputs: ``forward`` -> MixtureParams over (T, B) with a stop logit.
    """

    def __init__(self, num_chars: int | None, cell: str = "lstm", hidden_size: int = 256,
                 num_layers: int = 3, dropout: float = 0.0, components: int = 20,
                 char_embed: int = 32, backend: str = "auto", max_strokes: int = 0,
                 position_scale: float = 1.0, window: int = 0):
        super().__init__()
        if num_chars is not None and num_chars < 1:
            raise ValueError(f"num_chars must be >= 1 or None (unconditional), got {num_chars}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if max_strokes < 0:
            raise ValueError(f"max_strokes must be >= 0, got {max_strokes}")
        self.num_chars, self.max_strokes = num_chars, max_strokes
        self.position_scale = position_scale
        self.embed = nn.Embedding(num_chars, char_embed) if num_chars is not None else None
        self.plan = (nn.Embedding((num_chars or 1) * max_strokes, char_embed)
                     if max_strokes else None)
        in_size = 3 + (char_embed if num_chars is not None else 0)
        in_size += 2 + char_embed if max_strokes else 0
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        self.window = window
        self.layers = nn.ModuleList(
            WindowLayer(in_size + (hidden_size if k else 0), hidden_size,
                        1 if k else window) if window else
            make_recurrent(cell, in_size + (hidden_size if k else 0), hidden_size,
                           backend=backend)
            for k in range(num_layers))
        self.drop = nn.Dropout(dropout)
        self.head = MixtureHead(num_layers * hidden_size, components, stop=True)

    # ---- the network -----------------------------------------------------------------------

    def _check(self, points: Tensor, chars: Tensor | None) -> None:
        if points.dim() != 3 or points.size(-1) != 3:
            raise ValueError(f"expected points (T, B, 3) (dx, dy, pen), got "
                             f"{tuple(points.shape)}")
        self._check_chars(chars, points.size(1))

    def _check_chars(self, chars: Tensor | None, B: int) -> None:
        if self.num_chars is None:
            if chars is not None:
                raise ValueError("this StrokeWriter is unconditional (num_chars=None): "
                                 "pass chars=None")
            return
        if chars is None or chars.shape != (B,):
            got = None if chars is None else tuple(chars.shape)
            raise ValueError(f"expected chars ({B},) character ids, got {got}")

    def _inputs(self, previous: Tensor, chars: Tensor | None, pen: Tensor | None
                ) -> tuple[Tensor, Tensor | None]:
        """previous points (T, B, 3) and the pen before them (B, 3): (x, y, pen-ups so far),
        None at a drawing's start -> layer input x (T, B, I) and the pen after them."""
        T, B = previous.shape[:2]
        parts = [previous]
        if self.embed is not None:
            parts.append(self.embed(chars).expand(T, -1, -1))           # (T, B, E)
        if self.plan is not None:
            pen = previous.new_zeros(B, 3) if pen is None else pen
            done = pen + previous.cumsum(0)                              # (T, B, 3)
            pen = done[-1]
            stroke = done[..., 2].round().long().clamp(max=self.max_strokes - 1)  # (T, B)
            if chars is not None:
                stroke = stroke + chars * self.max_strokes
            parts += [done[..., :2] * self.position_scale, self.plan(stroke)]
        return torch.cat(parts, -1), pen                                 # (T, B, I)

    def _run(self, x: Tensor, state: list | None, lengths: Tensor | None
             ) -> tuple[Tensor, list]:
        """x (T, B, I) -> all layers' outputs (T, B, N*H) and each layer's final state."""
        state = state or [None] * len(self.layers)
        outs, new_state, below = [], [], None
        for layer, s in zip(self.layers, state, strict=True):
            inp = x if below is None else torch.cat([x, below], -1)  # (T, B, I [+ H])
            out, s = layer(inp, s, lengths=lengths)                   # (T, B, H)
            below = self.drop(out)
            outs.append(below)
            new_state.append(s)
        return torch.cat(outs, -1), new_state                         # (T, B, N*H)

    def forward(self, points: Tensor, chars: Tensor | None = None,
                lengths: Tensor | None = None) -> MixtureParams:
        """Teacher forcing: the distribution of point t given points < t, over (T, B).
        The input is ``points`` shifted right by one behind a zero start point (as in
        ``models.music``'s ``contexts``); steps at or past ``lengths`` are padding."""
        self._check(points, chars)
        start = points.new_zeros(1, *points.shape[1:])
        previous = torch.cat([start, points[:-1]])                    # (T, B, 3)
        if lengths is not None:
            lengths = lengths.to(points.device)
        x, _ = self._inputs(previous, chars, None)
        h, _ = self._run(x, None, lengths)                            # (T, B, N*H)
        return self.head(h)

    def step(self, previous: Tensor, chars: Tensor | None = None, state: tuple | None = None,
             bias: float = 0.0) -> tuple[MixtureParams, tuple]:
        """One step with carried state: the previous point (B, 3) (zeros at the start of a
        drawing, with ``state=None``) -> the next point's distribution over (B,), and the
        state after reading ``previous`` (the layers' states and where the pen is)."""
        layers, pen = state if state is not None else (None, None)
        x, pen = self._inputs(previous.unsqueeze(0), chars, pen)
        h, layers = self._run(x, layers, None)                        # h: (1, B, N*H)
        return self.head(h[0], bias), (layers, pen)

    # ---- likelihood --------------------------------------------------------------------------

    def point_nll(self, points: Tensor, chars: Tensor | None = None,
                  lengths: Tensor | None = None) -> Tensor:
        """-log p(point_t | points_<t, char) (T, B) in nats, including the stop channel
        (1 at each drawing's last point); 0 at padded steps."""
        T, B = points.shape[:2]
        params = self(points, chars, lengths)
        lengths = (torch.full((B,), T, device=points.device) if lengths is None
                   else lengths.to(points.device))
        steps = torch.arange(T, device=points.device)[:, None]           # (T, 1)
        stop = (steps == lengths[None, :] - 1).to(points.dtype)          # (T, B)
        mask = length_mask(lengths, T).T                                  # (T, B)
        target = torch.cat([points, stop.unsqueeze(-1)], -1)             # (T, B, 4)
        out = points.new_zeros(T, B)
        out[mask] = mixture_nll(params.index(mask), target[mask])
        return out

    def nll(self, points: Tensor, chars: Tensor | None = None,
            lengths: Tensor | None = None) -> tuple[Tensor, int]:
        """Summed negative log-likelihood over the valid points and their count; the
        benchmark figure is the sum over a set divided by its count (nats per point)."""
        count = points.size(0) * points.size(1) if lengths is None else int(lengths.sum())
        return self.point_nll(points, chars, lengths).sum(), count

    # ---- sampling ----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, chars: Tensor | None, max_points: int = 400, bias: float = 0.0,
                 temperature: float = 1.0, seed: int | None = None, batch: int = 1,
                 strokes: Tensor | None = None) -> list[Tensor]:
        """One drawing per character of ``chars`` (B,) (``batch`` drawings when the model is
        unconditional and chars is None): a list of (T_i, 3) (dx, dy, pen) tensors.

        Points are sampled one at a time (``sample_point``) and fed back; a drawing ends at
        the first point whose stop bit fires together with a pen lift, or after
        ``max_points``. Its last point gets pen = 1 so that, as in the data, every stroke is
        terminated. ``strokes`` (B,), the stroke count of each requested character, ends a
        drawing instead when its pen lifts for the last of them (the plan is then used up,
        as Graves' window ends a line past its last letter), and only then: a stop bit
        drawn at an earlier lift would leave the character without its last strokes.
        ``bias`` (Graves eqs. 61-62)
        and ``temperature`` sharpen or flatten the mixture; the same ``seed`` gives the same
        drawings. Runs in eval mode (no dropout), restoring the caller's mode after.
        """
        if max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        B = batch if chars is None else len(chars)
        self._check_chars(chars, B)
        weight = next(self.parameters())
        gen = torch.Generator(device=weight.device)
        if seed is None:
            gen.seed()                       # non-deterministic, leaves torch's global RNG
        else:
            gen.manual_seed(seed)
        if chars is not None:
            chars = chars.to(weight.device)
        was_training = self.training
        self.eval()
        try:
            previous = weight.new_zeros(B, 3)                            # (B, 3) start point
            state, points = None, []
            length = torch.full((B,), max_points, dtype=torch.long)
            lifts = torch.zeros(B, dtype=torch.long)                     # strokes finished
            if strokes is not None and strokes.shape != (B,):
                raise ValueError(f"expected strokes ({B},), got {tuple(strokes.shape)}")
            for t in range(max_points):
                params, state = self.step(previous, chars, state, bias)
                x = sample_point(params, gen, temperature)               # (B, 4)
                points.append(x[:, :3])
                # A drawing ends only where the pen lifts (as in the data, whose last
                # point always has pen = 1): a stop bit fired mid-stroke, a small chance
                # per point but likely over ~125 points, would cut a character short.
                lifted = (x[:, 2] > 0.5).cpu()
                lifts += lifted.long()
                done = (x[:, 3] > 0.5).cpu() if strokes is None else lifts >= strokes.cpu()
                fired = done & lifted & (length == max_points)
                length[fired] = t + 1
                if (length <= t + 1).all():
                    break
                previous = x[:, :3]
        finally:
            self.train(was_training)
        drawn = torch.stack(points)                                      # (T, B, 3)
        out = []
        for b, n in enumerate(length.tolist()):
            d = drawn[:n, b].clone()                                     # (T_b, 3)
            d[-1, 2] = 1.0
            out.append(d)
        return out


def writer_from_spec(m, spec: dict) -> StrokeWriter:
    """The StrokeWriter a checkpoint's ``writer`` metadata and model config describe:
    layers from the config, the character set (``num_chars``, None = unconditional) and
    mixture size from the spec; ``embed_size`` is the character embedding's width,
    ``window`` > 0 the feed-forward ablation. Runs
    made before the stroke plan have no ``max_strokes`` in their spec (0: no plan)."""
    return StrokeWriter(spec["num_chars"], m.cell, m.hidden_size, m.num_layers, m.dropout,
                        spec["components"], m.embed_size, m.backend,
                        spec.get("max_strokes", 0), spec["scale"], m.window)

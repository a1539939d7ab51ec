"""Connectionist temporal classification (Graves et al. 2006): an acoustic model, its loss,
and the two decoders (best path and prefix beam search).

    features (B, T, F) --[stack k frames]--> (B, T', k*F) --RNN stack, masked by lengths-->
        (B, T', D*H) --Linear--> logits (B, T', V+1) --log_softmax--> log_probs

Label convention: the model has vocab_size + 1 outputs; index 0 is the CTC blank and labels
are 1..vocab_size, so a recipe's label ids start at 1 (``BLANK`` below). CTC sums over
every alignment pi of length T' that collapses to the labelling y (merge repeats, then
drop blanks; B in Graves et al. sec. 3.2):

    p(y | x) = sum_{pi in B^-1(y)} prod_t p(pi_t | x, t)

Batch-first throughout, as the loaders' ``collate`` produces. Decoders take log-probs, so
they work on any model's outputs, not only ``CTCModel``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.language import make_recurrent
from rnnkit.models.sequence import length_mask

BLANK = 0  # the blank is output 0; labels are 1..vocab_size

LanguageModel = Callable[[tuple[int, ...], int], float]  # (prefix, next label) -> log p


@dataclass(frozen=True)
class CTCStreamState:
    """Where ``CTCModel.stream_step`` left off: ``hx``, the recurrent state as the model's
    ``rnn`` returns and accepts it (h (L, 1, H), or (h, c) for an LSTM; None: zeros), and
    ``leftover`` (r, F), the last r < k feature frames, not yet a full stack of k."""

    hx: Tensor | tuple[Tensor, ...] | None = None
    leftover: Tensor | None = None


class CTCModel(nn.Module):
    """Features -> per-frame log-probabilities over blank + vocab_size labels.

    Args:
        num_features: F, the feature size per frame (e.g. 40 log-mel bands).
        vocab_size: number of labels, blank excluded (outputs: vocab_size + 1).
        cell, hidden_size, num_layers, bidirectional, dropout, backend: the recurrent stack
            (``make_recurrent``; dropout between layers and before the output layer).
            Bidirectional by default: CTC emits a label at one frame, and reading the whole
            utterance lets it emit where the evidence is (Graves et al. 2006 sec. 5.1).
        subsample: k, stack k consecutive frames into one (T' = ceil(T / k)); k = 3 on
            10 ms frames runs the RNN k times fewer steps (Sak et al. 2015) and still leaves
            more frames than labels for characters. 1: off.

    Inputs: features (B, T, F) float, lengths (B,) int64 or None (all T).
    Outputs: log_probs (B, T', V+1), out_lengths (B,) = ceil(lengths / k); frames at or past
    a length carry values that ``ctc_loss`` and the decoders ignore.
    """

    def __init__(self, num_features: int, vocab_size: int, cell: str = "lstm",
                 hidden_size: int = 128, num_layers: int = 2, bidirectional: bool = True,
                 dropout: float = 0.0, backend: str = "auto", subsample: int = 1):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1 (blank excluded), got {vocab_size}")
        if subsample < 1:
            raise ValueError(f"subsample must be >= 1, got {subsample}")
        self.num_features, self.vocab_size, self.subsample = num_features, vocab_size, subsample
        self.rnn = make_recurrent(cell, subsample * num_features, hidden_size, num_layers,
                                  dropout, backend, bidirectional=bidirectional,
                                  batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, vocab_size + 1)

    def stack_frames(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F) -> (B, ceil(T/k), k*F): frame j holds frames jk..jk+k-1 side by side.
        Frames past each length are zeroed first, so the last (partial) stacked frame of an
        utterance is the same whatever it is batched with; out lengths = ceil(lengths / k)."""
        k = self.subsample
        B, T, Fdim = x.shape
        x = x * length_mask(lengths.to(x.device), T).unsqueeze(-1).to(x.dtype)  # (B, T, F)
        if k == 1:
            return x, lengths
        x = F.pad(x, (0, 0, 0, -T % k))                  # (B, k*T', F), T' = ceil(T/k)
        x = x.reshape(B, -1, k * Fdim)                   # (B, T', k*F)
        return x, (lengths + k - 1) // k                 # ceil(lengths / k)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if features.dim() != 3 or features.shape[-1] != self.num_features:
            raise ValueError(f"features must be (B, T, {self.num_features}), got "
                             f"{tuple(features.shape)}")
        B, T = features.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must be ({B},), got {tuple(lengths.shape)}")
        x, out_lengths = self.stack_frames(features, lengths.long())   # (B, T', k*F)
        out, _ = self.rnn(x, lengths=out_lengths.cpu())                # (B, T', D*H)
        logits = self.head(self.drop(out))                             # (B, T', V+1)
        return logits.log_softmax(-1), out_lengths

    # ---- streaming: features in chunks, log-probs as soon as they are final -----------------
    #
    # A unidirectional model's output at stacked frame j depends on frames 0..jk+k-1 only, so
    # reading an utterance in chunks (carrying the recurrent state and the frames of a partial
    # stack) gives the whole utterance's outputs: the concatenated stream_step outputs plus
    # stream_finish's equal model(features)[0][0]. The caller puts the model in eval() (no
    # dropout); gradients are off.

    @torch.no_grad()
    def stream_step(self, features: Tensor, state: CTCStreamState | None = None
                    ) -> tuple[Tensor, CTCStreamState]:
        """Read the next chunk of one utterance: features (t, F) or (1, t, F), t >= 0, and
        the state the previous call returned (None: the utterance starts). Returns the
        log-probs (t', V+1) of the stacked frames completed by this chunk, t' = (r + t) // k
        with r leftover frames, and the new state (the one passed in is not changed)."""
        self._check_streamable()
        if features.dim() == 3 and features.shape[0] == 1:
            features = features[0]
        if features.dim() != 2 or features.shape[-1] != self.num_features:
            raise ValueError(f"features must be (t, {self.num_features}) or "
                             f"(1, t, {self.num_features}), got {tuple(features.shape)}")
        state = state or CTCStreamState()
        x = features if state.leftover is None else torch.cat([state.leftover, features])
        k = self.subsample
        n = x.shape[0] // k * k                                  # frames in full stacks
        stacked = x[:n].reshape(n // k, k * self.num_features)   # (n/k, k*F)
        log_probs, hx = self._stream_run(stacked, state.hx)      # (n/k, V+1)
        return log_probs, CTCStreamState(hx, x[n:])

    @torch.no_grad()
    def stream_finish(self, state: CTCStreamState | None) -> Tensor:
        """End the utterance: the log-probs (0 or 1, V+1) of the last, partial stack of
        frames, zero-padded to k frames as ``stack_frames`` pads the whole utterance."""
        self._check_streamable()
        if state is None or state.leftover is None or state.leftover.shape[0] == 0:
            return self.head.weight.new_zeros((0, self.vocab_size + 1))
        r, k = state.leftover.shape[0], self.subsample
        x = F.pad(state.leftover, (0, 0, 0, k - r)).reshape(1, -1)  # (1, k*F)
        return self._stream_run(x, state.hx)[0]

    def _check_streamable(self) -> None:
        if self.rnn.bidirectional:
            raise ValueError("streaming needs a unidirectional model (bidirectional=False)")
        if self.training:
            raise ValueError("streaming runs the model in eval mode: call model.eval() first")

    def _stream_run(self, x: Tensor, hx) -> tuple[Tensor, object]:
        """Stacked frames x (t', k*F) from state hx -> log-probs (t', V+1) and the state."""
        if x.shape[0] == 0:  # the layers refuse zero steps; the state stays as it is
            return self.head.weight.new_zeros((0, self.vocab_size + 1)), hx
        out, hx = self.rnn(x.unsqueeze(0), hx)                        # (1, t', H)
        return self.head(self.drop(out[0])).log_softmax(-1), hx       # (t', V+1)


def ctc_model_from_spec(m, spec: dict) -> CTCModel:
    """The CTCModel a checkpoint's ``recogniser`` metadata and model config describe: the
    recurrent stack and frame stacking from the config, the feature and label counts
    (``num_features``, ``vocab_size``, blank excluded) from the spec."""
    return CTCModel(spec["num_features"], spec["vocab_size"], m.cell, m.hidden_size,
                    m.num_layers, m.bidirectional, m.dropout, m.backend, m.subsample)


def ctc_loss(log_probs: Tensor, out_lengths: Tensor, targets: Tensor,
             target_lengths: Tensor) -> Tensor:
    """Mean over the batch of -log p(y_b | x_b) / |y_b| (torch's reduction="mean"): dividing
    by the transcript length keeps long utterances from dominating the gradient.

    log_probs (B, T, V+1) with the blank at 0, out_lengths (B,), targets (B, U) padded label
    ids in 1..V, target_lengths (B,). ``zero_infinity``: an utterance with fewer frames than
    its transcript needs (U plus one per repeated pair) has no alignment, p = 0 and an
    infinite loss whose gradient is NaN; it is counted as 0 instead of poisoning the batch
    (subsampling too much makes such utterances).
    """
    per_utt = F.ctc_loss(log_probs.transpose(0, 1),            # (T, B, V+1), torch's layout
                         targets, out_lengths, target_lengths, blank=BLANK,
                         reduction="none", zero_infinity=True)  # (B,)
    return (per_utt / target_lengths.to(per_utt.dtype).clamp_min(1)).mean()


def collapse(path: list[int]) -> list[int]:
    """B in Graves et al. 2006: merge repeated labels, then drop blanks."""
    return [p for i, p in enumerate(path) if p != BLANK and (i == 0 or p != path[i - 1])]


@torch.no_grad()
def forced_align(log_probs: Tensor, targets: list[int]) -> list[int]:
    """Viterbi alignment (the most likely CTC path that spells ``targets``): for each target
    label, the frame where that path first emits it. log_probs (T, V+1) of one utterance;
    ValueError when T frames cannot hold the labels (a repeat needs a blank between).

    States: blank, y_1, blank, y_2, ..., y_L, blank (s = 0..2L); a path stays, moves one
    state on, or skips a blank between two different labels (Graves et al. 2006 sec. 4.1),
    and ends on y_L or the last blank."""
    T, L = log_probs.shape[0], len(targets)
    repeats = sum(a == b for a, b in zip(targets, targets[1:], strict=False))
    if T < L + repeats:
        raise ValueError(f"{T} frames cannot hold {L} labels with {repeats} repeats")
    ext = torch.full((2 * L + 1,), BLANK, dtype=torch.long)
    ext[1::2] = torch.tensor(targets, dtype=torch.long)
    lp = log_probs.double()[:, ext]                                     # (T, S)
    S = len(ext)
    can_skip = torch.zeros(S, dtype=torch.bool)
    can_skip[3::2] = ext[3::2] != ext[1:-2:2]                          # y_k != y_(k-1)
    none = torch.tensor([-math.inf], dtype=torch.double)
    score = torch.full((S,), -math.inf, dtype=torch.double)
    score[:2] = lp[0, :2]
    back = torch.zeros(T, S, dtype=torch.long)                         # states moved on
    for t in range(1, T):
        one = torch.cat([none, score[:-1]])
        two = torch.cat([none, none, score[:-2]]).masked_fill(~can_skip, -math.inf)
        best, back[t] = torch.stack([score, one, two]).max(0)
        score = best + lp[t]
    s = S - 1 if L == 0 or score[S - 1] >= score[S - 2] else S - 2
    states = [0] * T
    for t in range(T - 1, 0, -1):
        states[t] = s
        s -= int(back[t, s])
    states[0] = s
    first: dict[int, int] = {}
    for t, st in enumerate(states):
        if st % 2:
            first.setdefault(st // 2, t)
    return [first[k] for k in range(L)]


@torch.no_grad()
def greedy_ctc_decode(log_probs: Tensor, lengths: Tensor | None = None) -> list[list[int]]:
    """Best-path decoding (Graves et al. 2006 sec. 3.2): the most likely output at every frame,
    collapsed. log_probs (B, T, V+1), lengths (B,) (None: all T) -> B label lists. Frames at
    or past a length are ignored. Fast, but the best path need not give the most probable
    labelling (that sums over all its paths): ``prefix_beam_search`` does better."""
    B, T = log_probs.shape[:2]
    best = log_probs.argmax(-1).tolist()                       # (B, T)
    lens = [T] * B if lengths is None else [int(n) for n in lengths]
    return [collapse(best[b][:lens[b]]) for b in range(B)]


class GreedyStream:
    """Best-path decoding of log-probs that arrive in chunks: the labels pushed out over all
    chunks equal ``collapse`` of the whole utterance's per-frame argmax (what
    ``greedy_ctc_decode`` returns). A label is final at the first frame of its run, so it
    is returned at once; the last frame's argmax is carried so that a run spanning a chunk
    boundary is merged."""

    def __init__(self):
        self.last = BLANK  # argmax of the previous frame; blank before the first

    def push(self, log_probs: Tensor) -> list[int]:
        """log_probs (t, V+1), blank at 0 -> the labels that start in these frames."""
        if log_probs.dim() != 2:
            raise ValueError(f"log_probs must be (t, V+1), got {tuple(log_probs.shape)}")
        labels = []
        for p in log_probs.argmax(-1).tolist():                # (t,)
            if p != BLANK and p != self.last:
                labels.append(p)
            self.last = p
        return labels


def _logaddexp(a: float, b: float) -> float:
    """log(e^a + e^b) without overflow; -inf is the log of 0."""
    if a < b:
        a, b = b, a
    if b == -math.inf:
        return a
    return a + math.log1p(math.exp(b - a))


def _add(beams: dict, y: tuple[int, ...], which: int, value: float) -> None:
    """beams[y][which] += e^value in log space (which: 0 = p_b, 1 = p_nb); zeros are skipped,
    so a prefix an LM forbids never enters the beam."""
    if value > -math.inf:
        entry = beams.setdefault(y, [-math.inf, -math.inf])
        entry[which] = _logaddexp(entry[which], value)


@torch.no_grad()
def prefix_beam_search(log_probs: Tensor, beam_size: int = 8, lm: LanguageModel | None = None,
                       lm_weight: float = 0.0, length_bonus: float = 0.0
                       ) -> list[tuple[list[int], float]]:
    """CTC prefix beam search (Graves et al. 2006 sec. 3.2; Hannun et al. 2014 "First-pass
    large vocabulary continuous speech recognition using bi-directional recurrent DNNs",
    algorithm 1) over one utterance's log_probs (T, V+1), blank at 0.

    Every prefix y carries two log-probabilities over the frames read so far: p_b(y), of
    the paths that collapse to y and end in blank, and p_nb(y), of those ending in y's last
    label. Reading frame t with output probabilities p_t:

        p_b(y)      += (p_b(y) + p_nb(y)) p_t(blank)        stay, emit blank
        p_nb(y)     += p_nb(y) p_t(y_last)                  stay, repeat the last label
        p_nb(y + c) += (p_b(y) + p_nb(y)) p_t(c) w(y, c)    extend, c != y_last
        p_nb(y + c) += p_b(y) p_t(c) w(y, c)                extend, c == y_last: a repeat
                                                            is a new label only after a blank

    with w(y, c) = exp(lm_weight * lm(y, c) + length_bonus) (Hannun's alpha and beta; the
    bonus per label offsets the LM's and CTC's preference for short outputs). After each
    frame the beam_size prefixes with the largest p_b + p_nb stay. All in log space.

    Returns up to beam_size (labels, score) best first, score = log(p_b + p_nb) including
    the LM and bonus terms (with neither, log p(labels | x) when the beam holds every
    prefix). Equal scores are ordered by the labels (lexicographically), so the result is
    deterministic.
    """
    if log_probs.dim() != 2 or log_probs.shape[1] < 2:
        raise ValueError(f"log_probs must be (T, V+1) with V >= 1, got {tuple(log_probs.shape)}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    use_lm = lm is not None and lm_weight != 0.0  # 0 * lm(...) could be 0 * -inf = nan
    lp = log_probs.double().tolist()                            # (T, V+1) as floats
    V1 = len(lp[0]) if lp else log_probs.shape[1]
    neg = -math.inf
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, neg)}  # y -> (p_b, p_nb)
    lm_cache: dict[tuple[tuple[int, ...], int], float] = {}  # one LM call per (y, c)
    for frame in lp:
        nxt: dict[tuple[int, ...], list[float]] = {}            # y -> [p_b, p_nb]
        for y, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            _add(nxt, y, 0, total + frame[BLANK])
            last = y[-1] if y else None
            if last is not None:
                _add(nxt, y, 1, pnb + frame[last])
            for c in range(1, V1):
                w = length_bonus
                if use_lm:
                    if (y, c) not in lm_cache:
                        lm_cache[(y, c)] = lm_weight * lm(y, c)
                    w += lm_cache[(y, c)]
                _add(nxt, y + (c,), 1, (pb if c == last else total) + frame[c] + w)
        ranked = sorted(nxt.items(), key=lambda kv: (-_logaddexp(*kv[1]), kv[0]))
        beams = {y: (pb, pnb) for y, (pb, pnb) in ranked[:beam_size]}
    ranked = sorted(((list(y), _logaddexp(pb, pnb)) for y, (pb, pnb) in beams.items()),
                    key=lambda ys: (-ys[1], ys[0]))
    return ranked


def prefix_beam_search_batch(log_probs: Tensor, lengths: Tensor | None = None,
                             **kwargs) -> list[list[tuple[list[int], float]]]:
    """``prefix_beam_search`` on each utterance of log_probs (B, T, V+1) up to its length
    (lengths (B,), None: all T); keyword arguments as ``prefix_beam_search``."""
    B, T = log_probs.shape[:2]
    lens = [T] * B if lengths is None else [int(n) for n in lengths]
    return [prefix_beam_search(log_probs[b, :lens[b]], **kwargs) for b in range(B)]

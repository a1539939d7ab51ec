"""The one decoder for encoder-decoder models: greedy search and beam search, batched.

A model decodes through four things (``Seq2Seq`` and ``TransformerSeq2Seq`` have them; so
may a speech recogniser or a synthesiser with token outputs):

    state = model.encode(src, src_lengths)                   whatever it needs, batch B
    log_probs (N, V), state, attn (N, S) | None = model.decode_step(prev_tokens (N,), state)
    state = model.reorder_state(state, index (M,))           rows ``index`` of every batch
    model.bos_id, model.eos_id, model.pad_id                 BOS is fed first; pad and BOS
                                                             are never generated

Beam search (Sutskever et al. 2014 sec. 3.2; Wu et al. 2016 sec. 7 for the length penalty):
all B * beam_size live hypotheses go through one ``decode_step`` per step. Each step
extends every live hypothesis by every token and keeps the 2 * beam_size best candidates
(by cumulative log-probability; at one step all have the same length, so that is also the
normalised order); EOS candidates among the first beam_size are finished, the best
beam_size others stay live. A sentence is done when it has n_best finished hypotheses and
the best of them scores at least as well as the best live one, both normalised (OpenNMT's
rule; with beam_size 1 it makes beam search exactly greedy search), or at its length limit,
where the best beam_size candidates are finished as they stand. Done sentences leave the
batch (``reorder_state`` drops their rows), so they cost nothing more.

Scores: score(Y) = log p(Y | X) / lp(Y) with lp(Y) = ((5 + |Y|) / 6) ** alpha (GNMT),
alpha = length_penalty; |Y| counts the generated tokens, EOS included; alpha = 0 ranks by
raw log-probability, which favours short outputs. Ties are broken by index (lower beam, then
lower token id), so decoding is deterministic. Call ``model.eval()`` first: dropout would
make it random.

Length limits: ``max_len`` tokens per sentence (EOS included), an int for all or a (B,)
tensor per sentence; ``length_limits(src_lengths, a, b)`` gives a * S + b, the usual form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Hypothesis:
    """One output sequence. ``tokens`` exclude BOS and EOS; ``score`` is the normalised
    log-probability; ``attention`` (T, S) has one row per step (the EOS step included when
    ``finished``), None when the model gives none; ``log_prob`` is log p(tokens [+ EOS]);
    ``finished``: ended with EOS (False: cut at the length limit)."""

    tokens: list[int]
    score: float
    attention: Tensor | None = None
    log_prob: float = 0.0
    finished: bool = True


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, eq. 14)."""
    return ((5.0 + length) / 6.0) ** alpha


def length_limits(src_lengths: Tensor, a: float = 2.0, b: int = 10,
                  cap: int | None = None) -> Tensor:
    """Per-sentence limits a * S + b (at most ``cap``): (B,) int64. For translation a is
    the target/source token ratio of the language pair with a margin (2 covers most)."""
    limits = (a * src_lengths.double() + b).long().clamp_min(1)
    return limits.clamp_max(cap) if cap is not None else limits


def _limits(max_len: int | Tensor, B: int) -> list[int]:
    limits = [int(max_len)] * B if isinstance(max_len, int) else [int(x) for x in max_len]
    if len(limits) != B or min(limits, default=1) < 1:
        raise ValueError(f"max_len must be a positive int or {B} positive per-sentence "
                         f"limits, got {max_len!r}")
    return limits


def topk_stable(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest of each row of scores (B, N), best first, equal values in index order
    (torch.topk leaves ties unordered): values (B, k), indices (B, k). O(N) per row."""
    kth = torch.topk(scores, k, dim=-1).values[:, -1:]                   # (B, 1)
    above, at = scores > kth, scores == kth                              # (B, N)
    need = k - above.sum(-1, keepdim=True)                               # ties to take
    chosen = above | (at & (at.cumsum(-1) <= need))                      # exactly k per row
    index = chosen.nonzero()[:, 1].view(-1, k)                           # (B, k) ascending
    values = scores.gather(1, index)
    order = torch.sort(values, dim=-1, descending=True, stable=True).indices
    return values.gather(1, order), index.gather(1, order)


def _forbid(log_probs: Tensor, model) -> Tensor:
    """Never generate padding or BOS."""
    log_probs = log_probs.clone()
    log_probs[:, [model.pad_id, model.bos_id]] = float("-inf")
    return log_probs


def _append(history: Tensor | None, rows: Tensor | None, step: Tensor | None
            ) -> Tensor | None:
    """history (N, t, ...) of ``rows`` (M,) (None: all N), plus this step (M, ...)
    -> (M, t+1, ...); None when the model gives no such step (no attention)."""
    if step is None:
        return None
    step = step.unsqueeze(1)
    if history is None:
        return step
    return torch.cat([history if rows is None else history.index_select(0, rows), step], 1)


@torch.no_grad()
def greedy_decode(model, src: Tensor, src_lengths: Tensor, max_len: int | Tensor = 100,
                  length_penalty: float = 1.0) -> list[Hypothesis]:
    """The most likely token at every step, for each of the B sentences of src (B, S).
    ``length_penalty`` only scales the reported score (as beam search reports it)."""
    B = src.shape[0]
    limits = _limits(max_len, B)
    state = model.encode(src, src_lengths)
    active = list(range(B))                                  # sentence of each batch row
    prev = torch.full((B,), model.bos_id, dtype=torch.long, device=src.device)
    score = None                                             # (N,) cumulative log-probs
    tokens = attn_hist = None                                # (N, t), (N, t, S)
    out: list[Hypothesis | None] = [None] * B
    for t in range(1, max(limits) + 1):
        log_probs, state, attn = model.decode_step(prev, state)
        best, tok = topk_stable(_forbid(log_probs, model), 1)           # (N, 1)
        best, tok = best[:, 0], tok[:, 0]
        score = best if score is None else score + best
        tokens = _append(tokens, None, tok)                              # (N, t)
        attn_hist = _append(attn_hist, None, attn)                       # (N, t, S)
        ended = (tok == model.eos_id).tolist()
        keep = []
        for i, b in enumerate(active):
            if ended[i] or t >= limits[b]:
                seq = tokens[i, :t - 1] if ended[i] else tokens[i]
                lp = float(score[i])
                out[b] = Hypothesis(seq.tolist(), lp / length_penalty_factor(t, length_penalty),
                                    None if attn_hist is None else attn_hist[i].clone(), lp,
                                    ended[i])
            else:
                keep.append(i)
        if not keep:
            break
        index = torch.tensor(keep, device=src.device)
        state = model.reorder_state(state, index)
        active = [active[i] for i in keep]
        prev, score = tok[index], score[index]
        tokens = tokens.index_select(0, index)
        attn_hist = None if attn_hist is None else attn_hist.index_select(0, index)
    assert all(h is not None for h in out)
    return out


@torch.no_grad()
def beam_search(model, src: Tensor, src_lengths: Tensor, beam_size: int = 5,
                max_len: int | Tensor = 100, length_penalty: float = 1.0,
                n_best: int = 1) -> list[list[Hypothesis]]:
    """The n_best hypotheses of each of the B sentences of src (B, S), best first."""
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"need 1 <= n_best <= beam_size, got n_best={n_best}, "
                         f"beam_size={beam_size}")
    B, K, dev = src.shape[0], beam_size, src.device
    limits = _limits(max_len, B)
    state = model.encode(src, src_lengths)
    state = model.reorder_state(state, torch.arange(B, device=dev).repeat_interleave(K))
    active = list(range(B))                              # sentence of each group of K rows
    # (B', K) cumulative log-probs of the live hypotheses; at first only one per sentence
    # (the others -inf), so the first step does not fill the beam with copies.
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0
    prev = torch.full((B * K,), model.bos_id, dtype=torch.long, device=dev)
    tokens = attn_hist = None                            # (B'K, t), (B'K, t, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(1, max(limits) + 1):
        log_probs, state, attn = model.decode_step(prev, state)         # (B'K, V)
        Ba, V = len(active), log_probs.shape[-1]
        assert V >= 2, "beam search needs a vocabulary of at least 2 tokens"
        scores = scores.to(log_probs.dtype)
        cand = (scores.unsqueeze(-1) + _forbid(log_probs, model).view(Ba, K, V))
        top, idx = topk_stable(cand.view(Ba, K * V), 2 * K)             # (B', 2K)
        rows = torch.arange(Ba, device=dev)[:, None] * K + idx // V     # (B', 2K) row extended
        tok = idx % V
        flat_rows = rows.flatten()
        tokens = _append(tokens, flat_rows, tok.flatten()).view(Ba, 2 * K, t)
        attn_hist = _append(attn_hist, flat_rows,
                            None if attn is None else attn.index_select(0, flat_rows))
        is_eos = tok == model.eos_id                                     # (B', 2K)
        # live: the first K candidates that are not EOS (there are K: at most one EOS per beam)
        live = (~is_eos & ((~is_eos).cumsum(-1) <= K)).nonzero()[:, 1].view(Ba, K)
        live_scores = top.gather(1, live)                                # (B', K), best first
        top_l, is_eos_l = top.tolist(), is_eos.tolist()
        keep = []
        for i, b in enumerate(active):
            at_limit = t >= limits[b]
            for j in range(K):  # EOS in the first K finishes; at the limit, all K do
                if (is_eos_l[i][j] or at_limit) and top_l[i][j] > float("-inf"):
                    seq = tokens[i, j, :t - 1] if is_eos_l[i][j] else tokens[i, j]
                    finished[b].append(Hypothesis(
                        seq.tolist(), top_l[i][j] / length_penalty_factor(t, length_penalty),
                        None if attn_hist is None else attn_hist[i * 2 * K + j].clone(),
                        top_l[i][j], is_eos_l[i][j]))
            best_live = float(live_scores[i, 0]) / length_penalty_factor(t, length_penalty)
            done = at_limit or (len(finished[b]) >= n_best
                                and max(h.score for h in finished[b]) >= best_live)
            if not done:
                keep.append(i)
        if not keep:
            break
        keep_t = torch.tensor(keep, device=dev)
        pick = live.index_select(0, keep_t)                              # (B'', K)
        cand_index = (keep_t[:, None] * 2 * K + pick).flatten()          # into (B' * 2K)
        state = model.reorder_state(state, rows.flatten().index_select(0, cand_index))
        tokens = tokens.view(Ba * 2 * K, t).index_select(0, cand_index)  # (B''K, t)
        attn_hist = None if attn_hist is None else attn_hist.index_select(0, cand_index)
        prev = tokens[:, -1]
        scores = live_scores.index_select(0, keep_t)
        active = [active[i] for i in keep]
    # sorted() is stable: equal scores keep the order in which they finished
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]

"""Greedy and beam search: hand-built scoring models whose best outputs are known, beam 1
equal to greedy for every model kind, n-best order, the length penalty, length limits,
batching and padding, and the attention kept per hypothesis."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.models.attention import ATTENTIONS
from rnnkit.models.decoding import (
    beam_search,
    greedy_decode,
    length_limits,
    length_penalty_factor,
    topk_stable,
)
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.models.transformer import TransformerSeq2Seq

pytestmark = pytest.mark.usefixtures("torch_globals")

PAD, BOS, EOS, A, B = range(5)


class TableModel:
    """A fake model whose next-token distribution depends on the previous token only:
    ``table[prev] = {token: probability}`` (unlisted previous tokens: EOS for sure). It keeps
    no state but a per-row sentence id, and records the batch size of every step."""

    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, table: dict[int, dict[int, float]]):
        self.log_probs = torch.full((5, 5), float("-inf"))
        for prev in range(5):
            for tok, p in table.get(prev, {EOS: 1.0}).items():
                self.log_probs[prev, tok] = math.log(p)
        self.calls: list[int] = []

    def encode(self, src, src_lengths):
        return torch.arange(src.shape[0])  # (B,) which sentence each row decodes

    def decode_step(self, prev_tokens, state):
        self.calls.append(len(prev_tokens))
        return self.log_probs[prev_tokens], state, None

    def reorder_state(self, state, index):
        return state.index_select(0, index)


# Greedy takes A (0.6) and then EOS (0.4): p = 0.24; B then EOS has p = 0.39 * 0.9 = 0.351.
GREEDY_MISSES = {BOS: {A: 0.6, B: 0.39, EOS: 0.01}, A: {EOS: 0.4, A: 0.3, B: 0.3},
                 B: {EOS: 0.9, A: 0.05, B: 0.05}}
# [A] has p = 0.9 * 0.45 = 0.405 over 2 steps, [A, B] p = 0.9 * 0.55 * 0.78 = 0.386 over 3:
# raw log-probability prefers [A], GNMT's length penalty with alpha = 1 prefers [A, B].
LONGER_WINS_WITH_PENALTY = {BOS: {A: 0.9, EOS: 0.1}, A: {B: 0.55, EOS: 0.45},
                            B: {EOS: 0.78, B: 0.22}}
NEVER_ENDS = {BOS: {A: 1.0}, A: {A: 0.9, B: 0.1}, B: {A: 1.0}}


def src_batch(n: int = 1):
    return torch.full((n, 3), 5), torch.full((n,), 3)


def test_beam_finds_what_greedy_misses():
    model = TableModel(GREEDY_MISSES)
    src, lengths = src_batch()
    (g,) = greedy_decode(model, src, lengths, 10, length_penalty=0.0)
    assert g.tokens == [A] and g.finished
    assert g.score == pytest.approx(math.log(0.6 * 0.4), abs=1e-6)
    (b,) = beam_search(model, src, lengths, beam_size=2, max_len=10, length_penalty=0.0)
    assert [h.tokens for h in b] == [[B]]
    assert b[0].score == pytest.approx(math.log(0.39 * 0.9), abs=1e-6)
    assert b[0].log_prob == b[0].score and b[0].attention is None


def test_n_best_sorted_by_score():
    model = TableModel(GREEDY_MISSES)
    src, lengths = src_batch()
    (hyps,) = beam_search(model, src, lengths, beam_size=3, max_len=10, length_penalty=0.0,
                          n_best=3)
    assert [h.tokens for h in hyps] == [[B], [A], []]
    assert [h.score for h in hyps] == pytest.approx(
        [math.log(0.351), math.log(0.24), math.log(0.01)], abs=1e-6)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, src, lengths, beam_size=2, n_best=3)


def test_length_penalty_favours_longer_outputs():
    model = TableModel(LONGER_WINS_WITH_PENALTY)
    src, lengths = src_batch()
    (raw,) = beam_search(model, src, lengths, beam_size=2, length_penalty=0.0)
    assert raw[0].tokens == [A]
    (gnmt,) = beam_search(model, src, lengths, beam_size=2, length_penalty=1.0)
    assert gnmt[0].tokens == [A, B]
    lp = length_penalty_factor(3, 1.0)  # three steps: A, B, EOS
    assert lp == pytest.approx(8 / 6)
    assert gnmt[0].score == pytest.approx(math.log(0.9 * 0.55 * 0.78) / lp, abs=1e-6)


def test_length_limits_per_sentence():
    model = TableModel(NEVER_ENDS)
    src, lengths = src_batch(2)
    limits = torch.tensor([2, 4])
    for hyps in (greedy_decode(model, src, lengths, limits),
                 [h[0] for h in beam_search(model, src, lengths, beam_size=3, max_len=limits)]):
        assert [len(h.tokens) for h in hyps] == [2, 4]
        assert not any(h.finished for h in hyps)
    assert length_limits(torch.tensor([1, 10]), a=1.5, b=4).tolist() == [5, 19]
    assert length_limits(torch.tensor([1, 10]), a=1.5, b=4, cap=8).tolist() == [5, 8]
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, src, lengths, 0)


def test_one_decode_step_per_step_for_all_hypotheses():
    model = TableModel(NEVER_ENDS)
    src, lengths = src_batch(3)
    beam_search(model, src, lengths, beam_size=4, max_len=5)
    assert model.calls == [3 * 4] * 5


def test_topk_stable_breaks_ties_by_index():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0, 3.0]])
    values, index = topk_stable(scores, 3)
    assert index.tolist() == [[1, 2, 4]] and values.tolist() == [[3.0, 3.0, 3.0]]
    values, index = topk_stable(scores, 6)
    assert index.tolist() == [[1, 2, 4, 5, 0, 3]]


def make_model(kind: str):
    if kind == "transformer":
        model = TransformerSeq2Seq(11, 7, d_model=8, nhead=2, dim_feedforward=16)
    else:
        model = Seq2Seq(11, 7, embed_size=6, hidden_size=8, attention=kind)
    return model.eval()


def sources():
    src = torch.randint(3, 11, (4, 6))
    lengths = torch.tensor([6, 2, 4, 1])
    src[torch.arange(6)[None, :] >= lengths[:, None]] = 0
    return src, lengths


@pytest.mark.parametrize("kind", [*ATTENTIONS, "transformer"])
def test_beam_of_one_is_greedy(kind):
    model = make_model(kind)
    src, lengths = sources()
    for alpha in (0.0, 1.0):
        greedy = greedy_decode(model, src, lengths, 8, length_penalty=alpha)
        beam = beam_search(model, src, lengths, beam_size=1, max_len=8, length_penalty=alpha)
        assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
        assert [h.score for h in greedy] == pytest.approx([b[0].score for b in beam], abs=1e-5)


@pytest.mark.parametrize("kind", ["bahdanau", "luong_dot", "transformer"])
def test_decoding_alone_equals_decoding_in_a_batch(kind):
    model = make_model(kind)
    src, lengths = sources()
    batched = beam_search(model, src, lengths, beam_size=3, max_len=6, n_best=2)
    greedy = greedy_decode(model, src, lengths, 6)
    for i, n in enumerate(lengths.tolist()):
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], beam_size=3,
                            max_len=6, n_best=2)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[i]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batched[i]],
                                                         abs=1e-5)
        (g,) = greedy_decode(model, src[i:i + 1, :n], lengths[i:i + 1], 6)
        assert g.tokens == greedy[i].tokens


def test_hypotheses_carry_their_attention():
    model = make_model("bahdanau")
    src, lengths = sources()
    limits = length_limits(lengths, a=1.0, b=2)
    for hyps in (greedy_decode(model, src, lengths, limits),
                 [h[0] for h in beam_search(model, src, lengths, beam_size=3, max_len=limits)]):
        for h, n in zip(hyps, lengths.tolist(), strict=True):
            steps = len(h.tokens) + h.finished  # the EOS step has a row too
            assert h.attention.shape == (steps, 6)
            assert (h.attention[:, n:] == 0).all()
            torch.testing.assert_close(h.attention.sum(-1), torch.ones(steps))
            assert EOS not in h.tokens and BOS not in h.tokens and PAD not in h.tokens

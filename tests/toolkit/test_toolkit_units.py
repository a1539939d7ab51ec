"""Unit tests of the pieces under the loop: stream layout, TBPTT(k1, k2) coverage,
vocabularies, sampling filters, config round trip, unigram baseline."""

from __future__ import annotations

import math
import tomllib

import pytest
import torch

from rnnkit.data.text import UNK, Vocab, detokenize, load_corpus, tokenize
from rnnkit.models.language import TokenLM
from rnnkit.models.sampling import filter_logits, sample_text
from rnnkit.train.config import ModelConfig, RunConfig, to_toml
from rnnkit.train.optim import WarmupCosine
from rnnkit.train.streams import StreamBatcher, detach_state, eval_windows


def test_streams_are_contiguous_rows_and_windows_continue_them():
    ids = torch.arange(101)
    b = StreamBatcher(ids, batch_size=4, k2=5, k1=5)
    assert b.length == 25 and b.windows_per_epoch == 5
    w1, w2 = b.next(), b.next()
    assert w1.fresh and not w2.fresh
    assert w1.x.shape == (5, 4)                                       # (k2, B) time-major
    assert w1.x[:, 1].tolist() == [25, 26, 27, 28, 29]                # row 1 = 2nd quarter
    assert torch.equal(w1.y, w1.x + 1)                                # next-token targets
    assert w2.x[0, 1] == w1.x[-1, 1] + 1                              # window 2 continues
    for _ in range(3):
        b.next()
    assert (b.epoch, b.pos) == (1, 0) and b.next().fresh              # wraps, state reset


def test_rows_split_the_global_batch_like_one_process():
    ids = torch.arange(200)
    whole = StreamBatcher(ids, 4, 6, 6).next().x
    halves = [StreamBatcher(ids, 4, 6, 6, rows=slice(r * 2, r * 2 + 2)).next().x
              for r in range(2)]
    assert torch.equal(torch.cat(halves, dim=1), whole)


def test_tbptt_k1_smaller_than_k2_predicts_each_token_once():
    """Loss is on the last k1 positions of each k2 window: targets tile the stream."""
    ids = torch.arange(1 + 2 * 40)
    k1, k2 = 3, 7
    b = StreamBatcher(ids, batch_size=2, k2=k2, k1=k1)
    seen = []
    for _ in range(b.windows_per_epoch):
        seen += b.next().y[-k1:, 0].tolist()
    assert seen == list(range(k2 - k1 + 1, k2 - k1 + 1 + len(seen)))


def test_carried_state_after_k1_steps_equals_running_k1_steps():
    torch.manual_seed(0)
    model = TokenLM(11, ModelConfig(hidden_size=8, embed_size=4))
    x = torch.randint(0, 11, (7, 3))
    _, mid = model(x, None, carry_at=3)
    _, ref = model(x[:3], None)
    for a, r in zip(mid, ref, strict=True):
        assert torch.allclose(a, r)
    assert all(not t.requires_grad for t in detach_state(mid))


def test_eval_windows_cover_the_text_without_overlap():
    ids = torch.arange(53)
    ys = torch.cat([y.t().reshape(-1) for _, y in eval_windows(ids, 4, 5)])
    assert sorted(ys.tolist()) == list(range(1, 53))


def test_char_vocab_any_script_and_unknowns():
    text = "добрый день — 你好, κόσμε!\n"
    v = Vocab.build(tokenize(text, "char"), "char")
    assert v.tokens[0] == UNK and v.decode(v.encode(list(text))) == text
    assert v.encode(["Z"]).tolist() == [0]


def test_word_vocab_limit_and_detokenize():
    toks = tokenize("the cat saw the dog.\nthe end", "word")
    assert toks == ["the", "cat", "saw", "the", "dog", ".", "\n", "the", "end"]
    assert detokenize(toks, "word") == "the cat saw the dog.\nthe end"
    v = Vocab.build(toks, "word", max_size=3)
    assert v.tokens == [UNK, "the", "\n"]  # most frequent, ties broken by token order
    assert v.encode(["cat"]).tolist() == [0]


def test_unigram_baseline_is_cross_entropy_of_smoothed_counts(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("ab" * 45 + "aaaaaaaaab")
    c = load_corpus(p, valid_fraction=0.1)
    # train: 45 a + 45 b, add-one smoothing over {<unk>, a, b} -> p(a)=p(b)=46/93
    assert c.unigram_bits() == pytest.approx(-math.log2(46 / 93))
    c.train = torch.cat([c.train, c.vocab.encode(list("aa"))])       # p(a)=48/95, p(b)=46/95
    assert c.unigram_bits(max_tokens=3) == pytest.approx(-math.log2(48 / 95))


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = lambda t: torch.isfinite(t).nonzero().flatten().tolist()  # noqa: E731
    assert kept(filter_logits(logits, 2, None)) == [0, 1]
    assert kept(filter_logits(logits, None, 0.5)) == [0]
    assert kept(filter_logits(logits, None, 0.79)) == [0, 1]
    assert kept(filter_logits(logits, None, 0.81)) == [0, 1, 2]
    assert kept(filter_logits(logits[[3, 2, 1, 0]], None, 0.79)) == [2, 3]


def test_greedy_sampling_is_deterministic_and_never_emits_unk():
    torch.manual_seed(0)
    v = Vocab.build(list("abcab\n"), "char")
    model = TokenLM(len(v), ModelConfig(hidden_size=8, embed_size=4))
    a = sample_text(model, v, prime="ab", length=30, temperature=0)
    assert a == sample_text(model, v, prime="ab", length=30, temperature=0)
    s = sample_text(model, v, length=200, temperature=5.0, seed=1)
    assert UNK not in s and len(s) == 200


def test_resolved_config_round_trips_through_toml():
    cfg = RunConfig()
    cfg.train.clip_norm, cfg.data.data, cfg.model.cell = None, 'odd "name".txt', "gru"
    back = RunConfig.from_dict(tomllib.loads(to_toml(cfg)))
    assert back.to_dict() == cfg.to_dict()


def test_warmup_cosine_shape():
    f = WarmupCosine(warmup=10, total=110, floor=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)
    assert f(500) == pytest.approx(0.1)


def test_time_clock_advances_cosine_by_elapsed_fraction():
    """schedule_clock="time": progress is the larger of step and time fractions."""
    f = WarmupCosine(warmup=0, total=1000, floor=0.0)
    assert f(10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.01)))
    f.time_fraction = 0.5
    assert f(10) == pytest.approx(0.5)         # half the time gone: half-way down the cosine
    f.time_fraction = 1.0
    assert f(10) == pytest.approx(0.0)

"""CTC: model shapes and masking, the loss against a sum over alignments and torch, a toy
task it must learn, best-path decoding, and prefix beam search against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.ctc import (
    BLANK,
    CTCModel,
    collapse,
    ctc_loss,
    forced_align,
    greedy_ctc_decode,
    prefix_beam_search,
    prefix_beam_search_batch,
)

pytestmark = pytest.mark.usefixtures("torch_globals")


def log_probs_from(probs: list[list[float]]) -> torch.Tensor:
    """Hand-made per-frame probabilities (T, V+1) -> log-probs, float64."""
    return torch.tensor(probs, dtype=torch.float64).log()


def labelling_probs(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """p(y | x) for every labelling y, by summing over all (V+1)^T alignments explicitly."""
    p = log_probs.exp().tolist()
    T, V1 = len(p), len(p[0])
    out: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V1), repeat=T):
        y = tuple(collapse(list(path)))
        out[y] = out.get(y, 0.0) + math.prod(p[t][k] for t, k in enumerate(path))
    return out


# ------------------------------------------------------------------ model


@pytest.mark.parametrize("cell, bidirectional, subsample", [
    ("lstm", True, 1), ("gru", False, 2), ("rnn_tanh", True, 3), ("lstm", False, 4)])
def test_shapes_and_lengths(cell, bidirectional, subsample):
    model = CTCModel(5, 4, cell=cell, hidden_size=6, num_layers=2,
                     bidirectional=bidirectional, subsample=subsample)
    x = torch.randn(3, 10, 5)
    log_probs, out_lengths = model(x, torch.tensor([10, 7, 1]))
    T_out = math.ceil(10 / subsample)
    assert log_probs.shape == (3, T_out, 5)  # vocab 4 + blank
    assert out_lengths.tolist() == [math.ceil(n / subsample) for n in (10, 7, 1)]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, T_out))


@pytest.mark.parametrize("subsample", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_outputs(bidirectional, subsample):
    model = CTCModel(3, 2, cell="gru", hidden_size=5, num_layers=2,
                     bidirectional=bidirectional, subsample=subsample).eval()
    short = torch.randn(1, 7, 3)  # 7: not a multiple of 3, the last stacked frame is partial
    alone, n_alone = model(short)
    batch = torch.randn(3, 11, 3)  # padding with noise: must be ignored
    batch[1, :7] = short[0]
    together, n_together = model(batch, torch.tensor([11, 7, 5]))
    assert int(n_together[1]) == int(n_alone[0]) == alone.shape[1]
    torch.testing.assert_close(together[1, :alone.shape[1]], alone[0])


def test_bad_input_is_rejected():
    model = CTCModel(3, 2, hidden_size=4)
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        model(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="subsample"):
        CTCModel(3, 2, subsample=0)


# ------------------------------------------------------------------ loss


def test_loss_is_mean_negative_log_prob_per_label():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 4, 3, dtype=torch.float64).log_softmax(-1)  # (B, T, V+1)
    targets = torch.tensor([[1, 2], [2, 0]])      # the second transcript is [2], padded
    target_lengths, out_lengths = torch.tensor([2, 1]), torch.tensor([4, 3])
    loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
    by_hand = (-math.log(labelling_probs(log_probs[0])[(1, 2)]) / 2
               - math.log(labelling_probs(log_probs[1, :3])[(2,)]) / 1) / 2
    assert float(loss) == pytest.approx(by_hand, rel=1e-9)
    torch_mean = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
    assert float(loss) == pytest.approx(float(torch_mean), rel=1e-9)


def test_impossible_utterance_counts_zero():
    log_probs = torch.randn(1, 2, 3).log_softmax(-1)
    loss = ctc_loss(log_probs, torch.tensor([2]), torch.tensor([[1, 1]]), torch.tensor([2]))
    assert float(loss) == 0.0  # "a a" needs 3 frames (a blank a); 2 have no alignment


def test_loss_decreases_on_toy_utterances():
    torch.manual_seed(0)
    transcripts = [[1, 2], [2, 3, 1], [3, 3]]
    # each label: its one-hot for two frames, then one silent frame (all-zero features)
    feats = []
    for y in transcripts:
        frames = []
        for label in y:
            frames += [F.one_hot(torch.tensor(label - 1), 3).float()] * 2 + [torch.zeros(3)]
        feats.append(torch.stack(frames))
    lengths = torch.tensor([len(f) for f in feats])
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)            # (3, 9, 3)
    targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(y) for y in transcripts],
                                              batch_first=True)              # (3, 3)
    target_lengths = torch.tensor([len(y) for y in transcripts])
    model = CTCModel(3, 3, cell="lstm", hidden_size=16, num_layers=1, bidirectional=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        log_probs, out_lengths = model(x, lengths)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    model.eval()
    log_probs, out_lengths = model(x, lengths)
    assert greedy_ctc_decode(log_probs, out_lengths) == transcripts


# ------------------------------------------------------------------ best path


def test_greedy_decode_collapses_repeats_drops_blanks_and_stops_at_length():
    # one-hot-ish frames over blank, a=1, b=2; best paths per utterance:
    paths = [[1, 1, 0, 1, 2, 2, 0],   # a a - a b b -  -> a a b
             [0, 2, 2, 2, 0, 0, 1]]   # - b b b - - a, length 5 -> b (the final a is padding)
    log_probs = F.one_hot(torch.tensor(paths), 3).double().mul(5).log_softmax(-1)
    assert greedy_ctc_decode(log_probs, torch.tensor([7, 5])) == [[1, 1, 2], [2]]
    assert greedy_ctc_decode(log_probs)[1] == [2, 1]


# ------------------------------------------------------------------ prefix beam search


def test_beam_search_equals_brute_force_with_a_wide_beam():
    torch.manual_seed(1)
    log_probs = torch.randn(4, 4, dtype=torch.float64).mul(1.5).log_softmax(-1)  # T=4, V=3
    exact = labelling_probs(log_probs)
    beams = prefix_beam_search(log_probs, beam_size=1000)
    assert {tuple(y) for y, _ in beams} == set(exact)
    for y, score in beams:
        assert math.exp(score) == pytest.approx(exact[tuple(y)], rel=1e-9, abs=1e-15)
    best = max(exact, key=exact.get)
    assert tuple(beams[0][0]) == best
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)
    # a narrow beam is an approximation (here it prunes the best labelling's prefix [2]
    # early): at most beam_size results, best first, each a lower bound on the exact mass
    narrow = prefix_beam_search(log_probs, beam_size=3)
    assert len(narrow) == 3 and narrow == sorted(narrow, key=lambda ys: -ys[1])
    for y, score in narrow:
        assert math.exp(score) <= exact[tuple(y)] * (1 + 1e-9)


def test_most_probable_labelling_beats_best_path():
    # blank 0.6, a 0.4 at both frames: the best path "- -" gives [] (0.36), but "a" has
    # three alignments, "a a", "a -", "- a": 0.16 + 0.24 + 0.24 = 0.64
    log_probs = log_probs_from([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_ctc_decode(log_probs[None]) == [[]]
    (y, score), (y2, score2) = prefix_beam_search(log_probs, beam_size=4)
    assert y == [1] and math.exp(score) == pytest.approx(0.64)
    assert y2 == [] and math.exp(score2) == pytest.approx(0.36)


def test_repeated_label_needs_a_blank_between():
    a, blank = [0.02, 0.96, 0.02], [0.96, 0.02, 0.02]
    assert prefix_beam_search(log_probs_from([a, blank, a]))[0][0] == [1, 1]
    assert prefix_beam_search(log_probs_from([a, a, a]))[0][0] == [1]
    # "a a" from three a-frames is impossible (needs a blank), so its only mass comes
    # through the blank-ish 0.02 of the middle frame
    beams = dict((tuple(y), s) for y, s in prefix_beam_search(log_probs_from([a, a, a]), 50))
    assert math.exp(beams[(1, 1)]) == pytest.approx(
        labelling_probs(log_probs_from([a, a, a]))[(1, 1)])


def test_language_model_changes_the_result():
    log_probs = log_probs_from([[0.1, 0.6, 0.3], [0.8, 0.1, 0.1], [0.1, 0.3, 0.6]])
    assert prefix_beam_search(log_probs)[0][0] == [1, 2]

    def no_a(prefix: tuple[int, ...], label: int) -> float:  # forbids label 1 ("a")
        return -math.inf if label == 1 else 0.0

    beams = prefix_beam_search(log_probs, lm=no_a, lm_weight=1.0)
    assert beams[0][0] == [2, 2] and all(1 not in y for y, _ in beams)
    # weight 0 leaves the LM out entirely (no 0 * -inf)
    assert prefix_beam_search(log_probs, lm=no_a, lm_weight=0.0) == prefix_beam_search(log_probs)
    # a length bonus shifts scores by bonus * |y|, a large one prefers longer outputs
    long_ = prefix_beam_search(log_probs, length_bonus=5.0)[0][0]
    assert len(long_) == 3


def test_beam_search_is_deterministic_and_breaks_ties_by_labels():
    log_probs = torch.full((3, 4), 0.25, dtype=torch.float64).log()  # all outputs tie
    first = prefix_beam_search(log_probs, beam_size=5)
    assert first == prefix_beam_search(log_probs.clone(), beam_size=5)
    # among equal scores, the lexicographically smaller labelling comes first
    for (y1, s1), (y2, s2) in itertools.pairwise(first):
        assert s1 > s2 or (s1 == s2 and y1 < y2)


def test_batch_search_respects_lengths():
    torch.manual_seed(2)
    log_probs = torch.randn(2, 5, 3, dtype=torch.float64).log_softmax(-1)
    out = prefix_beam_search_batch(log_probs, torch.tensor([5, 3]), beam_size=4)
    assert out[0] == prefix_beam_search(log_probs[0], beam_size=4)
    assert out[1] == prefix_beam_search(log_probs[1, :3], beam_size=4)
    assert BLANK == 0


def test_forced_align_by_hand():
    # blank, a, a, blank, b, b: "a" starts at frame 1, "b" at frame 4
    lp = log_probs_from([[.8, .1, .1], [.1, .8, .1], [.2, .7, .1], [.7, .2, .1],
                         [.1, .1, .8], [.2, .1, .7]])
    assert forced_align(lp, [1, 2]) == [1, 4]
    # "a a" everywhere likely: the path must put a blank between the two a's
    lp = log_probs_from([[.1, .9], [.3, .7], [.1, .9]])
    assert forced_align(lp, [1, 1]) == [0, 2]
    with pytest.raises(ValueError, match="cannot hold 2 labels with 1 repeats"):
        forced_align(lp[:1], [1, 1])


def test_forced_align_is_the_best_path_by_brute_force():
    g = torch.Generator().manual_seed(0)
    for targets in ([1], [1, 2], [2, 2], [1, 2, 1]):
        lp = torch.randn(6, 3, generator=g, dtype=torch.float64).log_softmax(-1)
        best, best_path = -math.inf, None
        for path in itertools.product(range(3), repeat=6):
            if collapse(list(path)) == targets:
                score = sum(float(lp[t, p]) for t, p in enumerate(path))
                if score > best:
                    best, best_path = score, path
        starts = [t for t, p in enumerate(best_path)  # where each of its labels begins
                  if p != BLANK and (t == 0 or p != best_path[t - 1])]
        assert forced_align(lp, targets) == starts, targets

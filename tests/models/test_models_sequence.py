"""Sequence classifier / tagger: shapes, masking by lengths, pooling, a toy task it must
learn, and the classification metrics against scikit-learn."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.sequences import collate
from rnnkit.models.language import CELLS
from rnnkit.models.sequence import (
    POOLINGS,
    SequenceClassifier,
    SequenceTagger,
    length_mask,
    tagging_loss,
    valid_steps,
)
from rnnkit.train import scoring as metrics

pytestmark = pytest.mark.usefixtures("torch_globals")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_predictions(cell, pooling, bidirectional):
    extra = {"pool_steps": (1, 3)} if pooling == "steps" else {}
    if pooling == "attention":
        extra = {"position_bias": 5}  # longer than the short sequence, shorter than T
    model = SequenceClassifier(3, vocab_size=5, pooling=pooling, cell=cell, hidden_size=8,
                               embed_size=4, num_layers=2, bidirectional=bidirectional,
                               **extra).eval()
    short = torch.randint(0, 5, (1, 4))
    alone = model(short)  # (1, 3), no padding
    batch = torch.randint(0, 5, (3, 9))
    batch[1, :4] = short[0]
    batch[1, 4:] = 0  # padding: any value must be ignored
    lengths = torch.tensor([9, 4, 6])
    together = model(batch, lengths)
    assert together.shape == (3, 3)
    torch.testing.assert_close(together[1:2], alone, rtol=1e-5, atol=1e-6)
    batch[1, 4:] = 3  # different padding, same prediction
    torch.testing.assert_close(model(batch, lengths)[1:2], alone, rtol=1e-5, atol=1e-6)


def test_features_get_no_gradient_past_their_length():
    model = SequenceClassifier(2, num_features=3, pooling="mean", hidden_size=6,
                               embed_size=0, bidirectional=True)
    x = torch.randn(2, 7, 3, requires_grad=True)
    model(x, torch.tensor([7, 3])).sum().backward()
    assert x.grad[1, 3:].abs().sum() == 0
    assert x.grad[1, :3].abs().sum() > 0 and x.grad[0].abs().sum() > 0


def test_last_pooling_is_the_state_at_each_length():
    model = SequenceClassifier(2, num_features=2, pooling="last", hidden_size=5,
                               bidirectional=False, cell="gru").eval()
    x, lengths = torch.randn(3, 6, 2), torch.tensor([6, 2, 4])
    out, final, _ = model.encoder(x, lengths)
    torch.testing.assert_close(final, out[torch.arange(3), lengths - 1])
    assert out[1, 2:].abs().sum() == 0  # zero output past the length


def test_steps_pooling_reads_the_given_steps():
    model = SequenceClassifier(3, vocab_size=5, pooling="steps", pool_steps=(2, 0),
                               hidden_size=4, bidirectional=True).eval()
    x, lengths = torch.randint(0, 5, (2, 6)), torch.tensor([6, 3])
    out, _, _ = model.encoder(x, lengths)  # (2, 6, 8)
    torch.testing.assert_close(model.pool(out, None, lengths),
                               torch.cat([out[:, 2], out[:, 0]], 1))
    assert model(x, lengths).shape == (2, 3) and model.head.in_features == 16
    with pytest.raises(ValueError, match="reads step 2, but a sequence has only 2 steps"):
        model(x, torch.tensor([6, 2]))


def test_attention_weights_live_on_valid_steps():
    model = SequenceClassifier(4, vocab_size=6, pooling="attention", hidden_size=8)
    model(torch.randint(0, 6, (2, 5)), torch.tensor([5, 2]))
    w = model.last_attention  # (B, T)
    assert w.shape == (2, 5) and w[1, 2:].sum() == 0
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    biased = SequenceClassifier(4, vocab_size=6, pooling="attention", position_bias=3,
                                hidden_size=8)
    biased(torch.randint(0, 6, (2, 5)), torch.tensor([5, 2])).sum().backward()
    assert biased.attention.position_bias.grad.abs().sum() > 0  # learned, steps 0..2


def test_tagger_and_its_loss_ignore_padding():
    tagger = SequenceTagger(3, num_features=4, hidden_size=8)
    x, lengths = torch.randn(2, 5, 4), torch.tensor([5, 3])
    logits = tagger(x, lengths)
    assert logits.shape == (2, 5, 3)
    tags = torch.randint(0, 3, (2, 5))
    loss = tagging_loss(logits, tags, lengths)
    tags[1, 3:] = (tags[1, 3:] + 1) % 3  # change only padded targets
    assert tagging_loss(logits, tags, lengths) == loss
    assert valid_steps(logits, lengths).shape == (8, 3)
    assert length_mask(lengths, 5).sum() == 8


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier(2)
    with pytest.raises(ValueError, match=r"unknown pooling 'sum' \(choose from: last, mean"):
        SequenceClassifier(2, vocab_size=4, pooling="sum")
    with pytest.raises(ValueError, match=r"unknown cell 'transformer' \(choose from: lstm, gru"):
        SequenceClassifier(2, vocab_size=4, cell="transformer")
    with pytest.raises(ValueError, match="pool_steps .* goes with, and only with"):
        SequenceClassifier(2, vocab_size=4, pooling="steps")
    with pytest.raises(ValueError, match="pool_steps .* goes with, and only with"):
        SequenceClassifier(2, vocab_size=4, pool_steps=(3,))
    with pytest.raises(ValueError, match="position_bias applies to pooling='attention'"):
        SequenceClassifier(2, vocab_size=4, position_bias=60)
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(1, vocab_size=4)
    model = SequenceClassifier(2, vocab_size=4, hidden_size=4)
    with pytest.raises(ValueError, match=r"token input must be \(B, T\) int64"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"lengths must be \(2,\)"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3]))
    with pytest.raises(ValueError, match=r"feature input must be \(B, T, 3\)"):
        SequenceClassifier(2, num_features=3, hidden_size=4)(torch.randn(2, 5, 4))


def test_learns_a_toy_motif_task():
    # Label = whether token 3 occurs: needs memory over a variable-length sequence.
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, 3, (int(n),), generator=g)
            for n in torch.randint(3, 12, (256,), generator=g)]
    labels = torch.randint(0, 2, (256,), generator=g)
    for s, y in zip(seqs, labels, strict=True):
        if y:
            s[int(torch.randint(0, len(s), (1,), generator=g))] = 3
    x, lengths, y = collate(list(zip(seqs, labels, strict=True)))
    model = SequenceClassifier(2, vocab_size=4, pooling="max", hidden_size=16, embed_size=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        loss.backward()
        opt.step()
    acc = (model.eval()(x, lengths).argmax(1) == y).float().mean()
    assert acc > 0.95, float(acc)


def test_metrics_match_scikit_learn(tmp_path):
    sk = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 4, (200,), generator=g)
    y_pred = torch.where(torch.rand(200, generator=g) < 0.7, y_true,
                         torch.randint(0, 4, (200,), generator=g))
    y_pred[y_pred == 3] = 2  # class 3 never predicted: its precision is 0, not NaN
    rep = metrics.classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    assert rep.confusion.tolist() == sk.confusion_matrix(y_true, y_pred).tolist()
    assert rep.accuracy == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert rep.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, average="macro",
                                                     zero_division=0))
    p, r, f, s = sk.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    assert rep.precision == pytest.approx(p.tolist()) and rep.recall == pytest.approx(r.tolist())
    assert rep.f1 == pytest.approx(f.tolist()) and rep.support == s.tolist()
    assert "macro-F1" in str(rep) and rep.to_dict()["per_class"]["d"]["precision"] == 0
    png = metrics.plot_confusion(rep.confusion, rep.classes, tmp_path / "cm.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spread = metrics.mean_and_spread([0.9, 0.92, 0.94])
    assert spread["mean"] == pytest.approx(0.92) and spread["std"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="outside 0..3"):
        metrics.confusion_matrix(torch.tensor([4]), torch.tensor([0]), 4)
    with pytest.raises(ValueError, match="differ in size"):
        metrics.confusion_matrix(torch.tensor([1, 2]), torch.tensor([0]), 4)

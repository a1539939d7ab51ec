"""Piano-roll models: the likelihoods against hand computation, normalisation, masks,
causality, gradients and seeded sampling."""

import itertools
import math

import pytest
import torch

from rnnkit.models.music import IndependentKeys, NadeKeys, PianoRollModel, frame_nll

K = 5


def all_frames(k: int) -> torch.Tensor:
    """Every binary frame of k keys: (2**k, k)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=k)))


def test_independent_log_prob_is_the_hand_computed_sum():
    head = IndependentKeys(3, K)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.copy_(torch.tensor([0.0, 1.0, -2.0, 0.5, 3.0]))
    frame = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0]])
    b = head.proj.bias.tolist()
    sig = [1 / (1 + math.exp(-x)) for x in b]
    expected = sum(math.log(s if v else 1 - s) for s, v in zip(sig, frame[0].tolist(),
                                                               strict=True))
    got = head.log_prob(torch.zeros(1, 3), frame)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def nade_by_hand(head: NadeKeys, context: torch.Tensor, frame: torch.Tensor) -> float:
    """The NADE's definition, one key at a time."""
    bv, bh = head.bias_v(context)[0], head.bias_h(context)[0]
    total = 0.0
    for d in range(head.keys):
        a = bh + (frame[:d, None] * head.W[:d]).sum(0)
        p = torch.sigmoid(bv[d] + torch.sigmoid(a) @ head.V[d]).item()
        total += math.log(p if frame[d] else 1 - p)
    return total


def test_nade_log_prob_matches_the_key_by_key_definition():
    torch.manual_seed(0)
    head = NadeKeys(4, K, 6)
    context = torch.randn(1, 4)
    for frame in all_frames(K)[::3]:
        got = head.log_prob(context, frame[None]).item()
        assert got == pytest.approx(nade_by_hand(head, context, frame), abs=1e-5)


@pytest.mark.parametrize("output", ["independent", "nade", "notes"])
def test_each_frame_distribution_sums_to_one(output):
    torch.manual_seed(1)
    model = PianoRollModel(K, "gru", 8, output=output, nade_hidden=6).double()
    frames = all_frames(K).double()                                   # (32, K)
    prefix = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 1, 0, 0]]).double()
    rolls = torch.cat([prefix[:, None].expand(-1, len(frames), -1), frames[None]])  # (3, 32, K)
    logp = model(rolls)[-1]                                           # last frame (32,)
    assert torch.logsumexp(logp, 0).item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("output", ["independent", "nade", "notes"])
def test_padding_changes_nothing(output):
    torch.manual_seed(2)
    model = PianoRollModel(K, "lstm", 8, output=output, nade_hidden=4).eval()
    short, long = torch.bernoulli(torch.full((3, K), 0.4)), torch.bernoulli(torch.full((7, K), 0.4))
    alone = model(short[:, None])[:, 0]                               # (3,)
    batch = torch.zeros(7, 2, K)
    batch[:3, 0], batch[:, 1] = short, long
    batch[3:, 0] = 1.0  # garbage in the padding must not matter
    both = model(batch, torch.tensor([3, 7]))
    torch.testing.assert_close(both[:3, 0], alone)
    assert both[3:, 0].abs().sum() == 0
    nll, frames = frame_nll(model, batch, torch.tensor([3, 7]))
    assert frames == 10
    torch.testing.assert_close(nll, -(alone.sum() + model(long[:, None]).sum()))


def test_frame_t_depends_only_on_earlier_frames():
    torch.manual_seed(3)
    model = PianoRollModel(K, "gru", 8, output="nade", nade_hidden=4).eval()
    rolls = torch.bernoulli(torch.full((6, 1, K), 0.5))
    before = model(rolls)
    changed = rolls.clone()
    changed[4] = 1 - changed[4]
    after = model(changed)
    torch.testing.assert_close(after[:4], before[:4])
    assert not torch.allclose(after[4], before[4])


def test_nade_gradcheck():
    torch.manual_seed(4)
    head = NadeKeys(3, 4, 5).double()
    context = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    frames = torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 0]], dtype=torch.double)
    assert torch.autograd.gradcheck(lambda c: head.log_prob(c, frames), (context,))


@pytest.mark.parametrize("output", ["independent", "nade", "notes"])
def test_generate_is_seeded_and_keeps_the_prime(output):
    torch.manual_seed(5)
    model = PianoRollModel(K, "gru", 8, output=output, nade_hidden=4).eval()
    prime = torch.bernoulli(torch.full((3, K), 0.5))
    a = model.generate(10, prime=prime, seed=7, batch=2)
    b = model.generate(10, prime=prime, seed=7, batch=2)
    assert a.shape == (13, 2, K)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:3, 1], prime)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, model.generate(10, prime=prime, seed=8, batch=2))


def test_wrong_shape_is_refused():
    model = PianoRollModel(K, "gru", 8)
    with pytest.raises(ValueError, match=r"expected rolls \(T, B, 5\)"):
        model(torch.zeros(4, K))

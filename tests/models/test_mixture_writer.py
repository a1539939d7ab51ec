"""Mixture-density outputs and the handwriting model: the likelihood against the textbook
formula, normalisation, gradients, extreme inputs, biased sampling; StrokeWriter's shapes,
masks, causality, step-by-step equivalence and seeded generation; the SVG/PNG writers."""

import math
import xml.etree.ElementTree as ET

import pytest
import torch

from rnnkit.data.stroke_drawing import offsets_to_points, strokes_png, strokes_svg
from rnnkit.data.strokes import points_to_strokes, strokes_to_points, to_offsets
from rnnkit.models.handwriting import StrokeWriter, WindowLayer
from rnnkit.models.mixture import (
    MixtureHead,
    MixtureParams,
    mixture_nll,
    mixture_params,
    mixture_size,
    sample_point,
)

pytestmark = pytest.mark.usefixtures("torch_globals")


def params_of(pi, mu, sigma, rho, end, stop=None) -> MixtureParams:
    """MixtureParams for one point from plain lists (float64)."""
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return MixtureParams(t(pi).log(), t(mu), t(sigma).log(), t(rho), t(end),
                         None if stop is None else t(stop))


def repeat(p: MixtureParams, n: int) -> MixtureParams:
    """One point's distribution repeated over a leading dim of n."""
    return MixtureParams(*(None if q is None else q.expand(n, *q.shape) for q in p))


# ---- the mixture likelihood ----------------------------------------------------------------


def test_nll_is_the_textbook_bivariate_normal_mixture():
    pi, mu = [0.3, 0.7], [[0.1, -0.2], [0.5, 0.4]]
    sigma, rho, end = [[0.5, 0.8], [1.2, 0.3]], [0.6, -0.4], 0.7
    x1, x2, pen = 0.3, 0.1, 1.0

    def n2(m):  # Bishop (2.44) / Graves eqs. 24-25
        (m1, m2), (s1, s2), r = mu[m], sigma[m], rho[m]
        d1, d2 = x1 - m1, x2 - m2
        z = (d1 / s1) ** 2 + (d2 / s2) ** 2 - 2 * r * d1 * d2 / (s1 * s2)
        return math.exp(-z / (2 * (1 - r * r))) / (2 * math.pi * s1 * s2 * math.sqrt(1 - r * r))

    e = 1 / (1 + math.exp(-end))
    expected = -math.log(sum(pi[m] * n2(m) for m in range(2))) - math.log(e if pen else 1 - e)
    got = mixture_nll(params_of(pi, mu, sigma, rho, end), torch.tensor([x1, x2, pen],
                                                                        dtype=torch.float64))
    assert got.item() == pytest.approx(expected, abs=1e-6)
    with_stop = mixture_nll(params_of(pi, mu, sigma, rho, end, -1.5),
                            torch.tensor([x1, x2, pen, 0.0], dtype=torch.float64))
    assert with_stop.item() == pytest.approx(expected - math.log(1 - 1 / (1 + math.exp(1.5))),
                                             abs=1e-6)


def test_density_integrates_to_one():
    raw = torch.randn(mixture_size(3), dtype=torch.float64) * 0.5
    p = mixture_params(raw, 3)
    assert p.rho.abs().min() > 0.05
    step, half = 0.03, 12.0
    g = torch.arange(-half, half, step, dtype=torch.float64) + step / 2
    xy = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)   # (G*G, 2)
    grid = repeat(p, len(xy))
    dens = torch.zeros(len(xy), dtype=torch.float64)
    for pen in (0.0, 1.0):  # the pen's two values complete the sum over the outcome space
        target = torch.cat([xy, torch.full((len(xy), 1), pen, dtype=torch.float64)], 1)
        dens += torch.exp(-mixture_nll(grid, target))
    assert (dens.sum() * step * step).item() == pytest.approx(1.0, abs=1e-3)


def test_gradcheck_against_raw_outputs():
    M = 2
    raw = (torch.randn(3, mixture_size(M, stop=True), dtype=torch.float64) * 0.5
           ).requires_grad_()
    target = torch.cat([torch.randn(3, 2, dtype=torch.float64),
                        torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)],
                       1)
    assert torch.autograd.gradcheck(
        lambda r: mixture_nll(mixture_params(r, M, stop=True), target), (raw,))


def test_extreme_inputs_give_finite_loss_and_gradients():
    M = 3
    raw = torch.zeros(4, mixture_size(M), dtype=torch.float32)
    raw[:, 3 * M:5 * M] = -30.0                 # log sigma far below the floor
    raw[0, 5 * M:6 * M] = 40.0                   # rho -> +1 exactly in float32
    raw[1, 5 * M:6 * M] = -40.0                  # rho -> -1
    raw[2, :M] = torch.tensor([80.0, -80.0, 0.0])  # one-hot weights
    raw[3, 6 * M] = 90.0                         # certain pen
    raw.requires_grad_()
    target = torch.tensor([[1e4, -1e4, 0.0], [-3e3, 5e3, 1.0], [0.0, 0.0, 0.0],
                           [1e3, 1e3, 0.0]])
    loss = mixture_nll(mixture_params(raw, M), target)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(raw.grad).all()


def test_shape_errors_name_the_problem():
    p = mixture_params(torch.zeros(mixture_size(2)), 2)
    with pytest.raises(ValueError, match=r"\(dx, dy, pen\)"):
        mixture_nll(p, torch.zeros(4))
    with pytest.raises(ValueError, match="raw outputs"):
        mixture_params(torch.zeros(7), 2)
    with pytest.raises(ValueError, match="bias"):
        MixtureHead(4, 2)(torch.zeros(4), bias=-1.0)


# ---- sampling --------------------------------------------------------------------------------


def test_samples_have_the_component_moments():
    p = params_of([1.0], [[0.5, -1.0]], [[2.0, 0.5]], [0.8], 0.0)
    p = repeat(p, 40000)
    x = sample_point(p, torch.Generator().manual_seed(0))              # (N, 3)
    assert x.shape == (40000, 3)
    assert x[:, :2].mean(0).tolist() == pytest.approx([0.5, -1.0], abs=0.03)
    assert x[:, :2].std(0).tolist() == pytest.approx([2.0, 0.5], rel=0.02)
    assert torch.corrcoef(x[:, :2].T)[0, 1].item() == pytest.approx(0.8, abs=0.01)
    assert x[:, 2].mean().item() == pytest.approx(0.5, abs=0.01)


def test_bias_sharpens_and_zero_bias_is_the_trained_distribution():
    head = MixtureHead(4, components=5)
    h = torch.randn(4).expand(5000, 4)
    assert all(torch.equal(a, b) for a, b in zip(head(h, bias=0.0), head(h), strict=True)
               if a is not None)
    spreads = []
    for bias in (0.0, 0.5, 2.0):
        x = sample_point(head(h, bias=bias), torch.Generator().manual_seed(1))
        spreads.append(x[:, :2].std(0).sum().item())
    assert spreads[0] > spreads[1] > spreads[2]
    a = sample_point(head(h), torch.Generator().manual_seed(2))
    b = sample_point(head(h, bias=0.0), torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


# ---- StrokeWriter ----------------------------------------------------------------------------


def drawing(T: int, B: int, dtype=torch.float32) -> torch.Tensor:
    x = torch.randn(T, B, 3, dtype=dtype) * 0.1
    x[..., 2] = (torch.rand(T, B) < 0.2).to(dtype)
    return x


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_writer_shapes(cell, num_layers):
    m = StrokeWriter(4, cell=cell, hidden_size=8, num_layers=num_layers, components=3,
                     char_embed=5)
    p = m(drawing(6, 2), torch.tensor([0, 3]))
    assert p.logit_pi.shape == (6, 2, 3) and p.rho.shape == (6, 2, 3)
    assert p.mu.shape == p.log_sigma.shape == (6, 2, 3, 2)
    assert p.end_logit.shape == p.stop_logit.shape == (6, 2)
    assert m.head.proj.in_features == num_layers * 8
    s, n = m.nll(drawing(6, 2), torch.tensor([1, 2]), torch.tensor([6, 3]))
    assert n == 9 and s.dim() == 0 and torch.isfinite(s)


@pytest.mark.parametrize("max_strokes", [0, 3])
def test_padding_changes_nothing(max_strokes):
    m = StrokeWriter(3, hidden_size=8, num_layers=2, components=2, max_strokes=max_strokes)
    x = drawing(7, 2)
    alone = m.point_nll(x[:4, 1:], torch.tensor([2]))                   # (4, 1)
    x[4:, 1] = 99.0  # garbage in the padding
    batched = m.point_nll(x, torch.tensor([0, 2]), torch.tensor([7, 4]))  # (7, 2)
    torch.testing.assert_close(batched[:4, 1:], alone)
    assert (batched[4:, 1] == 0).all()


@pytest.mark.parametrize("max_strokes", [0, 3])
def test_predictions_are_causal(max_strokes):
    m = StrokeWriter(3, hidden_size=8, num_layers=3, components=2, max_strokes=max_strokes)
    x, chars, t = drawing(8, 2), torch.tensor([0, 1]), 4
    before = m(x, chars)
    x2 = x.clone()
    x2[t] += 1.0
    after = m(x2, chars)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a[:t + 1], b[:t + 1], rtol=0, atol=0)
        assert not torch.equal(a[t + 1:], b[t + 1:])


@pytest.mark.parametrize("chars", [[4, 0], None])
@pytest.mark.parametrize("max_strokes", [0, 3])
def test_teacher_forced_nll_equals_a_step_loop(max_strokes, chars):
    torch.manual_seed(3)
    m = StrokeWriter(None if chars is None else 5, hidden_size=8, num_layers=3, components=3,
                     max_strokes=max_strokes, position_scale=0.5).double()
    x = drawing(9, 2, torch.float64)
    chars = None if chars is None else torch.tensor(chars)
    lengths = torch.tensor([9, 6])
    total, count = m.nll(x, chars, lengths)
    loop, state, previous = 0.0, None, torch.zeros(2, 3, dtype=torch.float64)
    for t in range(9):
        params, state = m.step(previous, chars, state)
        stop = (lengths - 1 == t).double()[:, None]
        per = mixture_nll(params, torch.cat([x[t], stop], 1))         # (2,)
        loop = loop + per[t < lengths].sum()
        previous = x[t]
    assert count == 15
    assert total.item() == pytest.approx(loop.item(), rel=1e-12)


def test_the_plan_reads_where_the_pen_is_and_which_stroke_comes_next():
    m = StrokeWriter(2, hidden_size=4, num_layers=1, components=1, char_embed=3,
                     max_strokes=2, position_scale=10.0)
    with torch.no_grad():  # plan entry (char c, stroke k) = (c, k, 0)
        m.plan.weight.copy_(torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0.]]))
    previous = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 2, 1], [1, 1, 1], [0, 0, 1.]])
    x, pen = m._inputs(previous[:, None], torch.tensor([1]), None)      # (5, 1, I)
    pos, plan = x[:, 0, 3 + 3:3 + 3 + 2], x[:, 0, -3:]
    torch.testing.assert_close(pos, torch.tensor([[0, 0], [10, 0], [10, 20], [20, 30],
                                                  [20, 30.]]))
    # strokes finished: 0, 0, 1, 2, 3 -> plan rows of char 1, strokes 0, 0, 1, 1, 1 (clamped)
    torch.testing.assert_close(plan[:, :2], torch.tensor([[1, 0], [1, 0], [1, 1], [1, 1],
                                                          [1, 1.]]))
    torch.testing.assert_close(pen, torch.tensor([[2, 3, 3.]]))


def test_window_layer_sees_exactly_the_last_k_inputs():
    torch.manual_seed(0)
    layer = WindowLayer(2, 5, window=3)
    x = torch.randn(7, 2, 2)
    out, _ = layer(x)
    for t in range(7):  # each output is the projection of its zero-padded window
        win = torch.cat([torch.zeros(2, 2, 2), x])[t:t + 3]                  # (3, B, 2)
        want = torch.tanh(layer.proj(win.permute(1, 0, 2).reshape(2, 6)))
        torch.testing.assert_close(out[t], want)
    x2 = x.clone()
    x2[2] += 5.0  # moves outputs 2..4 only
    out2, _ = layer(x2)
    changed = [t for t in range(7) if not torch.equal(out[t], out2[t])]
    assert changed == [2, 3, 4]
    # chunked calls carrying the state equal the whole call
    a, s = layer(x[:4])
    b, _ = layer(x[4:], s)
    torch.testing.assert_close(torch.cat([a, b]), out)


def test_window_writer_step_loop_equals_teacher_forcing():
    torch.manual_seed(1)
    m = StrokeWriter(3, hidden_size=8, num_layers=2, components=2, max_strokes=3,
                     window=4).double()
    x, chars = drawing(8, 2, torch.float64), torch.tensor([2, 0])
    whole = m(x, chars)
    state, previous = None, torch.zeros(2, 3, dtype=torch.float64)
    for t in range(8):
        params, state = m.step(previous, chars, state)
        torch.testing.assert_close(params.mu, whole.mu[t])
        previous = x[t]
    assert all(isinstance(layer, WindowLayer) for layer in m.layers)
    assert [layer.window for layer in m.layers] == [4, 1]


@pytest.mark.parametrize("max_strokes", [0, 3])
def test_generate_is_seeded(max_strokes):
    m = StrokeWriter(3, hidden_size=8, num_layers=2, components=3, max_strokes=max_strokes)
    with torch.no_grad():
        m.head.proj.bias[-1] = -3.0  # a stop now and then, not at once
    chars = torch.tensor([0, 2, 1])
    a = m.generate(chars, max_points=30, seed=7)
    b = m.generate(chars, max_points=30, seed=7)
    c = m.generate(chars, max_points=30, seed=8)
    assert len(a) == 3 and all(d.dim() == 2 and d.shape[1] == 3 for d in a)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(p.shape == q.shape and torch.equal(p, q) for p, q in zip(a, c, strict=True))
    assert all(d[-1, 2] == 1 for d in a)  # the last stroke is terminated


def test_generate_stops_when_the_stop_bit_fires_with_a_pen_lift():
    m = StrokeWriter(3, hidden_size=8, num_layers=1, components=2)
    m.train()
    with torch.no_grad():
        m.head.proj.weight[-2:].zero_()
        m.head.proj.bias[-1] = 30.0   # the stop bit always fires
        m.head.proj.bias[-2] = -30.0  # the pen never lifts: no end
    assert [len(d) for d in m.generate(torch.tensor([0, 1]), max_points=9, seed=0)] == [9, 9]
    with torch.no_grad():
        m.head.proj.bias[-2] = 30.0   # the pen lifts at once: the end at the first point
    out = m.generate(torch.tensor([0, 1]), max_points=50, seed=0)
    assert [len(d) for d in out] == [1, 1]
    with torch.no_grad():
        m.head.proj.bias[-1] = -30.0  # the stop bit never fires, the pen lifts every point
    out = m.generate(torch.tensor([0, 1]), max_points=50, seed=0, strokes=torch.tensor([2, 3]))
    assert [len(d) for d in out] == [2, 3]  # ended by the characters' stroke counts
    with torch.no_grad():
        m.head.proj.bias[-1] = 30.0   # the stop bit fires at every lift: ignored with counts
    out = m.generate(torch.tensor([0, 1]), max_points=50, seed=0, strokes=torch.tensor([2, 3]))
    assert [len(d) for d in out] == [2, 3]
    with pytest.raises(ValueError, match="strokes"):
        m.generate(torch.tensor([0, 1]), strokes=torch.tensor([2]))
    assert m.training  # the caller's mode is restored
    with torch.no_grad():
        m.head.proj.bias[-1] = -30.0
    assert [len(d) for d in m.generate(torch.tensor([2]), max_points=12, seed=0)] == [12]


def test_unconditional_writer():
    m = StrokeWriter(None, hidden_size=8, num_layers=2, components=2)
    s, n = m.nll(drawing(5, 3))
    assert n == 15 and torch.isfinite(s)
    out = m.generate(None, max_points=10, seed=1, batch=2)
    assert len(out) == 2 and all(1 <= len(d) <= 10 for d in out)
    with pytest.raises(ValueError, match="unconditional"):
        m(drawing(5, 1), torch.tensor([0]))
    with pytest.raises(ValueError, match="chars"):
        StrokeWriter(3, hidden_size=8)(drawing(5, 2), None)


# ---- pictures --------------------------------------------------------------------------------


def letters() -> list[torch.Tensor]:
    """Two offset drawings: a 'T' (two strokes) and an 'o' with a dot (two strokes)."""
    t = strokes_to_points([[[0, 0], [2, 0]], [[1, 0], [1, 3]]])
    ring = [[math.cos(a), math.sin(a)] for a in torch.linspace(0, 6.3, 12).tolist()]
    o = strokes_to_points([ring, [[0, -2]]])
    return [to_offsets(t), to_offsets(o)]


def test_offsets_to_points_inverts_to_offsets():
    pts = strokes_to_points([[[0, 0], [2, 0]], [[1, 0], [1, 3]]])
    torch.testing.assert_close(offsets_to_points(to_offsets(pts)).float(), pts)


def test_svg_has_one_polyline_per_stroke(tmp_path):
    ds = letters()
    strokes = sum(len(points_to_strokes(offsets_to_points(d))) for d in ds)
    root = ET.parse(strokes_svg(ds, tmp_path / "row.svg")).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}polyline")) == strokes == 4
    assert not root.findall(f".//{ns}animate")
    for line in root.iter(f"{ns}polyline"):
        xs = [float(p.split(",")[0]) for p in line.get("points").split()]
        assert 0 <= min(xs) and max(xs) <= 96 * 2 + 16
    animated = ET.parse(strokes_svg(ds, tmp_path / "anim.svg", animate=True)).getroot()
    assert len(animated.findall(f".//{ns}animate")) == 4


def test_png_is_written(tmp_path):
    path = strokes_png(letters(), tmp_path / "row.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1024

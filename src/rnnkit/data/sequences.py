"""The one container every classification loader returns, and padding for batches.

A ``LabelledSequences`` holds N variable-length sequences, each either tokens (T_i,) int64
(DNA bases, characters) or features (T_i, F) float32 (strokes, MFCC frames, sensor
channels), with one integer label each and the class names. It is a torch ``Dataset``
(``ds[i] -> (x, y)``); ``collate`` turns a list of items into a padded batch plus lengths,
which is what rnnkit layers take (``lstm(x, lengths=lengths)``) to ignore the padding.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import ConfigError, DataError


@dataclass
class LabelledSequences:
    """N labelled sequences. ``inputs[i]`` is (T_i,) int64 or (T_i, F) float32."""

    inputs: list[Tensor]
    labels: Tensor  # (N,) int64 in [0, len(classes))
    classes: list[str]
    ids: list[str] = field(default_factory=list)  # where each sequence came from

    def __post_init__(self):
        if not self.ids:
            self.ids = [str(k) for k in range(len(self.inputs))]
        assert len(self.inputs) == len(self.labels) == len(self.ids), "ragged dataset"
        assert self.labels.dtype == torch.long and self.labels.dim() == 1

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.inputs[i], self.labels[i]

    @property
    def lengths(self) -> Tensor:
        """(N,) int64 sequence lengths."""
        return torch.tensor([len(x) for x in self.inputs], dtype=torch.long)

    @property
    def num_features(self) -> int | None:
        """F for feature sequences, None for token sequences."""
        x = self.inputs[0]
        return None if x.dim() == 1 else x.shape[-1]

    def subset(self, index: Sequence[int] | Tensor) -> LabelledSequences:
        """The sequences at ``index`` (same classes list, so labels stay comparable)."""
        index = [int(i) for i in index]
        return LabelledSequences([self.inputs[i] for i in index], self.labels[index],
                                 list(self.classes), [self.ids[i] for i in index])

    def joined(self, other: LabelledSequences) -> LabelledSequences:
        """These sequences followed by ``other``'s, which must share the class list."""
        if list(other.classes) != list(self.classes):
            raise ValueError("joined: the two sets have different class lists")
        return LabelledSequences(self.inputs + other.inputs,
                                 torch.cat([self.labels, other.labels]), list(self.classes),
                                 self.ids + other.ids)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels.tolist())
        return {c: counts.get(k, 0) for k, c in enumerate(self.classes)}


def labels_from_names(names: Sequence[str], classes: Sequence[str] | None = None
                      ) -> tuple[Tensor, list[str]]:
    """Map label strings to ints; classes sorted unless given (then unknown names raise)."""
    classes = sorted(set(names)) if classes is None else list(classes)
    pos = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(names) - pos.keys())
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among the classes {classes[:10]}")
    return torch.tensor([pos[n] for n in names], dtype=torch.long), classes


def pad_batch(inputs: Sequence[Tensor], pad_value: float = 0.0,
              batch_first: bool = True) -> tuple[Tensor, Tensor]:
    """Pad to the longest: (B, T_max, ...) (or (T_max, B, ...)) and lengths (B,) int64."""
    lengths = torch.tensor([len(x) for x in inputs], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(list(inputs), batch_first=batch_first,
                                        padding_value=pad_value)
    return x, lengths


def collate(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """DataLoader collate_fn: [(x_i, y_i)] -> x (B, T_max, ...), lengths (B,), y (B,)."""
    xs, ys = zip(*batch, strict=True)
    x, lengths = pad_batch(xs)
    return x, lengths, torch.stack([torch.as_tensor(y) for y in ys])


def list_class_folder(root: str | Path, extensions: Sequence[str]
                      ) -> list[tuple[Path, str]]:
    """(file, label) for every ``root/<label>/**/*<ext>``, sorted (audio, strokes, ...).

    Raises DataError if root is missing, has no class folders, or a class folder holds no
    file with one of the extensions (an empty class would silently shrink the label set).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: " + ("is a file, expected a folder with one sub-folder per "
                                       "class" if root.exists() else "no such folder"))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root}: no class folders (expected root/<label>/<files>)")
    exts = tuple(e.lower() for e in extensions)
    items = []
    for d in class_dirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in exts)
        if not files:
            raise DataError(f"{d}: class folder {d.name!r} has no {'/'.join(exts)} files")
        items += [(f, d.name) for f in files]
    return items


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


def relabel(ds: LabelledSequences, classes: list[str]) -> LabelledSequences:
    """The same items with labels re-indexed into ``classes`` (a superset)."""
    labels, _ = labels_from_names([ds.classes[k] for k in ds.labels.tolist()], classes)
    return LabelledSequences(ds.inputs, labels, list(classes), ds.ids)


def find_dir(root: Path, name: str, must_have: str, depth: int = 4) -> Path | None:
    """The first folder called ``name`` holding ``must_have`` (a glob) at most ``depth``
    levels below root (unpacked wheels and npm tarballs nest differently)."""
    for k in range(depth + 1):
        for d in sorted(root.glob("/".join(["*"] * k + [name]))):
            if d.is_dir() and next(d.glob(must_have), None) is not None:
                return d
    return None


def split_groups(groups: Sequence[str], valid_fraction: float, test_fraction: float,
                 seed: int, source: str = "the data") -> tuple[list[int], list[int], list[int]]:
    """(train, valid, test) indices with every group wholly on one side, so valid and test
    hold items from groups (scenes, levels, speakers) never seen in training.

    The groups are shuffled with ``seed`` (the same seed gives the same split); test then
    takes groups in that order until it holds at least ``test_fraction`` of the items,
    valid likewise up to ``valid_fraction``, and train the rest; each side gets at least
    one group. Sizes are therefore close to, not exactly, the fractions. Indices are in
    their original order.

    ConfigError for fractions outside (0, 1) or summing to 1 or more; DataError when there
    are fewer than 3 groups.
    """
    for name, f in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < f < 1.0:
            raise ConfigError(f"{name} must be in (0, 1), got {f}")
    if valid_fraction + test_fraction >= 1.0:
        raise ConfigError(f"valid_fraction + test_fraction must be below 1, got "
                          f"{valid_fraction} + {test_fraction}")
    sizes = Counter(groups)
    names = sorted(sizes)
    if len(names) < 3:
        shown = ", ".join(repr(g) for g in names) or "none"
        raise DataError(f"{source}: {len(names)} group(s) ({shown}), a split by group needs "
                        "at least 3 (train, valid, test): give a group column or separate "
                        "scenes with blank lines")
    random.Random(seed).shuffle(names)
    sides: list[set[str]] = [set(), set(), set()]  # test, valid, train
    total, k = len(groups), 0
    for side, fraction in ((0, test_fraction), (1, valid_fraction)):
        count = 0
        # at least one group; leave one for each side still to fill
        while k < len(names) - (2 - side) and (count == 0 or count < fraction * total):
            sides[side].add(names[k])
            count += sizes[names[k]]
            k += 1
    sides[2].update(names[k:])
    test, valid, train = ([i for i, g in enumerate(groups) if g in s] for s in sides)
    return train, valid, test

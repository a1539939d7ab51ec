"""The one container every classification loader returns, and padding for batches.

A ``LabelledSequences`` holds N variable-length sequences, each either tokens (T_i,) int64
(DNA bases, characters) or features (T_i, F) float32 (strokes, MFCC frames, sensor
channels), with one integer label each and the class names. It is a torch ``Dataset``
(``ds[i] -> (x, y)``); ``collate`` turns a list of items into a padded batch plus lengths,
which is what rnnkit layers take (``lstm(x, lengths=lengths)``) to ignore the padding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.train.errors import DataError


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

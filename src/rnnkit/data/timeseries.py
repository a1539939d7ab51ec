"""Time series files -> variable-length multichannel sequences (T_i, C) and class labels.

Formats:

* ``.ts`` (sktime/aeon; Bagnall et al., the UEA/UCR archive format): ``#`` comment lines,
  ``@key value`` header lines ending with ``@data``, then one case per line: channels
  separated by ``:``, values by ``,``, the class label last. ``?`` is a missing value.
  Channels of one case must have equal length (they are time-aligned); cases may differ.
  Time-stamped data (``@timeStamps true``) is not supported.
* CSV, wide (``read_csv_wide``): one row per univariate series, one column is the label
  (UCR's CSV style); rows may have trailing empty cells for shorter series.
* CSV, long (``read_csv_long``): one row per time step of one series, with an id column,
  a label column and one column per channel; rows of a series in time order (or sorted
  by a time column).

``load_aeon_dataset`` reads the .ts files aeon ships (e.g. JapaneseVowels) straight from
the installed package, without importing aeon (which pulls numba and compiles on import).
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from rnnkit.data import files
from rnnkit.data.sequences import LabelledSequences, labels_from_names
from rnnkit.errors import DataError

MISSING = ("error", "nan")


def _lines(path: Path, what: str) -> list[str]:
    return files.read_text(path, what).splitlines()


def _number(s: str, where: str, missing: str) -> float:
    s = s.strip()
    if s in ("?", "", "NaN", "nan"):
        if missing == "error":
            raise DataError(f"{where}: missing value {s!r} (pass missing='nan' to keep it "
                            "as NaN)")
        return math.nan
    try:
        v = float(s)
    except ValueError:
        raise DataError(f"{where}: {s!r} is not a number") from None
    if math.isinf(v):
        raise DataError(f"{where}: infinite value")
    return v


def read_ts(path: str | Path, missing: str = "error") -> LabelledSequences:
    """Read a classification ``.ts`` file: inputs (T_i, C) float32, classes in the order
    of the ``@classLabel`` header.

    Raises DataError (naming file and line) for: no ``@data``, no class labels, time
    stamps, a case with a different channel count than ``@dimensions`` or the first case,
    channels of unequal length within a case, non-numeric or (by default) missing values,
    and labels not declared in ``@classLabel``.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    path = Path(path)
    header: dict[str, str] = {}
    inputs, names, ids = [], [], []
    in_data = False
    n_channels = None
    for lineno, raw in enumerate(_lines(path, "a .ts time-series file"), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):  # % : ARFF-style comments, in some files
            continue
        where = f"{path}: line {lineno}"
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{where}: expected an @header line or @data before the "
                                f"data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()  # archives mix @timeStamps / @timestamps
            if key == "data":
                in_data = True
                if header.get("timestamps", "false").lower() == "true":
                    raise DataError(f"{where}: time-stamped .ts data is not supported")
                label_decl = header.get("classlabel", "false").split()
                if not label_decl or label_decl[0].lower() != "true":
                    raise DataError(f"{path}: no '@classLabel true ...' header: not a "
                                    "classification file")
                classes = label_decl[1:]
                if "dimensions" in header:
                    n_channels = int(header["dimensions"])
            else:
                header[key] = value.strip()
            continue
        fields = line.split(":")
        label, channels = fields[-1].strip(), fields[:-1]
        if not channels:
            raise DataError(f"{where}: no ':' separating the series from the class label")
        if n_channels is None:
            n_channels = len(channels)
        if len(channels) != n_channels:
            raise DataError(f"{where}: {len(channels)} channels, expected {n_channels}")
        series = []
        for c, ch in enumerate(channels):
            vals = ch.split(",")
            series.append([_number(v, f"{where}, channel {c + 1}, value {k + 1}", missing)
                           for k, v in enumerate(vals)])
        lengths = {len(s) for s in series}
        if len(lengths) != 1:
            raise DataError(f"{where}: channels have different lengths {sorted(lengths)}; "
                            "the channels of one case must be time-aligned")
        if classes and label not in classes:
            raise DataError(f"{where}: class label {label!r} is not declared in @classLabel "
                            f"{classes}")
        inputs.append(torch.tensor(series, dtype=torch.float32).T.contiguous())  # (T, C)
        names.append(label)
        ids.append(f"{path.name}:{lineno}")
    if not in_data:
        raise DataError(f"{path}: no @data line (not a .ts file, or truncated header)")
    if not inputs:
        raise DataError(f"{path}: no cases after @data (truncated file?)")
    labels, classes = labels_from_names(names, classes or None)
    return LabelledSequences(inputs, labels, classes, ids)


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """[(line number, cells)] of the non-blank rows."""
    lines = _lines(path, "a CSV file")
    return [(k, r) for k, r in enumerate(csv.reader(lines), start=1) if any(r)]


def read_csv_wide(path: str | Path, label_column: int = 0, has_header: bool = False,
                  missing: str = "error", classes: Sequence[str] | None = None
                  ) -> LabelledSequences:
    """One univariate series per row; ``label_column`` (index, negative from the end) holds
    the label, every other cell a value in time order. Trailing empty cells end a shorter
    series. Inputs are (T_i, 1) float32."""
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    path = Path(path)
    rows = _read_csv(path)
    if has_header:
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: header but no data rows")
    inputs, names, ids = [], [], []
    for lineno, cells in rows:
        if len(cells) < 2 or not -len(cells) <= label_column < len(cells):
            raise DataError(f"{path}: line {lineno}: {len(cells)} cells, need a label "
                            f"(column {label_column}) and at least one value")
        k = label_column % len(cells)
        label = cells[k].strip()
        if not label:
            raise DataError(f"{path}: line {lineno}: empty label (column {label_column})")
        values = cells[:k] + cells[k + 1:]
        while values and values[-1].strip() == "":
            values.pop()  # padding of a shorter series
        if not values:
            raise DataError(f"{path}: line {lineno}: no values")
        series = [_number(v, f"{path}: line {lineno}, value {j + 1}", missing)
                  for j, v in enumerate(values)]
        inputs.append(torch.tensor(series, dtype=torch.float32)[:, None])  # (T, 1)
        names.append(label)
        ids.append(f"{path.name}:{lineno}")
    labels, classes = _labels(names, classes, path)
    return LabelledSequences(inputs, labels, classes, ids)


def read_csv_long(path: str | Path, id_column: str = "id", label_column: str = "label",
                  time_column: str | None = None, feature_columns: Sequence[str] | None = None,
                  missing: str = "error", classes: Sequence[str] | None = None
                  ) -> LabelledSequences:
    """One row per time step (header required). Series are grouped by ``id_column`` in
    order of first appearance; channels are ``feature_columns`` (default: every column
    but id, label and time). Inputs are (T_i, C) float32; each series must carry one label.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    path = Path(path)
    rows = _read_csv(path)
    if not rows:
        raise DataError(f"{path}: only empty cells, expected a header row")
    (_, head), body = rows[0], rows[1:]
    head = [h.strip() for h in head]
    needed = [id_column, label_column] + ([time_column] if time_column else [])
    if feature_columns is None:
        feature_columns = [h for h in head if h not in needed]
    absent = [c for c in [*needed, *feature_columns] if c not in head]
    if absent:
        raise DataError(f"{path}: header has no column(s) {absent}; columns are {head}")
    if not feature_columns:
        raise DataError(f"{path}: no feature columns besides {needed}")
    if not body:
        raise DataError(f"{path}: header but no data rows")
    col = {h: k for k, h in enumerate(head)}
    series: dict[str, list] = {}
    label_of: dict[str, tuple[str, int]] = {}
    for lineno, cells in body:
        if len(cells) != len(head):
            raise DataError(f"{path}: line {lineno}: {len(cells)} cells, header has "
                            f"{len(head)}")
        sid, label = cells[col[id_column]].strip(), cells[col[label_column]].strip()
        if sid in label_of and label_of[sid][0] != label:
            raise DataError(f"{path}: line {lineno}: series {sid!r} has label {label!r} here "
                            f"but {label_of[sid][0]!r} on line {label_of[sid][1]}")
        label_of.setdefault(sid, (label, lineno))
        t = _number(cells[col[time_column]], f"{path}: line {lineno}, column {time_column!r}",
                    "error") if time_column else len(series.get(sid, []))
        feats = [_number(cells[col[f]], f"{path}: line {lineno}, column {f!r}", missing)
                 for f in feature_columns]
        series.setdefault(sid, []).append((t, feats))
    inputs = []
    for steps in series.values():
        steps.sort(key=lambda s: s[0])  # stable: equal times keep file order
        inputs.append(torch.tensor([f for _, f in steps], dtype=torch.float32))  # (T, C)
    labels, classes = _labels([label_of[s][0] for s in series], classes, path)
    return LabelledSequences(inputs, labels, classes, list(series))


def _labels(names, classes, path):
    try:
        return labels_from_names(names, classes)
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None


def load_aeon_dataset(name: str, split: str) -> LabelledSequences:
    """A .ts dataset shipped inside the installed aeon package (``pip install aeon``),
    e.g. ``load_aeon_dataset("JapaneseVowels", "train")`` (270 train / 370 test series, 12
    channels, lengths 7-29, 9 speakers). aeon is located, not imported."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"dataset {name!r} comes with the aeon package: pip install aeon==1.6.0")
    root = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    path = root / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        raise DataError(f"{path}: aeon has no shipped dataset {name!r} (split {split})")
    return read_ts(path)

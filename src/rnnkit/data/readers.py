"""Readers of a user's files for the trained models of the handwriting, speech and
time-series recipes (``rnnkit predict``, ``rnnkit eval``), following the readers contract
in ``rnnkit.recipes.genome``.

The recipes store in the checkpoint's spec (``spec["features"]``) how they turned files
into model inputs, and these readers repeat exactly that:

    strokes: {"kind": "strokes", "every": k or None, "scale": s or None, "spacing", "step"}
             every/scale (LASA): keep every k-th point, divide by s (no per-drawing
             normalisation); else normalise to [-1, 1] and re-sample every ``spacing``
    audio:   {"kind": "audio", "sample_rate", "n_mels", "hop_ms"}: mono, resampled,
             silence trimmed, per-clip normalised log-mel
    timeseries: {"kind": "timeseries", "mean", "std"}: channels standardised
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data import handwriting as hw
from rnnkit.data import speech
from rnnkit.data.audio import AUDIO_EXTENSIONS
from rnnkit.data.sequences import LabelledSequences, labels_from_names, list_class_folder
from rnnkit.data.strokes import STROKE_EXTENSIONS, normalise, read_strokes, resample_strokes
from rnnkit.errors import DataError


def prepare_strokes(points: torch.Tensor, f: dict) -> torch.Tensor:
    """Raw (T, 3) points -> the (T', 5) model input the recipe trained on."""
    if f.get("every"):
        keep = list(range(0, len(points), f["every"]))
        if keep[-1] != len(points) - 1:
            keep.append(len(points) - 1)
        x = torch.cat([points[keep, :2] / f["scale"], points[keep, 2:]], 1)
    else:
        x = resample_strokes(normalise(points, f.get("flip_y", False)), f["spacing"])
    return hw.stroke_features(x, f["step"])


def _prepare(path: Path, f: dict) -> torch.Tensor:
    kind = f["kind"]
    if kind == "strokes":
        return prepare_strokes(read_strokes(path), f)
    if kind == "audio":
        from rnnkit.data.audio import load_audio

        wave = speech.trim_silence(load_audio(path, f["sample_rate"]), f["sample_rate"])
        return speech.SpeechFeatures(f["sample_rate"], f["n_mels"], f["hop_ms"])(wave)
    raise DataError(f"{path}: this recipe reads .ts files, not single files")


def _extensions(f: dict) -> tuple[str, ...]:
    return STROKE_EXTENSIONS if f["kind"] == "strokes" else AUDIO_EXTENSIONS


def _settings(spec: dict) -> dict:
    f = spec.get("features")
    if not f:
        raise DataError("this checkpoint stores no input settings (trained before readers "
                        "existed); retrain it")
    return f


def predict_files(path, spec: dict):
    """(file,), input for a file or every stroke/audio file below a folder; a .ts file's
    cases for time series."""
    f = _settings(spec)
    path = Path(path)
    if f["kind"] == "timeseries":
        ds = labelled_files(path, spec)
        yield from (((i,), x) for i, x in zip(ds.ids, ds.inputs, strict=True))
        return
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _extensions(f))
    if not files:
        raise DataError(f"{path}: no {'/'.join(_extensions(f))} files")
    for file in files:
        yield (str(file),), _prepare(file, f)


def labelled_files(path, spec: dict) -> LabelledSequences:
    """A class folder (root/<class>/files) or, for time series, a .ts file, in the
    checkpoint's class order."""
    f = _settings(spec)
    path = Path(path)
    classes = list(spec["classes"])
    if f["kind"] == "timeseries":
        from rnnkit.data.timeseries import read_ts

        ds = read_ts(path)
        mean, std = torch.tensor(f["mean"]), torch.tensor(f["std"])
        try:
            labels, _ = labels_from_names([ds.classes[k] for k in ds.labels.tolist()], classes)
        except ValueError as e:
            raise DataError(f"{path}: {e}") from None
        return LabelledSequences([(x - mean) / std for x in ds.inputs], labels, classes, ds.ids)
    items = list_class_folder(path, _extensions(f))
    try:
        labels, _ = labels_from_names([c for _, c in items], classes)
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None
    return LabelledSequences([_prepare(p, f) for p, _ in items], labels, classes,
                             [str(p) for p, _ in items])


def reader(formats: str) -> dict:
    """A READERS entry for one recipe."""
    return {"predict": predict_files, "labelled": labelled_files, "columns": ("file",),
            "formats": formats}


STROKES = "stroke files (.json/.npy/.svg) or a folder of them; labelled: root/<class>/files"
AUDIO = "audio clips (.wav/.ogg/.flac/...) or a folder of them; labelled: root/<class>/clips"
TS = "a .ts time-series file (aeon/UEA format), labelled in its last field"

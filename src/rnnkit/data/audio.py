"""Audio files -> mono float waveforms at one sample rate, and a folder-per-class loader.

Reading goes through PyPI ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, OGG/Opus, AIFF,
...). Real collections mix rates and channel counts (ktuberling has 8, 44.1 and 48 kHz, mono
and stereo), so every clip is downmixed to mono (mean of channels: keeps the level of a
centred voice) and resampled with a polyphase filter (``scipy.signal.resample_poly``, a
Kaiser-windowed FIR anti-aliasing low-pass, exact for any rational rate ratio).

User data layout for ``load_audio_folder``::

    root/<label>/*.wav|ogg|flac|opus      one folder per class, any nesting below it

Labelled sound lists (KDE's klettres ``<lang>/sounds.xml`` and ktuberling
``<lang>.soundtheme``: ``<sound name="ball" file="en/ball.ogg"/>``) are read by
``read_sound_list``; ``load_audio_list`` turns any (file, label) list into a dataset.

Errors name the file: missing, empty (no samples), corrupt/unrecognised, truncated WAV
(libsndfile silently reads a cut WAV as a shorter clip, so the header is checked here).
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from math import gcd
from pathlib import Path

import numpy as np
import torch

from rnnkit.data import files
from rnnkit.data.sequences import LabelledSequences, labels_from_names, list_class_folder
from rnnkit.errors import DataError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif")


def _check_wav_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk is shorter than its header declares."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF (RF64, W64, ...): let libsndfile judge
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, n = struct.unpack("<4sI", fh.read(8))
            if cid == b"data":
                have = size - pos - 8
                if n != 0xFFFFFFFF and have < n:  # 0xFFFFFFFF: streaming writers' "unknown"
                    raise DataError(f"{path}: truncated WAV file (header declares {n} bytes "
                                    f"of audio, file holds {have})")
                return
            pos += 8 + n + (n & 1)  # chunks are word-aligned


def read_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """Read a file as it is: ((C, N) float32 in [-1, 1], sample rate)."""
    import soundfile as sf  # imported here so text-only users need not install libsndfile

    path = files.check_file(path, "an audio file")  # libsndfile opens it itself
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (N, C)
    except sf.LibsndfileError as e:
        raise DataError(f"{path}: cannot decode audio ({e.error_string})") from None
    except (RuntimeError, ValueError) as e:
        raise DataError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: audio has no samples")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: audio contains NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sr)


def to_mono(wave: torch.Tensor) -> torch.Tensor:
    """(C, N) or (N,) -> (N,): mean over channels."""
    return wave if wave.dim() == 1 else wave.mean(0)


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Polyphase resampling of (..., N) from orig_sr to new_sr Hz (float32 out)."""
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return wave
    from scipy.signal import resample_poly

    g = gcd(orig_sr, new_sr)
    y = resample_poly(wave.numpy(), new_sr // g, orig_sr // g, axis=-1)
    return torch.from_numpy(y.astype(np.float32))


def load_audio(path: str | Path, sample_rate: int = 16000, mono: bool = True) -> torch.Tensor:
    """Read, downmix (if mono) and resample: (N,) float32 (or (C, N) with mono=False)."""
    wave, sr = read_audio(path)
    if mono:
        wave = to_mono(wave)
    return resample(wave, sr, sample_rate)


def wav_bytes(wave: torch.Tensor | np.ndarray, sample_rate: int) -> bytes:
    """(N,) mono or (C, N) samples in [-1, 1] -> the bytes of a 16-bit PCM WAV file.

    The one WAV encoder of rnnkit: ``write_wav`` writes its bytes to a file, ``rnnkit
    serve`` sends them. Samples beyond +-1 are clipped, as a DAC would; libsndfile would
    otherwise wrap them around to the opposite sign. ValueError for NaN or infinite
    samples, an empty wave, or a sample rate that is not a positive integer."""
    import soundfile as sf  # imported here so text-only users need not install libsndfile

    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim not in (1, 2) or wave.shape[-1] == 0:
        raise ValueError(f"write_wav: expected (N,) or (C, N) samples, got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise ValueError("write_wav: samples contain NaN or infinite values")
    data = np.clip(wave, -1.0, 1.0).T  # soundfile wants (N,) or (N, C)
    out = io.BytesIO()
    sf.write(out, data, sample_rate, subtype="PCM_16", format="WAV")
    return out.getvalue()


def write_wav(path: str | Path, wave: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write (N,) mono or (C, N) samples in [-1, 1] as a 16-bit PCM WAV file (``wav_bytes``,
    whose ValueErrors it raises), atomically (``files.write_atomically``: a killed run
    leaves no half file); returns the path. Used for synthesised speech and rendered
    music."""
    data = wav_bytes(wave, sample_rate)  # encoded first: a bad wave leaves no file behind
    return files.write_atomically(Path(path), lambda fh: fh.write(data))


def load_audio_folder(root: str | Path, sample_rate: int = 16000,
                      transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      extensions=AUDIO_EXTENSIONS) -> LabelledSequences:
    """Labelled clips from ``root/<label>/*.ogg`` (etc.); classes are the folder names.

    Each input is the mono waveform (N,) at ``sample_rate``, or ``transform(waveform)``,
    e.g. ``features.LogMel(sample_rate)`` giving (frames, n_mels). ids are paths relative
    to root.
    """
    items = list_class_folder(root, extensions)
    inputs = []
    for f, _ in items:
        x = load_audio(f, sample_rate)
        inputs.append(transform(x) if transform is not None else x)
    labels, classes = labels_from_names([label for _, label in items])
    ids = [str(f.relative_to(root)) for f, _ in items]
    return LabelledSequences(inputs, labels, classes, ids)


def read_sound_list(xml_path: str | Path, root: str | Path | None = None,
                    missing: str = "error") -> list[tuple[Path, str, str]]:
    """(file, name, group) for every ``<sound name=... file=...>`` of an XML sound list.

    ``file`` is resolved against ``root`` (default: the XML file's folder; klettres lists
    are relative to the folder above theirs). ``group`` is the enclosing element's tag
    (klettres: "alphabet" or "syllables"). Entries whose file does not exist raise, or
    are skipped with ``missing="skip"`` (klettres lists 141 of 1,976 sounds it does not
    ship).
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    xml_path = Path(xml_path)
    root = xml_path.parent if root is None else Path(root)
    raw = files.read_bytes(xml_path, "an XML sound list")  # XML declares its own encoding
    try:
        doc = ET.fromstring(raw)
    except ET.ParseError as e:
        raise DataError(f"{xml_path}: not well-formed XML ({e})") from None
    out = []
    for parent in doc.iter():
        for el in parent:
            if el.tag != "sound":
                continue
            name, file = el.get("name"), el.get("file")
            if not name or not file:
                raise DataError(f"{xml_path}: a <sound> element lacks its name or file "
                                f"attribute ({ET.tostring(el, encoding='unicode').strip()})")
            path = root / file
            if not path.is_file():
                if missing == "skip":
                    continue
                raise DataError(f"{xml_path}: sound {name!r} names {path}, which does not "
                                "exist (pass missing='skip' to leave it out)")
            out.append((path, name, parent.tag))
    if not out:
        raise DataError(f"{xml_path}: no <sound name=... file=...> entries with a file")
    return out


def load_audio_list(items: Sequence[tuple[Path, str]], sample_rate: int = 16000,
                    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    classes: Sequence[str] | None = None) -> LabelledSequences:
    """Labelled clips from (file, label) pairs; inputs as in ``load_audio_folder``."""
    inputs = []
    for f, _ in items:
        x = load_audio(f, sample_rate)
        inputs.append(transform(x) if transform is not None else x)
    labels, classes = labels_from_names([label for _, label in items], classes)
    return LabelledSequences(inputs, labels, classes, [str(f) for f, _ in items])

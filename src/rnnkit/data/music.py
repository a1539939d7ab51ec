"""Polyphonic music as piano rolls: the JSB Chorales files, music21's Bach chorales, splits,
augmentation and a small synthesiser to listen to a roll.

The representation is that of the JSB Chorales benchmark (Boulanger-Lewandowski et al.
2012, "Modeling temporal dependencies in high-dimensional sequences", sec. 6): a piece is
a sequence of frames, one per time step (a quarter note there), and a frame is the set
of keys sounding at the step's onset, a 0/1 vector over the 88 piano keys, MIDI pitches
21 (A0) .. 108 (C8):

    roll[t, k] == 1   <=>   MIDI pitch LOW + k sounds on step t       # roll: (T, KEYS)

A held note and a note repeated on the next step give the same roll (the benchmark's
convention); readers and writers of MIDI (``rnnkit.data.midi``) follow it.

``read_jsb_json`` and ``read_jsb_pickle`` read the benchmark's splits (nested lists of
MIDI pitches); ``chorales_music21`` builds rolls from music21's own corpus, for "our
split" (``split_pieces``). Every bad file gives a one-line ``DataError`` naming it.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnnkit.data import files
from rnnkit.data.audio import write_wav
from rnnkit.data.debian import cache_dir
from rnnkit.errors import ConfigError, DataError

LOW, HIGH = 21, 108  # MIDI pitch range of the 88 keys (A0 .. C8)
KEYS = HIGH - LOW + 1  # 88
SPLITS = ("train", "valid", "test")
CHORALES_CACHE = "chorales-music21-v1.npz"  # bump the version when the rolls change

# (name, reason) of the chorales the last ``chorales_music21`` call could not parse.
chorales_skipped: list[tuple[str, str]] = []


@dataclass
class Piece:
    """One piece: its name (``"bwv26.6"``, a MIDI file's name, ``"train/12"``) and its
    roll, (T, KEYS) uint8 0/1, frame t = the keys sounding on step t; ``shift``: the
    semitones it was transposed by when read (``transpose_roll(roll, -shift)`` undoes it)."""

    name: str
    roll: np.ndarray  # (T, KEYS) uint8
    shift: int = 0


# ---- frames <-> rolls -----------------------------------------------------------------------


def frames_to_roll(frames: Sequence[Sequence[int]], name: str = "") -> np.ndarray:
    """Lists of MIDI pitches (one list per step) -> roll (T, KEYS) uint8.

    Pitches may be ints or integral floats (``60.0``). DataError naming ``name`` and the
    frame index on a pitch outside LOW..HIGH or one that is not an integer."""
    at = f"{name}, " if name else ""
    if not isinstance(frames, list | tuple):
        raise DataError(f"{name or 'frames'}: expected a list of frames, "
                        f"got {type(frames).__name__}")
    roll = np.zeros((len(frames), KEYS), np.uint8)  # (T, KEYS)
    for t, frame in enumerate(frames):
        if not isinstance(frame, list | tuple | np.ndarray):
            raise DataError(f"{at}frame {t}: expected a list of MIDI pitches, "
                            f"got {type(frame).__name__}")
        for p in frame:
            roll[t, _key(p, f"{at}frame {t}")] = 1
    return roll


def roll_to_frames(roll: np.ndarray) -> list[list[int]]:
    """Roll (T, KEYS) -> T lists of MIDI pitches, each sorted; the inverse of
    ``frames_to_roll``."""
    roll = check_roll(roll)
    return [[LOW + int(k) for k in np.flatnonzero(row)] for row in roll]


def transpose_roll(roll: np.ndarray, semitones: int) -> np.ndarray:
    """Roll (T, KEYS) shifted by ``semitones`` along the key axis (data augmentation);
    keys shifted past either end are folded back in by octaves, so no note is lost."""
    roll = check_roll(roll)
    if int(semitones) != semitones:
        raise ValueError(f"semitones must be a whole number, got {semitones!r}")
    out = np.zeros_like(roll)  # (T, KEYS)
    for k in range(KEYS):
        out[:, fold_pitch(LOW + k + int(semitones)) - LOW] |= roll[:, k]
    return out


def _key(p: object, at: str) -> int:
    """Column of MIDI pitch ``p`` in a roll; DataError if it is no integer or off the keys."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
        raise DataError(f"{at}: pitch {p!r} is not a number")
    if not float(p).is_integer():
        raise DataError(f"{at}: pitch {p!r} is not an integer")
    if not LOW <= p <= HIGH:
        raise DataError(f"{at}: pitch {int(p)} is outside {LOW}..{HIGH} (the 88 piano keys)")
    return int(p) - LOW


def fold_pitch(pitch: int) -> int:
    """A MIDI pitch moved by octaves into LOW..HIGH."""
    while pitch < LOW:
        pitch += 12
    while pitch > HIGH:
        pitch -= 12
    return pitch


def shift_to_c(tonic: int) -> int:
    """The shift in -6..+5 semitones that takes pitch class ``tonic`` to C."""
    return (6 - tonic) % 12 - 6


def check_roll(roll: np.ndarray) -> np.ndarray:
    """A user's roll as (T, KEYS) uint8; ValueError on another shape or values not 0/1."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != KEYS:
        raise ValueError(f"roll must have shape (T, {KEYS}), got {roll.shape}")
    if not np.isin(roll, (0, 1)).all():
        raise ValueError("roll must hold only 0 and 1 (threshold probabilities first)")
    return roll.astype(np.uint8)


def held_notes(roll: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, first frame, frame after the last) of each run of a key held over consecutive
    frames, ordered by key then time: the notes of the roll (T, KEYS) under the benchmark's
    convention that a held key is one note."""
    edges = np.diff(np.pad(roll.astype(np.int8), ((1, 1), (0, 0))), axis=0).T  # (KEYS, T+1)
    keys, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)  # same order: the i-th stop ends the i-th start
    return list(zip(keys.tolist(), starts.tolist(), stops.tolist(), strict=True))


# ---- the benchmark's files ------------------------------------------------------------------


def read_jsb_json(path: str | Path) -> dict[str, list[Piece]]:
    """The JSB Chorales splits from a JSON file ``{"train"|"valid"|"test": [piece: [frame:
    [MIDI pitches]]]}`` (gzipped or not); pieces are named ``f"{split}/{i}"``.

    DataError (one line, naming the file) where it is not JSON (with line and column), not
    a dict of the three splits, or holds a bad pitch (naming split, piece and frame)."""
    path = Path(path)
    text = files.read_text(path, "a JSON file of JSB chorales")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e.msg} at line {e.lineno}, "
                        f"column {e.colno})") from None
    return _splits(obj, path)


def read_jsb_pickle(path: str | Path) -> dict[str, list[Piece]]:
    """The JSB Chorales splits from a researchers' pickle (a dict of splits -> pieces ->
    frames -> sequences of int or float MIDI pitches), the structure of ``read_jsb_json``.

    Unpickling can run any code the file names, so only the plain containers and numbers
    that need no class are read: any class or function in the file (numpy arrays included)
    is refused before it is looked up. DataError (one line) for that, and for a truncated
    or corrupt pickle."""
    path = Path(path)
    raw = files.read_bytes(path, "a pickle of JSB chorales")
    try:
        obj = _PlainUnpickler(io.BytesIO(raw), path).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, UnicodeDecodeError, OverflowError, MemoryError) as e:
        # What the unpickler raises on damaged data varies with the damaged opcode.
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: truncated or corrupt pickle ({reason})") from None
    return _splits(obj, path)


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that looks up no global at all: lists, dicts, tuples, str and numbers
    are built by opcodes alone, everything that can run code goes through find_class."""

    def __init__(self, fh: BinaryIO, path: Path):
        super().__init__(fh)
        self.path = path

    def find_class(self, module: str, name: str):
        raise DataError(f"{self.path}: refusing to unpickle {module}.{name} "
                        "(only lists, dicts and numbers are read)")


def _splits(obj: object, path: Path) -> dict[str, list[Piece]]:
    """The pieces of ``{split: [piece: [frame: [pitch]]]}`` read from ``path``."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict of the splits train, valid and test, "
                        f"got {type(obj).__name__}")
    missing = [s for s in SPLITS if s not in obj]
    if missing:
        found = ", ".join(map(repr, obj)) or "none"
        raise DataError(f"{path}: missing split(s) {', '.join(missing)} (found: {found})")
    out = {}
    for split in SPLITS:
        if not isinstance(obj[split], list | tuple):
            raise DataError(f"{path}: split {split} is not a list of pieces "
                            f"(got {type(obj[split]).__name__})")
        out[split] = [Piece(f"{split}/{i}", frames_to_roll(frames, f"{path}: piece {split}/{i}"))
                      for i, frames in enumerate(obj[split])]
    return out


# ---- music21's Bach chorales ----------------------------------------------------------------


def chorales_music21(limit: int | None = None) -> list[Piece]:
    """music21's Bach chorales as rolls on a quarter-note grid, in C major or C minor, in
    Riemenschneider order (``music21.corpus.chorales.Iterator``).

    Each chorale's key comes from music21's analysis (``score.analyze('key')``, Krumhansl-
    Schmuckler); the piece is shifted by -6..+5 semitones to put its tonic on C, mode
    kept. Ties are merged (``stripTies``), and frame k holds the pitches sounding at offset
    k quarters, as in the benchmark. Only the voices are read where parts are named
    Soprano/Alto/Tenor/Bass: 19 chorales add trumpets, timpani or obbligato strings,
    which are not chorale harmony. The Riemenschneider list names 350 distinct files for
    its 371 numbers; each file is read once. Pieces are named by BWV number
    (``"bwv26.6"``, from music21's chorale list).

    Chorales that fail to parse are left out and listed, with the reason, in the module's
    ``chorales_skipped``. Parsing all takes ~30 s, so the full set is cached in
    ``<cache>/chorales-music21-v1.npz`` (``cache_dir()`` of ``rnnkit.data.debian``:
    ``$RNNKIT_DATA``, else ``~/.cache/rnnkit/data``); with ``limit`` and no cache yet,
    only the first ``limit`` are parsed and nothing is cached.

    ConfigError where music21 is not installed."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    cache = cache_dir() / CHORALES_CACHE
    loaded = _load_pieces(cache) if cache.is_file() else None
    if loaded is None:
        loaded = _parse_chorales(limit)
        if limit is None:
            try:
                _save_pieces(cache, *loaded)
            except OSError as e:
                raise DataError(f"{cache}: cannot write the data cache ({e.strerror or e}); "
                                "set RNNKIT_DATA to a writable folder") from None
    pieces, skipped = loaded
    chorales_skipped[:] = skipped
    return pieces[:limit]


def _parse_chorales(limit: int | None) -> tuple[list[Piece], list[tuple[str, str]]]:
    try:
        from music21 import corpus
    except ImportError:
        raise ConfigError("the music recipe's default corpus needs music21: "
                          "pip install 'rnnkit[music]'") from None
    names = list(dict.fromkeys(corpus.chorales.Iterator(returnType="filename")))  # bach/bwv..
    pieces, skipped = [], []
    for name in names[:limit]:
        try:
            roll = _chorale_roll(corpus.parse(name))
        except Exception as e:  # music21 raises many kinds of error on a bad score
            skipped.append((name.removeprefix("bach/"), f"{type(e).__name__}: {e}"))
            continue
        pieces.append(Piece(name.removeprefix("bach/"), roll))
    return pieces, skipped


def _chorale_roll(score) -> np.ndarray:
    """A music21 score -> roll (T, KEYS) in C, sampled at each quarter's onset."""
    voices = ("soprano", "alto", "tenor", "bass")
    others = [p for p in score.parts if not any(v in (p.partName or "").lower() for v in voices)]
    if len(others) < len(score.parts):
        for part in others:
            score.remove(part)
    shift = shift_to_c(score.analyze("key").tonic.pitchClass)
    notes = score.stripTies().flatten().notes  # notes and chords, ties merged
    roll = np.zeros((math.ceil(score.highestTime), KEYS), np.uint8)  # (T, KEYS)
    for n in notes:
        start = float(n.offset)
        steps = slice(math.ceil(start), math.ceil(start + float(n.quarterLength)))
        for p in n.pitches:
            roll[steps, fold_pitch(p.midi + shift) - LOW] = 1
    return roll


def _save_pieces(path: Path, pieces: list[Piece], skipped: list[tuple[str, str]]) -> None:
    """All rolls concatenated, (sum T, KEYS), with names and lengths, in one .npz."""
    arrays = {
        "names": np.array([p.name for p in pieces], dtype=str),
        "lengths": np.array([len(p.roll) for p in pieces], dtype=np.int64),
        "rolls": np.concatenate([p.roll for p in pieces]) if pieces
        else np.zeros((0, KEYS), np.uint8),
        "skipped": np.array(skipped, dtype=str).reshape(-1, 2),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomically(path, lambda fh: np.savez_compressed(fh, **arrays))


def _load_pieces(path: Path) -> tuple[list[Piece], list[tuple[str, str]]] | None:
    """The cached pieces, or None where the cache cannot be read (it is then rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            names, lengths, rolls = z["names"], z["lengths"], z["rolls"]
            skipped = [(str(a), str(b)) for a, b in z["skipped"]]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    rolls = np.split(rolls, np.cumsum(lengths)[:-1]) if len(names) else []
    pieces = [Piece(str(n), r) for n, r in zip(names, rolls, strict=True)]
    return pieces, skipped


# ---- splits ---------------------------------------------------------------------------------


def split_pieces(pieces: list[Piece], valid: float = 0.15, test: float = 0.15,
                 seed: int = 0) -> tuple[list[Piece], list[Piece], list[Piece]]:
    """Our split (not the benchmark's): the pieces sorted by name, shuffled with ``seed``,
    then cut into (train, valid, test) with ``round(valid * n)`` and ``round(test * n)``
    pieces. Deterministic for a given set of names and seed."""
    if not (0 <= valid and 0 <= test and valid + test < 1):
        raise ValueError(f"valid and test must be >= 0 with valid + test < 1, "
                         f"got {valid} and {test}")
    ordered = sorted(pieces, key=lambda p: p.name)
    shuffled = [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]
    n_test, n_valid = round(test * len(pieces)), round(valid * len(pieces))
    return (shuffled[n_test + n_valid:], shuffled[n_test:n_test + n_valid],
            shuffled[:n_test])


# ---- listening ------------------------------------------------------------------------------


def render_wav(roll: np.ndarray, path: str | Path, *, steps_per_quarter: int = 1,
               bpm: float = 80.0, sample_rate: int = 16000) -> Path:
    """Write a roll (T, KEYS) as a 16-bit mono WAV of ``T / steps_per_quarter`` beats, to
    listen to without a MIDI player; returns the path.

    Each held note (a key on over consecutive frames) is one tone of four harmonics with
    amplitudes 1, 1/2, 1/4, 1/8 (those under the Nyquist frequency), a 10 ms attack, a
    slow decay and a 40 ms release inside the note, so that no note starts or stops with a
    click; the mix is scaled to a peak of 0.9. Written atomically (``audio.write_wav``)."""
    roll = check_roll(roll)
    check_positive("steps_per_quarter", steps_per_quarter, integer=True)
    check_positive("bpm", bpm)
    check_positive("sample_rate", sample_rate, integer=True)
    step = 60.0 / bpm / steps_per_quarter  # seconds per frame
    wave = np.zeros(round(len(roll) * step * sample_rate))  # (N,)
    for key, first, stop in held_notes(roll):
        a, b = round(first * step * sample_rate), round(stop * step * sample_rate)
        t = np.arange(b - a) / sample_rate  # (n,) seconds into the note
        f0 = 440.0 * 2 ** ((LOW + key - 69) / 12)
        tone = sum(0.5 ** h * np.sin(2 * np.pi * (h + 1) * f0 * t)
                   for h in range(4) if (h + 1) * f0 < sample_rate / 2)
        dur = (b - a) / sample_rate
        attack, release = min(0.01, dur / 4), min(0.04, dur / 4)
        env = np.minimum(1, t / attack) * np.minimum(1, (dur - t) / release) * np.exp(-t)
        wave[a:b] += tone * env
    peak = np.abs(wave).max(initial=0.0)
    if peak > 0:
        wave *= 0.9 / peak
    return write_wav(path, wave, sample_rate)


def check_positive(name: str, value: float, integer: bool = False) -> None:
    """ValueError naming the argument where ``value`` is not a positive number (integer)."""
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, "
                         f"got {value!r}")

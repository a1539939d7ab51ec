"""MIDI files <-> piano rolls (T, KEYS) on a grid of ``steps_per_quarter`` steps a beat.

Reading samples the notes sounding at each grid onset, as the JSB Chorales quarter-note
rolls are made (Boulanger-Lewandowski et al. 2012), from all tracks and channels but the
drums (channel 10). The grid is counted in ticks (the file's ticks per beat), so tempo
changes do not move it. Writing makes each key held over consecutive frames one note, so
``read_midi(write_midi(roll))`` gives the roll back exactly. The roll itself is described
in ``rnnkit.data.music``.

Reading goes through PyPI ``mido`` (pure Python); a file that is missing, empty, not MIDI,
damaged or without notes gives a one-line ``DataError`` naming it.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from rnnkit.data import files
from rnnkit.data.music import (
    KEYS,
    LOW,
    Piece,
    check_positive,
    check_roll,
    fold_pitch,
    held_notes,
    shift_to_c,
)
from rnnkit.errors import DataError

MIDI_EXTENSIONS = (".mid", ".midi")
TICKS_PER_BEAT = 480  # what write_midi uses: divisible by 1, 2, 3, 4, 5, 6, 8, 10, 12, 16
DRUMS = 9  # channel 10 counted from 1: General MIDI percussion, no pitches

# Krumhansl & Kessler (1982) probe-tone ratings of the 12 pitch classes above a major and
# a minor tonic (Krumhansl 1990, "Cognitive Foundations of Musical Pitch", table 2.1).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

Note = tuple[int, int, int]  # (start tick, end tick, MIDI pitch)


def read_midi(path: str | Path, *, steps_per_quarter: int = 1,
              transpose: str = "none") -> Piece:
    """A MIDI file as a Piece named after the file (its stem), roll (T, KEYS).

    Step k (onset at k / steps_per_quarter beats) holds the notes sounding at its onset;
    a note that sounds at no onset (shorter than a step, between two onsets) is kept on
    the step where it starts, so fast notes are not lost. Pitches outside LOW..HIGH are
    moved by octaves into it. T covers the last note and the file's end-of-track time.

    Args:
        steps_per_quarter: grid steps per beat (1: the benchmark's quarter notes).
        transpose: ``"none"``, or ``"c"`` to shift the piece by -6..+5 semitones so its
            tonic is C (major stays major, minor minor): the tonic is the first key
            signature's, else a Krumhansl-Schmuckler estimate from the pitch classes
            weighted by duration.

    DataError (one line, naming the file): missing, empty, not MIDI, damaged, or no notes.
    """
    check_positive("steps_per_quarter", steps_per_quarter, integer=True)
    if transpose not in ("none", "c"):
        raise ValueError(f"transpose must be 'none' or 'c', got {transpose!r}")
    path = Path(path)
    mid = _open_midi(path)
    notes, end, key = _notes(mid)
    if not notes:
        raise DataError(f"{path}: no notes (only drums or empty tracks)")
    shift = 0
    if transpose == "c":
        shift = shift_to_c(_tonic(key) if key else _estimate_tonic(notes))
    return Piece(path.stem, _quantise(notes, end, mid.ticks_per_beat, steps_per_quarter, shift),
                 shift)


def read_midi_folder(folder: str | Path, *, steps_per_quarter: int = 1,
                     transpose: str = "none") -> tuple[list[Piece], list[tuple[str, str]]]:
    """Every ``*.mid`` / ``*.midi`` under ``folder`` (any case, any depth, sorted), read
    as ``read_midi`` does; pieces are named by their path below the folder without the
    suffix (``"set1/bwv26.6"``).

    Returns (pieces, skipped): a file that cannot be read is skipped and listed as (its
    path below the folder, the one-line reason). DataError where the folder is missing or
    not a folder, holds no MIDI file, or none of its files could be read."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder, expected a folder of MIDI files")
    paths = sorted(p for p in folder.rglob("*")
                   if p.suffix.lower() in MIDI_EXTENSIONS and p.is_file())
    if not paths:
        raise DataError(f"{folder}: no MIDI files (*.mid, *.midi) in it")
    pieces, skipped = [], []
    for p in paths:
        rel = p.relative_to(folder)
        try:
            piece = read_midi(p, steps_per_quarter=steps_per_quarter, transpose=transpose)
        except DataError as e:
            skipped.append((rel.as_posix(), str(e).removeprefix(f"{p}: ")))
            continue
        pieces.append(Piece(rel.with_suffix("").as_posix(), piece.roll))
    if not pieces:
        shown = "; ".join(f"{name}: {why}" for name, why in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        raise DataError(f"{folder}: none of its {len(skipped)} MIDI files could be read "
                        f"({shown}{more})")
    return pieces, skipped


def write_midi(roll: np.ndarray, path: str | Path, *, steps_per_quarter: int = 1,
               bpm: float = 80.0, velocity: int = 80, program: int = 0) -> Path:
    """Write a roll (T, KEYS) as a one-track MIDI file (480 ticks a beat); returns the path.

    A key on over consecutive frames becomes one note: the roll cannot tell a held note
    from one repeated on the next step (the benchmark's convention), and holding is the
    likelier reading of a chorale. A final end-of-track delay keeps trailing empty frames,
    so ``read_midi`` with the same ``steps_per_quarter`` gives exactly ``roll`` back (a
    roll without any note is written, but ``read_midi`` refuses a file without notes).
    Written atomically (a hidden temporary file renamed into place).

    Args:
        steps_per_quarter: frames per beat; must divide 480.
        bpm: tempo in beats (quarter notes) per minute.
        velocity: loudness of every note, 1..127.
        program: General MIDI instrument, 0..127 (0: acoustic grand piano).
    """
    import mido

    roll = check_roll(roll)
    check_positive("steps_per_quarter", steps_per_quarter, integer=True)
    check_positive("bpm", bpm)
    if TICKS_PER_BEAT % steps_per_quarter:
        raise ValueError(f"steps_per_quarter must divide {TICKS_PER_BEAT}, "
                         f"got {steps_per_quarter}")
    if not 1 <= velocity <= 127 or not 0 <= program <= 127:
        raise ValueError(f"velocity must be in 1..127 and program in 0..127, "
                         f"got {velocity} and {program}")
    tempo = mido.bpm2tempo(bpm)
    if tempo > 0xFFFFFF:  # a 24-bit count of microseconds per beat
        raise ValueError(f"bpm must be at least 3.6, got {bpm}")
    step = TICKS_PER_BEAT // steps_per_quarter  # ticks per frame
    events = []  # (tick, 0 for off / 1 for on, pitch): offs first where they meet ons
    for key, first, stop in held_notes(roll):
        events += [(first * step, 1, LOW + key), (stop * step, 0, LOW + key)]
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo),
                            mido.Message("program_change", program=program)])
    now = 0
    for tick, on, pitch in sorted(events):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=len(roll) * step - now))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT, tracks=[track])
    return files.write_atomically(Path(path), lambda fh: mid.save(file=fh))


# ---- reading --------------------------------------------------------------------------------


def _open_midi(path: Path):
    import mido

    raw = files.read_bytes(path, "a MIDI file")
    if raw[:4] != b"MThd":
        raise DataError(f"{path}: not a MIDI file (no MThd header)")
    try:
        mid = mido.MidiFile(file=io.BytesIO(raw))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        # mido's errors on damaged data: OSError (bad chunk, status or data byte), EOFError
        # (cut short), ValueError/KeyError/IndexError (bad meta message data).
        reason = str(e).splitlines()[0] if str(e) else "the file ends inside a chunk"
        raise DataError(f"{path}: damaged MIDI file ({reason})") from None
    if mid.ticks_per_beat <= 0:  # the header's top bit set: SMPTE frames, not beats
        raise DataError(f"{path}: SMPTE time division is not supported (no beats to "
                        "put a grid on)")
    return mid


def _notes(mid) -> tuple[list[Note], int, str | None]:
    """The pitched notes of all tracks, the last tick of the longest track, and the first
    key signature ("D", "F#m", ...) or None."""
    notes: list[Note] = []
    end, key, key_tick = 0, None, None
    for track in mid.tracks:
        sounding: dict[tuple[int, int], list[int]] = defaultdict(list)  # start ticks
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "key_signature" and (key_tick is None or tick < key_tick):
                key, key_tick = msg.key, tick
            if msg.type not in ("note_on", "note_off") or msg.channel == DRUMS:
                continue
            held = sounding[msg.channel, msg.note]
            if msg.type == "note_on" and msg.velocity > 0:
                held.append(tick)
            elif held:  # note_off, or note_on with velocity 0; the oldest one ends
                notes.append((held.pop(0), tick, msg.note))
        # Notes never switched off end with their track.
        notes += [(t, tick, pitch) for (_, pitch), held in sounding.items() for t in held]
        end = max(end, tick)
    return notes, end, key


def _quantise(notes: list[Note], end: int, ticks_per_beat: int, steps_per_quarter: int,
              shift: int) -> np.ndarray:
    """Notes -> roll (T, KEYS). Onset k is at tick k * ticks_per_beat / steps_per_quarter;
    times are compared multiplied by steps_per_quarter, so everything stays in integers."""
    tpb, spq = ticks_per_beat, steps_per_quarter
    spans = []
    steps = end * spq // tpb  # whole steps up to the end of the longest track
    for start, stop, pitch in notes:
        first, after = -(-start * spq // tpb), -(-stop * spq // tpb)  # onsets in [start, stop)
        if first >= after:  # sounds at no onset: keep it on the step where it starts
            first = start * spq // tpb
            after = first + 1
        spans.append((first, after, fold_pitch(pitch + shift) - LOW))
        steps = max(steps, after)
    roll = np.zeros((steps, KEYS), np.uint8)  # (T, KEYS)
    for first, after, k in spans:
        roll[first:after, k] = 1
    return roll


def _tonic(key: str) -> int:
    """Pitch class of a key signature's tonic: "D" -> 2, "F#m" -> 6, "Bbm" -> 10."""
    return (_LETTERS[key[0]] + key.count("#") - key[1:].count("b")) % 12


def _estimate_tonic(notes: list[Note]) -> int:
    """Krumhansl-Schmuckler key finding: the tonic of the major or minor key whose
    Krumhansl-Kessler profile correlates best (Pearson) with the piece's pitch-class
    histogram, each note weighted by its duration."""
    hist = np.zeros(12)  # (12,) ticks sounding per pitch class
    for start, stop, pitch in notes:
        hist[pitch % 12] += stop - start
    hist -= hist.mean()
    if not hist.any():  # all classes equally long: no key to find
        return 0
    best, tonic = -np.inf, 0
    for profile in (MAJOR_PROFILE, MINOR_PROFILE):
        for t in range(12):
            p = np.roll(profile, t)  # p[pc] = rating of pc above tonic t
            p = p - p.mean()
            r = hist @ p / np.sqrt((hist @ hist) * (p @ p))
            if r > best:
                best, tonic = r, t
    return tonic

"""Piano rolls: frames <-> rolls, MIDI reading and writing (round trip, a hand-made file,
transposition to C), the JSB Chorales JSON and pickle readers, bad files, folders, the
WAV synthesiser, splits and music21's chorales."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import mido
import numpy as np
import pytest

from rnnkit.data import midi, music
from rnnkit.data.music import HIGH, KEYS, LOW
from rnnkit.errors import DataError

JSB_JSON = Path("/work/shared/data/jsb-chorales-quarter.json")


def one_line_error(fn, *args, match: str, **kwargs) -> str:
    """The DataError message of ``fn(*args)``: one line, naming the file in args[0]."""
    with pytest.raises(DataError, match=match) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg and Path(args[0]).name in msg, msg
    return msg


def random_roll(seed: int, T: int = 48) -> np.ndarray:
    """(T, KEYS) chorale-like density, with held notes, empty frames inside and at the end."""
    rng = np.random.default_rng(seed)
    roll = (rng.random((T, KEYS)) < 0.04).astype(np.uint8)
    roll[5:9, 40] = 1  # a note held four frames
    roll[12:15] = 0  # silence in the middle
    roll[-2:] = 0  # trailing silence, kept by the end-of-track delay
    return roll


def mido_file(path: Path, tracks, ticks_per_beat: int = 96, key: str | None = None,
              tempo_change: bool = False) -> Path:
    """Write tracks of (start beat, beats, pitch, channel) with mido itself."""
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for i, notes in enumerate(tracks):
        events = []  # (tick, order, message): offs before ons at the same tick
        for start, beats, pitch, ch in notes:
            on, off = (round(b * ticks_per_beat) for b in (start, start + beats))
            events.append((on, 2, mido.Message("note_on", note=pitch, velocity=64, channel=ch)))
            events.append((off, 1, mido.Message("note_off", note=pitch, channel=ch)))
        if i == 0 and key:
            events.append((0, 0, mido.MetaMessage("key_signature", key=key)))
        if i == 0 and tempo_change:  # the grid is in ticks: tempo must not move it
            events.append((ticks_per_beat, 0, mido.MetaMessage("set_tempo", tempo=400000)))
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(events, key=lambda e: e[:2]):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    mid.save(path)
    return path


def test_frames_roll_round_trip():
    frames = [[60, 64, 67], [], [21, 108], [62.0, 65]]
    roll = music.frames_to_roll(frames)
    assert roll.shape == (4, KEYS) and roll.dtype == np.uint8 and roll.sum() == 7
    assert roll[2, 0] == roll[2, KEYS - 1] == 1
    assert music.roll_to_frames(roll) == [[60, 64, 67], [], [21, 108], [62, 65]]
    assert music.frames_to_roll([]).shape == (0, KEYS)
    for bad, why in [(200, "outside 21..108"), (20, "outside"), (60.5, "not an integer"),
                     ("60", "not a number"), (True, "not a number")]:
        with pytest.raises(DataError, match=rf"^song, frame 1: pitch .*{why}"):
            music.frames_to_roll([[60], [bad]], name="song")


def test_transpose_roll_folds_by_octaves():
    roll = music.frames_to_roll([[60, 107, 108], [21]])
    assert music.roll_to_frames(music.transpose_roll(roll, 2)) == [[62, 97, 98], [23]]
    assert music.roll_to_frames(music.transpose_roll(roll, -1)) == [[59, 106, 107], [32]]
    middle = music.frames_to_roll([[40, 60], [], [80]])  # nothing folds: shifts undo
    assert (music.transpose_roll(music.transpose_roll(middle, 5), -5) == middle).all()


@pytest.mark.parametrize("seed, spq", [(0, 1), (1, 1), (2, 2), (3, 4), (4, 3)])
def test_write_read_midi_round_trip(tmp_path, seed, spq):
    roll = random_roll(seed)
    path = midi.write_midi(roll, tmp_path / "r.mid", steps_per_quarter=spq, bpm=97.5)
    piece = midi.read_midi(path, steps_per_quarter=spq)
    assert piece.name == "r" and piece.roll.dtype == np.uint8
    np.testing.assert_array_equal(piece.roll, roll)
    assert [p.name for p in tmp_path.iterdir()] == ["r.mid"]  # no temporary file left


def test_held_key_is_one_note(tmp_path):
    roll = music.frames_to_roll([[60], [60], [60], [], [60]])
    mid = mido.MidiFile(midi.write_midi(roll, tmp_path / "h.mid"))
    ons = [m for m in mid.tracks[0] if m.type == "note_on"]
    assert len(ons) == 2  # frames 0-2 held, frame 4 a new note


def test_hand_made_midi(tmp_path):
    # 96 ticks a beat, a tempo change, a C-major chord for two beats then a G; a drum on
    # channel 10 (ignored); a second track with C3 on beats 1-2; a short D8 (110, folded
    # down an octave to 98) between onsets 2 and 3.
    path = mido_file(tmp_path / "hand.mid", [
        [(0, 2, 60, 0), (0, 2, 64, 0), (0, 2, 67, 0), (2, 1, 67, 0), (0, 1, 36, 9),
         (2.25, 0.25, 110, 0)],
        [(1, 2, 48, 1)],
    ], tempo_change=True)
    piece = midi.read_midi(path)
    assert music.roll_to_frames(piece.roll) == [[60, 64, 67], [48, 60, 64, 67], [48, 67, 98]]
    halves = midi.read_midi(path, steps_per_quarter=2).roll
    assert music.roll_to_frames(halves) == [
        [60, 64, 67], [60, 64, 67], [48, 60, 64, 67], [48, 60, 64, 67],
        [48, 67, 98], [48, 67]]  # the short note sits where it starts, step 4 (beat 2)


# C major: I - IV - V7 - I with the melody C D B C; the same an A minor: i - iv - V - i.
C_MAJOR = [[48, 64, 67, 72]] * 2 + [[53, 65, 69, 74]] + [[55, 65, 71, 74]] + [[48, 64, 67, 72]] * 3
A_MINOR = [[45, 64, 69, 72]] * 2 + [[50, 65, 69, 74]] + [[52, 64, 68, 71]] + [[45, 64, 69, 72]] * 3


def test_transpose_to_c(tmp_path):
    c = music.frames_to_roll(C_MAJOR)
    d = midi.write_midi(music.transpose_roll(c, 2), tmp_path / "d.mid")  # no key signature
    np.testing.assert_array_equal(midi.read_midi(d, transpose="c").roll, c)  # estimated
    assert (midi.read_midi(d).roll == music.transpose_roll(c, 2)).all()
    cm = midi.write_midi(c, tmp_path / "c.mid")
    np.testing.assert_array_equal(midi.read_midi(cm, transpose="c").roll, c)

    notes = [(t, 1, p, 0) for t, frame in enumerate(A_MINOR) for p in frame]
    am = mido_file(tmp_path / "am.mid", [notes], key="Am")
    want = music.transpose_roll(music.frames_to_roll(A_MINOR), 3)  # A -> C is +3
    np.testing.assert_array_equal(midi.read_midi(am, transpose="c").roll, want)
    # The key signature wins over the estimate: a C-major chord marked "Am" moves by +3.
    chord = mido_file(tmp_path / "chord.mid", [[(0, 1, p, 0) for p in (60, 64, 67)]], key="Am")
    assert music.roll_to_frames(midi.read_midi(chord, transpose="c").roll) == [[63, 67, 70]]
    with pytest.raises(ValueError, match="transpose must be"):
        midi.read_midi(chord, transpose="C major")


def test_bad_midi_files(tmp_path):
    one_line_error(midi.read_midi, tmp_path / "missing.mid", match="no such file")
    (tmp_path / "empty.mid").write_bytes(b"")
    one_line_error(midi.read_midi, tmp_path / "empty.mid", match="empty file")
    (tmp_path / "junk.mid").write_bytes(os.urandom(64) + b"\x00")
    one_line_error(midi.read_midi, tmp_path / "junk.mid", match="not a MIDI file")
    good = midi.write_midi(random_roll(0), tmp_path / "good.mid").read_bytes()
    (tmp_path / "cut.mid").write_bytes(good[:40])
    one_line_error(midi.read_midi, tmp_path / "cut.mid", match="damaged MIDI file")
    drums = mido_file(tmp_path / "drums.mid", [[(0, 1, 36, 9), (1, 1, 38, 9)], []])
    one_line_error(midi.read_midi, drums, match=r"no notes \(only drums or empty tracks\)")


def test_read_midi_folder(tmp_path):
    midi.write_midi(random_roll(1), tmp_path / "good.mid")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Junk.MID").write_bytes(b"RIFF....junk")
    (tmp_path / "notes.txt").write_text("not MIDI, not read")
    pieces, skipped = midi.read_midi_folder(tmp_path)
    assert [p.name for p in pieces] == ["good"]
    assert skipped == [("sub/Junk.MID", "not a MIDI file (no MThd header)")]

    one_line_error(midi.read_midi_folder, tmp_path / "sub",
                   match=r"none of its 1 MIDI files could be read \(Junk\.MID: not a MIDI")
    one_line_error(midi.read_midi_folder, tmp_path / "nope", match="no such folder")
    (tmp_path / "none").mkdir()
    one_line_error(midi.read_midi_folder, tmp_path / "none", match="no MIDI files")


@pytest.mark.skipif(not JSB_JSON.is_file(), reason="the JSB Chorales JSON is not here")
def test_jsb_json_counts():
    splits = music.read_jsb_json(JSB_JSON)
    assert {k: len(v) for k, v in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    frames = {k: sum(len(p.roll) for p in v) for k, v in splits.items()}
    assert frames == {"train": 13807, "valid": 4602, "test": 4725}
    assert splits["train"][12].name == "train/12"


def test_jsb_json_and_pickle_agree(tmp_path):
    data = {"train": [[[60, 64], [], [62]]], "valid": [[[48.0]]], "test": [[], [(70, 74)]]}
    path = tmp_path / "jsb.json"
    path.write_text(json.dumps(data))
    from_json = music.read_jsb_json(path)
    pkl = tmp_path / "jsb.pickle"
    pkl.write_bytes(pickle.dumps(data, protocol=2))  # tuples and floats, as old pickles
    from_pickle = music.read_jsb_pickle(pkl)
    for split in music.SPLITS:
        for a, b in zip(from_json[split], from_pickle[split], strict=True):
            assert a.name == b.name and (a.roll == b.roll).all()
    assert music.roll_to_frames(from_pickle["test"][1].roll) == [[70, 74]]


def test_bad_jsb_files(tmp_path):
    one_line_error(music.read_jsb_json, tmp_path / "missing.json", match="no such file")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"train": [[[60], [60, 200]]], "valid": [], "test": []}))
    one_line_error(music.read_jsb_json, path,
                   match=r"piece train/0, frame 1: pitch 200 is outside 21\.\.108")
    path.write_text('{"train": [[[60]]],\n "valid": [[[60] [61]]]}')
    one_line_error(music.read_jsb_json, path, match=r"not JSON \(.* line 2, column 18\)")
    path.write_text('{"train": [], "valid": []}')
    one_line_error(music.read_jsb_json, path, match="missing split.* test")
    path.write_text("[[60]]")
    one_line_error(music.read_jsb_json, path, match="expected a dict of the splits")

    good = pickle.dumps({s: [[[60]]] for s in music.SPLITS})
    cut = tmp_path / "cut.pickle"
    cut.write_bytes(good[:-6])
    one_line_error(music.read_jsb_pickle, cut, match="truncated or corrupt pickle")
    (tmp_path / "empty.pickle").write_bytes(b"")
    one_line_error(music.read_jsb_pickle, tmp_path / "empty.pickle", match="empty file")


class Hostile:
    """What a malicious pickle does: unpickling it calls os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [Hostile(marker)], "valid": [], "test": []}))
    one_line_error(music.read_jsb_pickle, path,
                   match=r"refusing to unpickle \w+\.system \(only lists, dicts and numbers")
    assert not marker.exists()
    path.write_bytes(pickle.dumps({s: [np.zeros((2, 1))] for s in music.SPLITS}))
    one_line_error(music.read_jsb_pickle, path, match=r"refusing to unpickle numpy")


def test_render_wav(tmp_path):
    sf = pytest.importorskip("soundfile")
    roll = random_roll(2, T=8)
    roll[0, 39] = 1  # a note at t = 0: the attack must still start from silence
    path = music.render_wav(roll, tmp_path / "r.wav", steps_per_quarter=2, bpm=120)
    wave, sr = sf.read(path)
    assert sr == 16000 and wave.shape == (8 * 0.25 * 16000,)  # 8 half-beats at 120 bpm: 2 s
    assert 0.8 < np.abs(wave).max() <= 1.0 and abs(wave[0]) < 0.01
    silent = music.render_wav(np.zeros((4, KEYS), np.uint8), tmp_path / "s.wav")
    assert np.abs(sf.read(silent)[0]).max() == 0
    with pytest.raises(ValueError, match="only 0 and 1"):
        music.render_wav(roll * 0.5, tmp_path / "x.wav")


def test_split_pieces_is_deterministic():
    pieces = [music.Piece(f"p{i:02d}", np.zeros((1, KEYS), np.uint8)) for i in range(20)]
    train, valid, test = music.split_pieces(pieces, seed=3)
    assert (len(train), len(valid), len(test)) == (14, 3, 3)
    names = [[p.name for p in part] for part in (train, valid, test)]
    assert sorted(sum(names, [])) == [p.name for p in pieces]
    again = music.split_pieces(pieces[::-1], seed=3)  # input order does not matter
    assert [[p.name for p in part] for part in again] == names
    assert [p.name for p in music.split_pieces(pieces, seed=4)[2]] != names[2]
    with pytest.raises(ValueError, match="valid \\+ test < 1"):
        music.split_pieces(pieces, valid=0.5, test=0.5)


def test_chorales_cache_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    pieces = [music.Piece("bwv1.6", random_roll(0, T=9)), music.Piece("bwv2.6", random_roll(1))]
    music._save_pieces(tmp_path / music.CHORALES_CACHE, pieces, [("bwv3.6", "broken")])
    got = music.chorales_music21(limit=None)  # from the cache: no music21 needed
    assert [p.name for p in got] == ["bwv1.6", "bwv2.6"]
    assert all((a.roll == b.roll).all() for a, b in zip(got, pieces, strict=True))
    assert music.chorales_skipped == [("bwv3.6", "broken")]
    assert len(music.chorales_music21(limit=1)) == 1


def test_chorales_music21(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    pieces = music.chorales_music21(limit=3)
    assert len(pieces) == 3 and all(p.name.startswith("bwv") for p in pieces)
    assert not list(tmp_path.iterdir())  # a partial set is not cached
    hist = np.zeros(12)  # (12,) frames sounding per pitch class, over the three
    for p in pieces:
        assert p.roll.shape[1] == KEYS and len(p.roll) > 8 and p.roll.dtype == np.uint8
        hist += np.bincount((np.arange(LOW, HIGH + 1)) % 12, weights=p.roll.sum(0),
                            minlength=12)
    assert {0, 7} <= set(np.argsort(-hist)[:3].tolist())  # C and G lead: all in C


def test_writes_are_atomic_and_arguments_checked(tmp_path, monkeypatch):
    path = midi.write_midi(random_roll(0), tmp_path / "a.mid")
    before = path.read_bytes()

    def killed(self, filename=None, file=None):
        file.write(b"MThd half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(mido.MidiFile, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        midi.write_midi(random_roll(1), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.mid"]
    monkeypatch.undo()
    with pytest.raises(ValueError, match="must divide 480"):
        midi.write_midi(random_roll(0), path, steps_per_quarter=7)
    with pytest.raises(ValueError, match="steps_per_quarter must be a positive integer"):
        midi.read_midi(path, steps_per_quarter=0)
    with pytest.raises(ValueError, match=r"shape \(T, 88\)"):
        midi.write_midi(np.zeros((4, 12)), path)

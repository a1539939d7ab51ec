"""The teacher voice: generated once into the cache (with a fake flite on PATH that logs its
calls), read back without the synthesiser, never half-written; the fillets-ng English
sentences; clear errors where flite is missing. Two tests run the real flite where its
Debian packages are unpacked in the data cache."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from helpers import data_error_message as message
from rnnkit.data import debian, fillets, teacher_voice
from rnnkit.data.teacher_voice import (
    fillets_english,
    find_synthesiser,
    read_manifest,
    synthesise_teacher,
    teacher_corpus,
)
from rnnkit.data.transcribed import read_transcript_list
from rnnkit.errors import DataError

CACHE = debian.cache_dir()

def test_generated_once_then_read_back(tmp_path, fake_flite):
    cache = tmp_path / "cache"
    sentences = ["Hello there.", "  What   kind of\nship? ", "Go!"]
    utts = synthesise_teacher(sentences, groups=["a", "a", "b"], ids=["x", "y", "z"],
                              cache=cache)
    assert [u.text for u in utts] == ["Hello there.", "What kind of ship?", "Go!"]
    assert [(u.group, u.id, u.speaker) for u in utts] == [("a", "x", "slt"), ("a", "y", "slt"),
                                                         ("b", "z", "slt")]
    assert fake_flite.read_text().splitlines() == [u.text for u in utts]
    folder = utts[0].path.parent.parent
    assert folder.parent == cache / "teacher-voice" and folder.name.startswith("flite-slt-16000-")
    assert [p.name for p in cache.joinpath("teacher-voice").iterdir()] == [folder.name]
    manifest = read_manifest(folder)
    assert manifest["sentences"] == 3 and manifest["voice"] == "slt"
    assert manifest["seconds"] == pytest.approx(sum(len(u.text) for u in utts) / 20)
    wave, sr = sf.read(utts[1].path)
    assert sr == 16000 and wave.ndim == 1 and len(wave) == manifest["items"][1]["samples"]
    assert "voice slt, 16000 Hz, 3 sentences" in utts.source
    listed = read_transcript_list(folder)  # list.tsv: the folder reads as --data DIR
    assert [(u.path, u.text) for u in listed] == [(u.path, u.text) for u in utts]

    fake_flite.write_text("")
    again = synthesise_teacher(sentences, cache=cache)  # cached: flite not called
    assert fake_flite.read_text() == ""
    assert [u.path for u in again] == [u.path for u in utts]
    assert [u.id for u in again] == ["0", "1", "2"] and {u.group for u in again} == {""}
    other = synthesise_teacher(sentences[:2], cache=cache)  # another list: another folder
    assert other[0].path.parent.parent != folder
    assert fake_flite.read_text().splitlines() == [u.text for u in other]


def test_other_rates_are_resampled(tmp_path, fake_flite):
    utts = synthesise_teacher(["Eight kilohertz."], "kal", cache=tmp_path)
    info = sf.info(str(utts[0].path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.frames == len("Eight kilohertz.") * 16000 // 20


def test_a_failed_run_leaves_nothing_to_trust(tmp_path, fake_flite):
    msg = message(synthesise_teacher, ["First.", "FAIL here.", "Third."], cache=tmp_path)
    assert "flite failed on 'FAIL here.'" in msg and "something broke" in msg
    assert list((tmp_path / "teacher-voice").iterdir()) == []  # the half folder is gone
    assert "Third." not in fake_flite.read_text()


def test_an_interrupted_run_is_started_again(tmp_path, fake_flite, monkeypatch):
    speak = teacher_voice.Synthesiser.speak

    def interrupted(self, text, voice, out):
        if text == "Second.":
            raise KeyboardInterrupt  # Ctrl-C; a SIGKILL leaves the hidden folder instead
        speak(self, text, voice, out)

    monkeypatch.setattr(teacher_voice.Synthesiser, "speak", interrupted)
    with pytest.raises(KeyboardInterrupt):
        synthesise_teacher(["First.", "Second."], cache=tmp_path)
    root = tmp_path / "teacher-voice"
    assert list(root.iterdir()) == []
    stale = root / ".flite-slt-16000-0123456789abcdef-killed"  # what a SIGKILL leaves
    (stale / "wav").mkdir(parents=True)
    (stale / "wav/00000.wav").write_bytes(b"RIFF")
    monkeypatch.setattr(teacher_voice.Synthesiser, "speak", speak)
    utts = synthesise_teacher(["First.", "Second."], cache=tmp_path)
    assert not utts[0].path.is_relative_to(stale) and sf.info(str(utts[0].path)).frames > 0


def test_bad_requests(tmp_path, fake_flite):
    msg = message(synthesise_teacher, ["Hi."], "nosuch", cache=tmp_path)
    assert "unknown flite voice 'nosuch'" in msg and "slt" in msg
    assert "unknown speech synthesiser" in message(synthesise_teacher, ["Hi."], engine="say")
    with pytest.raises(ValueError, match="sentence 1"):
        synthesise_teacher(["Hi.", " ... "], cache=tmp_path)
    with pytest.raises(ValueError, match="no sentences"):
        synthesise_teacher([], cache=tmp_path)
    with pytest.raises(ValueError, match="2 groups for 1"):
        synthesise_teacher(["Hi."], groups=["a", "b"], cache=tmp_path)
    assert fake_flite.read_text() == ""


def test_missing_flite_names_the_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no flite on it

    def offline(name, cache=None, **kwargs):
        raise DataError(f"`apt-get download {name}` failed (no network): run it by hand")

    monkeypatch.setattr(teacher_voice, "debian_package", offline)
    msg = message(find_synthesiser, cache=tmp_path)
    assert "flite, libflite1" in msg and "apt-get install flite" in msg and "no network" in msg
    # packages that unpack but do not run (here: no binary in them)
    for name in ("flite", "libflite1"):
        (tmp_path / name / "usr/bin").mkdir(parents=True)
    monkeypatch.setattr(teacher_voice, "debian_package", lambda name, cache=None: cache / name)
    msg = message(find_synthesiser, cache=tmp_path)
    assert "does not run" in msg and "flite, libflite1" in msg


EN_AIRPLANE = '''dialogId("a-1", "font_small", "What kind of strange ship is that?")
dialogId("a-2", "font_big", "Old text.")
dialogId("a-3", "font_big", "")
dialogId("a-2", "font_big", "It’s   a wreck.")
'''
EN_BARREL = '''dialogId("b-1", "font_small", "What kind of strange ship is that?")
dialogId("b-2", "font_small", "This barrel stinks.")
'''


def test_fillets_english_dedupes_and_keeps_levels(tmp_path, fake_flite):
    root = tmp_path / "fillets-ng-data"
    for name, text in {"airplane/dialogs_en.lua": EN_AIRPLANE,
                       "airplane/dialogs_nl.lua": 'dialogId("a-1", "f", "x")\ndialogStr("y")\n',
                       "barrel/demo_dialogs_en.lua": EN_BARREL}.items():
        path = root / fillets.SCRIPT_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    texts, groups, ids, skipped = fillets_english(root)
    assert texts == ["What kind of strange ship is that?", "It's a wreck.",
                     "This barrel stinks."]
    assert groups == ["airplane", "airplane", "barrel"]
    assert ids == ["airplane/a-1", "airplane/a-2", "barrel/b-2"]
    assert skipped == {"duplicate": 1, "empty": 1, "redefined": 1}
    utts = teacher_corpus(root=root, cache=tmp_path / "cache")
    assert [u.id for u in utts] == ids and utts.skipped == skipped and utts.lang == "en"


# ---- the real flite, where its packages are in the data cache --------------------------------

FLITE_UNPACKED = all((CACHE / p).is_dir() for p in ("flite", "libflite1"))


@pytest.mark.skipif(not FLITE_UNPACKED, reason="flite and libflite1 are not unpacked in "
                    "the data cache")
def test_real_flite_speaks_at_16_khz(tmp_path):
    synth = find_synthesiser(cache=CACHE)
    assert {"slt", "awb", "rms", "kal"} <= set(synth.voices())
    synth.speak("What kind of strange ship is that?", "slt", tmp_path / "a.wav")
    wave, sr = sf.read(tmp_path / "a.wav")
    assert sr == 16000 and wave.ndim == 1 and 1.5 < len(wave) / sr < 3.0  # 2.15 s
    assert 0.2 < np.abs(wave).max() < 1.0


@pytest.mark.skipif(not (CACHE / "fillets-ng-data").is_dir(),
                    reason="fillets-ng-data is not unpacked in the data cache")
def test_real_fillets_english_counts():
    texts, groups, ids, skipped = fillets_english(CACHE / "fillets-ng-data")
    assert len(texts) == len(set(texts)) == 1946 and len(set(groups)) == 81
    assert len(set(ids)) == len(ids)
    assert skipped == {"duplicate": 72, "empty": 154, "malformed": 3}

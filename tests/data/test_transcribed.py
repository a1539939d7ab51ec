"""Transcribed speech: the fillets-ng voices on a small fake pair of packages written in
the real layout, the user's audio_path<TAB>transcript list, and CTC transcript
normalisation. One test reads the real packages where they are in the data cache."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from helpers import data_error_message as message
from rnnkit.data import debian, fillets
from rnnkit.data.transcribed import (
    SOUND_DIR,
    Utterance,
    load_fillets_speech,
    normalise_transcript,
    read_transcript_list,
)

SCRIPT = fillets.SCRIPT_DIR

# airplane: an id redefined (the last text counts), one without dialogStr, one with empty
# text, one with a run-time number (%1), one never voiced; barrel reuses airplane's id.
AIRPLANE_NL = '''dialogId("rand-0", "font_small", "Look, a fish.")
dialogStr("Kijk, een vis.")
dialogId("let-v-nic", "font_big", "Nothing here.")
dialogStr("Niets hier.")
dialogId("rand-0", "font_small", "Look, a fish!")
dialogStr("Kijk, een vis!")
dialogId("let-v-stil", "font_big", "Quiet.")
dialogId("let-v-leeg", "font_big", "")
dialogStr("")
dialogId("let-v-uur", "font_big", "It took you %1 hours!")
dialogStr("Het kostte je %1 uur!")
dialogId("let-v-stom", "font_big", "Never voiced.")
dialogStr("Nooit ingesproken.")
dialogId("let-m-leeg", "font_small", "Empty clip.")
dialogStr("Lege opname.")
dialogId("let-m-kapot", "font_small", "Broken clip.")
dialogStr("Kapotte opname.")
'''
BARREL_NL = '''dialogId("rand-0", "font_small", "This barrel stinks.")
dialogStr("Dit vat stinkt.")
'''
BORE_NL = '''dialogId("ob-m-co", "font_small", "What?")
dialogStr("Wat?")
'''
SHOUT_NL = '''dialogId("cil-v-hlaska0", "font_big", "I think we have a job to do here.")
dialogStr("Ik denk dat we hier werk te doen hebben.")
'''
INTRO_NL = '''dialogId("intro-1", "font_big", "Hello.")
dialogStr("Hallo.")
'''
CS = '''dialogId("rand-0", "font_small", "Look, a fish!")
dialogStr("Hele, ryba!")
'''


def write_clip(path, seconds=0.1, sample_rate=22050):
    """A short sine as OGG/Vorbis, as the packages ship."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate,
             format="OGG", subtype="VORBIS")
    return path


def fake_packages(tmp_path):
    """(scripts package root, nl audio package root) in miniature."""
    scripts = tmp_path / "fillets-ng-data"
    texts = {"airplane/dialogs_nl.lua": AIRPLANE_NL, "airplane/dialogs_en.lua": "",
             "airplane/dialogs_cs.lua": CS, "barrel/demo_dialogs_nl.lua": BARREL_NL,
             "share/bore_dialogs_nl.lua": BORE_NL, "share/shout_dialogs_nl.lua": SHOUT_NL,
             "share/intro_dialogs_nl.lua": INTRO_NL}
    for name, text in texts.items():
        path = scripts / SCRIPT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (scripts / debian.SOURCE_FILE).write_text("package: fillets-ng-data\nversion: 9.9\n")
    audio = tmp_path / "fillets-ng-data-nl"
    sound = audio / SOUND_DIR
    for name in ("airplane/nl/rand-0", "airplane/nl/let-v-nic", "airplane/nl/let-v-stil",
                 "airplane/nl/let-v-leeg", "airplane/nl/let-v-uur", "airplane/nl/stray",
                 "barrel/nl/rand-0", "share/borejokes/nl/ob-m-co",
                 "share/border/nl/cil-v-hlaska0", "airplane/cs/rand-0"):
        write_clip(sound / f"{name}.ogg")
    (sound / "airplane/nl/let-m-leeg.ogg").write_bytes(b"")
    (sound / "airplane/nl/let-m-kapot.ogg").write_bytes(b"OggS, then nothing of use" * 4)
    return scripts, audio


def test_load_fillets_speech_pairs_clips_by_level_and_id(tmp_path):
    scripts, audio = fake_packages(tmp_path)
    u = load_fillets_speech("nl", scripts, audio)
    sound = audio / SOUND_DIR
    assert [(x.id, x.text, x.group, x.speaker) for x in u.items] == [
        ("airplane/let-v-nic", "Niets hier.", "airplane", "font_big"),
        ("airplane/rand-0", "Kijk, een vis!", "airplane", "font_small"),  # the last text
        ("barrel/rand-0", "Dit vat stinkt.", "barrel", "font_small"),  # same id, own text
        ("share/cil-v-hlaska0", "Ik denk dat we hier werk te doen hebben.", "share",
         "font_big"),  # shout_ lines are voiced in sound/share/border/
        ("share/ob-m-co", "Wat?", "share", "font_small"),  # bore_ in share/borejokes/
    ]
    assert u.items[2].path == sound / "barrel/nl/rand-0.ogg"
    assert u.items[4].path == sound / "share/borejokes/nl/ob-m-co.ogg"
    assert u.skipped == {
        "no transcript": 2,  # stray.ogg; let-v-stil has no dialogStr
        "no audio": 2,  # let-v-stom, share/intro-1
        "empty text": 1, "placeholder text": 1, "empty audio": 1, "unreadable audio": 1,
        "redefined": 1}
    assert len(u) == 5 and u.lang == "nl" and u.group_names == ["airplane", "barrel", "share"]
    assert u.source == (f"fillets-ng-data-nl ({sound}) with fillets-ng-data 9.9 "
                        f"({scripts / SCRIPT})")
    # the script and sound folders themselves do as well; a header-only clip is empty
    sf.write(sound / "airplane/nl/let-m-leeg.ogg", np.zeros(0, np.float32), 22050,
             format="WAV")
    again = load_fillets_speech("nl", scripts / SCRIPT, sound)
    assert [x.id for x in again.items] == [x.id for x in u.items]
    assert again.skipped["empty audio"] == 1


def test_load_fillets_speech_bad_language_and_folders(tmp_path):
    scripts, audio = fake_packages(tmp_path)
    assert message(load_fillets_speech, "fr", scripts, audio) == (
        "unknown fillets-ng speech language 'fr' (choose from: nl, cs)")
    assert message(load_fillets_speech, "cs", scripts, scripts).startswith(
        f"{scripts}: no fillets-ng cs voices here (expected {SOUND_DIR}/<level>/cs/<id>.ogg "
        "under the unpacked fillets-ng-data-cs package): run `apt-get update && ")
    assert message(load_fillets_speech, "nl", scripts, tmp_path / "nope").startswith(
        f"{tmp_path / 'nope'}: no such folder, expected the unpacked fillets-ng-data-nl")


# ---- the user's list -------------------------------------------------------------------------


def write_list(folder, text, clips=()):
    folder.mkdir(parents=True, exist_ok=True)
    for name in clips:
        write_clip(folder / name)
    path = folder / "list.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_transcript_list_paths_comments_and_header(tmp_path):
    elsewhere = write_clip(tmp_path / "elsewhere" / "c.wav")
    path = write_list(tmp_path / "data",
                      f"path\ttext\n# a comment\n\na.ogg\t Hallo wereld \r\n"
                      f"clips/b.ogg\tTwee\n{elsewhere}\tDrie\na.ogg\tHallo wereld\n",
                      ["a.ogg", "clips/b.ogg"])
    u = read_transcript_list(path, "nl")
    assert u.items[:2] == [Utterance(path.parent / "a.ogg", "Hallo wereld", "", "a.ogg", ""),
                           Utterance(path.parent / "clips/b.ogg", "Twee", "", "clips/b.ogg",
                                     "")]
    assert u.items[2].path == elsewhere and u.items[2].id == str(elsewhere)
    assert len(u) == 4  # the duplicate row is kept
    assert (u.lang, u.source, u.skipped) == ("nl", str(path), {})
    assert read_transcript_list(path.parent).items == u.items  # the folder's one .tsv


@pytest.mark.parametrize(("row", "why"), [
    ("a.ogg Hallo", 'expected "path<TAB>text", found no tab'),
    ("a.ogg\tHallo\tnl", 'expected "path<TAB>text", found 2 tabs'),
    (" \tHallo", "empty audio path"),
    ("a.ogg\t  ", "empty transcript for a.ogg"),
])
def test_read_transcript_list_bad_row_names_its_line(tmp_path, row, why):
    path = write_list(tmp_path, f"# clips\na.ogg\tEen\n\n{row}\n", ["a.ogg"])
    assert message(read_transcript_list, path) == f"{path}:4: {why}"


def test_read_transcript_list_reports_all_missing_audio_at_once(tmp_path):
    rows = "".join(f"m{k}.wav\tNummer {k}\n" for k in range(7))
    path = write_list(tmp_path, f"a.ogg\tEen\n{rows}", ["a.ogg"])
    assert message(read_transcript_list, path) == (
        f"{path}: 7 audio files not found (paths are relative to {tmp_path}): "
        "m0.wav (line 2), m1.wav (line 3), m2.wav (line 4), m3.wav (line 5), "
        "m4.wav (line 6), and 2 more")
    one = write_list(tmp_path / "one", "gone.wav\tWeg\n")
    assert message(read_transcript_list, one).startswith(f"{one}: 1 audio file not found")


def test_read_transcript_list_unreadable_files(tmp_path):
    what = "a tab-separated list of audio files and transcripts"
    path = tmp_path / "list.tsv"
    path.write_bytes(b"")
    assert message(read_transcript_list, path) == f"{path}: empty file, expected {what}"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    assert message(read_transcript_list, path) == (
        f"{path}: not {what} (binary: NUL byte at offset 4)")
    path.write_bytes("a.ogg\tcaf\u00e9\n".encode("latin-1"))
    assert message(read_transcript_list, path) == (
        f"{path}: not {what} (not valid UTF-8: byte 0xe9 at offset 9)")
    path.write_text("# only a comment\n\n", encoding="utf-8")
    assert message(read_transcript_list, path).startswith(
        f"{path}: no audio_path<TAB>transcript rows")


def test_read_transcript_list_folder_needs_exactly_one_tsv(tmp_path):
    assert message(read_transcript_list, tmp_path) == (
        f"{tmp_path}: no *.tsv file; expected one audio_path<TAB>transcript list, or pass "
        "the list file itself")
    for name in ("b.tsv", "a.tsv"):
        (tmp_path / name).write_text("x.wav\tx\n", encoding="utf-8")
    assert message(read_transcript_list, tmp_path).startswith(
        f"{tmp_path}: 2 *.tsv files (a.tsv, b.tsv); expected one")


# ---- CTC targets -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "lang", "want"), [
    ("Poseidon 737!", "nl", "poseidon zevenhonderdzevenendertig"),
    ("het passagiersvliegtuig LC-10 Lemura.", "nl", "het passagiersvliegtuig lc tien lemura"),
    ("een patsbak met 3Dfx videokaart", "nl", "een patsbak met drie dfx videokaart"),
    ("werkdruk van 0.8 banen", "nl", "werkdruk van nul komma acht banen"),
    ("Dat is het wel zo\u2019n beetje, \u2018Dragon's Lair\u2019...", "nl",
     "dat is het wel zo'n beetje dragon's lair"),  # inner apostrophes only
    ("To je vrak letadla LC-10 Lemura.", "cs", "to je vrak letadla lc deset lemura"),
    ("A víš, kolik je 8 trilobitů?", "cs", "a víš kolik je osm trilobitů"),
    ("na číslo 02", "cs", "na číslo nula dva"),  # a leading zero: digit by digit
    ("Chceš-li vědět více, stiskni F1.", "cs", "chceš li vědět více stiskni f jedna"),
    ("Příliš ŽLUŤOUČKÝ kůň", "cs", "příliš žluťoučký kůň"),
    ("Cafe\u0301 \u201cnoir\u201d\t\n 7", "xx", "café noir 7"),  # NFC; no num2words: digits
])
def test_normalise_transcript(text, lang, want):
    assert normalise_transcript(text, lang) == want


# ---- the real packages, where the data cache has them ------------------------------------------

CACHE = debian.cache_dir()


@pytest.mark.skipif(not all((CACHE / p).is_dir() for p in (
    "fillets-ng-data", "fillets-ng-data-nl", "fillets-ng-data-cs")),
    reason="fillets-ng-data{,-nl,-cs} are not unpacked in the data cache")
def test_real_fillets_speech_counts():
    nl = load_fillets_speech("nl", CACHE / "fillets-ng-data", CACHE / "fillets-ng-data-nl")
    cs = load_fillets_speech("cs", CACHE / "fillets-ng-data", CACHE / "fillets-ng-data-cs")
    assert 1600 <= len(nl) <= 1616 and 1790 <= len(cs) <= 1882, (len(nl), len(cs))
    assert nl.skipped["empty audio"] == 2 and nl.skipped["no transcript"] == 1
    assert cs.skipped["empty text"] == 54 and cs.skipped["placeholder text"] == 21
    for u in (nl, cs):
        assert len(u.group_names) >= 75 and "share" in u.group_names
        assert len({x.id for x in u.items}) == len(u)
        speakers = Counter(x.speaker for x in u.items)
        assert speakers["font_small"] > 700 and speakers["font_big"] > 700
        assert all(x.text and x.path.is_file() for x in u.items)

"""Signal recipes (lasa, strokes, words, vowels): smoke training on small generated
fixtures laid out like the real sources (no Debian packages, aeon or npm needed), user
folders, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.cli import main

pytestmark = pytest.mark.usefixtures("torch_globals")

SMOKE = ["--smoke", "--no-progress", "--threads", "1"]


def train(name, tmp_path, *extra, capsys=None):
    """Run `rnnkit train NAME --smoke ...` in-process; (exit code, run dir, stderr)."""
    code = main(["train", name, *SMOKE, "--runs-dir", str(tmp_path / "runs"), "--name", "x",
                 *[str(a) for a in extra]])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, tmp_path / "runs" / "x", err


def shape(k: int, rng: np.random.Generator, n: int = 40) -> np.ndarray:
    """A wobbly drawing of class k: a circle, a line or a zigzag, (n, 2)."""
    t = np.linspace(0, 1, n)
    base = [np.c_[np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)],
            np.c_[t, 0.5 * t],
            np.c_[t, 0.3 * np.sign(np.sin(6 * np.pi * t))]][k]
    return (base + rng.normal(0, 0.02, base.shape)).astype(np.float32)


@pytest.fixture
def stroke_folder(tmp_path):
    """root/<class>/*.npy and *.json: 3 classes x 5 drawings."""
    rng = np.random.default_rng(0)
    root = tmp_path / "strokes"
    for k, name in enumerate(["circle", "line", "zigzag"]):
        (root / name).mkdir(parents=True)
        for i in range(5):
            pts = shape(k, rng)
            if i % 2:
                (root / name / f"{i}.json").write_text(json.dumps([pts.tolist()]))
            else:
                np.save(root / name / f"{i}.npy", np.c_[pts, np.r_[np.zeros(39), 1]])
    return root


def test_lasa_and_strokes_train_on_a_user_folder(stroke_folder, tmp_path, capsys):
    for recipe in ("lasa", "strokes"):
        code, run, err = train(recipe, tmp_path / f"run-{recipe}", "--data", stroke_folder,
                               capsys=capsys)
        assert code == 0, err
        for f in ("best.pt", "confusion.png", "examples.png", "mistakes.png",
                  "test_report.json"):
            assert (run / f).is_file(), f
        rep = json.loads((run / "test_report.json").read_text())
        assert rep["n"] == 3  # one held-out drawing per class
        assert "1-nearest-neighbour" in (run / "report.md").read_text()
        # The trained model reads the user's files again: rnnkit eval and rnnkit predict.
        assert main(["eval", str(run), "--data", str(stroke_folder)]) == 0
        assert "accuracy" in capsys.readouterr().out
        assert main(["predict", recipe, "--data", str(stroke_folder / "line"),
                     "--run", str(run), "--min-prob", "0"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert out[0].startswith("file\tclass") and len(out) == 1 + 5


@pytest.fixture
def char_sources(tmp_path):
    """KanjiVG-like kanji/*.svg and hanzi-writer-like package/<char>.json for 3 characters
    (y up in hanzi-writer, down in SVG), plus one whose stroke counts differ (skipped)."""
    kanji, pkg = tmp_path / "chars" / "kanji", tmp_path / "chars" / "package"
    kanji.mkdir(parents=True)
    pkg.mkdir()
    (pkg / "package.json").write_text("{}")
    chars = {"一": [[(10, 50), (90, 50)]],
             "二": [[(20, 30), (80, 30)], [(10, 70), (90, 70)]],
             "十": [[(10, 50), (90, 50)], [(50, 10), (50, 90)]],
             "三": [[(20, 20), (80, 20)]]}
    for c, strokes in chars.items():
        paths = "".join(f'<path d="M{a[0]},{a[1]} L{b[0]},{b[1]}"/>' for a, b in strokes)
        (kanji / f"{ord(c):05x}.svg").write_text(
            f'<svg xmlns="http://www.w3.org/2000/svg">{paths}</svg>')
        medians = [[[a[0] * 10, 1000 - a[1] * 10], [b[0] * 10, 1000 - b[1] * 10]]
                   for a, b in strokes] + ([[[0, 0], [5, 5]]] if c == "三" else [])
        (pkg / f"{c}.json").write_text(json.dumps({"strokes": [], "medians": medians}))
    return tmp_path / "chars"


def test_strokes_cross_source_characters(char_sources, tmp_path, capsys):
    code, run, err = train("strokes", tmp_path, "--data", char_sources, capsys=capsys)
    assert code == 0, err
    rep = json.loads((run / "test_report.json").read_text())
    assert rep["n"] == 3  # 三 left out: its two sources disagree on the stroke count
    assert "KanjiVG" in (run / "report.md").read_text()


def tone(letter_index: int, speaker: int, sr: int = 16000) -> np.ndarray:
    """A 'spoken letter': two tones whose pitches encode the class, in silence; the speaker
    shifts pitch a little."""
    t = np.arange(int(0.25 * sr)) / sr
    f = (300 + 150 * letter_index) * (1 + 0.05 * speaker)
    word = 0.3 * np.sin(2 * np.pi * f * t) * np.hanning(len(t))
    return np.r_[np.zeros(1600), word, np.zeros(1600)].astype(np.float32)


def test_words_on_klettres_layout_and_user_folder(tmp_path, capsys):
    import soundfile as sf

    data = klettres_folder(tmp_path / "kl")
    code, run, err = train("words", tmp_path / "a", "--data", data, capsys=capsys)
    assert code == 0, err
    report = (run / "report.md").read_text()
    assert "DTW" in report and "chance: 33.33%" in report

    folder = tmp_path / "clips"
    for k, word in enumerate(("yes", "no")):
        (folder / word).mkdir(parents=True)
        for i in range(4):
            sf.write(folder / word / f"{i}.wav", tone(k, i), 16000)
    code, run, err = train("words", tmp_path / "b", "--data", folder, capsys=capsys)
    assert code == 0, err
    code, _, err = train("words", tmp_path / "c", "--data", folder, "--synthetic-voices",
                         "all", capsys=capsys)
    assert code == 1 and "--synthetic-voices adds spoken letter names" in err
    assert json.loads((run / "test_report.json").read_text())["n"] == 2
    assert main(["predict", "words", "--data", str(folder / "yes" / "0.wav"), "--run",
                 str(run), "--min-prob", "0"]) == 0
    assert "0.wav" in capsys.readouterr().out


def klettres_folder(root):
    """A klettres-layout folder with voices en and en_GB saying A, B and C (tones)."""
    import soundfile as sf

    kl = root / "usr" / "share" / "klettres"
    for s, voice in enumerate(("en", "en_GB")):
        (kl / voice / "alpha").mkdir(parents=True)
        entries = []
        for k, letter in enumerate("abc"):
            name = letter.upper() if s == 0 else letter
            sf.write(kl / voice / "alpha" / f"{name}.wav", tone(k, s), 16000)
            entries.append(f'<sound name="{name}" file="{voice}/alpha/{name}.wav"/>')
        (kl / voice / "sounds.xml").write_text(
            f'<klettres><language code="{voice}"><alphabet>{"".join(entries)}'
            '</alphabet></language></klettres>')
    return root


def test_words_trains_on_synthetic_voices_too(tmp_path, capsys, fake_flite, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "cache"))
    data = klettres_folder(tmp_path / "kl")
    code, run, err = train("words", tmp_path / "a", "--data", data, "--synthetic-voices",
                           "flite:slt,flite:awb", capsys=capsys)
    assert code == 0, err
    assert sorted(fake_flite.read_text().split()) == ["A", "A", "B", "B", "C", "C"]
    assert "trained with 2 synthetic voices too" in (run / "report.md").read_text()
    code, _, err = train("words", tmp_path / "b", "--data", data, "--synthetic-voices",
                         "flite", capsys=capsys)
    assert code == 1 and "--synthetic-voices: expected engine:voice" in err
    assert len(err.strip().splitlines()) == 1


def test_words_augmentation_warps_frequency_and_tempo():
    from rnnkit.data.speech import SpeechFeatures, augmented_features, stretch_frames, vtlp

    sr = 16000
    feats = SpeechFeatures(sr)
    wave = torch.from_numpy(tone(2, 0))
    power = feats.logmel.spectrogram(wave)  # (T, K)
    assert torch.allclose(vtlp(power, 1.0, sr), power, atol=1e-6 * float(power.max()))
    peak = int(power.sum(0).argmax())  # 600 Hz
    warped = vtlp(power, 1.1, sr)
    assert abs(int(warped.sum(0).argmax()) - round(1.1 * peak)) <= 1  # formants move up 10%
    assert torch.allclose(warped[:, -1], power[:, -1])  # Nyquist stays put
    x = torch.arange(10.0)[:, None].repeat(1, 3)
    y = stretch_frames(x, 1.5)
    assert y.shape == (15, 3) and y[0, 0] == 0 and y[-1, 0] == 9
    g = torch.Generator().manual_seed(0)
    same = augmented_features(feats, wave, g, warp=0.0, tempo=0.0)
    assert torch.allclose(same, feats(wave), atol=1e-4)
    assert augmented_features(feats, wave, g, warp=0.15, tempo=0.2).shape[1] == 40


def test_klettres_letters_reads_syllables_on_request(tmp_path):
    from rnnkit.data.speech import klettres_letters

    (tmp_path / "fr").mkdir()
    for name in ("a", "la"):
        (tmp_path / "fr" / f"{name}.ogg").write_bytes(b"")
    (tmp_path / "fr" / "sounds.xml").write_text(
        '<klettres><language code="fr"><alphabet><sound name="a" file="fr/a.ogg"/>'
        '</alphabet><syllables><sound name="la" file="fr/la.ogg"/></syllables>'
        '</language></klettres>')
    assert [n for _, n in klettres_letters(tmp_path, "fr")] == ["A"]
    assert [n for _, n in klettres_letters(tmp_path, "fr", ("alphabet", "syllables"))] == [
        "A", "LA"]


def write_ts(path, n_per_class: int, seed: int) -> None:
    """A JapaneseVowels-like .ts file: 3 classes, 2 channels, lengths 5-9."""
    rng = np.random.default_rng(seed)
    lines = ["@problemName Toy", "@univariate false", "@dimensions 2",
             "@equalLength false", "@classLabel true 1 2 3", "@data"]
    for c in (1, 2, 3):
        for _ in range(n_per_class):
            T = int(rng.integers(5, 10))
            chans = [",".join(f"{c * math.sin(t + j) + rng.normal(0, 0.1):.3f}"
                              for t in range(T)) for j in range(2)]
            lines.append(":".join(chans) + f":{c}")
    path.write_text("\n".join(lines) + "\n")


def test_vowels_on_a_ts_pair(tmp_path, capsys):
    (tmp_path / "ts").mkdir()
    write_ts(tmp_path / "ts" / "Toy_TRAIN.ts", 10, 0)
    write_ts(tmp_path / "ts" / "Toy_TEST.ts", 4, 1)
    code, run, err = train("vowels", tmp_path, "--data", tmp_path / "ts", capsys=capsys)
    assert code == 0, err
    assert json.loads((run / "test_report.json").read_text())["n"] == 12
    assert main(["eval", str(run), "--data", str(tmp_path / "ts" / "Toy_TEST.ts")]) == 0
    assert "12 sequences" in capsys.readouterr().out


@pytest.mark.parametrize("recipe, says", [("words", "apt-get download klettres-data"),
                                          ("strokes", "npm pack hanzi-writer-data"),
                                          ("vowels", "aeon")])
def test_missing_real_data_says_how_to_get_it(recipe, says, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aeon" else real(name, *a))
    code, _, err = train(recipe, tmp_path, capsys=capsys)
    assert code == 1
    assert says in err and len(err.strip().splitlines()) == 1


def test_bad_user_folders_give_one_line_errors(stroke_folder, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = train("strokes", tmp_path / "a", "--data", tmp_path / "empty",
                         capsys=capsys)
    assert code == 1 and "no class folders" in err and len(err.strip().splitlines()) == 1

    bad = stroke_folder / "line" / "broken.json"
    bad.write_text("[[1, 2], oops")
    code, _, err = train("lasa", tmp_path / "b", "--data", stroke_folder, capsys=capsys)
    assert code == 1 and "broken.json" in err and len(err.strip().splitlines()) == 1

    clips = tmp_path / "clips" / "yes"
    clips.mkdir(parents=True)
    (clips / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    code, _, err = train("words", tmp_path / "c", "--data", tmp_path / "clips", capsys=capsys)
    assert code == 1 and "a.wav" in err and len(err.strip().splitlines()) == 1


def test_stratified_split_keeps_every_class_in_training():
    from rnnkit.data.sequences import LabelledSequences, stratified_split

    labels = torch.tensor([0] * 10 + [1] * 2)
    ds = LabelledSequences([torch.zeros(3, 1)] * 12, labels, ["a", "b"])
    tr, va, te = stratified_split(ds, 0.2, 0.2, seed=0)
    assert tr.class_counts() == {"a": 6, "b": 2} and len(va) == len(te) == 2


def test_lasa_split_keeps_every_sub_motion():
    from rnnkit.data.handwriting import LASA_SPLIT

    train = set(LASA_SPLIT["train"])
    # Multi_Models sub-motions (demo groups) must each be seen in training.
    for group in ({0, 1, 2}, {3, 4}, {5, 6}, {0, 1, 2, 3}, {4, 5, 6}):
        assert group & train
    assert not (train & set(LASA_SPLIT["test"]))

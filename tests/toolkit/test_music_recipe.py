"""The music recipe end to end in seconds: a JSB-format file, a folder of MIDI files and
music21's chorales; `rnnkit sample music` (MIDI, PNG, WAV, a primed continuation); the
experiment's bookkeeping; bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import soundfile
from tk_helpers import run_cli

from rnnkit.data.midi import read_midi, write_midi

pytestmark = pytest.mark.usefixtures("torch_globals")


def chorale(g: random.Random, frames: int) -> list[list[int]]:
    """A four-voice progression around C: one chord per frame."""
    chords = [[48, 60, 64, 67], [43, 59, 62, 67], [45, 57, 60, 64], [41, 57, 60, 65]]
    return [g.choice(chords) for _ in range(frames)]


def write_jsb(path, seed=0, sizes=(8, 3, 3)):
    g = random.Random(seed)
    data = {split: [chorale(g, g.randint(6, 14)) for _ in range(n)]
            for split, n in zip(("train", "valid", "test"), sizes, strict=True)}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from rnnkit.cli import main

    root = tmp_path_factory.mktemp("music")
    data = write_jsb(root / "jsb.json")
    code = main(["train", "music", "--smoke", "--data", str(data), "--runs-dir",
                 str(root / "runs"), "--name", "m", "--no-progress"])
    assert code == 0
    return root / "runs" / "m", root


def test_smoke_run_writes_nll_samples_and_pictures(trained):
    run, _ = trained
    result = json.loads((run / "result.json").read_text())
    assert {"test_nll", "valid_nll"} <= set(result["metrics"])
    assert 0 < result["metrics"]["test_nll"] < 88 * 5  # nats per frame of 88 keys
    names = {p.name for p in run.iterdir()}
    assert {"samples.png", "sample-1.mid", "report.md", "best.pt"} <= names
    report = (run / "report.md").read_text()
    assert "test NLL" in report and "RNN-NADE" in report and "JSB split from jsb.json" in report
    assert read_midi(run / "sample-1.mid").roll.shape == (64, 88)


def test_sample_writes_midi_png_wav_and_is_seeded(trained, capsys):
    run, root = trained
    out = [root / f"s{i}.mid" for i in range(3)]
    for path in out[:2]:
        code, stdout, _ = run_cli(["sample", "music", run, "-o", path, "--length", "12",
                                   "--seed", "3", "--wav", path.with_suffix(".wav")], capsys)
        assert code == 0 and "12 frames" in stdout
    a, b = read_midi(out[0]).roll, read_midi(out[1]).roll
    assert a.shape == (12, 88) and np.array_equal(a, b)
    assert out[0].with_suffix(".png").stat().st_size > 1000
    wave, rate = soundfile.read(out[0].with_suffix(".wav"))
    assert rate == 16000 and len(wave) > 0 and np.abs(wave).max() <= 1.0
    tune = np.zeros((6, 88), dtype=np.uint8)  # D major triads: read in C, written back in D
    for t, chord in enumerate([[50, 62, 66, 69], [55, 62, 67, 71], [57, 61, 64, 69]] * 2):
        tune[t, np.array(chord) - 21] = 1
    write_midi(tune, root / "tune.mid")
    code, stdout, _ = run_cli(["sample", run, "-o", out[2], "--length", "5", "--prime",
                               root / "tune.mid", "--seed", "4"], capsys)  # no field: fine
    assert code == 0 and "after 6 primed" in stdout
    continued = read_midi(out[2]).roll
    assert continued.shape == (11, 88) and np.array_equal(continued[:6], tune)


@pytest.mark.parametrize("args, says", [
    (["--top-k", "3"], "--top-k/--top-p are for text"),
    (["--temperature", "0"], "--temperature must be > 0"),
    (["-o", "x.wav"], "expected a .mid or .midi file name"),
    (["--prime", "missing.mid"], "missing.mid: no such file"),
])
def test_sample_bad_options_are_one_line_errors(trained, capsys, tmp_path, monkeypatch, args,
                                                says):
    run, _ = trained
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["sample", "music", run, *args], capsys)
    assert code != 0 and says in err and len(err.strip().splitlines()) == 1


def test_eval_scores_a_jsb_file_and_a_midi_file(trained, capsys):
    run, root = trained
    result = json.loads((run / "result.json").read_text())
    code, stdout, _ = run_cli(["eval", run, "--data", root / "jsb.json"], capsys)
    assert code == 0 and "JSB split from jsb.json, test split: 3 pieces" in stdout
    assert f"NLL {result['metrics']['test_nll']:.4f} nats per frame" in stdout
    write_midi(read_midi(run / "sample-1.mid").roll, root / "one.mid")
    code, stdout, _ = run_cli(["eval", run, "--data", root / "one.mid"], capsys)
    assert code == 0 and "one.mid: 1 pieces, 64 frames" in stdout


def test_text_field_refuses_a_music_run(trained, capsys):
    run, _ = trained
    code, _, err = run_cli(["sample", "text", run], capsys)
    assert code != 0 and "not a language-model checkpoint" in err


def test_midi_folder_trains_and_names_the_bad_file(tmp_path, capsys):
    folder = tmp_path / "midi"
    folder.mkdir()
    g = np.random.default_rng(0)
    for i in range(5):
        roll = np.zeros((10, 88), dtype=np.uint8)
        roll[np.arange(10), g.integers(30, 50, 10)] = 1
        write_midi(roll, folder / f"tune{i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd this is not a midi file")
    code, stdout, _ = run_cli(["train", "music", "--smoke", "--data", folder, "--runs-dir",
                               tmp_path / "runs", "--name", "f", "--no-progress"], capsys)
    assert code == 0
    report = (tmp_path / "runs" / "f" / "report.md").read_text()
    assert "5 MIDI files" in report and "skipped broken.mid" in report


def test_bad_data_argument(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("C E G")
    code, _, err = run_cli(["train", "music", "--smoke", "--data", bad, "--runs-dir",
                            tmp_path / "runs", "--no-progress"], capsys)
    assert code != 0 and "expected a MIDI file or folder" in err
    code, _, err = run_cli(["train", "music", "--smoke", "--data", tmp_path / "nowhere",
                            "--runs-dir", tmp_path / "runs", "--no-progress"], capsys)
    assert code != 0 and "nowhere: no such file or folder" in err


def test_music21_default_corpus(tmp_path, capsys, monkeypatch):
    pytest.importorskip("music21")
    from rnnkit.data import music
    from rnnkit.recipes.music import compose

    few = music.chorales_music21(limit=9)  # the first 9 chorales: seconds, not the whole set
    monkeypatch.setattr(compose, "chorales_music21", lambda: few)
    code, _, _ = run_cli(["train", "music", "--smoke", "--runs-dir", tmp_path / "runs",
                          "--name", "c", "--no-progress"], capsys)
    assert code == 0
    report = (tmp_path / "runs" / "c" / "report.md").read_text()
    assert "music21's Bach chorales (9), our split" in report


def test_experiment_smoke_runs_every_variant_and_resumes(tmp_path, capsys):
    data = write_jsb(tmp_path / "jsb.json")
    args = ["experiment", "music", "--smoke", "--seeds", "1", "--data", data, "--runs-dir",
            tmp_path, "--name", "x"]
    code, _, _ = run_cli(args, capsys)
    assert code == 0
    results = json.loads((tmp_path / "x" / "results.json").read_text())
    assert [r["variant"] for r in results["rows"]] == ["rnn_tanh", "lstm", "gru", "gru-nade",
                                                       "gru-notes"]
    sizes = {r["variant"]: r["parameters"] for r in results["rows"]}
    for cell in ("rnn_tanh", "lstm"):  # the independent models match the GRU's size
        assert abs(sizes[cell] - sizes["gru"]) / sizes["gru"] < 0.05
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0 and stdout.count("done before") == 5

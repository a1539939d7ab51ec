"""The tts recipe end to end on generated clips (seconds): training, measures, the run
folder, `rnnkit say`, the intelligibility judge, and bad input."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
from test_asr_recipe import TEXTS, write_corpus
from tk_helpers import run_cli

pytestmark = pytest.mark.usefixtures("torch_globals")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from rnnkit.cli import main

    root = tmp_path_factory.mktemp("tts")
    data = write_corpus(root / "corpus")
    common = ["--smoke", "--data", data, "--runs-dir", root / "runs", "--no-progress"]
    assert main([str(a) for a in ["train", "asr", *common, "--name", "judge"]]) == 0
    assert main([str(a) for a in ["train", "tts", *common, "--name", "tts",
                                  "--recogniser", root / "runs" / "judge"]]) == 0
    return root, root / "runs" / "tts"


def test_smoke_run_reports_every_measure(runs):
    _, run = runs
    metrics = json.loads((run / "result.json").read_text())["metrics"]
    assert {"test_mcd", "test_mel_l1", "aligned_fraction", "stopped_fraction",
            "real_time_factor", "cer_teacher", "cer_ours", "cer_ratio"} <= set(metrics)
    assert metrics["test_mcd"] > 0 and 0 <= metrics["aligned_fraction"] <= 1
    names = {p.name for p in run.iterdir()}
    assert {"test-1-ours.wav", "test-1-teacher.wav", "test-1.png",
            "test_synthesis.json"} <= names
    wave, rate = sf.read(run / "test-1-ours.wav")
    assert rate == 16000 and len(wave) > 0
    report = (run / "report.md").read_text()
    assert "test MCD" in report and "intelligibility" in report


def test_intelligibility_ladder_judges_each_rung(runs, tmp_path):
    from rnnkit.experiments.docs_format import check_record
    from rnnkit.experiments.tts_ladder import main

    _, run = runs
    assert main([str(run), "--out-dir", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "tts.json").read_text())
    check_record("ladder", rec)
    v = rec["values"]
    for rung in ("teacher", "teacher_frames_griffin_lim", "model_teacher_forced",
                 "model_free_running"):
        assert 0 <= v[rung] <= 5
    metrics = json.loads((run / "result.json").read_text())["metrics"]
    assert v["teacher"] == pytest.approx(metrics["cer_teacher"])
    assert v["model_free_running"] == pytest.approx(metrics["cer_ours"])


def test_scheduled_sampling_trains(runs, tmp_path):
    from rnnkit.cli import main

    root, _ = runs
    args = ["train", "tts", "--smoke", "--data", root / "corpus", "--runs-dir", tmp_path,
            "--no-progress", "--name", "ss", "--scheduled-sampling", "0.5"]
    assert main([str(a) for a in args]) == 0
    assert json.loads((tmp_path / "ss" / "result.json").read_text())["metrics"]["test_mcd"] > 0


def known_texts(run) -> list[str]:
    """The corpus's texts the smoke voice can say (a tiny split leaves letters out)."""
    from rnnkit.recipes.synthesis.voice import Voice

    symbols = set(Voice.load(run).symbols)
    return [t for t in TEXTS if set(t) <= symbols]


def test_say_writes_audio_and_is_seeded(runs, tmp_path, capsys):
    _, run = runs
    texts = known_texts(run)
    assert len(texts) >= 3
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for out in (a, b):
        code, stdout, err = run_cli(["say", run, texts[0], "-o", out, "--seed", "3"], capsys)
        assert code == 0, err
        assert stdout.startswith(str(out)) and "real-time factor" in stdout
    assert sf.read(a)[0].tolist() == sf.read(b)[0].tolist()
    lines = tmp_path / "lines.txt"
    lines.write_text(f"{texts[1]}\n\n{texts[2]}\n")
    code, stdout, err = run_cli(["say", run, "--file", lines, "-o", tmp_path / "many"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["0001.wav", "0003.wav"]


def test_say_refuses_unknown_characters_and_empty_text(runs, tmp_path, capsys):
    _, run = runs
    code, _, err = run_cli(["say", run, "ŋ✓ zxq", "-o", tmp_path / "x.wav"], capsys)
    assert code == 1 and "never learnt" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["say", run, "?!", "-o", tmp_path / "x.wav"], capsys)
    assert code == 1 and "nothing to say" in err
    code, _, err = run_cli(["say", run, "-o", tmp_path / "x.wav"], capsys)
    assert code == 1 and "--file" in err


def test_tts_text_keeps_sentence_punctuation():
    from rnnkit.recipes.synthesis.voice import tts_text

    assert tts_text("Hello, World 2!") == "hello, world two!"
    assert tts_text("“What?”  he said — twice.") == "what? he said twice."
    assert tts_text("...") == "..."


def test_real_recordings_give_each_speaker_a_voice(tmp_path, monkeypatch, capsys):
    """--lang nl: fake fillets-ng packages (two fish, six levels) train one model with a
    voice per speaker; `say --speaker` picks one and refuses names it does not know."""
    from test_asr_recipe import fake_fillets

    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_DATA", str(cache))
    fake_fillets(cache)
    code, _, err = run_cli(["train", "tts", "--smoke", "--lang", "nl", "--runs-dir",
                            tmp_path / "runs", "--no-progress", "--name", "nl"], capsys)
    assert code == 0, err
    run = tmp_path / "runs" / "nl"
    assert "2 voices (font_big, font_small)" in (run / "report.md").read_text()
    text = known_texts(run)[0]
    waves = []
    for who in ("font_big", "font_small"):
        out = tmp_path / f"{who}.wav"
        code, _, err = run_cli(["say", run, text, "-o", out, "--speaker", who], capsys)
        assert code == 0, err
        waves.append(sf.read(out)[0])
    assert len(waves[0]) != len(waves[1]) or waves[0].tolist() != waves[1].tolist()
    code, _, err = run_cli(["say", run, text, "-o", tmp_path / "x.wav", "--speaker", "eel"],
                           capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "unknown speaker 'eel' (choose from: font_big, font_small)" in err
    code, _, err = run_cli(["train", "tts", "--smoke", "--lang", "xx", "--runs-dir",
                            tmp_path / "runs", "--no-progress"], capsys)
    assert code == 1 and "unknown voice language 'xx'" in err


def test_say_refuses_a_speaker_for_a_one_voice_model(runs, tmp_path, capsys):
    _, run = runs
    code, _, err = run_cli(["say", run, known_texts(run)[0], "-o", tmp_path / "x.wav",
                            "--speaker", "font_big"], capsys)
    assert code == 1 and "one voice" in err


def test_durations_model_learns_from_a_tacotron_aligner(runs, capsys):
    """--arch durations --aligner RUN: durations from the smoke Tacotron's attention, every
    measure reported, `say` speaks with it; wrong combinations are one line each."""
    root, tacotron = runs
    common = ["train", "tts", "--smoke", "--data", root / "corpus" / "list.tsv",
              "--runs-dir", root / "runs", "--no-progress"]
    code, _, err = run_cli([*common, "--arch", "durations", "--aligner", tacotron,
                            "--name", "dur"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*common, "--arch", "durations", "--aligner", root / "runs" / "judge",
                            "--name", "dur-ctc"], capsys)
    assert code == 0, err  # durations from the CTC recogniser's forced alignment
    run = root / "runs" / "dur"
    metrics = json.loads((run / "result.json").read_text())["metrics"]
    assert {"test_mcd", "aligned_fraction", "real_time_factor"} <= set(metrics)
    assert "durations from" in (run / "report.md").read_text()
    code, _, err = run_cli(["say", run, known_texts(run)[0], "-o", root / "dur.wav"], capsys)
    assert code == 0, err
    for extra, why in ((["--arch", "durations"], "needs --aligner"),
                       (["--aligner", tacotron], "--aligner gives durations"),
                       (["--arch", "durations", "--aligner", run], "not an attention model"),
                       (["--arch", "durations", "--aligner", root / "nope"], "--aligner: "),
                       (["--arch", "durations", "--aligner", tacotron,
                         "--scheduled-sampling", "0.5"], "feeds no frame back"),
                       (["--arch", "transformer"], "is for translation")):
        code, _, err = run_cli([*common, *extra, "--name", "bad"], capsys)
        assert code == 1 and why in err and len(err.strip().splitlines()) == 1, (extra, err)

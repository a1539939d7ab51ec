"""The asr recipe end to end on a few generated clips (seconds): training, scores, the run
folder, `rnnkit transcribe` (files, beam + LM fusion, streaming), and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from tk_helpers import run_cli

pytestmark = pytest.mark.usefixtures("torch_globals")

TEXTS = ["een twee", "drie vier", "vijf zes", "zeven acht", "negen tien", "elf twaalf",
         "dertien", "veertien", "vijftien", "zestien", "zeventien", "achttien"]
RATE = 16000


def tone_clip(path, k: int, seconds: float = 0.6):
    """A clip of two tones that differ per utterance (a stand-in for speech)."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = 0.3 * np.sin(2 * math.pi * (200 + 40 * k) * t) * (t < seconds / 2) \
        + 0.3 * np.sin(2 * math.pi * (900 - 30 * k) * t) * (t >= seconds / 2)
    sf.write(path, wave.astype(np.float32), RATE)
    return path


def write_corpus(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, text in enumerate(TEXTS):
        tone_clip(root / f"clip{k}.wav", k)
        rows.append(f"clip{k}.wav\t{text.capitalize()}!")
    (root / "list.tsv").write_text("\n".join(rows) + "\n")
    return root / "list.tsv"


def train(root, name, *extra):
    from rnnkit.cli import main

    data = root / "corpus" / "list.tsv"
    if not data.is_file():
        write_corpus(root / "corpus")
    code = main([str(a) for a in ["train", "asr", "--smoke", "--data", data, "--runs-dir",
                                  root / "runs", "--name", name, "--no-progress", *extra]])
    assert code == 0
    return root / "runs" / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr")
    bi = train(root, "bi")
    uni = train(root, "uni", "--bidirectional", "false", "--subsample", "2")
    return root, bi, uni


def test_smoke_run_writes_scores_and_transcripts(runs):
    _, bi, _ = runs
    names = {p.name for p in bi.iterdir()}
    assert {"result.json", "report.md", "transcripts.tsv", "test_scores.json", "best.pt",
            "transcripts-train.txt", "alignment-1.png"} <= names
    metrics = json.loads((bi / "result.json").read_text())["metrics"]
    assert {"test_cer", "test_wer", "test_cer_greedy", "test_cer_beam"} <= set(metrics)
    assert 0.0 <= metrics["test_cer"]
    scores = json.loads((bi / "test_scores.json").read_text())
    rows = (bi / "transcripts.tsv").read_text().splitlines()
    assert rows[0] == "id\treference\tgreedy\tbeam" and len(rows) == 1 + scores["n"]
    # references are normalised: lower case, punctuation gone
    assert all(r.split("\t")[1] == r.split("\t")[1].lower() and "!" not in r
               for r in rows[1:])
    train_text = (bi / "transcripts-train.txt").read_text().splitlines()
    assert train_text and set(train_text) <= set(TEXTS)
    report = (bi / "report.md").read_text()
    assert "test CER" in report and "utterance normalisation" in report
    assert "best validation cer" in report  # best.pt is picked by CER, not the CTC loss


def test_transcribe_files_matches_the_recipes_greedy_output(runs, capsys):
    root, bi, _ = runs
    rows = (bi / "transcripts.tsv").read_text().splitlines()[1:]
    clip_id, _, greedy, _ = rows[0].split("\t")
    clip = root / "corpus" / clip_id
    code, out, _ = run_cli(["transcribe", bi, clip], capsys)
    assert code == 0 and out == f"{clip}\t{greedy}\n"


def test_transcribe_with_beam_and_lm(runs, capsys):
    root, bi, _ = runs
    code, _, err = run_cli(["train", "charlm", "--smoke", "--no-progress", "--data",
                            bi / "transcripts-train.txt", "--runs-dir", root / "runs",
                            "--name", "lm", "--hidden-size", "16", "--embed-size", "8"], capsys)
    assert code == 0, err
    clip = root / "corpus" / "clip0.wav"
    code, out, err = run_cli(["transcribe", bi, clip, "--beam", "4", "--lm", root / "runs" / "lm",
                              "--lm-weight", "0.5"], capsys)
    assert code == 0, err
    assert out.startswith(f"{clip}\t")
    code, _, err = run_cli(["transcribe", bi, clip, "--lm", root / "runs" / "lm"], capsys)
    assert code == 1 and "--beam" in err
    code, _, err = run_cli(["transcribe", root / "runs" / "lm", clip], capsys)
    assert code == 1 and "not a speech-recognition checkpoint" in err


def test_stream_equals_whole_file(runs, capsys):
    root, _, uni = runs
    for k in (0, 5):
        clip = root / "corpus" / f"clip{k}.wav"
        code, whole, _ = run_cli(["transcribe", uni, clip], capsys)
        assert code == 0
        for chunk_ms in (10, 70, 1000):
            code, out, err = run_cli(["transcribe", uni, clip, "--stream", "--chunk-ms",
                                      chunk_ms], capsys)
            assert code == 0, err
            assert out == whole.split("\t", 1)[1]
            assert "processing per chunk" in err


def test_stream_refuses_a_bidirectional_model(runs, capsys):
    root, bi, _ = runs
    code, _, err = run_cli(["transcribe", bi, root / "corpus" / "clip0.wav", "--stream"],
                           capsys)
    assert code == 1 and "unidirectional" in err


def test_bad_audio_gets_one_line(runs, tmp_path, capsys):
    _, bi, _ = runs
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(RATE // 2, dtype=np.float32), RATE)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    cut = tmp_path / "cut.wav"
    tone_clip(cut, 1)
    cut.write_bytes(cut.read_bytes()[:2000])
    for path, words in ((silent, "silent"), (empty, "empty"), (text, "cannot decode"),
                        (cut, "truncated"), (tmp_path / "missing.wav", "no such")):
        code, out, err = run_cli(["transcribe", bi, path], capsys)
        assert code == 1 and out == "", path
        assert len(err.strip().splitlines()) == 1 and words in err.lower(), err


def test_stereo_and_other_rates_are_read(runs, tmp_path, capsys):
    _, bi, _ = runs
    t = np.arange(int(0.5 * 44100)) / 44100
    tone = 0.3 * np.sin(2 * math.pi * 300 * t)
    stereo = tmp_path / "stereo.flac"
    sf.write(stereo, np.stack([tone, tone], 1).astype(np.float32), 44100)
    code, out, err = run_cli(["transcribe", bi, stereo], capsys)
    assert code == 0 and out.startswith(f"{stereo}\t"), err


def test_user_list_with_bad_rows_and_missing_files(tmp_path, capsys):
    write_corpus(tmp_path / "c")
    bad = tmp_path / "c" / "bad.tsv"
    bad.write_text("clip0.wav\teen twee\nclip1.wav een\n")
    code, _, err = run_cli(["train", "asr", "--smoke", "--data", bad, "--runs-dir",
                            tmp_path / "runs", "--no-progress"], capsys)
    assert code == 1 and "bad.tsv:2" in err
    missing = tmp_path / "c" / "missing.tsv"
    missing.write_text("clip0.wav\teen twee\nnope.wav\tdrie\n")
    code, _, err = run_cli(["train", "asr", "--smoke", "--data", missing, "--runs-dir",
                            tmp_path / "runs", "--no-progress"], capsys)
    assert code == 1 and "nope.wav" in err


def test_unknown_language(tmp_path, capsys):
    code, _, err = run_cli(["train", "asr", "--smoke", "--lang", "xx", "--runs-dir", tmp_path,
                            "--no-progress"], capsys)
    assert code == 1 and "xx" in err and "nl" in err


def test_spec_augment_is_seeded_and_masks_only_inside_lengths():
    from rnnkit.recipes.speech.asr import spec_augment

    x = torch.randn(3, 50, 40) + 5.0
    lengths = torch.tensor([50, 30, 20])
    a = spec_augment(x, lengths, torch.Generator().manual_seed(1))
    b = spec_augment(x, lengths, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert ((a == 0) | (a == x)).all()
    for b, n in enumerate(lengths.tolist()):
        bands = (a[b] == 0).all(0)                    # (F,) frequency masks
        time = (a[b][:, ~bands] == 0).all(1)           # (T,) time masks
        assert ((a[b] == 0) == (bands[None, :] | time[:, None])).all()
        assert not time[n:].any()                      # no time mask past the length
        assert int(bands.sum()) <= 2 * 8 and int(time.sum()) <= 2 * int(0.05 * n)


def test_bucketed_batches_keep_every_example_once_and_pad_little():
    from rnnkit.train.task import BatchTask

    lengths = [int(v) for v in torch.randint(1, 1000, (1003,), generator=torch.Generator()
                                              .manual_seed(0))]
    task = BatchTask(list(range(1003)), [0], 8, list, lambda m, b: None, seed=3,
                     lengths=lengths)
    order = task.order
    assert sorted(order) == list(range(1003))
    batches = [order[i:i + 8] for i in range(0, 1003, 8)]
    spread = [max(lengths[k] for k in b) - min(lengths[k] for k in b) for b in batches]
    assert sum(spread) / len(spread) < 100  # unbucketed: about 780
    again = BatchTask(list(range(1003)), [0], 8, list, lambda m, b: None, seed=3,
                      lengths=lengths)
    assert again.order == order


def test_char_lm_fusion_scores_prefixes_incrementally():
    from rnnkit.models.language import TokenLM
    from rnnkit.recipes.speech.recogniser import Alphabet, CharLM
    from rnnkit.train.config import ModelConfig

    torch.manual_seed(0)
    tokens = ["<unk>", "\n", "a", "b", " "]
    model = TokenLM(len(tokens), ModelConfig(hidden_size=8, embed_size=4)).eval()
    lm = CharLM(model, tokens, Alphabet([" ", "a", "b", "c"]))
    # labels: 1 ' ', 2 'a', 3 'b', 4 'c' (c unknown to the LM: its <unk>)
    with torch.no_grad():
        ids = torch.tensor([[1], [2], [3]])  # "\n", "a", "b"
        logits, _ = model(ids)
        want = logits.log_softmax(-1)[2]          # after "\nab"
    assert lm((2, 3), 1) == pytest.approx(float(want[0, 4]), abs=1e-6)
    assert lm((2, 3), 4) == pytest.approx(float(want[0, 0]), abs=1e-6)
    assert lm((), 2) == pytest.approx(float(logits.log_softmax(-1)[0, 0, 2]), abs=1e-6)


def fake_fillets(cache, langs=("nl",)):
    """Fake fillets-ng packages in a data cache: six levels of two voiced lines each per
    language (the same level names, other texts per language)."""
    from rnnkit.data import fillets
    from rnnkit.data.transcribed import SOUND_DIR

    for n, lang in enumerate(langs):
        k = 5 * n
        for level in ("boat", "cave", "city", "deck", "ship", "wall"):
            lua = []
            for j in range(2):
                lua += [f'dialogId("{level}-{j}", "font_{"small" if j else "big"}", "Line.")',
                        f'dialogStr("{TEXTS[k % len(TEXTS)]}")']
                clip = (cache / f"fillets-ng-data-{lang}" / SOUND_DIR / level / lang /
                        f"{level}-{j}.ogg")
                clip.parent.mkdir(parents=True, exist_ok=True)
                tone_clip(clip.with_suffix(".wav"), k)
                sf.write(clip, sf.read(clip.with_suffix(".wav"))[0], RATE, format="OGG")
                clip.with_suffix(".wav").unlink()
                k += 1
            script = cache / "fillets-ng-data" / fillets.SCRIPT_DIR / level / \
                f"dialogs_{lang}.lua"
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text("\n".join(lua) + "\n")


def test_default_data_is_the_fillets_recordings_split_by_level(tmp_path, monkeypatch, capsys):
    """Fake fillets-ng packages in the data cache (no network): six levels, split whole;
    the features are cached, and a second run reads them back."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_DATA", str(cache))
    fake_fillets(cache)
    args = ["train", "asr", "--smoke", "--runs-dir", tmp_path / "runs", "--no-progress"]
    code, out, err = run_cli([*args, "--name", "a"], capsys)
    assert code == 0, err
    cached = list((cache / "features").glob("asr-nl-*.pt"))
    assert len(cached) == 1
    report = (tmp_path / "runs" / "a" / "report.md").read_text()
    assert "levels" in report and "test speakers" in report
    code, _, err = run_cli([*args, "--name", "b"], capsys)
    assert code == 0, err
    a, b = (json.loads((tmp_path / "runs" / n / "result.json").read_text())["metrics"]
            for n in "ab")
    assert a == b  # same seed, same (cached) features: the same run


def test_a_second_language_adds_training_data_only(tmp_path, monkeypatch, capsys):
    """--lang nl+cs: Czech training levels join Dutch ones; the Dutch test set is the same
    as with --lang nl."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_DATA", str(cache))
    fake_fillets(cache, ("nl", "cs"))
    args = ["train", "asr", "--smoke", "--runs-dir", tmp_path / "runs", "--no-progress"]
    for name, lang in (("nl", "nl"), ("both", "nl+cs")):
        code, _, err = run_cli([*args, "--name", name, "--lang", lang], capsys)
        assert code == 0, err
    nl, both = (json.loads((tmp_path / "runs" / n / "test_scores.json").read_text())
                for n in ("nl", "both"))
    assert nl["n"] == both["n"] and nl["groups"] == both["groups"]
    tsv = [(tmp_path / "runs" / n / "transcripts.tsv").read_text().splitlines()
           for n in ("nl", "both")]
    assert [r.split("\t")[:2] for r in tsv[0]] == [r.split("\t")[:2] for r in tsv[1]]
    train = [(tmp_path / "runs" / n / "transcripts-train.txt").read_text().splitlines()
             for n in ("nl", "both")]
    assert len(train[1]) == 2 * len(train[0])
    assert "nl+cs speech" in (tmp_path / "runs" / "both" / "report.md").read_text()
    code, _, err = run_cli([*args, "--lang", "nl+xx"], capsys)
    assert code == 1 and "xx" in err


def test_experiment_matches_parameter_counts(tmp_path, capsys):
    data = write_corpus(tmp_path / "c")
    code, out, err = run_cli(["experiment", "asr", "--smoke", "--data", data, "--seeds", "1",
                              "--runs-dir", tmp_path / "runs"], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "runs" / "asr" / "results.json").read_text())
    sizes = {r["cell"]: r["parameters"] for r in results["rows"]}
    assert set(sizes) == {"lstm", "gru", "rnn_tanh"}
    assert max(sizes.values()) / min(sizes.values()) < 1.05
    assert "| rnn_tanh | 1 |" in (tmp_path / "runs" / "asr" / "results.md").read_text()


def test_eval_scores_a_list_of_recordings(runs, capsys):
    root, bi, _ = runs
    code, out, err = run_cli(["eval", bi, "--data", root / "corpus" / "list.tsv"], capsys)
    assert code == 0, err
    assert f"{len(TEXTS)} recordings" in out and "greedy: CER" in out and "prefix beam 8" in out


def test_a_finished_run_is_rescored_with_a_language_model(runs, capsys):
    """`rnnkit train --resume RUN --lm LM` trains nothing more and adds the fused decoding
    (weight and bonus chosen on validation) to the report and result."""
    root, _, uni = runs
    code, _, err = run_cli(["train", "charlm", "--smoke", "--no-progress", "--data",
                            uni / "transcripts-train.txt", "--runs-dir", root / "runs",
                            "--name", "lm-uni", "--hidden-size", "16", "--embed-size", "8"],
                           capsys)
    assert code == 0, err
    steps = json.loads((uni / "result.json").read_text())["steps"]
    code, _, err = run_cli(["train", "--resume", uni, "--lm", root / "runs" / "lm-uni",
                            "--no-progress"], capsys)
    assert code == 0, err
    result = json.loads((uni / "result.json").read_text())
    assert result["steps"] == steps and "test_cer_lm" in result["metrics"]
    assert "language model" in (uni / "report.md").read_text()
    code, _, err = run_cli(["train", "--resume", uni, "--lr", "0.1", "--no-progress"], capsys)
    assert code == 1 and "cannot change --lr" in err


def test_stream_reads_raw_pcm_from_standard_input(runs, capsys, monkeypatch):
    """`--stream -`: 16-bit little-endian mono PCM at the model's rate gives the same text
    as the file it came from (an odd trailing byte is no sample)."""
    import io
    import sys

    root, _, uni = runs
    clip = root / "corpus" / "clip3.wav"
    pcm = sf.read(clip, dtype="int16")[0].astype("<i2").tobytes() + b"\x01"
    code, whole, _ = run_cli(["transcribe", uni, clip], capsys)
    assert code == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm)))
    code, out, err = run_cli(["transcribe", uni, "-", "--stream", "--chunk-ms", "30"], capsys)
    assert code == 0, err
    assert out == whole.split("\t", 1)[1]


def test_speed_perturbation_adds_two_copies_of_each_training_clip(tmp_path, monkeypatch,
                                                                   capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_DATA", str(cache))
    fake_fillets(cache)
    code, _, err = run_cli(["train", "asr", "--smoke", "--runs-dir", tmp_path / "runs",
                            "--no-progress", "--name", "sp", "--speed-perturb", "true"],
                           capsys)
    assert code == 0, err
    train = (tmp_path / "runs" / "sp" / "transcripts-train.txt").read_text().splitlines()
    report = (tmp_path / "runs" / "sp" / "report.md").read_text()
    assert f"+ {2 * len(train)} speed-perturbed copies" in report
    assert len(list((cache / "features").glob("asr-nl-*.pt"))) == 3  # x1, x0.9, x1.1
    from rnnkit.data.transcribed import load_fillets_speech
    from rnnkit.recipes.speech.asr import raw_features
    from rnnkit.recipes.speech.recogniser import Featuriser, feature_spec

    utts = load_fillets_speech("nl")
    f = Featuriser(feature_spec(16000, 40, 10, norm="utterance"))
    (x1,), (slow,), (fast,) = ([raw_features(utts, f, True, s)[0][0]] for s in (1.0, 0.9, 1.1))
    assert len(slow) > len(x1) > len(fast)  # slower playback: more frames


def test_experiment_passes_its_language_model_to_every_run():
    from rnnkit.experiments.asr import AsrSpec

    spec = AsrSpec(lm="runs/charlm-nl", smoke=True)
    assert {spec.config(c, 1).data.lm for c in ("lstm", "rnn_tanh")} == {"runs/charlm-nl"}
    assert AsrSpec(smoke=True).config("lstm", 1).data.lm is None

"""CLI smoke tests on tiny data: every subcommand runs, writes what it promises and is
repeatable."""

from __future__ import annotations

import json

import pytest
from tk_helpers import TINY, run_cli

from rnnkit.cli import main
from rnnkit.train.checkpoint import load
from rnnkit.train.metrics import read_metrics

SUBCOMMANDS = ["train", "sample", "eval", "demo", "info"]


def test_version_and_help(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("rnnkit ")
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name, capsys):
    code, out, _ = run_cli([name, "--help"], capsys)
    assert code == 0 and f"rnnkit {name}" in out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, text_file):
    """One tiny training run shared by the sample/eval/info tests."""
    runs = tmp_path_factory.mktemp("runs")
    code = main(
        ["train", "charlm", "--data", str(text_file), "--runs-dir", str(runs),
         "--name", "tiny", *TINY])
    assert code == 0
    return runs / "tiny"


def test_train_writes_run_folder(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.toml", "metrics.jsonl", "loss.png", "report.md", "samples.txt",
            "result.json", "best.pt", "ckpt-00000010.pt", "ckpt-00000020.pt"} <= names
    records = read_metrics(trained_run / "metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    valid = [r for r in records if r["kind"] == "valid"]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    assert {"loss", "bpc", "grad_norm", "clipped", "lr", "tokens_per_s"} <= set(train[0])
    assert [r["step"] for r in valid] == [10, 20]
    assert (trained_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (trained_run / "report.md").read_text()
    assert "unigram baseline" in report and "temperature 0.5" in report
    assert "target (validation <= 1.45 nats/char): **NOT met**" in report  # 20 tiny steps
    result = json.loads((trained_run / "result.json").read_text())
    assert result["target"] == {"metric": "valid_nats", "op": "<=", "value": 1.45,
                                "text": "validation <= 1.45 nats/char", "met": False,
                                "budget": "2 h on one core of a 2-core CPU"}
    assert result["metrics"]["valid_nats"] == pytest.approx(result["best_valid_loss"])
    unigram, ours = result["baseline"]["metrics"]["valid_bits"], result["metrics"]
    assert ours["bits_below_unigram"] == pytest.approx(unigram - ours["valid_bits"])
    ck = load(trained_run / "ckpt-00000020.pt")
    assert ck["step"] == 20 and ck["config"]["model"]["hidden_size"] == 16
    assert ck["vocab"]["level"] == "char" and ck["vocab"]["tokens"][0] == "<unk>"


def test_training_learns_something(trained_run):
    """20 tiny updates must already beat a uniform guess over the vocabulary."""
    import math

    ck = load(trained_run / "best.pt")
    assert ck["loop"]["best"] < math.log(len(ck["vocab"]["tokens"]))


def test_resolved_config_repeats_the_run_bit_for_bit(trained_run, tmp_path, capsys):
    code, _, err = run_cli(["train", "--config", trained_run / "config.toml",
                            "--runs-dir", tmp_path, "--name", "again", "--no-progress"], capsys)
    assert code == 0, err
    losses = [(r["step"], r.get("loss"), r.get("valid_loss"))
              for r in read_metrics(trained_run / "metrics.jsonl")]
    again = [(r["step"], r.get("loss"), r.get("valid_loss"))
             for r in read_metrics(tmp_path / "again" / "metrics.jsonl")]
    assert losses == again
    assert (tmp_path / "again" / "config.toml").read_text() == \
        (trained_run / "config.toml").read_text()


def test_toml_config_and_flag_precedence(text_file, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'recipe = "charlm"\n[model]\ncell = "gru"\nhidden_size = 12\n'
                   f'[data]\ndata = "{text_file}"\n[train]\nmax_steps = 4\n')
    code, _, err = run_cli(["train", "--config", cfg, "--hidden-size", "10", "--smoke",
                            "--runs-dir", tmp_path, "--name", "t", "--no-progress",
                            "--max-steps", "3"], capsys)
    assert code == 0, err
    ck = load(tmp_path / "t" / "ckpt-00000003.pt")
    m = ck["config"]["model"]
    assert (m["cell"], m["hidden_size"]) == ("gru", 10)   # file sets cell, flag wins on size
    assert ck["step"] == 3


def test_sample_is_seeded_and_streams_requested_length(trained_run, capsys):
    args = ["sample", trained_run, "--prime", "KING:", "--length", "40", "--seed", "3"]
    code, out1, _ = run_cli(args, capsys)
    assert code == 0 and out1.startswith("KING:")
    assert len(out1) == len("KING:") + 40 + 1  # char level: one char per token, then \n
    _, out2, _ = run_cli(args, capsys)
    assert out1 == out2
    _, out3, _ = run_cli([*args[:-1], "4", "--top-k", "3", "--top-p", "0.9"], capsys)
    assert out3.startswith("KING:")


def test_sample_warns_about_prime_characters_outside_the_vocabulary(trained_run, capsys):
    """Unknown prime characters are read as <unk>: one warning line on stderr naming them
    (once each, repr'd), and the sample goes on with the prime echoed as given."""
    args = ["sample", trained_run, "--length", "5", "--seed", "1"]
    code, out, err = run_cli([*args, "--prime", "KING:"], capsys)
    assert code == 0 and err == ""
    prime = "KING: \u00e9\t\u00e9\x07"
    code, out, err = run_cli([*args, "--prime", prime], capsys)
    assert code == 0 and out.startswith(prime) and len(out) == len(prime) + 5 + 1
    assert err.endswith("\n") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err == ("rnnkit sample: warning: --prime has 3 characters not in the model's "
                   "vocabulary ('\u00e9', '\\t', '\\x07'); each is read as <unk> (id 0)\n")
    many = "".join(chr(0x400 + i) for i in range(14))
    _, _, err = run_cli([*args, "--prime", many], capsys)
    assert "14 characters" in err and "'\u0409' and 4 more);" in err and "\u040a" not in err


def test_sample_warns_about_unknown_words(text_file, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--level", "word",
                            "--vocab-size", "20", "--max-steps", "2", "--runs-dir", tmp_path,
                            "--name", "w", *TINY], capsys)
    assert code == 0, err
    code, out, err = run_cli(["sample", tmp_path / "w", "--prime", "the zebra and the zebra",
                              "--length", "3", "--seed", "1"], capsys)
    assert code == 0 and out.startswith("the zebra and the zebra")
    assert len(err.splitlines()) == 1
    assert "2 words not in the model's vocabulary ('zebra', 'and')" in err


def test_eval_reports_bpc(trained_run, text_file, capsys):
    code, out, _ = run_cli(["eval", trained_run, "--data", text_file], capsys)
    assert code == 0 and "bits/char" in out
    bpc = float(out.split("bits/char")[0].split()[-1])
    assert 0 < bpc < 8


def test_info_describes_checkpoint(trained_run, capsys):
    code, out, _ = run_cli(["info", trained_run], capsys)
    assert code == 0 and "parameters" in out and "step 20" in out
    code, out, _ = run_cli(["info", trained_run / "ckpt-00000010.pt", "--json"], capsys)
    d = json.loads(out)
    assert d["step"] == 10 and d["vocab"]["level"] == "char" and d["parameters"] > 0


def test_word_level_reports_perplexity(text_file, tmp_path, capsys):
    code, _, err = run_cli(["train", "charlm", "--data", text_file, "--level", "word",
                            "--vocab-size", "20", "--runs-dir", tmp_path, "--name", "w",
                            *TINY], capsys)
    assert code == 0, err
    ck = load(tmp_path / "w" / "best.pt")
    assert len(ck["vocab"]["tokens"]) == 20 and "<unk>" in ck["vocab"]["tokens"]
    code, out, _ = run_cli(["eval", tmp_path / "w", "--data", text_file], capsys)
    assert code == 0 and "perplexity" in out and "<unk>" in out


def test_demo_smoke(tmp_path, capsys):
    code, out, err = run_cli(["demo", "--smoke", "--runs-dir", tmp_path, "--name", "d",
                              "--no-progress", "--max-steps", "6"], capsys)
    assert code == 0, err
    assert "unigram baseline" in out and "temperature 0.8" in out
    assert "target (beat the unigram baseline by >= 1.0 bit/char)" in out
    assert (tmp_path / "d" / "report.md").exists()


def test_existing_run_is_not_overwritten(trained_run, capsys):
    code, _, err = run_cli(["train", "charlm", "--runs-dir", trained_run.parent,
                            "--name", "tiny", *TINY], capsys)
    assert code == 1 and "already exists" in err and "--resume" in err


def test_print_config_shows_recipe_values_and_trains_nothing(tmp_path, capsys):
    code, out, _ = run_cli(["train", "charlm", "--print-config", "--cell", "gru",
                            "--runs-dir", tmp_path, "--name", "p"], capsys)
    assert code == 0
    assert 'cell = "gru"' in out and "hidden_size = 384" in out  # flag, then recipe value
    assert not (tmp_path / "p").exists()


def test_gradients_reports_flow_spectra_saturation(trained_run, text_file, capsys):
    code, out, err = run_cli(["gradients", trained_run, "--data", text_file, "--seq-len", 30,
                              "--batch-size", 4], capsys)
    assert code == 0, err
    assert "memory span" in out and "sigma_max" in out and "near high" in out
    assert "rnn[0].f" in out  # one row per LSTM gate
    code, out, _ = run_cli(["gradients", trained_run, "--data", text_file, "--seq-len", 30,
                            "--json"], capsys)
    report = json.loads(out)
    (layer,) = report["layers"]
    assert len(layer["ratios"]) == 30 and layer["ratios"][0] == 1.0
    assert {s["gate"] for s in report["saturation"]} == {"i", "f", "g", "o"}


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--seq-len", "1"], "--seq-len must be >= 2"),
        (["--threshold", "1.5"], "--threshold must be between 0 and 1"),
        (["--seq-len", "100000"], "needs at least 100001"),
    ],
)
def test_gradients_bad_options(trained_run, text_file, capsys, extra, match):
    code, _, err = run_cli(["gradients", trained_run, "--data", text_file, *extra], capsys)
    assert code == 1 and match in err and "Traceback" not in err


def test_bench_forwards_its_own_options(capsys):
    code, out, err = run_cli(["bench", "--help"], capsys)
    assert code == 0 and "usage: rnnkit bench" in out and "--grid" in out
    code, _, err = run_cli(["bench", "--grid", "nope"], capsys)
    assert code == 1 and "unknown grid 'nope'" in err and len(err.strip().splitlines()) == 1


def test_unknown_option_is_still_an_error_elsewhere(capsys):
    code, _, err = run_cli(["info", "somewhere", "--bogus"], capsys)
    assert code == 2 and "unrecognized arguments: --bogus" in err


def test_list_shows_every_recipe_with_its_target(capsys):
    from rnnkit.recipes import registry

    code, out, _ = run_cli(["train", "--list"], capsys)
    assert code == 0
    for name, recipe in registry.all_recipes().items():
        assert f"\n{name} " in f"\n{out}"
        assert f"target: {recipe.target.text} ({recipe.target.budget})" in out

"""The translate recipe end to end on a small generated corpus (seconds): training,
scores, the run folder, `rnnkit translate`, `rnnkit eval`, and bad input."""

from __future__ import annotations

import json
import random

import pytest
from tk_helpers import run_cli

pytestmark = pytest.mark.usefixtures("torch_globals")

WORDS = {"the cat": "le chat", "the dog": "le chien", "a bird": "un oiseau",
         "the fish": "le poisson", "a mouse": "une souris"}
VERBS = {"sleeps": "dort", "eats": "mange", "sings": "chante", "runs": "court"}


def write_pairs(path, n=90, seed=0):
    """n pairs in 9 scenes (third column), a tiny regular English -> French language."""
    g = random.Random(seed)
    rows = []
    for i in range(n):
        s, v = g.choice(list(WORDS)), g.choice(list(VERBS))
        rows.append(f"{s} {v} .\t{WORDS[s]} {VERBS[v]} .\tscene{i % 9}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tr")
    data = write_pairs(root / "pairs.tsv")
    code = run_cli_plain(["train", "translate", "--smoke", "--data", data, "--runs-dir",
                          root / "runs", "--name", "t", "--no-progress", "--level", "char"])
    assert code == 0
    return root / "runs" / "t", data


def run_cli_plain(args):
    from rnnkit.cli import main

    return main([str(a) for a in args])


def test_smoke_run_writes_scores_and_translations(trained):
    run, _ = trained
    names = {p.name for p in run.iterdir()}
    assert {"result.json", "report.md", "translations.tsv", "test_scores.json", "src.chars.json",
            "tgt.chars.json", "best.pt"} <= names
    result = json.loads((run / "result.json").read_text())
    assert {"test_bleu", "test_chrf", "test_bleu_greedy", "bleu_above_copy"} <= set(
        result["metrics"])
    assert result["baseline"]["name"] == "copy the source"
    scores = json.loads((run / "test_scores.json").read_text())
    assert scores["beam"]["bleu_signature"].startswith("nrefs:1")
    report = (run / "report.md").read_text()
    assert "sacrebleu" in report and "baseline (copy the source)" in report
    rows = (run / "translations.tsv").read_text().splitlines()
    assert rows[0] == "source\treference\tgreedy\tbeam" and len(rows) == 1 + scores["n"]


def test_translate_command_and_eval(trained, tmp_path, capsys):
    run, data = trained
    code, out, err = run_cli(["translate", run, "the cat sleeps .", "a bird eats ."], capsys)
    assert code == 0 and len(out.splitlines()) == 2, err
    code, out, err = run_cli(["translate", run, "the dog runs .", "--beam", "3",
                              "--n-best", "2"], capsys)
    assert code == 0 and len(out.splitlines()) == 2
    assert all(len(line.split("\t")) == 2 for line in out.splitlines())
    sentences = tmp_path / "in.txt"
    sentences.write_text("the fish sings .\n\nthe cat eats .\n")
    code, out, _ = run_cli(["translate", run, "--file", sentences, "--beam", "1"], capsys)
    assert code == 0 and len(out.split("\n")) == 4 and out.split("\n")[1] == ""  # aligned
    png = tmp_path / "a.png"
    code, _, err = run_cli(["translate", run, "the cat sleeps .", "--show-attention", png],
                           capsys)
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG", err
    code, out, err = run_cli(["eval", run, "--data", data], capsys)
    assert code == 0 and "BLEU" in out and "chrF" in out, err


def assert_one_line(code, err, needle):
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


def test_bad_input_is_one_line(trained, tmp_path, capsys):
    run, _ = trained
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    code, _, err = run_cli(["train", "translate", "--smoke", "--data", empty,
                            "--runs-dir", tmp_path], capsys)
    assert_one_line(code, err, "empty")
    bad = tmp_path / "bad.tsv"
    bad.write_text("the cat .\tle chat .\nonly one column\n")
    code, _, err = run_cli(["train", "translate", "--smoke", "--data", bad,
                            "--runs-dir", tmp_path], capsys)
    assert_one_line(code, err, "line 2")
    code, _, err = run_cli(["train", "translate", "--smoke", "--pair", "en-xx",
                            "--runs-dir", tmp_path], capsys)
    assert_one_line(code, err, "unknown language pair en-xx")
    code, _, err = run_cli(["translate", run, "the cat " * 200], capsys)
    assert_one_line(code, err, "longer than the model's limit")
    code, _, err = run_cli(["translate", run, "x", "--n-best", "3", "--beam", "2"], capsys)
    assert_one_line(code, err, "--n-best")


def test_experiment_compares_variants_with_a_paired_bootstrap(tmp_path, capsys):
    data = write_pairs(tmp_path / "pairs.tsv")
    args = ["experiment", "translation", "--smoke", "--seeds", "1", "--data", data,
            "--runs-dir", tmp_path, "--name", "x"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "x" / "results.json").read_text())
    assert {r["variant"] for r in results["rows"]} == {"attention", "no-attention",
                                                      "transformer"}
    (test,) = results["paired_bootstrap"]
    assert 0.0 <= test["p_value"] <= 1.0 and "bs:1000" in test["signature"]
    (copy,) = results["paired_bootstrap_copy"]  # its baseline is the run's own copy score
    copy_bleu = next(r["copy_bleu"] for r in results["rows"] if r["variant"] == "attention")
    assert copy["baseline_bleu"] == pytest.approx(copy_bleu, abs=1e-6)
    assert copy["system_bleu"] == pytest.approx(test["system_bleu"], abs=1e-9)
    assert "paired bootstrap" in (tmp_path / "x" / "results.md").read_text()
    code, out, _ = run_cli(args, capsys)  # again: nothing retrained
    assert code == 0 and out.count("done before") == 3


def test_experiment_passes_extra_pairs_to_every_run(tmp_path, capsys):
    data, extra = write_pairs(tmp_path / "pairs.tsv"), write_pairs(tmp_path / "x.tsv", 30, 2)
    code, _, err = run_cli(["experiment", "translation", "--smoke", "--seeds", "1", "--data",
                            data, "--extra-pairs", extra, "--runs-dir", tmp_path, "--name",
                            "e"], capsys)
    assert code == 0, err
    for variant in ("attention", "no-attention", "transformer"):
        assert "with 30 extra pairs" in (tmp_path / "e" / f"{variant}-seed1" /
                                         "report.md").read_text()


def test_model_settings_that_cannot_be_built_are_one_line(tmp_path, capsys):
    data = write_pairs(tmp_path / "pairs.tsv")
    code, _, err = run_cli(["train", "translate", "--smoke", "--data", data, "--level", "char",
                            "--hidden-size", "15", "--runs-dir", tmp_path], capsys)
    assert_one_line(code, err, "must be even")
    for extra, needle in ((["--copy", "true", "--attention", "none"], "needs attention"),
                          (["--copy", "true", "--arch", "transformer"],
                           "--copy is for the recurrent")):
        code, _, err = run_cli(["train", "translate", "--smoke", "--data", data, "--level",
                                "char", "--runs-dir", tmp_path, *extra], capsys)
        assert_one_line(code, err, needle)


def test_copy_run_shares_one_vocabulary(tmp_path, capsys):
    """--copy trains one subword vocabulary on both sides (a source id is the same target
    id), saves it for both, and the run translates."""
    data = write_pairs(tmp_path / "pairs.tsv")
    code, _, err = run_cli(["train", "translate", "--smoke", "--copy", "true", "--data", data,
                            "--runs-dir", tmp_path / "runs", "--name", "c", "--no-progress"],
                           capsys)
    assert code == 0, err
    run = tmp_path / "runs" / "c"
    assert (run / "src.model").read_bytes() == (run / "tgt.model").read_bytes()
    code, out, err = run_cli(["translate", run, "the cat sleeps ."], capsys)
    assert code == 0 and out.strip(), err


def test_extra_pairs_join_the_training_side_only(tmp_path, capsys):
    """--extra-pairs FILE adds training pairs; the test scenes (and so the scores' n) stay
    those of --data, and a missing file or a non-English source for wesnoth is one line."""
    data = write_pairs(tmp_path / "pairs.tsv")
    extra = write_pairs(tmp_path / "extra.tsv", n=40, seed=1)
    runs = tmp_path / "runs"
    code, out, err = run_cli(["train", "translate", "--smoke", "--data", data, "--level",
                              "char", "--extra-pairs", extra, "--runs-dir", runs, "--name",
                              "x", "--no-progress"], capsys)
    assert code == 0, err
    assert "with 40 extra pairs" in (runs / "x" / "report.md").read_text()
    plain = run_cli_plain(["train", "translate", "--smoke", "--data", data, "--level", "char",
                           "--runs-dir", runs, "--name", "p", "--no-progress"])
    assert plain == 0
    n = [json.loads((runs / r / "test_scores.json").read_text())["n"] for r in ("x", "p")]
    assert n[0] == n[1]
    code, _, err = run_cli(["train", "translate", "--smoke", "--data", data, "--extra-pairs",
                            tmp_path / "nope.tsv", "--runs-dir", runs], capsys)
    assert_one_line(code, err, "neither a file nor 'wesnoth'")
    code, _, err = run_cli(["train", "translate", "--smoke", "--data", data, "--pair", "fr-de",
                            "--extra-pairs", "wesnoth", "--runs-dir", runs], capsys)
    assert_one_line(code, err, "translates from English")


def test_label_smoothing_applies_in_training_only():
    import torch

    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.recipes.translation.translate import collate_pairs, pair_loss

    torch.manual_seed(0)
    model = Seq2Seq(12, 12, embed_size=6, hidden_size=8)
    batch = collate_pairs([(torch.tensor([4, 5, 6]), torch.tensor([1, 7, 8]),
                            torch.tensor([7, 8, 2])),
                           (torch.tensor([9, 4]), torch.tensor([1, 10]), torch.tensor([10, 2]))])
    model.train(False)
    assert torch.equal(pair_loss(model, batch, 0.2), pair_loss(model, batch))
    model.train(True)  # no dropout in this model: training differs only by the smoothing
    src, lengths, tgt_in, tgt_out = batch
    logp = torch.log_softmax(model(src, lengths, tgt_in), -1)[tgt_out != 0]  # (N, V)
    nll = -logp.gather(1, tgt_out[tgt_out != 0][:, None]).mean()
    expected = 0.8 * nll + 0.2 * -logp.mean()
    torch.testing.assert_close(pair_loss(model, batch, 0.2), expected)


def test_experiment_trains_only_the_variants_asked_for(tmp_path, capsys):
    data = write_pairs(tmp_path / "pairs.tsv")
    args = ["experiment", "translation", "--smoke", "--seeds", "1", "--data", data,
            "--runs-dir", tmp_path, "--name", "v"]
    code, _, err = run_cli([*args, "--variants", "attention"], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "v" / "results.json").read_text())
    assert [r["variant"] for r in results["rows"]] == ["attention"]
    assert results["paired_bootstrap"] == [] and len(results["paired_bootstrap_copy"]) == 1
    assert sorted(p.name for p in (tmp_path / "v").iterdir() if p.is_dir()) == \
        ["attention-seed1"]
    code, _, err = run_cli([*args, "--variants", "attention,lstm"], capsys)
    assert code == 1 and "--variants: unknown lstm; choose from attention" in err

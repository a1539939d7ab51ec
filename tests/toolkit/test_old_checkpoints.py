"""Checkpoints written before the recipes/ layout (commit 275224a) still load and serve."""

from __future__ import annotations

from pathlib import Path

from tk_helpers import run_cli

from rnnkit.recipes.base import load_run

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "main-275224a"


def test_old_language_model_loads_samples_and_evaluates(capsys):
    run = load_run(OLD / "lm", ("vocab",))
    assert run.kind == "vocab" and run.config.recipe == "charlm" and run.file.name == \
        "ckpt-00000004.pt"
    code, out, err = run_cli(["sample", OLD / "lm", "--length", "20", "--seed", "1",
                              "--prime", "To be"], capsys)
    assert code == 0 and out.startswith("To be") and len(out) > 20, err
    code, out, err = run_cli(["eval", OLD / "lm", "--data", OLD / "lm" / "text.txt"], capsys)
    assert code == 0 and "bits/char" in out, err


def test_old_classifier_loads_and_predicts(tmp_path, capsys):
    run = load_run(OLD / "splice", ("classifier",))
    assert run.kind == "classifier" and run.spec["classes"] == ["ei", "ie", "n"]
    fasta = tmp_path / "s.fa"
    fasta.write_text(">r1\n" + "ACGT" * 40 + "\n")
    code, out, err = run_cli(["predict", "splice", "--fasta", fasta, "--run", OLD / "splice",
                              "--all", "--min-prob", "0"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].split("\t")[:4] == ["record", "start", "end", "junction_after"]
    assert len(out.splitlines()) == 1 + 160 - 60 + 1

"""``rnnkit predict`` and ``rnnkit eval`` on classification runs: plain and gzipped FASTA,
labelled FASTA/TSV, and one-line errors for every bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from test_toolkit_bad_input import assert_one_line_error
from tk_helpers import run_cli

from rnnkit.cli import main
from rnnkit.data.dna_datasets import load_splice
from rnnkit.data.fasta import decode_index

SMOKE = ["--smoke", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A smoke splice run and a smoke genes (tagger) run under one runs folder."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", "splice", *SMOKE, "--runs-dir", str(root), "--name", "sp"]) == 0
    return root


@pytest.fixture(scope="module")
def examples() -> list[tuple[str, str, str]]:
    """(id, class, sequence) of 12 StatLog test rows."""
    data = load_splice("test")
    return [(data.ids[i], data.classes[int(data.labels[i])], decode_index(data.inputs[i]))
            for i in range(0, 1186, 100)]


def write_scan(path: Path, examples, gz: bool = False) -> Path:
    text = ">contig1 two junction windows\n" + "".join(s for _, _, s in examples[:3]) + \
           "\n>contig2\n" + examples[3][2] + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_predict_scans_plain_and_gzipped_fasta_alike(runs, examples, tmp_path, capsys):
    plain = write_scan(tmp_path / "s.fa", examples)
    zipped = write_scan(tmp_path / "s.fa.gz", examples, gz=True)
    outs = []
    for f in (plain, zipped):
        code, out, err = run_cli(["predict", "splice", "--fasta", f, "--runs-dir", runs,
                                  "--all", "--min-prob", "0"], capsys)
        assert code == 0, err
        outs.append(out)
        assert "items scored" in err
    assert outs[0] == outs[1]
    lines = outs[0].splitlines()
    assert lines[0].split("\t")[:5] == ["record", "start", "end", "junction_after", "class"]
    # --all: every 60-nt window of both records: (180 - 59) + (60 - 59)
    assert len(lines) - 1 == 121 + 1
    first = lines[1].split("\t")
    assert first[:4] == ["contig1", "1", "60", "30"]
    assert abs(sum(float(v) for v in first[-3:]) - 1) < 1e-3


def test_predict_run_option_and_output_file(runs, examples, tmp_path, capsys):
    out_file = tmp_path / "pred.tsv"
    code, out, err = run_cli(["predict", "splice", "--fasta", write_scan(tmp_path / "a.fa",
                              examples), "--run", runs / "sp", "--output", out_file], capsys)
    assert code == 0, err
    assert out == "" and out_file.read_text().startswith("record\tstart")


def test_eval_scores_labelled_fasta_and_tsv(runs, examples, tmp_path, capsys):
    fa = tmp_path / "lab.fa"
    fa.write_text("".join(f">r{i} {c}\n{s}\n" for i, c, s in examples))
    tsv = tmp_path / "lab.tsv"
    tsv.write_text("class\tsequence\n" + "".join(f"{c}\t{s}\n" for _, c, s in examples))
    for f in (fa, tsv):
        code, out, err = run_cli(["eval", runs / "sp", "--data", f], capsys)
        assert code == 0, err
        assert "12 sequences scored" in out and "accuracy" in out and "macro-F1" in out


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("", "no FASTA records"),
    (b"\x1f\x8b\x08\x00garbage", "gzip stream is truncated or corrupt"),
    (">short\nACGT\n", "shorter than the 60-nt window"),
    (">x\nACGTQ\n", "not in the dna alphabet"),
])
def test_predict_bad_fasta(runs, tmp_path, capsys, content, needle):
    f = tmp_path / "bad.fa"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    code, _, err = run_cli(["predict", "splice", "--fasta", f, "--runs-dir", runs], capsys)
    assert_one_line_error(code, err, needle)


def test_predict_unknown_recipe_and_missing_run(runs, examples, tmp_path, capsys):
    fa = write_scan(tmp_path / "s.fa", examples)
    code, _, err = run_cli(["predict", "nosuch", "--fasta", fa], capsys)
    assert_one_line_error(code, err, "unknown recipe 'nosuch'", "splice")
    code, _, err = run_cli(["predict", "adding", "--fasta", fa], capsys)
    assert_one_line_error(code, err, "no predict reader", "splice")
    code, _, err = run_cli(["predict", "splice", "--fasta", fa, "--runs-dir",
                            tmp_path / "empty"], capsys)
    assert_one_line_error(code, err, "no trained 'splice' run")


def test_wrong_checkpoint_kind(runs, examples, tmp_path, capsys, text_file):
    assert main(["train", "charlm", "--data", str(text_file), *SMOKE, "--runs-dir",
                 str(tmp_path), "--name", "lm"]) == 0
    capsys.readouterr()
    fa = write_scan(tmp_path / "s.fa", examples)
    code, _, err = run_cli(["predict", "splice", "--fasta", fa, "--run", tmp_path / "lm"],
                           capsys)
    assert_one_line_error(code, err, "not a classifier or tagger checkpoint")
    # an LM run still evaluates text as before
    code, out, err = run_cli(["eval", tmp_path / "lm", "--data", text_file], capsys)
    assert code == 0 and "bits/char" in out, err


@pytest.mark.parametrize("content, needle", [
    (">r1 ei\nACGT\n", "this model reads 60-nt windows"),
    (">r1 zz\n" + "A" * 60 + "\n", "are not the model's"),
    (">r1\n" + "A" * 60 + "\n", "has no class in its header"),
    ("name\tseq\nx\tACGT\n", "not a labelled file"),
    ("", "empty file"),
])
def test_eval_bad_labelled_files(runs, tmp_path, capsys, content, needle):
    f = tmp_path / "bad.txt"
    f.write_text(content)
    code, _, err = run_cli(["eval", runs / "sp", "--data", f], capsys)
    assert_one_line_error(code, err, needle)


@pytest.fixture(scope="module")
def genes_run(tmp_path_factory) -> tuple[Path, Path]:
    """A smoke genes (tagger) run on a toy genome with a GFF3 beside it."""
    import random

    root = tmp_path_factory.mktemp("genes")
    rng = random.Random(0)
    (root / "toy.fna").write_text(">chr1\n" + "".join(rng.choice("ACGT") for _ in range(3000))
                                  + "\n")
    (root / "toy.gff3").write_text("".join(f"chr1\tt\tCDS\t{s + 1}\t{s + 250}\t.\t+\t0\t.\n"
                                           for s in range(100, 2700, 400)))
    assert main(["train", "genes", *SMOKE, "--data", str(root / "toy.fna"), "--runs-dir",
                 str(root), "--name", "g"]) == 0
    return root / "g", root / "toy.fna"


def test_genes_predict_intervals_and_eval(genes_run, tmp_path, capsys):
    run, genome = genes_run
    fa = tmp_path / "new.fa.gz"
    with gzip.open(fa, "wt") as fh:
        fh.write(">n1\n" + "ACGT" * 40 + "NNNN" + "TTGCA" * 30 + "\n")
    code, out, err = run_cli(["predict", "genes", "--fasta", fa, "--run", run, "--all",
                              "--min-prob", "0"], capsys)
    assert code == 0, err
    rows = [ln.split("\t") for ln in out.splitlines()[1:]]
    covered = sum(int(e) - int(s) + 1 for _, s, e, _, _ in rows)
    assert covered == 160 + 150  # every base but the 4 N
    code, out, err = run_cli(["eval", run, "--data", genome], capsys)
    assert code == 0 and "per-step scores" in out and "macro-F1" in out, err
    code, _, err = run_cli(["predict", "splice", "--fasta", fa, "--run", run], capsys)
    assert_one_line_error(code, err, "trained by recipe 'genes'")


def test_eval_and_predict_quantised(runs, examples, tmp_path, capsys):
    """--quantize int8|bfloat16 loads the run with reduced-precision recurrent weights; the
    smoke classifier scores these rows alike (its margins are far above the rounding)."""
    tsv = tmp_path / "lab.tsv"
    tsv.write_text("class\tsequence\n" + "".join(f"{c}\t{s}\n" for _, c, s in examples))
    outs = {}
    for precision in ("float32", "int8", "bfloat16"):
        code, out, err = run_cli(["eval", runs / "sp", "--data", tsv, "--quantize", precision],
                                 capsys)
        assert code == 0, err
        outs[precision] = next(line for line in out.splitlines() if "accuracy" in line)
    assert outs["int8"].split("loss")[0] == outs["float32"].split("loss")[0]
    scan = write_scan(tmp_path / "scan.fa", examples)
    code, _, err = run_cli(["predict", "splice", "--fasta", scan, "--run", runs / "sp",
                            "--quantize", "int8"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["eval", runs / "sp", "--data", tsv, "--quantize", "int4"], capsys)
    assert code == 2 and "invalid choice: 'int4'" in err

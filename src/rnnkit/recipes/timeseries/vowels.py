"""Time series: JapaneseVowels speaker identification (``vowels``) on the official
270/370 split, or the user's ``*_TRAIN.ts`` + ``*_TEST.ts`` pair (``--data FOLDER``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data import sequences as seqs
from rnnkit.data.sequences import LabelledSequences
from rnnkit.errors import DataError
from rnnkit.recipes.base import Setup
from rnnkit.recipes.classify import (
    classifier_setup,
    classifier_spec,
)
from rnnkit.train.config import RunConfig

VOWELS_REFERENCE = ("Kudo, Toyama & Shimbo 1999, same split", 0.941)
AEON_HELP = ("the vowels recipe reads JapaneseVowels from aeon: pip install aeon==1.6.0; or "
             "--data FOLDER holding NAME_TRAIN.ts and NAME_TEST.ts")


def load_ts_pair(root: Path | None) -> tuple[LabelledSequences, LabelledSequences]:
    """(train, test) from ``*_TRAIN.ts``/``*_TEST.ts`` in ``root``, or aeon's JapaneseVowels."""
    from rnnkit.data.timeseries import load_aeon_dataset, read_ts

    if root is None:
        try:
            return (load_aeon_dataset("JapaneseVowels", "train"),
                    load_aeon_dataset("JapaneseVowels", "test"))
        except DataError:
            raise DataError(AEON_HELP) from None
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; {AEON_HELP}")
    tr = sorted(p for p in root.glob("*_TRAIN.ts") if "_eq_" not in p.name)
    te = [p.with_name(p.name.replace("_TRAIN.ts", "_TEST.ts")) for p in tr]
    if not tr or not te[0].is_file():
        raise DataError(f"{root}: no NAME_TRAIN.ts with its NAME_TEST.ts beside it")
    train = read_ts(tr[0])
    test = read_ts(te[0])
    return train, seqs.relabel(test, train.classes) if test.classes != train.classes else test


def build_vowels(cfg: RunConfig) -> Setup:
    """JapaneseVowels: 9 speakers from 12 LPC cepstra per frame; the official split (270
    train, 370 test), 10% of train held out per class to pick the checkpoint; channels
    standardised with the training mean and deviation."""
    train_all, test = load_ts_pair(cfg.data.data)
    train, valid, _ = seqs.stratified_split(train_all, 0.1, 0.0, cfg.train.seed)
    flat = torch.cat(train.inputs)
    mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)

    def standardise(d):
        return LabelledSequences([(x - mean) / std for x in d.inputs], d.labels,
                                 list(d.classes), list(d.ids))

    train, valid, test = standardise(train), standardise(valid), standardise(test)
    is_vowels = train_all.ids[0].startswith("JapaneseVowels_TRAIN.ts")
    reference = VOWELS_REFERENCE if is_vowels else None
    meta = {"kind": "timeseries", "mean": mean.tolist(), "std": std.tolist()}
    return classifier_setup(cfg, train, valid, test, baseline=reference,
                            spec=classifier_spec(cfg, train, features=meta))



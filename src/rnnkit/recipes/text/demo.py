"""Recipe ``demo``: the main job behind ``rnnkit demo`` / ``make demo``.

A 1x256 character LSTM on the shipped Shakespeare corpus, trained for 3 minutes, then
scored against the unigram baseline. The bound is time, not steps, and the cosine decay
follows the clock (``schedule_clock="time"``), so the run ends annealed however fast the
machine is; the step limit is only a ceiling. That makes the demo's numbers depend on
the machine, which is the point of a time-bounded demo. It builds like ``charlm``.
"""

from __future__ import annotations

from rnnkit.recipes.result import Target

DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 256, "num_layers": 1, "embed_size": 64,
              "dropout": 0.0},
    "data": {"level": "char", "valid_fraction": 0.05},
    # Small windows and batch: many cheap updates beat few large ones in a short budget.
    "train": {"batch_size": 32, "seq_len": 64, "optimizer": "adam", "lr": 3e-3,
              "schedule": "cosine", "schedule_clock": "time", "warmup_steps": 100,
              "max_steps": 100_000, "max_seconds": 180.0,
              # Score on the first 50k validation chars (of 227k): the estimate's noise is
              # ~0.01 bpc and each pass costs seconds, not a tenth of the budget.
              "eval_every": 500, "eval_tokens": 50_000,
              "ckpt_every": 500, "clip_norm": 5.0, "log_every": 20},
}
TARGET = Target("bits_below_unigram", ">=", 1.0,
                "beat the unigram baseline by >= 1.0 bit/char", budget="3 minutes", hours=0.1)

"""Recipe ``demo``: the main job behind ``rnnkit demo`` / ``make demo``.

A 1x256 character LSTM on the shipped Shakespeare corpus, trained for about 3 minutes on
2 CPU cores (measured ~50k chars/s there), then scored against the unigram baseline.
The step budget is what fits in 3 minutes on that machine, so the cosine schedule
finishes; ``max_seconds`` is a safety bound for slower machines (the schedule then
stops early, at a higher learning rate).
"""

from __future__ import annotations

DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 256, "num_layers": 1, "embed_size": 64,
              "dropout": 0.0},
    "data": {"level": "char", "valid_fraction": 0.05},
    # Small windows and batch: many cheap updates beat few large ones in a short budget.
    "train": {"batch_size": 32, "seq_len": 64, "optimizer": "adam", "lr": 3e-3,
              "schedule": "cosine", "warmup_steps": 100, "max_steps": 3500,
              "max_seconds": 180.0, "eval_every": 500, "eval_tokens": 100_000,
              "ckpt_every": 500, "clip_norm": 5.0, "log_every": 20},
}
TARGET_BEATS_UNIGRAM_BY_BITS = 1.0

"""Data parallelism: 2 CPU processes (torchrun, gloo), each with half of the B streams,
give the same losses as 1 process with all B streams (DDP averages gradients, which is the
gradient of the global mean loss). Float summation order differs, hence a tolerance."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tk_helpers import subprocess_env

from rnnkit.cli import main
from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.metrics import read_metrics

ARGS = ["--smoke", "--no-progress", "--hidden-size", "16", "--embed-size", "8",
        "--layers", "2", "--dropout", "0", "--batch-size", "4", "--max-steps", "8",
        "--log-every", "1", "--eval-every", "4", "--ckpt-every", "4", "--clip-norm", "0.5"]


def losses(run_dir):
    return [(r["step"], r.get("loss", r.get("valid_loss")))
            for r in read_metrics(run_dir / "metrics.jsonl")]


def test_two_processes_match_one(text_file, tmp_path):
    common = ["train", "charlm", "--data", text_file, "--runs-dir", tmp_path, *ARGS]
    assert main([*map(str, common), "--name", "one"]) == 0  # the single process, in-process
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", "2", "-m", "rnnkit.cli", *map(str, common), "--name", "two"]
    ddp = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env=subprocess_env())
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [s for s, _ in one] == [s for s, _ in two] and len(one) == 10  # 8 train, 2 valid
    for (_, a), (_, b) in zip(one, two, strict=True):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-6)
    # The saved carried state covers all B streams in global order, as in one process.
    s1 = ckpt_io.load(tmp_path / "one" / "ckpt-00000008.pt")["task"]["state"]
    s2 = ckpt_io.load(tmp_path / "two" / "ckpt-00000008.pt")["task"]["state"]
    for a, b in zip(s1, s2, strict=True):
        assert a.shape == b.shape == (2, 4, 16)
        assert (a - b).abs().max() < 1e-4

"""Ctrl-C: the first SIGINT saves a checkpoint and exits cleanly (status 130, resumable);
a second SIGINT exits at once (default signal action) without waiting for the update or
the save."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from tk_helpers import TINY, rnnkit_cmd, subprocess_env

from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.metrics import read_metrics


def start(text_file, run_dir, *extra) -> subprocess.Popen:
    cmd = rnnkit_cmd("train", "charlm", "--data", text_file, "--runs-dir", run_dir.parent,
                     "--name", run_dir.name, *TINY, "--max-steps", "100000",
                     "--log-every", "1", "--ckpt-every", "100000", "--eval-every", "100000",
                     *extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())


def wait_for_steps(proc, run_dir, n: int, timeout: float = 300) -> None:
    # Generous: the first use of rnnkit's native kernels may compile them (cached after).
    deadline = time.monotonic() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists() and len(read_metrics(metrics)) >= n:
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("training did not start in time")


def test_first_sigint_saves_and_exits_cleanly(text_file, tmp_path):
    run_dir = tmp_path / "int"
    with start(text_file, run_dir) as proc:
        wait_for_steps(proc, run_dir, 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "saving a checkpoint" in err and "Traceback" not in err
    assert "resume with: rnnkit train --resume" in out
    ckpts = ckpt_io.list_checkpoints(run_dir)
    assert len(ckpts) == 1
    step = ckpt_io.load(ckpts[0])["step"]
    assert step >= 3
    logged = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert logged[-1] == step  # the checkpoint holds the last finished update


def test_second_sigint_exits_at_once(text_file, tmp_path):
    run_dir = tmp_path / "int2"
    # Updates of a few seconds, so both signals arrive within one update.
    with start(text_file, run_dir, "--hidden-size", "512", "--batch-size", "32",
               "--seq-len", "128") as proc:
        wait_for_steps(proc, run_dir, 1)
        lines: list[str] = []
        sent: list[float] = []

        def read_and_resignal():
            # Send the second Ctrl-C the moment the first handler has spoken, from this
            # thread, so it lands while the update (or the checkpoint save) is running.
            for line in proc.stderr:
                lines.append(line)
                if "Ctrl-C" in line and not sent:
                    sent.append(time.monotonic())
                    proc.send_signal(signal.SIGINT)

        reader = threading.Thread(target=read_and_resignal, daemon=True)
        reader.start()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=5)
    err = "".join(lines)
    assert sent and time.monotonic() - sent[0] < 2
    assert proc.returncode == -signal.SIGINT  # killed by the signal: the shell shows 130
    assert "again to exit immediately" in err and "Traceback" not in err
    assert ckpt_io.list_checkpoints(run_dir) == []  # it did not wait to save

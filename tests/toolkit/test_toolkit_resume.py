"""A run stopped and resumed gives the same losses, bit for bit on CPU, as one that never
stopped: weights, optimiser and schedule state, RNG, data position and the carried hidden
state all travel in the checkpoint."""

from __future__ import annotations

import pytest
from tk_helpers import run_cli

from rnnkit.tasks import charlm, recipes
from rnnkit.train.checkpoint import list_checkpoints, load
from rnnkit.train.metrics import read_metrics


def tiny_config(text_file, cell="lstm", **train):
    # Dropout > 0 so the torch RNG matters; GRU/LSTM both carry state across windows.
    return recipes.resolve("charlm", smoke=True, cli_overrides={
        "model": {"hidden_size": 16, "embed_size": 8, "dropout": 0.1, "num_layers": 2,
                  "cell": cell},
        "data": {"data": str(text_file)},
        "train": {"max_steps": 24, "log_every": 1, "eval_every": 8, "ckpt_every": 100,
                  **train}})


def losses(run_dir):
    return [(r["kind"], r["step"], r.get("loss"), r.get("valid_loss"), r.get("lr"))
            for r in read_metrics(run_dir / "metrics.jsonl")]


@pytest.mark.parametrize("train", [{}, {"k1": 8, "schedule": "plateau"}],
                         ids=["k1=k2,cosine", "k1<k2,plateau"])
def test_stopped_and_resumed_run_matches_uninterrupted(text_file, tmp_path, train):
    cfg = tiny_config(text_file, **train)
    whole = charlm.run(cfg, tmp_path / "whole", progress=False, sample_length=5)
    assert whole.fit.steps == 24

    part = tmp_path / "part"
    first = charlm.run(tiny_config(text_file, **train), part, progress=False,
                       should_stop=lambda step: step == 13, sample_length=5)
    assert (first.fit.stopped, first.fit.steps) == ("interrupted", 13)
    ckpt = list_checkpoints(part)[-1]
    assert ckpt.name == "ckpt-00000013.pt"
    second = charlm.run(tiny_config(text_file, **train), part, resume_from=ckpt,
                        progress=False, sample_length=5)
    assert second.fit.steps == 24
    assert losses(part) == losses(tmp_path / "whole")  # exact float equality
    assert second.fit.best_valid_loss == whole.fit.best_valid_loss


def test_cli_resume_continues_the_saved_config(text_file, tmp_path, capsys):
    base = ["--runs-dir", tmp_path, "--name", "r", "--no-progress"]
    code, _, err = run_cli(["train", "charlm", "--smoke", "--data", text_file,
                            "--hidden-size", "12", "--max-steps", "10", *base[:4],
                            "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["train", "--resume", tmp_path / "r", "--max-steps", "14",
                              "--no-progress"], capsys)
    assert code == 0, err
    assert "resuming" in out and "step 14" in out
    steps = [r["step"] for r in read_metrics(tmp_path / "r" / "metrics.jsonl")
             if r["kind"] == "train"]
    assert steps == [5, 10, 14]
    code, _, err = run_cli(["train", "--resume", tmp_path / "r", "--hidden-size", "20"],
                           capsys)
    assert code == 1 and "cannot change --hidden-size" in err


@pytest.mark.parametrize("cell", ["mgu", "lstm_cifg"])
def test_gated_cells_train_and_resume_exactly(text_file, tmp_path, cell):
    """The toolkit's extra cells run on generated native kernels (rnnkit.GatedCell) and
    carry their (one- or two-tensor) state through checkpoints like GRU and LSTM."""
    whole = charlm.run(tiny_config(text_file, cell, max_steps=10), tmp_path / "whole",
                       progress=False, sample_length=5)
    part = tmp_path / "part"
    charlm.run(tiny_config(text_file, cell, max_steps=10), part, progress=False,
               should_stop=lambda step: step == 6, sample_length=5)
    charlm.run(tiny_config(text_file, cell, max_steps=10), part,
               resume_from=list_checkpoints(part)[-1], progress=False, sample_length=5)
    assert losses(part) == losses(tmp_path / "whole")
    assert whole.fit.steps == 10
    ck = load(list_checkpoints(tmp_path / "whole")[-1])
    gates = {"mgu": 2, "lstm_cifg": 3}[cell]
    assert ck["config"]["model"]["cell"] == cell
    assert ck["model"]["rnn.weight_hh_l0"].shape == (gates * 16, 16)

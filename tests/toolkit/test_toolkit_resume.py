"""A run stopped and resumed gives the same losses, bit for bit on CPU, as one that never
stopped: weights, optimiser and schedule state, RNG, data position and the carried hidden
state all travel in the checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from tk_helpers import run_cli

from rnnkit.errors import CheckpointError
from rnnkit.recipes import registry
from rnnkit.train.checkpoint import list_checkpoints, load
from rnnkit.train.metrics import read_metrics

CHARLM = registry.get("charlm")


def tiny_config(text_file, cell="lstm", **train):
    # Dropout > 0 so the torch RNG matters; GRU/LSTM both carry state across windows.
    return registry.resolve("charlm", smoke=True, cli_overrides={
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
    whole = CHARLM.run(cfg, tmp_path / "whole", progress=False)
    assert whole.fit.steps == 24

    part = tmp_path / "part"
    first = CHARLM.run(tiny_config(text_file, **train), part, progress=False,
                       should_stop=lambda step: step == 13)
    assert (first.fit.stopped, first.fit.steps) == ("interrupted", 13)
    ckpt = list_checkpoints(part)[-1]
    assert ckpt.name == "ckpt-00000013.pt"
    second = CHARLM.run(tiny_config(text_file, **train), part, resume_from=ckpt,
                        progress=False)
    assert second.fit.steps == 24
    result = json.loads((part / "result.json").read_text())
    # Training time and CPU time add up over the sessions: what the checkpoint had spent,
    # plus the resumed session's.
    spent = load(ckpt)["loop"]
    assert result["training_cpu_s"] > spent["cpu_s"] > 0
    assert result["training_s"] > spent["elapsed_s"] > 0
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
    whole = CHARLM.run(tiny_config(text_file, cell, max_steps=10), tmp_path / "whole",
                       progress=False)
    part = tmp_path / "part"
    CHARLM.run(tiny_config(text_file, cell, max_steps=10), part, progress=False,
               should_stop=lambda step: step == 6)
    CHARLM.run(tiny_config(text_file, cell, max_steps=10), part,
               resume_from=list_checkpoints(part)[-1], progress=False)
    assert losses(part) == losses(tmp_path / "whole")
    assert whole.fit.steps == 10
    ck = load(list_checkpoints(tmp_path / "whole")[-1])
    gates = {"mgu": 2, "lstm_cifg": 3}[cell]
    assert ck["config"]["model"]["cell"] == cell
    assert ck["model"]["rnn.weight_hh_l0"].shape == (gates * 16, 16)


def test_resume_skips_a_truncated_newest_checkpoint(text_file, tmp_path, capsys):
    """A damaged newest checkpoint (a crash or a full disk while copying a run) is skipped
    with a line saying why; the run resumes from the one before it and ends at exactly the
    losses of a run never interrupted. Only a file named on purpose, or a run none of whose
    checkpoints loads, is an error."""
    args = ["charlm", "--smoke", "--data", text_file, "--runs-dir", tmp_path, "--no-progress",
            "--hidden-size", "12", "--embed-size", "8", "--layers", "2", "--dropout", "0.1",
            "--max-steps", "20", "--ckpt-every", "10", "--log-every", "1", "--eval-every", "5"]
    for name in ("whole", "part"):
        code, _, err = run_cli(["train", *args, "--name", name], capsys)
        assert code == 0, err
    part = tmp_path / "part"
    newest = part / "ckpt-00000020.pt"
    assert [p.name for p in list_checkpoints(part)] == ["ckpt-00000010.pt", newest.name]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])

    code, _, err = run_cli(["train", "--resume", newest, "--no-progress"], capsys)
    assert code == 1 and err.count("\n") == 1 and str(newest) in err  # no silent fallback

    code, out, err = run_cli(["train", "--resume", part, "--no-progress"], capsys)
    assert code == 0, err
    skipped, resuming = out.splitlines()[:2]
    assert skipped.startswith("skipped ckpt-00000020.pt: truncated or corrupt checkpoint (")
    assert resuming == f"resuming {part} from ckpt-00000010.pt (step 10)"
    assert losses(part) == losses(tmp_path / "whole")  # exact float equality
    assert load(newest)["step"] == 20  # rewritten by the resumed run

    for ckpt in list_checkpoints(part):
        ckpt.write_bytes(b"")
    code, _, err = run_cli(["train", "--resume", part, "--no-progress"], capsys)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"rnnkit train: error: {part}: no checkpoint loads (tried "
                          "ckpt-00000020.pt: truncated or corrupt checkpoint (")
    assert err.endswith("; ckpt-00000010.pt: truncated or corrupt checkpoint)\n")


def test_init_from_starts_from_the_other_runs_weights(text_file, tmp_path):
    CHARLM.run(tiny_config(text_file), tmp_path / "first", progress=False)
    tuned_cfg = tiny_config(text_file, init_from=str(tmp_path / "first"), max_steps=1,
                            lr=1e-9, warmup_steps=0)
    tuned = CHARLM.run(tuned_cfg, tmp_path / "tuned", progress=False)
    fresh = CHARLM.run(tiny_config(text_file, max_steps=1), tmp_path / "fresh",
                       progress=False)
    best = load(tmp_path / "first" / "best.pt")["model"]
    after = tuned.setup.model.state_dict()
    # a learning rate of 1e-9 leaves the loaded weights where they were
    assert all(torch.allclose(after[k], best[k], atol=1e-6) for k in best)
    assert tuned.fit.best_valid_loss < fresh.fit.best_valid_loss


def test_init_from_a_different_model_says_what_differs(text_file, tmp_path, capsys):
    CHARLM.run(tiny_config(text_file), tmp_path / "first", progress=False)
    wider = registry.resolve("charlm", smoke=True, cli_overrides={
        "model": {"hidden_size": 24, "embed_size": 8, "num_layers": 2},
        "data": {"data": str(text_file)},
        "train": {"max_steps": 2, "init_from": str(tmp_path / "first")}})
    with pytest.raises(CheckpointError, match="--init-from .*do not fit this model"):
        CHARLM.run(wider, tmp_path / "wider", progress=False)
    other = tmp_path / "other.txt"
    other.write_text("0123456789 " * 400)
    with pytest.raises(CheckpointError, match="different language-model description "
                                              r"\(differs in tokens\)"):
        CHARLM.run(tiny_config(other, init_from=str(tmp_path / "first")), tmp_path / "o",
                   progress=False)
    with pytest.raises(CheckpointError, match="--init-from: .*no such"):
        CHARLM.run(tiny_config(text_file, init_from=str(tmp_path / "nowhere")),
                   tmp_path / "x", progress=False)

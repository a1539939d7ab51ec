"""The loop's options do what they say: optimisers and schedules, clipping and its log,
early stopping, and a clear error for an unavailable device."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.language import TokenLM
from rnnkit.train.config import RunConfig
from rnnkit.train.loop import Trainer
from rnnkit.train.metrics import read_metrics


def make_trainer(tmp_path, **train) -> Trainer:
    cfg = RunConfig()
    cfg.model.hidden_size, cfg.model.embed_size = 8, 4
    cfg.apply({"train": {"batch_size": 2, "seq_len": 8, "max_steps": 6, "eval_every": 2,
                         "ckpt_every": 100, "log_every": 1, "warmup_steps": 1, **train}},
              source="test")
    cfg.validate()
    torch.manual_seed(0)
    ids = torch.randint(0, 10, (400,))
    return Trainer(TokenLM(10, cfg.model), ids, cfg, tmp_path, valid_ids=ids[:100], progress=False)


def logged(tmp_path, key):
    return [r[key] for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_optimisers_train(optimizer, tmp_path):
    tr = make_trainer(tmp_path, optimizer=optimizer, lr=0.5 if optimizer == "sgd" else 0.01,
                      momentum=0.5 if optimizer == "sgd" else 0.0, weight_decay=0.01)
    before = [p.detach().clone() for p in tr.model.parameters()]
    assert tr.fit().steps == 6
    assert all(not torch.equal(a, p) for a, p in zip(before, tr.model.parameters(),
                                                     strict=True))
    assert type(tr.opt).__name__.lower() == optimizer


def test_step_and_constant_schedules(tmp_path):
    tr = make_trainer(tmp_path / "s", schedule="step", step_size=2, gamma=0.5, lr=1e-2)
    tr.fit()
    assert logged(tmp_path / "s", "lr") == pytest.approx(
        [1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 1.25e-3])
    tr = make_trainer(tmp_path / "c", schedule="constant", lr=1e-2)
    tr.fit()
    assert logged(tmp_path / "c", "lr") == pytest.approx([1e-2] * 6)


def test_clip_by_value_and_norm_are_logged(tmp_path):
    make_trainer(tmp_path / "v", clip_value=1e-6, clip_norm=None).fit()
    assert logged(tmp_path / "v", "clipped") == [1.0] * 6
    make_trainer(tmp_path / "n", clip_norm=1e3).fit()
    assert logged(tmp_path / "n", "clipped") == [0.0] * 6
    make_trainer(tmp_path / "m", clip_norm=1e-4).fit()
    assert logged(tmp_path / "m", "clipped") == [1.0] * 6
    assert all(n > 1e-4 for n in logged(tmp_path / "m", "grad_norm"))  # norm before clip


def test_early_stopping_after_patience(tmp_path, monkeypatch):
    tr = make_trainer(tmp_path, max_steps=100, early_stop=2)
    scores = iter([3.0, 2.0, 2.5, 2.4, 9.0])
    monkeypatch.setattr(tr, "evaluate", lambda: {"loss": (s := next(scores)),
                                                 "bpc": s / math.log(2)})
    result = tr.fit()
    # evaluations at 2, 4, 6, 8: best at step 4, two without improvement -> stop at 8
    assert (result.stopped, result.steps, result.best_valid_loss) == ("early_stop", 8, 2.0)


def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RnnkitError, match="no CUDA device"):
        make_trainer(tmp_path, device="cuda")

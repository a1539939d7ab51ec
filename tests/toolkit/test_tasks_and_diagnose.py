"""The loop's Task interface (finite sets, generated batches, classification recipes) and
``--diagnose every=N``: data order, exact resume, the diagnostics file, figures and warnings."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rnnkit.cli import main
from rnnkit.data.sequences import LabelledSequences, collate
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.models.language import make_recurrent
from rnnkit.recipes.base import Recipe, Setup, load_run, run_recipe
from rnnkit.recipes.classify import classifier_setup
from rnnkit.train.config import RunConfig
from rnnkit.train.diagnose import read_diagnostics, warnings_from
from rnnkit.train.distributed import World
from rnnkit.train.metrics import read_metrics
from rnnkit.train.task import BatchTask, GeneratedTask


def toy_sequences(n: int, seed: int) -> LabelledSequences:
    """Class = whether token 3 is frequent; lengths 5-11."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for _ in range(n):
        x = torch.randint(0, 4, (int(torch.randint(5, 12, (1,), generator=g)),), generator=g)
        xs.append(x)
        ys.append(int((x == 3).sum() > len(x) // 4))
    return LabelledSequences(xs, torch.tensor(ys, dtype=torch.long), ["few", "many"])


def toy_config(**train) -> RunConfig:
    cfg = RunConfig(recipe="toy")
    cfg.apply({"model": {"hidden_size": 8, "embed_size": 4, "bidirectional": True,
                         "pooling": "mean"},
               "train": {"batch_size": 8, "max_steps": 12, "eval_every": 4, "log_every": 1,
                         "ckpt_every": 4, "lr": 1e-2, "warmup_steps": 0, **train}},
              source="test")
    return cfg


def bound(task):
    task.bind(torch.device("cpu"), World())
    return task


def test_batch_task_visits_every_example_once_per_epoch_in_a_new_order():
    data = list(range(10))
    # loss(model, batch) = the batch itself: the test reads the order the task serves.
    task = bound(BatchTask(data, data, 4, lambda xs: torch.tensor(xs), lambda m, b: b,
                           seed=3))
    epochs = [[], []]
    for _ in range(6):  # 3 batches (4 + 4 + 2) per epoch
        epoch = task.epoch
        epochs[epoch].extend(task.train_loss(None).tolist())
    assert sorted(epochs[0]) == sorted(epochs[1]) == data
    assert epochs[0] != epochs[1]


def test_batch_task_state_round_trip_continues_the_same_order():
    data = list(range(7))
    make = lambda: bound(BatchTask(data, data, 3, lambda xs: torch.tensor(xs),  # noqa: E731
                                   lambda m, b: b, seed=5))
    a = make()
    for _ in range(4):
        a.train_loss(None)
    saved = a.state_dict()
    rest_a = [a.train_loss(None).tolist() for _ in range(5)]
    b = make()
    b.load_state_dict(saved)
    assert [b.train_loss(None).tolist() for _ in range(5)] == rest_a


def test_batch_task_rejects_an_empty_training_set():
    with pytest.raises(RnnkitError, match="empty"):
        BatchTask([], [1], 2, list, lambda m, b: b)


def test_generated_task_is_seeded_and_resumable():
    def make_batch(n, g):
        return (torch.rand(n, 3, generator=g),)

    def make():
        return bound(GeneratedTask(make_batch, lambda m, b: b[0].sum(), 4, valid_size=5,
                                   seed=9))

    a, b = make(), make()
    assert torch.equal(a.valid[0], b.valid[0])
    first = [float(a.train_loss(None)) for _ in range(3)]
    assert first == [float(b.train_loss(None)) for _ in range(3)]
    saved = a.state_dict()
    more = [float(a.train_loss(None)) for _ in range(2)]
    c = make()
    c.load_state_dict(saved)
    assert [float(c.train_loss(None)) for _ in range(2)] == more
    assert float(make().train_loss(None)) == first[0] != first[1]


def toy_recipe(build) -> Recipe:
    return Recipe("toy", "a toy recipe", {}, {}, build)


def test_classification_recipe_resumes_exactly(tmp_path):
    train, valid, test = toy_sequences(40, 0), toy_sequences(12, 1), toy_sequences(12, 2)

    def build(cfg):
        return classifier_setup(cfg, train, valid, test)

    whole = run_recipe(toy_recipe(build), toy_config(), tmp_path / "whole", progress=False)
    run_recipe(toy_recipe(build), toy_config(), tmp_path / "part", progress=False,
               should_stop=lambda step: step == 5)
    resumed = run_recipe(toy_recipe(build), toy_config(), tmp_path / "part", progress=False,
                         resume_from=tmp_path / "part" / "ckpt-00000005.pt")
    assert resumed.fit.steps == whole.fit.steps == 12

    def losses(run):
        return [(r["step"], r["loss"]) for r in read_metrics(tmp_path / run / "metrics.jsonl")
                if r["kind"] == "train"]

    assert losses("part") == losses("whole")
    assert resumed.fit.last_valid == whole.fit.last_valid
    assert {"loss", "accuracy", "macro_f1"} <= set(whole.fit.last_valid)
    report = json.loads((tmp_path / "whole" / "test_report.json").read_text())
    assert report["split"] == "test" and report["n"] == 12
    assert (tmp_path / "whole" / "confusion.png").stat().st_size > 1000
    assert "test accuracy" in (tmp_path / "whole" / "report.md").read_text()
    result = json.loads((tmp_path / "whole" / "result.json").read_text())
    assert result["recipe"] == "toy" and result["steps"] == 12
    assert result["seed"] == toy_config().train.seed
    assert result["metrics"]["test_accuracy"] == report["accuracy"]
    assert result["baseline"]["name"] == "majority class" and result["target"] is None
    assert result["cpu_s"] > 0 and result["wall_s"] > 0 and result["threads"] >= 1
    assert len(result["config_hash"]) == 16 and result["processor"]
    run = load_run(tmp_path / "whole", ("classifier",))
    model, spec = run.model, run.spec
    assert spec["classes"] == ["few", "many"] and not model.training
    with pytest.raises(RnnkitError, match="not a language-model checkpoint"):
        load_run(tmp_path / "whole", ("vocab",))
    x, lengths, _ = collate([test[i] for i in range(3)])
    assert model(x, lengths).shape == (3, 2)


def test_classification_setup_rejects_empty_splits():
    with pytest.raises(RnnkitError, match="validation set is empty"):
        classifier_setup(toy_config(), toy_sequences(4, 0), toy_sequences(0, 1))


class LastStepRegressor(nn.Module):
    """RNN read-out at the last step: the loss sits at t = T-1 only."""

    def __init__(self, cell: str, scale: float):
        super().__init__()
        self.rnn = make_recurrent(cell, 1, 16, batch_first=True)
        with torch.no_grad():
            self.rnn.weight_hh_l0.mul_(scale)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def regression_setup(cell: str, scale: float):
    def build(cfg):
        def make_batch(n, g):
            x = torch.randn(n, 40, 1, generator=g)
            return x, x[:, 0]  # the target is the first input: 39 steps back

        def loss(model, batch):
            return ((model(batch[0]) - batch[1]) ** 2).mean()

        return Setup(LastStepRegressor(cell, scale), GeneratedTask(make_batch, loss, 8,
                                                                   valid_size=16, seed=1))
    return build


def test_diagnose_writes_gradient_profiles_and_warns_when_they_vanish(tmp_path):
    cfg = toy_config(max_steps=6, diagnose=3, eval_every=6, ckpt_every=6)
    cfg.model.cell = "rnn_tanh"
    run_recipe(toy_recipe(regression_setup("rnn_tanh", 0.2)), cfg, tmp_path / "van", progress=False)
    lines = read_diagnostics(tmp_path / "van" / "diagnostics.jsonl")
    assert [d["step"] for d in lines] == [3, 6]
    flow = lines[-1]["grad_through_time"]["rnn.0"]
    assert len(flow["norms"]) == 40 and flow["rho"] < 0.9 and flow["span"] < 40
    assert flow["norms"][0] < 1e-3 * flow["norms"][-1]  # far from the loss: vanished
    assert set(lines[-1]["saturation"]) == {"rnn.0.h"}
    warnings = warnings_from(lines)
    assert any("vanish" in w and "LSTM" in w for w in warnings)
    report = (tmp_path / "van" / "report.md").read_text()
    assert "grad_heatmap.png" in report and "warning:" in report
    assert (tmp_path / "van" / "grad_heatmap.png").stat().st_size > 1000
    assert (tmp_path / "van" / "saturation.png").stat().st_size > 1000


def test_diagnose_quiet_on_a_healthy_lstm(tmp_path):
    cfg = toy_config(max_steps=2, diagnose=2, eval_every=2)
    run_recipe(toy_recipe(regression_setup("lstm", 1.0)), cfg, tmp_path / "ok", progress=False)
    lines = read_diagnostics(tmp_path / "ok" / "diagnostics.jsonl")
    assert set(lines[0]["saturation"]) == {f"rnn.0.{g}" for g in "ifgo"}
    assert lines[0]["spectral_radius"] and lines[0]["grad_norm"] > 0
    assert not [w for w in warnings_from(lines) if "exploded" in w or "NaN" in w]


@pytest.mark.parametrize("text,expected", [("every=5", 5), ("5", 5), (" every = 7", 7)])
def test_diagnose_flag_spellings(text, expected):
    from rnnkit.train.config import set_field

    section = RunConfig().train
    set_field(section, "diagnose", text, source="--diagnose")
    assert section.diagnose == expected


@pytest.mark.parametrize("text", ["every=x", "often", "each=3"])
def test_diagnose_flag_rejects_other_spellings(text):
    from rnnkit.train.config import set_field

    with pytest.raises(ConfigError, match="--diagnose"):
        set_field(RunConfig().train, "diagnose", text, source="--diagnose")


def test_diagnose_bad_value_is_a_one_line_error(tmp_path, capsys):
    code = main(["train", "charlm", "--smoke", "--runs-dir", str(tmp_path), "--name", "x",
                 "--diagnose", "often"])
    err = capsys.readouterr().err
    assert code != 0 and "--diagnose" in err and len(err.strip().splitlines()) == 1

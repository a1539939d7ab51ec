"""Issue #5's recipes and experiments: smoke runs through the CLI, determinism, exact
resume, the equal-parameter solver, and one-line errors. Sized to run in seconds."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main
from rnnkit.experiments.memory import equal_budget_sizes
from rnnkit.models.memory import MemoryNet, hidden_size_for_budget, parameter_count
from rnnkit.recipes import registry
from rnnkit.recipes.memory import tasks as memory_recipes
from rnnkit.train.checkpoint import list_checkpoints
from rnnkit.train.metrics import read_metrics

NAMES = ("adding", "copy", "temporal", "digits", "pdigits")


pytestmark = pytest.mark.usefixtures("torch_globals")


def train_cli(name, tmp_path, *extra):
    return main(["train", name, "--smoke", "--runs-dir", str(tmp_path), "--name", "x",
                 "--no-progress", *extra])


def train_losses(run_dir):
    return [(r["kind"], r["step"], r.get("loss"), r.get("valid_loss"))
            for r in read_metrics(run_dir / "metrics.jsonl")]


@pytest.mark.parametrize("name", NAMES)
def test_recipe_smoke_runs_and_reports_against_its_baseline(name, tmp_path, capsys):
    assert name in registry.all_recipes()
    assert train_cli(name, tmp_path) == 0
    out = capsys.readouterr().out
    assert "target (" in out
    report = (tmp_path / "x" / "report.md").read_text()
    assert "baseline" in report or "majority class" in report
    valid = [r for r in read_metrics(tmp_path / "x" / "metrics.jsonl") if r["kind"] == "valid"]
    assert {"valid_loss", "valid_baseline"} <= set(valid[-1])
    assert ("valid_mse" if name == "adding" else "valid_accuracy") in valid[-1]


def test_same_seed_gives_the_same_losses(tmp_path):
    assert train_cli("copy", tmp_path / "a") == 0
    assert train_cli("copy", tmp_path / "b") == 0
    assert train_losses(tmp_path / "a" / "x") == train_losses(tmp_path / "b" / "x")
    assert train_cli("copy", tmp_path / "c", "--seed", "7") == 0
    assert train_losses(tmp_path / "c" / "x") != train_losses(tmp_path / "a" / "x")


def test_generated_task_resumes_exactly(tmp_path):
    def cfg():
        return registry.resolve("adding", smoke=True, cli_overrides={
            "train": {"max_steps": 12, "log_every": 1, "eval_every": 4, "ckpt_every": 100}})

    recipe = registry.get("adding")
    recipe.run(cfg(), tmp_path / "whole", progress=False)
    first = recipe.run(cfg(), tmp_path / "part", progress=False, should_stop=lambda s: s == 5)
    assert (first.fit.stopped, first.fit.steps) == ("interrupted", 5)
    ckpt = list_checkpoints(tmp_path / "part")[-1]
    second = recipe.run(cfg(), tmp_path / "part", resume_from=ckpt, progress=False)
    assert second.fit.steps == 12
    assert train_losses(tmp_path / "part") == train_losses(tmp_path / "whole")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_parameter_count_matches_the_model(cell):
    model = MemoryNet(cell, 10, 24, 10, per_step=True)
    assert parameter_count(cell, 10, 24, 10) == sum(p.numel() for p in model.parameters())


def test_equal_budget_hidden_sizes_match_the_lstm():
    sizes = equal_budget_sizes("adding", 64, ["rnn_tanh", "lstm", "gru"])
    lstm_params = sizes["lstm"][1]
    assert sizes["lstm"][0] == 64
    assert sizes["rnn_tanh"][0] > sizes["gru"][0] > 64  # fewer gates, wider layer
    for cell, (H, n) in sizes.items():
        # The closest width: one unit wider or narrower is no closer to the budget.
        for other in (H - 1, H + 1):
            assert abs(n - lstm_params) <= abs(parameter_count(cell, 2, other, 1) - lstm_params)
        assert abs(n - lstm_params) / lstm_params < 0.02
    assert hidden_size_for_budget("rnn_tanh", 1, 2, 1) == 1
    with pytest.raises(ValueError, match="budget"):
        hidden_size_for_budget("lstm", 0, 2, 1)


def test_experiment_smoke_writes_table_json_and_plots(tmp_path, capsys):
    code = main(["experiment", "memory", "--smoke", "--runs-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "memory"
    results = json.loads((out / "results.json").read_text())
    assert len(results["rows"]) == 2 * 2 * 3  # tasks x lags x cells
    params = {(r["task"], r["lag"]): set() for r in results["rows"]}
    for r in results["rows"]:
        params[(r["task"], r["lag"])].add(r["params"])
        assert r["baseline"] > 0 and r["wall_s"] >= 0
    for counts in params.values():  # equal budgets: within a few percent of each other
        assert max(counts) / min(counts) < 1.1
    flow = next(iter(results["gradient_flow"].values()))
    assert len(flow["fresh"]) == flow["lag"] + (20 if flow["task"] == "copy" else 0)
    md = (out / "results.md").read_text()
    assert "| adding | 10 | lstm |" in md and "ratio.png" in md
    assert "| wall s | seed |" in md  # runs of several seeds stay apart in the table
    for png in ("ratio.png", "gradients.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # Starting again reuses the finished runs instead of training them again.
    assert main(["experiment", "memory", "--smoke", "--runs-dir", str(tmp_path)]) == 0
    assert "reusing" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "addding"], "unknown task 'addding'"),
    (["--lags", "0,50"], "every lag must be > 0"),
    (["--lags", "5,x"], "expected comma-separated integers"),
    (["--cells", "lstm,transformer"], "unknown cell 'transformer'"),
    (["--steps", "0"], "--steps: must be > 0"),
    (["--chrono", "rnn_tanh"], "--chrono: gated cells only"),
    (["--min-lr-ratio", "2"], "--min-lr-ratio: must be in [0, 1]"),
])
def test_bad_experiment_options_give_one_line(argv, message, tmp_path, capsys):
    code = main(["experiment", "memory", "--smoke", "--runs-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1


def test_bad_recipe_options_give_one_line(tmp_path, capsys):
    assert train_cli("temporal", tmp_path, "--length", "5") == 1
    err = capsys.readouterr().err
    assert "T >= 20" in err and err.count("\n") == 1
    assert train_cli("adding", tmp_path, "--layers", "2") == 1
    assert "one unidirectional layer" in capsys.readouterr().err


def test_targets_and_result_lines():
    assert memory_recipes.solved("adding", {"mse": 0.005})
    assert not memory_recipes.solved("copy", {"accuracy": 0.5})
    assert not memory_recipes.solved("adding", None)
    lines = memory_recipes.result_lines("adding", {"loss": 0.0835, "mse": 0.0835,
                                                   "baseline": 1 / 6}, 100)
    assert "ratio 0.501" in lines[0] and "after 100 updates" in lines[-1]
    target = memory_recipes.TARGETS["adding"]
    assert target.line({"mse": 0.0835}) == "- target (mse < 0.01): **NOT met**"
    assert "**met**" in target.line({"mse": 0.0099})
    assert "not measured" in target.line({"accuracy": 1.0})


def test_chrono_init_spreads_gate_time_scales():
    import math

    import torch

    from rnnkit.models.memory import chrono_init_

    torch.manual_seed(0)
    lstm = MemoryNet("lstm", 10, 16, 10, per_step=True)
    chrono_init_(lstm, 120)
    H = 16
    b_ih, b_hh = lstm.rnn.bias_ih_l0, lstm.rnn.bias_hh_l0
    forget, inp = b_ih[H:2 * H], b_ih[:H]
    assert forget.min() >= 0 and forget.max() <= math.log(119) + 1e-6
    assert torch.equal(inp, -forget)                     # b_i = -b_f
    assert not b_hh[:2 * H].any()                       # torch adds b_hh: zeroed there
    gru = MemoryNet("gru", 10, 16, 10, per_step=True)
    before = gru.rnn.bias_ih_l0.detach().clone()
    chrono_init_(gru, 120)
    z = gru.rnn.bias_ih_l0[H:2 * H]                     # update gate (r, z, n)
    assert z.min() >= 0 and not gru.rnn.bias_hh_l0[H:2 * H].any()
    assert torch.equal(gru.rnn.bias_ih_l0[:H], before[:H])  # reset gate untouched
    with pytest.raises(ValueError, match="gated cell"):
        chrono_init_(MemoryNet("rnn_tanh", 10, 16, 10), 120)
    with pytest.raises(ValueError, match="t_max"):
        chrono_init_(lstm, 2)


def test_memory_spec_takes_per_task_settings_unless_given():
    from rnnkit.experiments import memory as mx

    spec = mx.MemorySpec(tasks=("adding", "copy"), lags=(100,))
    runs = {r.name: r for r in mx.memory_runs(spec)}
    for task in ("adding", "copy"):
        st = mx.TASK_SETTINGS[task]
        lstm = runs[f"{task}-T100-lstm"]
        assert lstm.overrides["model"]["hidden_size"] == st.hidden_size
        assert lstm.overrides["train"]["lr"] == st.lr
        assert lstm.overrides["train"]["max_steps"] == st.steps
        for cell in ("rnn_tanh", "lstm", "gru"):
            expect = mx.sequence_length(task, 100) if cell in st.chrono else None
            assert runs[f"{task}-T100-{cell}"].chrono == expect
    assert mx.sequence_length("copy", 100) == 120 and mx.sequence_length("adding", 100) == 100
    given = mx.MemorySpec(tasks=("copy",), lags=(100,), hidden_size=32, lr=0.05, steps=7,
                          chrono=("lstm",))
    rnn, lstm, gru = mx.memory_runs(given)
    assert lstm.overrides["model"]["hidden_size"] == 32 and lstm.chrono == 120
    assert rnn.chrono is None and gru.chrono is None
    assert lstm.overrides["train"]["lr"] == 0.05 and lstm.overrides["train"]["max_steps"] == 7
    assert lstm.overrides["train"]["schedule"] == "constant"
    assert "min_lr_ratio" not in lstm.overrides["train"]


def test_memory_spec_cosine_schedule_reaches_the_run_config():
    from rnnkit.experiments import memory as mx

    spec = mx.MemorySpec(tasks=("copy",), lags=(100,), cells=("lstm",), steps=20000,
                         schedule="cosine", min_lr_ratio=0.01)
    (run,) = mx.memory_runs(spec)
    t = run.config().train
    assert (t.schedule, t.min_lr_ratio, t.max_steps, t.warmup_steps) == ("cosine", 0.01, 20000, 0)


def test_remedies_subset_and_optimizer(tmp_path, capsys):
    code = main(["experiment", "remedies", "--smoke", "--runs-dir", str(tmp_path),
                 "--comparisons", "clipping", "--optimizer", "sgd"])
    assert code == 0, capsys.readouterr().err
    rows = json.loads((tmp_path / "remedies" / "remedies.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["clip 1.0", "no clip"]
    assert "plain SGD" in (tmp_path / "remedies" / "remedies.md").read_text()
    cfg = (tmp_path / "remedies" / "clipping-no clip" / "config.toml").read_text()
    assert 'optimizer = "sgd"' in cfg
    code = main(["experiment", "remedies", "--smoke", "--runs-dir", str(tmp_path),
                 "--name", "bad", "--comparisons", "clip"])
    assert code == 1 and "--comparisons" in capsys.readouterr().err

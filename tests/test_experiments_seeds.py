"""The multi-seed summary reads each run's result.json (the one result type)."""

import json

from rnnkit.experiments import seeds


def write_run(root, recipe, seed, accuracy):
    run = root / f"{recipe}-seed{seed}"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps(
        {"recipe": recipe, "metrics": {"test_accuracy": accuracy, "test_macro_f1": 0.5}}))


def test_summarises_the_target_metric_over_seeds(tmp_path, capsys):
    write_run(tmp_path, "splice", 1, 0.96)
    write_run(tmp_path, "splice", 2, 0.98)
    code = seeds.main(["splice", "--seeds", "1", "2", "3", "--no-train",
                       "--runs-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "splice-seed1: test_accuracy 0.9600" in out
    assert "test_accuracy mean 0.9700 +- 0.0141" in out and "n=2" in out
    assert "splice-seed3: no result.json" in err


def test_other_metric_and_nothing_to_summarise(tmp_path, capsys):
    write_run(tmp_path, "splice", 1, 0.96)
    assert seeds.main(["splice", "--seeds", "1", "--no-train", "--runs-dir", str(tmp_path),
                       "--metric", "test_macro_f1"]) == 0
    assert "test_macro_f1 mean 0.5000" in capsys.readouterr().out
    assert seeds.main(["splice", "--seeds", "4", "--no-train",
                       "--runs-dir", str(tmp_path)]) == 1

"""Train a recipe with several seeds and summarise its test score: mean, spread, CPU time.

    python -m rnnkit.experiments.seeds splice --seeds 1 2 3 4 5   # train missing runs, summarise
    python -m rnnkit.experiments.seeds splice --no-train           # summarise existing runs only
    python -m rnnkit.experiments.seeds genes --seeds 1 --metric test_macro_f1

Runs go to ``RUNS_DIR/RECIPE-seedN`` (``rnnkit train RECIPE --seed N --threads 1``, one at a
time); a seed whose folder already has ``result.json`` is not trained again. The score is
one of the metrics in each run's ``result.json`` (default: the one the recipe's target
names); CPU time is the user+system time of the training processes started here.
Extra arguments after ``--`` go to every ``rnnkit train`` call.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from rnnkit.recipes import registry
from rnnkit.train.scoring import mean_and_spread


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--runs-dir", default="runs/seeds")
    p.add_argument("--metric", default=None,
                   help="key of result.json's metrics [the recipe's target metric]")
    p.add_argument("--no-train", action="store_true", help="only summarise existing runs")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = p.parse_args(argv[:cut]), argv[cut + 1:]
    target = registry.get(args.recipe).target
    metric = args.metric or (target.metric if target is not None else None)
    if metric is None:
        raise SystemExit(f"{args.recipe} states no target: name one with --metric")
    scores, cpu = [], []
    for seed in args.seeds:
        run = Path(args.runs_dir) / f"{args.recipe}-seed{seed}"
        report = run / "result.json"
        if not report.is_file() and not args.no_train:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "rnnkit.cli", "train", args.recipe,
                            "--seed", str(seed), "--threads", "1", "--no-progress",
                            "--runs-dir", args.runs_dir, "--name", run.name, *extra],
                           check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if not report.is_file():
            print(f"{run}: no result.json (not trained?)", file=sys.stderr)
            continue
        value = json.loads(report.read_text())["metrics"][metric]
        scores.append(value)
        print(f"{run.name}: {metric} {value:.4f}")
    if not scores:
        return 1
    s = mean_and_spread(scores)
    print(f"{args.recipe}: {metric} mean {s['mean']:.4f} +- {s['std']:.4f} (sample std), "
          f"min {s['min']:.4f}, max {s['max']:.4f}, n={s['n']}")
    if cpu:
        print(f"CPU time per trained seed: {sum(cpu) / len(cpu):.0f} s (mean of {len(cpu)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

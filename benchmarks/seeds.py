"""Train a recipe with several seeds and summarise its test score: mean, spread, CPU time.

    python benchmarks/seeds.py splice --seeds 1 2 3 4 5            # train missing runs, summarise
    python benchmarks/seeds.py splice --seeds 1 2 3 4 5 --no-train # summarise existing runs only
    python benchmarks/seeds.py genes --seeds 1 --metric macro_f1

Runs go to ``RUNS_DIR/RECIPE-seedN`` (``rnnkit train RECIPE --seed N --threads 1``, one at a
time); a seed whose folder already has ``test_report.json`` is not trained again. The
score is read from each run's ``test_report.json`` (written by the recipe from ``best.pt``
after training); CPU time is the user+system time of the training processes started here.
Extra arguments after ``--`` go to every ``rnnkit train`` call.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from rnnkit.tasks.metrics import mean_and_spread


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--runs-dir", default="runs/genome")
    p.add_argument("--metric", default="accuracy", help="key of test_report.json [accuracy]")
    p.add_argument("--no-train", action="store_true", help="only summarise existing runs")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = p.parse_args(argv[:cut]), argv[cut + 1:]
    scores, cpu = [], []
    for seed in args.seeds:
        run = Path(args.runs_dir) / f"{args.recipe}-seed{seed}"
        report = run / "test_report.json"
        if not report.is_file() and not args.no_train:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "rnnkit.cli", "train", args.recipe,
                            "--seed", str(seed), "--threads", "1", "--no-progress",
                            "--runs-dir", args.runs_dir, "--name", run.name, *extra],
                           check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if not report.is_file():
            print(f"{run}: no test_report.json (not trained?)", file=sys.stderr)
            continue
        value = json.loads(report.read_text())[args.metric]
        scores.append(value)
        print(f"{run.name}: {args.metric} {value:.4f}")
    if not scores:
        return 1
    s = mean_and_spread(scores)
    print(f"{args.recipe}: {args.metric} mean {s['mean']:.4f} +- {s['std']:.4f} (sample std), "
          f"min {s['min']:.4f}, max {s['max']:.4f}, n={s['n']}")
    if cpu:
        print(f"CPU time per trained seed: {sum(cpu) / len(cpu):.0f} s (mean of {len(cpu)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

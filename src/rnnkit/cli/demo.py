"""``rnnkit demo``: the main job. Trains a character-level LSTM on the shipped
Shakespeare plays for about 3 minutes on 2 CPU cores, then reports validation bits per
character against a unigram baseline and prints samples at three temperatures.

The run folder (checkpoints, config, metrics, loss.png, samples, report.md) is written
under --runs-dir; `rnnkit sample runs/<name>` then continues from it.
"""

from __future__ import annotations

import argparse
import os
import time


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="3-minute Shakespeare char-LSTM (the main job)",
                       description=__doc__.replace("``", "`"))
    p.add_argument("--max-seconds", default=None, metavar="S",
                   help="training time bound [180]")
    p.add_argument("--max-steps", default=None, metavar="N", help="update ceiling [100000]")
    p.add_argument("--smoke", action="store_true",
                   help="tiny model and few steps: a seconds-long check that all works")
    p.add_argument("--name", default=None, help="run folder name [demo-TIME]")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--threads", default=None, metavar="N",
                   help="torch CPU threads [cores not already busy, from the load average]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.cli.parser import check_overrides, check_runs_dir
    from rnnkit.errors import CheckpointError
    from rnnkit.recipes import registry
    from rnnkit.train import checkpoint as ckpt_io

    flags = {"max_seconds": args.max_seconds, "max_steps": args.max_steps,
             "threads": args.threads if args.threads is not None else _free_cores()}
    overrides = {"train": {k: v for k, v in flags.items() if v is not None}}
    check_overrides(overrides)
    cfg = registry.resolve("demo", smoke=args.smoke, cli_overrides=overrides)
    run_dir = check_runs_dir(args.runs_dir, args.name or f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    if ckpt_io.list_checkpoints(run_dir):
        raise CheckpointError(f"{run_dir}: run already exists; pick another --name")
    m, t = cfg.model, cfg.train
    print(f"rnnkit demo: {m.cell} {m.num_layers}x{m.hidden_size} on the shipped Shakespeare "
          f"plays, up to {t.max_steps} updates / {t.max_seconds or 'unlimited'} s")
    result = registry.get("demo").run(cfg, run_dir, progress=not args.no_progress)
    fit = result.fit
    print(f"\ntrained {fit.steps} updates in {fit.elapsed_s:.0f} s (stopped by {fit.stopped})")
    for line in result.summary():
        print(line)
    for temp, text in result.outcome.extras.get("samples", {}).items():
        print(f"\n--- sample, temperature {temp} ---\n{text.strip()}")
    print(f"\nrun folder: {run_dir}  (report.md, loss.png, metrics.jsonl, samples.txt)")
    print(f"more text:  rnnkit sample {run_dir} --prime 'ROMEO:' --temperature 0.7")
    return 130 if fit.stopped == "interrupted" else 0


def _free_cores() -> int | None:
    """Threads for a time-bounded run: the cores other processes leave free.

    OpenMP threads spin-wait for each other, so one thread more than there are free
    cores slows training about tenfold (measured on 2 cores: 1.15 s vs 0.09 s per update
    with 2 threads vs 1 while another process kept one core busy). None = torch's default.
    """
    cores = os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except OSError:  # no load average on this platform
        return None
    if busy == 0:
        return None
    free = max(1, cores - busy)
    print(f"note: 1-minute load average {busy} on {cores} cores: using {free} "
          f"thread{'s' if free > 1 else ''} (override with --threads)")
    return free

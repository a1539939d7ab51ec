"""Data-parallel scaling on this machine: charlm's training throughput with one process and
with two (``torchrun``, DDP over gloo), one thread each, against one process on two threads
(the other way to spend two cores).

The global batch stays the same (each of two processes takes half its rows), so two
processes do the same work per update as one: scaling efficiency = throughput with two /
(2 x throughput with one). Configurations run in interleaved rounds (each round runs every
one once, so drift in the machine's speed hits them alike); the throughput of a run is the
median of its logged windows after the first (start-up and warm-up). Writes
docs/results/perf/ddp-scaling.json, which ``make docs-tables`` renders into
docs/PERFORMANCE.md.

    python benchmarks/ddp_scaling.py --steps 300 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnnkit.recipes.result import measurement_fields

OUT = Path("docs/results/perf/ddp-scaling.json")
# name: (processes, threads per process)
CONFIGS = {"1 process, 1 thread": (1, 1), "2 processes, 1 thread each": (2, 1),
           "1 process, 2 threads": (1, 2)}
LOG_EVERY = 20


def command(processes: int, threads: int, steps: int, runs: Path, name: str) -> list[str]:
    """The training command of one configuration (validation and checkpoints pushed past
    the end, so the run is nothing but training steps)."""
    train = ["-m", "rnnkit.cli", "train", "charlm", "--name", name, "--runs-dir", str(runs),
             "--max-steps", str(steps), "--eval-every", str(10 * steps),
             "--ckpt-every", str(10 * steps), "--log-every", str(LOG_EVERY),
             "--threads", str(threads), "--no-progress", "--seed", "1"]
    if processes == 1:
        return [sys.executable, *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={processes}", *train]


def throughput(run: Path) -> float:
    """Median characters per second over the logged windows after the first."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in rows if r.get("kind") == "train"][1:]
    if not rates:
        raise SystemExit(f"{run}: no training windows logged (raise --steps)")
    return statistics.median(rates)


def children_cpu_s() -> float:
    """CPU seconds (user + system) of every training process this script waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300, help="updates per run [300]")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds [3]")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for k, (name, (procs, threads)) in enumerate(CONFIGS.items()):
                run = f"r{r}-c{k}"
                subprocess.run(command(procs, threads, args.steps, Path(tmp), run), env=env,
                               check=True, stdout=subprocess.DEVNULL)
                samples[name].append(throughput(Path(tmp) / run))
                print(f"round {r + 1}: {name}: {samples[name][-1]:,.0f} chars/s", flush=True)
    med = {name: statistics.median(xs) for name, xs in samples.items()}
    one, two = med["1 process, 1 thread"], med["2 processes, 1 thread each"]
    body = {"measurement": "charlm training throughput (characters/s, global batch fixed) "
                           "with one and two DDP processes, and one process on two threads",
            "values": {"samples": samples, "median": med,
                       "scaling_efficiency": two / (2 * one),
                       "speedup_2_processes": two / one,
                       "speedup_2_threads": med["1 process, 2 threads"] / one,
                       "steps": args.steps, "rounds": args.rounds},
            "text": f"{args.rounds} interleaved rounds of {args.steps} updates per "
                    "configuration, the charlm recipe's defaults, seed 1",
            **measurement_fields("python benchmarks/ddp_scaling.py " + " ".join(
                argv if argv is not None else sys.argv[1:]), seed=1,
                threads=max(t for _, t in CONFIGS.values())),
            # the trainings ran in child processes
            "wall_s": time.perf_counter() - t0, "cpu_s": children_cpu_s()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(body, indent=1) + "\n")
    print(f"scaling efficiency {body['values']['scaling_efficiency']:.2f}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

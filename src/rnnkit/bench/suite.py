"""The benchmark suite: grids, the run loop, and its outputs (markdown, JSON, plot).

``main(argv)`` is the whole command line, so a ``rnnkit bench`` subcommand can wrap it:

    python benchmarks/run.py --grid docs          # what docs/PERFORMANCE.md reports
    python -c "import rnnkit.bench as b; b.main(['--grid', 'smoke', '--out', '/tmp/b'])"

Per point, every candidate is timed in interleaved rounds (``timing.interleaved``) for the
training step and for inference; the machine's float32 matmul peak is measured in the same
run, so each result is also given as GFLOP/s and as a fraction of that peak. Points or
candidates whose estimated cost would be minutes are skipped and listed as skipped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import random
import statistics
import subprocess
import time
from pathlib import Path

import torch

from rnnkit.backends import BACKEND_CHOICES
from rnnkit.bench.cases import Point, candidates, estimate_s
from rnnkit.bench.timing import gemm_bound_s, interleaved, matmul_peak_gflops, peak_memory_mib
from rnnkit.errors import ConfigError, unknown_name

DEFAULT_CANDIDATES = [
    "torch.nn",
    "rnnkit:native",
    "rnnkit:torch",
    "rnnkit:engine",
    "rnnkit:reference",
    "python-loop",
    "compiled-loop",
]
# Candidates besides "rnnkit:<backend>"; what each is: ``cases.candidates``.
CANDIDATES = ("torch.nn", "python-loop", "compiled-loop", "custom:native", "custom:reference")
GRIDS = ("smoke", "docs", "custom", "issue", "random")
BASELINE = "torch.nn"
# Throughput assumed when trimming the grid, fixed so that every run keeps the same points
# (the measured peak swings with foreign load).
NOMINAL_GFLOPS = 50.0
# (T, B, H, layers) where torch.compile of the Python loop is timed; see ``run_point``.
COMPILED_AT = {(5, 2, 8, 1), (50, 16, 64, 1)}


def random_points(seed: int, count: int) -> list[Point]:
    """Shapes as users' fall, not a grid to tune to: log-uniform H in 32-1536, B in 1-512 and
    T in 1-1000, 1-3 layers, either direction, each cell; the same ``seed`` gives the same
    shapes."""
    rng = random.Random(seed)

    def log_uniform(lo: int, hi: int) -> int:
        return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))

    return [Point(rng.choice(("LSTM", "GRU", "RNN_TANH")), log_uniform(1, 1000),
                  log_uniform(1, 512), log_uniform(32, 1536), rng.randint(1, 3),
                  rng.random() < 0.5) for _ in range(count)]


def grid(name: str, seed: int = 0, count: int = 40) -> list[Point]:
    """The named grid. "issue" is issue 7's full grid (trimmed by cost at run time);
    "random" is ``count`` shapes drawn with ``seed`` (random_points)."""
    if name == "random":
        return random_points(seed, count)
    if name == "smoke":  # seconds: for tests
        return [Point("LSTM", 5, 2, 8), Point("GRU", 5, 2, 8, layers=2, bidirectional=True)]
    if name == "docs":  # ~15 minutes on 2 loaded cores: the tables in docs/PERFORMANCE.md
        pts = [
            Point(c, 50, B, H)
            for c, B, H in itertools.product(
                ("LSTM", "GRU", "RNN_TANH"), (1, 16, 64, 256), (64, 256)
            )
        ]
        pts += [Point(c, 50, B, 1024) for c in ("LSTM", "GRU") for B in (1, 16)]
        pts += [Point(c, 200, B, H) for c in ("LSTM", "GRU") for B, H in ((1, 64), (16, 256))]
        pts += [Point("LSTM", 1000, 1, 64), Point("GRU", 1000, 16, 64)]
        pts += [Point(c, 50, 16, 256, 2, True) for c in ("LSTM", "GRU")]
        return pts
    if name == "custom":  # user-defined gated cells (GatedCell) against the built-ins
        return [
            Point(c, 50, B, H)
            for c, B, H in itertools.product(("LSTM", "GRU"), (1, 16, 64, 256), (64, 256))
        ]
    if name == "issue":
        return [
            Point(c, T, B, H, L, bi)
            for c, T, B, H, L, bi in itertools.product(
                ("LSTM", "GRU", "RNN_TANH"),
                (50, 200, 1000),
                (1, 16, 64, 256),
                (64, 256, 1024),
                (1, 2),
                (False, True),
            )
        ]
    raise ValueError(unknown_name("grid", name, GRIDS))


def machine_info() -> dict:
    """Processor, core count, torch build: every table names the machine it came from."""
    model = platform.processor()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "processor": model,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def run_point(p: Point, names, peak, rounds, min_sample_s, max_s, dtype=torch.float32):
    """Time every candidate at point ``p``; returns one result dict."""
    keep = [n for n in names if n == BASELINE or estimate_s(p, n, NOMINAL_GFLOPS) <= max_s]
    skipped = {n: f"estimated > {max_s:g} s per training step" for n in names if n not in keep}
    if "compiled-loop" in keep and (p.T, p.B, p.H, p.layers) not in COMPILED_AT:
        # torch.compile unrolls the Python loop: each point costs a minute or more to compile.
        keep.remove("compiled-loop")
        skipped["compiled-loop"] = "compiled only at a few points (each compile takes minutes)"
    built = candidates(p, keep, dtype)
    errors = {
        n: f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        for n, e in built.items()
        if isinstance(e, Exception)
    }
    ok = {n: fns for n, fns in built.items() if not isinstance(fns, Exception)}
    cases = {}
    for n, (train, infer) in ok.items():
        cases[f"{n}|train"], cases[f"{n}|infer"] = train, infer
    try:
        timed = interleaved(cases, rounds=rounds, min_sample_s=min_sample_s)
    except Exception as exc:  # noqa: BLE001 - one failing candidate must not end the run
        return {"point": p.as_dict(), "label": p.label(), "error": repr(exc)}
    # After the candidates, so that timing them saw the same warm caches as always.
    bound = {"train_s": gemm_bound_s(p.gemms(train=True), dtype=dtype),
             "infer_s": gemm_bound_s(p.gemms(train=False), dtype=dtype)}
    res = {
        "point": p.as_dict(),
        "label": p.label(),
        "train_gflop": p.train_flops() / 1e9,
        "gemm_bound": bound,
        "skipped": skipped,
        "errors": errors,
        "results": {},
    }
    for n in ok:
        tr, inf = timed[f"{n}|train"]["median_s"], timed[f"{n}|infer"]["median_s"]
        r = {
            "train_s": tr,
            "infer_s": inf,
            "train_samples_s": timed[f"{n}|train"]["samples_s"],
            "train_gflops": p.train_flops() / tr / 1e9,
            "infer_gflops": p.forward_flops() / inf / 1e9,
            # what share of the time its GEMMs alone take (1 = nothing but the GEMMs)
            "train_of_bound": bound["train_s"] / tr,
            "infer_of_bound": bound["infer_s"] / inf,
        }
        r["train_peak_fraction"] = r["train_gflops"] / peak
        r["peak_mem_mib"] = None  # filled by ``measure_memory`` after all timing
        res["results"][n] = r
    base = res["results"].get(BASELINE)
    if base:
        for r in res["results"].values():
            r["train_speedup_vs_torch_nn"] = base["train_s"] / r["train_s"]
            r["infer_speedup_vs_torch_nn"] = base["infer_s"] / r["infer_s"]
    return res


def measure_memory(report: dict, dtype=torch.float32) -> None:
    """Peak memory of one training step per candidate, in a pass after all timing.

    Separate because ``peak_memory_mib`` switches the allocator to mmap for large blocks,
    which would change the timing of everything measured after it.
    """
    for res in report["points"]:
        if not res.get("results"):
            continue
        p = Point(**res["point"])
        built = candidates(p, list(res["results"]), dtype)
        for n, fns in built.items():
            if not isinstance(fns, Exception):
                res["results"][n]["peak_mem_mib"] = peak_memory_mib(fns[0])


def markdown(report: dict) -> str:
    """Tables: training speed-up vs torch.nn per candidate, then native's absolute numbers."""
    names = report["candidates"]
    m = report["machine"]
    lines = [
        f"Machine: {m['processor']} ({m['cpu_capability']}, {m['torch_threads']} threads), "
        f"torch {m['torch']}; measured float32 matmul peak "
        f"{max(report['peak_gflops'], report.get('peak_gflops_end', 0)):.1f} GFLOP/s "
        "(the larger of the measurements at the start and the end of the run).",
        f"Command: `{report['command']}`; {report['rounds']} interleaved rounds, medians.",
        "",
        "Training step (forward + backward), speed-up over torch.nn (>1 = faster than torch.nn):",
        "",
        "| point | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for res in report["points"]:
        cells = []
        for n in names:
            r = res.get("results", {}).get(n)
            if r:
                cells.append(
                    f"{r['train_speedup_vs_torch_nn']:.2f}"
                    if "train_speedup_vs_torch_nn" in r
                    else "?"
                )
            elif n in res.get("errors", {}):
                cells.append("error")
            else:
                cells.append("skip")
        lines.append(f"| {res['label']} | " + " | ".join(cells) + " |")
    focus = "rnnkit:native" if "rnnkit:native" in names else names[0]
    lines += [
        "",
        f"Inference and absolute numbers for {focus} (torch.nn in brackets):",
        "",
        "| point | train ms (torch.nn) | train GFLOP/s | % of peak | of GEMM bound (torch.nn) "
        "| infer speed-up | train speed-up over python-loop | peak MiB (torch.nn) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in report["points"]:
        r, b = res.get("results", {}).get(focus), res.get("results", {}).get(BASELINE)
        if not r or not b:
            continue
        mem = (
            f"{r['peak_mem_mib']:.1f} ({b['peak_mem_mib']:.1f})"
            if r["peak_mem_mib"] is not None and b["peak_mem_mib"] is not None
            else "n/a"
        )
        # GFLOP/s from the point's FLOP count, so re-rendering an old JSON uses today's count.
        gflops = Point(**res["point"]).train_flops() / r["train_s"] / 1e9
        best = max(report["peak_gflops"], report.get("peak_gflops_end", 0))
        loop = res["results"].get("python-loop")
        vs_loop = f"{loop['train_s'] / r['train_s']:.2f}" if loop else "n/a"
        of_bound = (f"{100 * r['train_of_bound']:.0f}% ({100 * b['train_of_bound']:.0f}%)"
                    if "train_of_bound" in r else "n/a")  # reports from before the bound
        lines.append(
            f"| {res['label']} | {r['train_s'] * 1e3:.2f} ({b['train_s'] * 1e3:.2f}) | "
            f"{gflops:.1f} | {100 * gflops / best:.1f}% | {of_bound} | "
            f"{r.get('infer_speedup_vs_torch_nn', float('nan')):.2f} | {vs_loop} | {mem} |"
        )
    if report["grid"] == "random":
        lines += ["", *distribution(report)]
    skipped = sorted(
        {f"{n}: {why}" for res in report["points"] for n, why in res.get("skipped", {}).items()}
    )
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    errors = sorted(
        {f"{n}: {e}" for res in report["points"] for n, e in res.get("errors", {}).items()}
    )
    if errors:
        lines += ["", "Errors: " + "; ".join(errors) + "."]
    return "\n".join(lines) + "\n"


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` (linear interpolation between order statistics)."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (pos - lo)


def distribution(report: dict, slowest: int = 5) -> list[str]:
    """Over the points of a random grid: each candidate's speed-up over torch.nn (minimum,
    5th percentile, median) for training and inference, and the slowest shapes for native."""
    lines = [f"Over {len(report['points'])} random shapes (seed {report.get('seed')}), speed-up "
             "over torch.nn:", "",
             "| candidate | shapes timed | train min | p5 | median | infer min | p5 | median |",
             "|---|---|---|---|---|---|---|---|"]
    for n in report["candidates"]:
        if n == BASELINE:
            continue
        rs = [res["results"][n] for res in report["points"]
              if n in res.get("results", {}) and "train_speedup_vs_torch_nn" in res["results"][n]]
        if not rs:
            continue
        cells = []
        for key in ("train_speedup_vs_torch_nn", "infer_speedup_vs_torch_nn"):
            xs = [r[key] for r in rs]
            cells += [f"{min(xs):.2f}", f"{quantile(xs, 0.05):.2f}",
                      f"{statistics.median(xs):.2f}"]
        lines.append(f"| {n} | {len(rs)} | " + " | ".join(cells) + " |")
    lines += bound_distribution(report)
    timed = [res for res in report["points"]
             if "train_speedup_vs_torch_nn" in res.get("results", {}).get("rnnkit:native", {})]
    if timed:
        worst = sorted(timed, key=lambda res: min(
            res["results"]["rnnkit:native"]["train_speedup_vs_torch_nn"],
            res["results"]["rnnkit:native"]["infer_speedup_vs_torch_nn"]))[:slowest]
        lines += ["", "Slowest shapes for rnnkit:native (train / infer speed-up; in brackets "
                  "the share of the GEMM bound, native / torch.nn, train): " + "; ".join(
                      f"{res['label']} {_native(res)['train_speedup_vs_torch_nn']:.2f} / "
                      f"{_native(res)['infer_speedup_vs_torch_nn']:.2f}" + _bound_note(res)
                      for res in worst) + "."]
    untimed = sum(1 for res in report["points"] if not res.get("results"))
    if untimed:
        lines += ["", f"{untimed} shapes were not timed (over --max-seconds per step): the "
                  "distribution covers the smaller shapes only."]
    return lines


# "Large" for the GEMM-bound target: shapes whose per-step products have at least this
# many rows x hidden units (B = 64 at H = 256), where the GEMMs, not the loop, take the time.
LARGE_BH = 64 * 256


def _native(res: dict) -> dict:
    return res["results"]["rnnkit:native"]


def _bound_note(res: dict) -> str:
    r, b = _native(res), res["results"].get(BASELINE, {})
    if "train_of_bound" not in r or "train_of_bound" not in b:
        return ""
    return f" ({100 * r['train_of_bound']:.0f}% / {100 * b['train_of_bound']:.0f}%)"


def bound_distribution(report: dict) -> list[str]:
    """Each candidate's time as a share of the GEMM bound (``timing.gemm_bound_s``: 100% =
    nothing but the GEMMs), over all shapes and over the large ones (B*H >= LARGE_BH)."""
    points = [res for res in report["points"] if "gemm_bound" in res]
    if not points:
        return []
    lines = ["", "Share of the GEMM bound (the time of each shape's GEMMs alone, measured "
             f"with torch.mm on this machine in the same run); large = B*H >= {LARGE_BH}:", "",
             "| candidate | train: all shapes min | median | large shapes | min | median | "
             "infer: all min | median | large min | median |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in report["candidates"]:
        rs = [(res, res["results"][n]) for res in points if n in res.get("results", {})]
        if not rs:
            continue
        large = [(res, r) for res, r in rs if res["point"]["B"] * res["point"]["H"] >= LARGE_BH]
        cells = []
        for key in ("train_of_bound", "infer_of_bound"):
            for group in (rs, large):
                xs = [r[key] for _, r in group]
                cells += ([f"{100 * min(xs):.0f}%", f"{100 * statistics.median(xs):.0f}%"]
                          if xs else ["-", "-"])
            if key == "train_of_bound":
                cells.insert(2, str(len(large)))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def plot(report: dict, path: Path) -> None:
    """Speed-up over torch.nn against work per step (B*H), one series per candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for n in report["candidates"]:
        xs, ys = [], []
        for res in report["points"]:
            r = res.get("results", {}).get(n)
            if r and "train_speedup_vs_torch_nn" in r:
                p = res["point"]
                xs.append(p["B"] * p["H"])
                ys.append(r["train_speedup_vs_torch_nn"])
        if xs:
            ax.scatter(xs, ys, label=n, s=18)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("B x H (work per step)")
    ax.set_ylabel("training-step speed-up over torch.nn")
    ax.set_title(report["machine"]["processor"])
    if ax.get_legend_handles_labels()[0]:  # nothing timed (every point skipped): no legend
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    grid_name="docs",
    names=None,
    rounds=5,
    min_sample_s=0.05,
    max_s=2.0,
    out=None,
    memory=True,
    command="",
    progress=print,
    seed=0,
    shapes=40,
) -> dict:
    """Run a grid and return the report dict; write report.{md,json,png} into ``out`` if set.
    ``seed`` and ``shapes`` draw the "random" grid."""
    names = list(names or DEFAULT_CANDIDATES)
    t0 = time.time()
    peak = matmul_peak_gflops()
    report = {
        "machine": machine_info(),
        "peak_gflops": peak,
        "grid": grid_name,
        "seed": seed if grid_name == "random" else None,
        "candidates": names,
        "rounds": rounds,
        "command": command,
        "points": [],
    }
    for p in grid(grid_name, seed, shapes):
        if estimate_s(p, BASELINE, NOMINAL_GFLOPS) > max_s:
            report["points"].append(
                {
                    "point": p.as_dict(),
                    "label": p.label(),
                    "skipped": {"all": f"estimated > {max_s:g} s per step"},
                }
            )
            progress(f"{p.label()}: skipped (too large for this run)")
            continue
        res = run_point(p, names, peak, rounds, min_sample_s, max_s)
        report["points"].append(res)
        if out is not None:  # partial results survive an interrupted run
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "report.partial.json").write_text(json.dumps(report, indent=1))
        nat = res.get("results", {}).get("rnnkit:native", {})
        progress(
            f"{p.label()}: native train x{nat.get('train_speedup_vs_torch_nn', float('nan')):.2f}"
            f" infer x{nat.get('infer_speedup_vs_torch_nn', float('nan')):.2f} vs torch.nn"
        )
    # The peak again at the end: foreign load at either moment lowers one measurement, so the
    # larger of the two is the machine's peak for this run.
    report["peak_gflops_end"] = matmul_peak_gflops()
    best = max(report["peak_gflops"], report["peak_gflops_end"])
    for res in report["points"]:
        for r in res.get("results", {}).values():
            r["train_peak_fraction"] = r["train_gflops"] / best
    if memory:
        progress("measuring peak memory per candidate (after all timing)")
        measure_memory(report)
    report["seconds"] = time.time() - t0
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1))
        (out / "report.md").write_text(markdown(report))
        plot(report, out / "speedup.png")
        (out / "report.partial.json").unlink(missing_ok=True)
    return report


def main(argv=None) -> int:
    """Command line: ``--grid``, ``--candidates``, ``--rounds``, ``--out``... (see --help)."""
    ap = argparse.ArgumentParser(prog="rnnkit bench", description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="docs",
                    help="smoke, docs, custom, issue or random (shapes drawn at random) [docs]")
    ap.add_argument("--seed", type=int, default=None,
                    help="the random grid's seed (default: a new one, printed and recorded)")
    ap.add_argument("--shapes", type=int, default=40, help="shapes of the random grid [40]")
    ap.add_argument(
        "--candidates",
        default=",".join(DEFAULT_CANDIDATES),
        help="comma-separated: torch.nn, rnnkit:<backend> (rnnkit:auto: what a module picks "
        "by default), python-loop, compiled-loop, "
        "custom:native, custom:reference (the cell as a GatedCell)",
    )
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median over them)")
    ap.add_argument("--min-sample", type=float, default=0.05, help="seconds per timed sample")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=2.0,
        help="skip candidates whose estimated training step exceeds this",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the run (default: torch's own choice)",
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    ap.add_argument(
        "--out", default="runs/bench", help="directory for report.{md,json,png} [runs/bench]"
    )
    ap.add_argument(
        "--render",
        metavar="JSON",
        help="only re-render report.md and speedup.png from an earlier report.json",
    )
    args = ap.parse_args(argv)
    if args.grid not in GRIDS:
        raise ConfigError(unknown_name("grid", args.grid, GRIDS))
    for name in args.candidates.split(","):
        if name not in CANDIDATES and not (name.startswith("rnnkit:")
                                           and name[7:] in BACKEND_CHOICES):
            choices = [*CANDIDATES, *(f"rnnkit:{b}" for b in BACKEND_CHOICES)]
            raise ConfigError(unknown_name("candidate", name, choices))
    if args.render:
        report = json.loads(Path(args.render).read_text())
        out = Path(args.render).parent
        (out / "report.md").write_text(markdown(report))
        plot(report, out / "speedup.png")
        print(markdown(report))
        return 0
    if args.shapes < 1:
        raise ConfigError(f"--shapes must be >= 1 (got {args.shapes})")
    if args.threads:
        torch.set_num_threads(args.threads)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    if args.grid == "random":
        print(f"random grid: {args.shapes} shapes, seed {seed}")
    cmd = "rnnkit bench " + " ".join(argv if argv is not None else [])
    if args.grid == "random" and args.seed is None:
        cmd += f" --seed {seed}"  # the report names the shapes it drew
    report = run(
        args.grid,
        args.candidates.split(","),
        args.rounds,
        args.min_sample,
        args.max_seconds,
        args.out,
        not args.no_memory,
        cmd.strip(),
        seed=seed,
        shapes=args.shapes,
    )
    print(markdown(report))
    return 0

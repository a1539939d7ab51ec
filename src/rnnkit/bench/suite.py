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
from rnnkit.recipes.result import git_commit

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


RANDOM_CELLS = ("LSTM", "GRU", "RNN_TANH")


def random_points(seed: int, count: int, cells: tuple = RANDOM_CELLS) -> list[Point]:
    """Shapes as users' fall, not a grid to tune to: log-uniform H in 32-1536, B in 1-512 and
    T in 1-1000, 1-3 layers, either direction, each of ``cells``; the same ``seed`` (and
    cells) gives the same shapes."""
    rng = random.Random(seed)

    def log_uniform(lo: int, hi: int) -> int:
        return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))

    return [Point(rng.choice(cells), log_uniform(1, 1000),
                  log_uniform(1, 512), log_uniform(32, 1536), rng.randint(1, 3),
                  rng.random() < 0.5) for _ in range(count)]


def grid(name: str, seed: int = 0, count: int = 40, cells: tuple = RANDOM_CELLS
         ) -> list[Point]:
    """The named grid. "issue" is issue 7's full grid (trimmed by cost at run time);
    "random" is ``count`` shapes of ``cells`` drawn with ``seed`` (random_points)."""
    if name == "random":
        return random_points(seed, count, cells)
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


def _timed(report: dict, name: str, cell: str | None = None) -> list[tuple[dict, dict]]:
    """(point result, candidate result) where candidate ``name`` and torch.nn were timed."""
    return [(res, res["results"][name]) for res in report["points"]
            if name in res.get("results", {})
            and "train_speedup_vs_torch_nn" in res["results"][name]
            and (cell is None or res["point"]["cell"] == cell)]


def speedups(report: dict, name: str, cell: str | None = None) -> dict | None:
    """Candidate ``name``'s speed-up over torch.nn over the timed points (of ``cell`` only,
    if given): {"n", "train": {"min", "p5", "median"}, "infer": {...}}, or None."""
    rs = [r for _, r in _timed(report, name, cell)]
    if not rs:
        return None
    out: dict = {"n": len(rs)}
    for part in ("train", "infer"):
        xs = [r[f"{part}_speedup_vs_torch_nn"] for r in rs]
        out[part] = {"min": min(xs), "p5": quantile(xs, 0.05), "median": statistics.median(xs)}
    return out


def slowest_shapes(report: dict, count: int = 5) -> list[dict]:
    """rnnkit:native's slowest shapes against torch.nn (by the lower of its training and
    inference speed-ups), each with both sides' shares of the GEMM bound."""
    worst = sorted(_timed(report, "rnnkit:native"), key=lambda t: min(
        t[1]["train_speedup_vs_torch_nn"], t[1]["infer_speedup_vs_torch_nn"]))[:count]
    out = []
    for res, r in worst:
        b = res["results"][BASELINE]
        out.append({"label": res["label"], "train": r["train_speedup_vs_torch_nn"],
                    "infer": r["infer_speedup_vs_torch_nn"],
                    **({"native_of_bound": r["train_of_bound"],
                        "torch_of_bound": b["train_of_bound"],
                        "native_infer_of_bound": r["infer_of_bound"],
                        "torch_infer_of_bound": b["infer_of_bound"]}
                       if "train_of_bound" in r else {})})
    return out


def distribution(report: dict, slowest: int = 5) -> list[str]:
    """Over the points of a random grid: each candidate's speed-up over torch.nn (minimum,
    5th percentile, median) for training and inference, and the slowest shapes for native."""
    lines = [f"Over {len(report['points'])} random shapes (seed {report.get('seed')}), speed-up "
             "over torch.nn:", "",
             "| candidate | shapes timed | train min | p5 | median | infer min | p5 | median |",
             "|---|---|---|---|---|---|---|---|"]
    for n in report["candidates"]:
        st = speedups(report, n) if n != BASELINE else None
        if st:
            lines.append(f"| {n} | {st['n']} | " + " | ".join(
                f"{st[part][q]:.2f}" for part in ("train", "infer")
                for q in ("min", "p5", "median")) + " |")
    lines += bound_distribution(report)
    worst = slowest_shapes(report, slowest)
    if worst:
        lines += ["", "Slowest shapes for rnnkit:native (train / infer speed-up; in brackets "
                  "the share of the GEMM bound, native / torch.nn, train): " + "; ".join(
                      f"{w['label']} {w['train']:.2f} / {w['infer']:.2f}" + (
                          f" ({100 * w['native_of_bound']:.0f}% / "
                          f"{100 * w['torch_of_bound']:.0f}%)" if "native_of_bound" in w else "")
                      for w in worst) + "."]
    untimed = sum(1 for res in report["points"] if not res.get("results"))
    if untimed:
        lines += ["", f"{untimed} shapes were not timed (over --max-seconds per step): the "
                  "distribution covers the smaller shapes only."]
    return lines


# "Large" for the GEMM-bound target: shapes whose per-step products have at least 16 rows
# and 256 columns of W_hh, so that each output's multiply-adds (>= 256 per gate) dwarf the
# gates' elementwise work and the GEMMs, not the loop, should take the time.
LARGE = "B >= 16 and H >= 256"


def is_large(point: dict) -> bool:
    """Whether a point (``Point.as_dict``) is large in the sense of LARGE."""
    return point["B"] >= 16 and point["H"] >= 256


def bound_shares(report: dict, name: str) -> dict | None:
    """Candidate ``name``'s time as a share of the GEMM bound (``timing.gemm_bound_s``: 1 =
    nothing but the GEMMs): {"train" / "infer": {"all" / "large": {"n", "min", "median"}}}
    over all timed shapes and the large ones (``is_large``), or None."""
    rs = [(res, res["results"][name]) for res in report["points"]
          if "gemm_bound" in res and name in res.get("results", {})]
    if not rs:
        return None
    out: dict = {}
    for part in ("train", "infer"):
        out[part] = {}
        for group, keep in (("all", lambda p: True), ("large", is_large)):
            xs = [r[f"{part}_of_bound"] for res, r in rs if keep(res["point"])]
            out[part][group] = ({"n": len(xs), "min": min(xs), "median": statistics.median(xs)}
                                if xs else {"n": 0})
    return out


def bound_distribution(report: dict) -> list[str]:
    """The table of ``bound_shares`` for every candidate."""
    shares = {n: bound_shares(report, n) for n in report["candidates"]}
    if not any(shares.values()):
        return []
    lines = ["", "Share of the GEMM bound (the time of each shape's GEMMs alone, measured "
             f"with torch.mm on this machine in the same run); large: {LARGE}:", "",
             "| candidate | train: all shapes min | median | large shapes | min | median | "
             "infer: all min | median | large min | median |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, sh in shares.items():
        if not sh:
            continue
        cells = []
        for part in ("train", "infer"):
            for group in ("all", "large"):
                g = sh[part][group]
                if (part, group) == ("train", "large"):  # the count of large shapes, once
                    cells.append(str(g["n"]))
                cells += ([f"{100 * g['min']:.0f}%", f"{100 * g['median']:.0f}%"]
                          if g["n"] else ["-", "-"])
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def record(report: dict) -> dict:
    """A random grid's report as a docs/results measurement record (what the tables of
    docs/PERFORMANCE.md read): the speed-up distributions per candidate, over all shapes and
    per cell, the shares of the GEMM bound, and the slowest shapes."""
    names = [n for n in report["candidates"] if n != BASELINE]
    cells = sorted({res["point"]["cell"] for res in report["points"]})
    m = report["machine"]
    values = {
        "speedups": {n: {"all": speedups(report, n),
                         **{c: speedups(report, n, c) for c in cells}} for n in names},
        "bound": {n: bound_shares(report, n) for n in report["candidates"]},
        "large": LARGE,
        "slowest": slowest_shapes(report),
        "shapes": len(report["points"]),
        "timed": sum(1 for res in report["points"] if res.get("results")),
        "max_seconds": report.get("max_seconds"),
        "peak_gflops": max(report["peak_gflops"], report.get("peak_gflops_end", 0)),
    }
    return {"measurement": "training step and inference against torch.nn at shapes drawn at "
                           "random, with each shape's GEMM bound",
            "values": values,
            "text": f"{len(report['points'])} shapes drawn with seed {report.get('seed')}",
            "seed": report.get("seed"), "processor": m["processor"],
            "threads": m["torch_threads"], "wall_s": report.get("seconds"),
            "cpu_s": report.get("cpu_s"), "date": report.get("date"),
            "commit": report.get("commit"), "torch": m["torch"],
            "command": report.get("command")}


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
    cells=RANDOM_CELLS,
) -> dict:
    """Run a grid and return the report dict; write report.{md,json,png} into ``out`` if set.
    ``seed``, ``shapes`` and ``cells`` draw the "random" grid."""
    names = list(names or DEFAULT_CANDIDATES)
    t0, c0 = time.time(), time.process_time()
    peak = matmul_peak_gflops()
    report = {
        "machine": machine_info(),
        "peak_gflops": peak,
        "grid": grid_name,
        "seed": seed if grid_name == "random" else None,
        "candidates": names,
        "rounds": rounds,
        "max_seconds": max_s,
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "points": [],
    }
    for p in grid(grid_name, seed, shapes, cells):
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
    report["seconds"], report["cpu_s"] = time.time() - t0, time.process_time() - c0
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
    ap.add_argument("--cells", default=",".join(RANDOM_CELLS),
                    help="comma-separated cells of the random grid [LSTM,GRU,RNN_TANH]")
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
    ap.add_argument("--record", metavar="JSON",
                    help="also write the random grid's distributions as a docs/results record "
                         "(e.g. docs/results/bench/random-1thread.json), for make docs-tables")
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
    if args.record and args.grid != "random" and not args.render:
        raise ConfigError("--record writes a random grid's distributions: add --grid random")
    if args.render:
        report = json.loads(Path(args.render).read_text())
        out = Path(args.render).parent
        (out / "report.md").write_text(markdown(report))
        plot(report, out / "speedup.png")
        print(markdown(report))
        _write_record(report, args.record)
        return 0
    if args.shapes < 1:
        raise ConfigError(f"--shapes must be >= 1 (got {args.shapes})")
    cells = tuple(args.cells.split(","))
    for cell in cells:
        if cell not in RANDOM_CELLS:
            raise ConfigError(unknown_name("cell", cell, RANDOM_CELLS))
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
        cells=cells,
    )
    print(markdown(report))
    _write_record(report, args.record)
    return 0


def _write_record(report: dict, path: str | None) -> None:
    """``record(report)`` into ``path`` (nothing without a path), replaced atomically."""
    if path is None:
        return
    if report["grid"] != "random":
        raise ConfigError(f"--record: {report['grid']!r} is not a random grid's report")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record(report), indent=1) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")

"""The tables of docs/PERFORMANCE.md that come from docs/results files: reduced-precision
inference (``benchmarks/quantized_inference.py`` writes ``quantize/layers`` and
``quantize/recipes``) and step-by-step inference (``benchmarks/step_inference.py``,
``step/steps``), the random-shape benchmark (``rnnkit bench --grid random --record``,
``bench/random-*``) and data-parallel scaling (``benchmarks/ddp_scaling.py``,
``perf/ddp-scaling``)."""

from __future__ import annotations

PRECISIONS = ("float32", "int8", "bfloat16")


def t_quantize_layers(R: dict) -> list[str]:
    """One row per random shape: speed of each precision against torch.nn, and error."""
    rec = R["quantize/layers"]
    v = rec["values"]
    lines = ["| cell | H | B | T | rnnkit float32 | int8 | bfloat16 | int8 max abs error |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(v["shapes"], key=lambda r: (r["cell"], r["H"], r["B"])):
        speed = row["speedup_vs_torch"]
        lines.append(f"| {row['cell']} | {row['H']:,} | {row['B']} | {row['T']} | "
                     + " | ".join(f"{speed[p]:.2f}x" for p in PRECISIONS)
                     + f" | {row['max_abs_error']['int8']:.1e} |")
    summary = v["summary_vs_torch"]
    lines.append("")
    lines.append("Against torch.nn float32 over the shapes (min / median): " + "; ".join(
        f"{p} {summary[p]['min']:.2f}x / {summary[p]['median']:.2f}x" for p in PRECISIONS)
        + f". {rec['text']}; {rec['processor']}, {rec['threads']} thread, "
          f"{rec['wall_s']:.0f} s wall, {rec['date']}.")
    return lines


def t_quantize_recipes(R: dict) -> list[str]:
    """Each trained run's held-out score and scoring time at the three precisions."""
    rec = R["quantize/recipes"]
    lines = ["| recipe | metric | float32 | int8 | bfloat16 | time float32 | int8 | bfloat16 |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rec["values"]["recipes"]:
        pct = row["metric"].endswith("accuracy")
        fmt = (lambda x: f"{x:.2%}") if pct else (lambda x: f"{x:.4f}")
        t = row["seconds"]
        lines.append(f"| {row['recipe']} | {row['metric']} | "
                     + " | ".join(fmt(row["values"][p]) for p in PRECISIONS) + " | "
                     + f"{t['float32']:.3f} s | "
                     + " | ".join(f"{t['float32'] / t[p]:.2f}x" for p in PRECISIONS[1:])
                     + " |")
    lines.append("")
    lines.append(f"{rec['processor']}, {rec['threads']} thread, {rec['date']}; times are "
                 "the median of interleaved repeats of the whole held-out pass.")
    return lines


def t_step(R: dict, name: str = "step/steps", shapes: bool = True) -> list[str]:
    """Step-by-step inference against torch.nn (``benchmarks/step_inference.py --out``):
    the distribution, then, with ``shapes``, every shape."""
    rec = R[name]
    v = rec["values"]
    lines = ["| API | shapes | min | p5 | median | B <= 8: shapes | min | median |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, label in (("cells", "cell step (`rnnkit.LSTMCell` ...)"),
                        ("layers", "one-step layer call (`rnnkit.LSTM` ...)"),
                        ("cells_int8", "cell step, int8 (`rnnkit.quantize`)"),
                        ("layers_int8", "one-step layer call, int8")):
        if kind not in v:
            continue
        a, s = v[kind]["all"], v[kind].get("B<=8")
        small = f"{s['n']} | {s['min']:.2f}x | {s['median']:.2f}x" if s else "0 | - | -"
        lines.append(f"| {label} | {a['n']} | {a['min']:.2f}x | {a['p5']:.2f}x | "
                     f"{a['median']:.2f}x | {small} |")
    if shapes:
        lines += ["", "| cell | B | H | cell step: torch.nn | rnnkit | speed-up | int8 | layer "
                  "step: speed-up | int8 |", "|---|---|---|---|---|---|---|---|---|"]
        for row in sorted(v["shapes"], key=lambda r: (r["type"], r["B"], r["H"])):
            c = row["cell"]
            lines.append(f"| {row['type']} | {row['B']} | {row['H']:,} | "
                         f"{c['seconds_per_step']['torch.nn'] * 1e6:.1f} us | "
                         f"{c['seconds_per_step']['rnnkit'] * 1e6:.1f} us | "
                         f"{c['speedup']:.2f}x | {c.get('int8_speedup', float('nan')):.2f}x | "
                         f"{row['layer']['speedup']:.2f}x | "
                         f"{row['layer'].get('int8_speedup', float('nan')):.2f}x |")
    lines += ["", f"{rec['text']}; {v['steps_per_call']} steps per timed loop; "
                  f"{rec['processor']}, {rec['threads']} thread, {rec['wall_s']:.0f} s wall, "
                  f"{rec['date']}."]
    return lines


# The random-shape runs per machine: (record, threads).
RANDOM_RUNS = {
    "xeon": (("bench/random-1thread", 1), ("bench/random-2threads", 2)),
    "zen4": (("bench/random-zen4-1thread", 1), ("bench/random-zen4-2threads", 2)),
    "zen4-s13": (("bench/random-zen4-s13-1thread", 1), ("bench/random-zen4-s13-2threads", 2)),
    "zen4-s14": (("bench/random-zen4-s14-1thread", 1), ("bench/random-zen4-s14-2threads", 2)),
    "zen4-lstm-s15": (("bench/random-zen4-lstm-s15-1thread", 1),
                      ("bench/random-zen4-lstm-s15-2threads", 2)),
    "zen4-lstm-s16": (("bench/random-zen4-lstm-s16-1thread", 1),
                      ("bench/random-zen4-lstm-s16-2threads", 2)),
}


def pct(group: dict, key: str) -> str:
    """A share as a percentage, or "-" for an empty group."""
    return f"{100 * group[key]:.0f}%" if group["n"] else "-"
CELL_NAMES = {"all": "all cells", "LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN (tanh)"}


def t_random(R: dict, machine: str = "xeon") -> list[str]:
    """Training and inference against torch.nn at random shapes (``rnnkit bench --grid random
    --record``) on one ``machine`` (RANDOM_RUNS), one and two threads: speed-up
    distributions, then shares of the GEMM bound."""
    runs = [(R[name], threads) for name, threads in RANDOM_RUNS[machine] if name in R]
    lines = ["| threads | candidate | cells | shapes | train min | p5 | median | infer min | p5 | "
             "median |", "|---|---|---|---|---|---|---|---|---|---|"]
    for rec, threads in runs:
        for cand, by_cell in rec["values"]["speedups"].items():
            for cell, st in by_cell.items():
                if st and not (cell == "all" and len(by_cell) == 2):  # one cell drawn
                    lines.append(f"| {threads} | {cand} | {CELL_NAMES.get(cell, cell)} | "
                                 f"{st['n']} | " + " | ".join(
                                     f"{st[part][q]:.2f}x" for part in ("train", "infer")
                                     for q in ("min", "p5", "median")) + " |")
    lines += ["", "Share of each shape's GEMM bound (the time of its GEMMs alone, timed with "
              "torch.mm in the same run; 100% = nothing but the GEMMs):", "",
              "| threads | candidate | train: all shapes median | large shapes | min | median | "
              "infer: large min | median |", "|---|---|---|---|---|---|---|---|"]
    for rec, threads in runs:
        for cand, sh in rec["values"]["bound"].items():
            if not sh:
                continue
            large, infer = sh["train"]["large"], sh["infer"]["large"]
            lines.append(f"| {threads} | {cand} | {pct(sh['train']['all'], 'median')} | "
                         f"{large['n']} | {pct(large, 'min')} | {pct(large, 'median')} | "
                         f"{pct(infer, 'min')} | {pct(infer, 'median')} |")
    for rec, threads in runs:
        v = rec["values"]
        lines += ["", f"{threads} thread{'s' if threads > 1 else ''}: {rec['text']} "
                  f"(`{rec['command']}`), {v['timed']} timed, {v['shapes'] - v['timed']} over "
                  f"{v['max_seconds']:g} s per step not; large: {v['large']}; "
                  f"{rec['processor']}, {rec['wall_s']:.0f} s wall, {rec['date']}. Slowest "
                  "for rnnkit:native (train / infer; share of the GEMM bound native / torch.nn, "
                  "train): " + "; ".join(
                      f"{w['label']} {w['train']:.2f}x / {w['infer']:.2f}x ("
                      f"{100 * w['native_of_bound']:.0f}% / {100 * w['torch_of_bound']:.0f}%)"
                      for w in v["slowest"]) + "."]
    return lines


def t_ddp(R: dict) -> list[str]:
    """charlm's training throughput with one and two DDP processes
    (``benchmarks/ddp_scaling.py``)."""
    rec = R["perf/ddp-scaling"]
    v = rec["values"]
    one = v["median"]["1 process, 1 thread"]
    lines = ["| configuration | characters/s (median) | runs (lowest-highest) | "
             "vs 1 process, 1 thread |", "|---|---|---|---|"]
    for name, med in v["median"].items():
        xs = v["samples"][name]
        lines.append(f"| {name} | {med:,.0f} | {len(xs)} ({min(xs):,.0f}-{max(xs):,.0f}) | "
                     f"{med / one:.2f}x |")
    lines += ["", f"Scaling efficiency of two processes: {100 * v['scaling_efficiency']:.0f}% "
              f"(throughput with two / twice that with one). {rec['text']}; "
              f"{rec['processor']} ({rec['cpu_count']} cores), {rec['wall_s']:.0f} s wall, "
              f"{rec['date']}."]
    return lines

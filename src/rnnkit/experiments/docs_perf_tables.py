"""The tables of docs/PERFORMANCE.md that come from docs/results files: reduced-precision
inference (``benchmarks/quantized_inference.py`` writes ``quantize/layers`` and
``quantize/recipes``)."""

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

"""The tables of docs/PERFORMANCE.md that come from docs/results files: reduced-precision
inference (``benchmarks/quantized_inference.py`` writes ``quantize/layers`` and
``quantize/recipes``) and step-by-step inference (``benchmarks/step_inference.py``,
``step/steps``)."""

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


def t_step(R: dict) -> list[str]:
    """Step-by-step inference against torch.nn: the distribution, then every shape."""
    rec = R["step/steps"]
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
    lines += ["", "| cell | B | H | cell step: torch.nn | rnnkit | speed-up | int8 | layer "
              "step: speed-up | int8 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(v["shapes"], key=lambda r: (r["type"], r["B"], r["H"])):
        c = row["cell"]
        lines.append(f"| {row['type']} | {row['B']} | {row['H']:,} | "
                     f"{c['seconds_per_step']['torch.nn'] * 1e6:.1f} us | "
                     f"{c['seconds_per_step']['rnnkit'] * 1e6:.1f} us | {c['speedup']:.2f}x | "
                     f"{c.get('int8_speedup', float('nan')):.2f}x | "
                     f"{row['layer']['speedup']:.2f}x | "
                     f"{row['layer'].get('int8_speedup', float('nan')):.2f}x |")
    lines += ["", f"{rec['text']}; {v['steps_per_call']} steps per timed loop; "
                  f"{rec['processor']}, {rec['threads']} thread, {rec['wall_s']:.0f} s wall, "
                  f"{rec['date']}."]
    return lines

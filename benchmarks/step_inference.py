"""Step-by-step inference (a decoder's or a sampler's loop) against torch.nn, per step with
the Python loop included: rnnkit's cells against torch.nn's (RNNCell, LSTMCell, GRUCell),
and one-layer modules called one step at a time against torch.nn's modules; each also with
``rnnkit.quantize(..., "int8")``.

Shapes come from the bench suite's random draw (``rnnkit.bench.suite.random_points``: cell,
B log-uniform in 1-512, H in 32-1536; its T, layers and direction are not used), seeded;
one thread, interleaved rounds, medians. Writes docs/results/step/steps.json, which
``make docs-tables`` renders into docs/PERFORMANCE.md.

    python benchmarks/step_inference.py --seed 1 --shapes 30
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

import rnnkit
from rnnkit.bench.suite import quantile, random_points
from rnnkit.bench.timing import interleaved
from rnnkit.recipes.result import clock, measurement_fields

OUT = Path("docs/results/step/steps.json")
NAMES = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}
STEPS = 20  # steps per timed call: the loop a decoder runs


def step_loop(module, x, state, cell: bool):
    """STEPS steps of ``module`` carrying its state, as a decoder calls it."""
    def run():
        s = state
        for _ in range(STEPS):
            s = module(x, s) if cell else module(x, s)[1]
        return s
    return run


def one_shape(p, repeats: int) -> dict:
    name = NAMES[p.cell]
    B, H = p.B, p.H
    out = {"type": name, "B": B, "H": H}
    for kind, cell in (("cell", True), ("layer", False)):
        cls = f"{name}Cell" if cell else name
        ref, ours = getattr(nn, cls)(H, H), getattr(rnnkit, cls)(H, H)
        ours.load_state_dict(ref.state_dict())
        int8 = rnnkit.quantize(copy.deepcopy(ours), "int8")
        x = torch.randn(B, H) if cell else torch.randn(1, B, H)
        h = torch.zeros(B, H) if cell else torch.zeros(1, B, H)
        state = (h, h.clone()) if name == "LSTM" else h
        with torch.no_grad():
            t = interleaved({"torch.nn": step_loop(ref, x, state, cell),
                             "rnnkit": step_loop(ours, x, state, cell),
                             "rnnkit int8": step_loop(int8, x, state, cell)}, repeats, 0.02)
        per_step = {k: v["median_s"] / STEPS for k, v in t.items()}
        out[kind] = {"seconds_per_step": per_step,
                     "speedup": per_step["torch.nn"] / per_step["rnnkit"],
                     "int8_speedup": per_step["torch.nn"] / per_step["rnnkit int8"]}
    return out


def summary(rows: list[dict], kind: str, key: str = "speedup") -> dict:
    """min / p5 / median of the speed-ups, over all shapes and over those with B <= 8."""
    res = {}
    for part, keep in (("all", lambda r: True), ("B<=8", lambda r: r["B"] <= 8)):
        xs = [r[kind][key] for r in rows if keep(r)]
        if xs:
            res[part] = {"n": len(xs), "min": min(xs), "p5": quantile(xs, 0.05),
                         "median": statistics.median(xs)}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT, help=f"result file (default {OUT})")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    started = clock()
    rows = []
    for p in random_points(args.seed, args.shapes):
        torch.manual_seed(len(rows))
        row = one_shape(p, args.repeats)
        rows.append(row)
        print(f"{row['type']} B={row['B']} H={row['H']}: cell step "
              f"{row['cell']['speedup']:.2f}x, one-step layer call {row['layer']['speedup']:.2f}x"
              " of torch.nn")
    body = {"measurement": "step-by-step inference (cells, one-step layer calls) against "
                           "torch.nn, per step with the Python loop",
            "values": {"shapes": rows, "cells": summary(rows, "cell"),
                       "layers": summary(rows, "layer"),
                       "cells_int8": summary(rows, "cell", "int8_speedup"),
                       "layers_int8": summary(rows, "layer", "int8_speedup"),
                       "steps_per_call": STEPS},
            "text": f"{len(rows)} shapes drawn with seed {args.seed}",
            **measurement_fields("python benchmarks/step_inference.py " + " ".join(
                argv if argv is not None else sys.argv[1:]), seed=args.seed, threads=1,
                since=started)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(body, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reduced-precision inference (rnnkit.quantize): speed and accuracy against float32.

Two parts, each written to docs/results/quantize/ (``make docs-tables`` renders them):

* ``layers``: single LSTM/GRU layers at shapes drawn at random (log-uniform H in 64-1536,
  B in 1-256, T in 1-200; seeded), inference under ``torch.no_grad``, one thread: rnnkit
  float32 (native), int8 and bfloat16 against torch.nn float32, interleaved, medians.
* ``recipes``: trained runs scored at the three precisions on their held-out data
  (charlm: bits per character on the validation text; splice, vowels: test accuracy),
  with the wall time of that whole pass (median of interleaved repeats).

    python benchmarks/quantized_inference.py layers --seed 1 --shapes 24
    python benchmarks/quantized_inference.py recipes --charlm RUN --splice RUN --vowels RUN
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

import rnnkit
from rnnkit.bench.timing import interleaved
from rnnkit.recipes.result import clock, measurement_fields

OUT = Path("docs/results/quantize")
PRECISIONS = ("float32", "int8", "bfloat16")


def medians(fns: dict, repeats: int, min_sample_s: float = 0.02) -> dict[str, float]:
    """Median seconds per call of each function (rnnkit.bench's interleaved rounds)."""
    return {k: v["median_s"] for k, v in interleaved(fns, repeats, min_sample_s).items()}


def random_shapes(seed: int, count: int) -> list[dict]:
    """Layer shapes drawn log-uniform, as users' shapes fall (not a grid)."""
    rng = random.Random(seed)

    def log_uniform(lo, hi):
        return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))

    return [{"cell": rng.choice(["LSTM", "GRU"]), "H": log_uniform(64, 1536),
             "B": log_uniform(1, 256), "T": log_uniform(1, 200)} for _ in range(count)]


def bench_layers(args) -> dict:
    torch.set_num_threads(1)
    rows = []
    for i, s in enumerate(random_shapes(args.seed, args.shapes)):
        torch.manual_seed(i)
        H, B, T = s["H"], s["B"], s["T"]
        ref = getattr(nn, s["cell"])(H, H)
        ours = getattr(rnnkit, s["cell"])(H, H, backend="native")
        ours.load_state_dict(ref.state_dict())
        int8 = rnnkit.quantize(copy.deepcopy(ours), "int8")
        bf16 = rnnkit.quantize(copy.deepcopy(ours), "bfloat16")
        x = torch.randn(T, B, H)
        models = {"torch.nn": ref, "float32": ours, "int8": int8, "bfloat16": bf16}
        with torch.no_grad():
            want = ref(x)[0]
            err = {k: float((models[k](x)[0] - want).abs().max()) for k in PRECISIONS}
            t = medians({k: (lambda m=m, x=x: m(x)) for k, m in models.items()}, args.repeats)
        row = {**s, "seconds": t, "max_abs_error": err,
               "speedup_vs_torch": {k: t["torch.nn"] / t[k] for k in PRECISIONS},
               "speedup_vs_float32": {k: t["float32"] / t[k] for k in ("int8", "bfloat16")}}
        rows.append(row)
        print(f"{s['cell']} H={H} B={B} T={T}: " + "  ".join(
            f"{k} {row['speedup_vs_torch'][k]:.2f}x" for k in PRECISIONS) + " of torch.nn")
    summary = {}
    for k in PRECISIONS:
        r = sorted(row["speedup_vs_torch"][k] for row in rows)
        summary[k] = {"min": r[0], "p5": r[max(0, int(0.05 * len(r)) - 1)] if len(r) >= 20
                      else r[0], "median": statistics.median(r)}
    return {"measurement": "rnnkit.quantize: layer inference at random shapes against "
                           "torch.nn float32",
            "values": {"shapes": rows, "summary_vs_torch": summary},
            "text": f"{len(rows)} shapes drawn with seed {args.seed}", "seed": args.seed}


def score_charlm(run, repeats):
    from rnnkit.recipes.text.charlm import build_corpus
    from rnnkit.train.task import evaluate_lm

    ids = build_corpus(run.config).valid
    return "valid bits/char", lambda m: evaluate_lm(m, ids, 32, 100) / math.log(2), False


def score_classifier(run, test):
    from rnnkit.recipes.classify import batches_of, score

    batches = batches_of(test, 64, "cpu")
    return "test accuracy", lambda m: score(m, batches, run.spec["classes"])[0]["accuracy"], True


def splice_test(run):
    from rnnkit.data.dna_datasets import load_splice

    return load_splice("test")


def vowels_test(run):
    from rnnkit.data.sequences import LabelledSequences
    from rnnkit.recipes.timeseries.vowels import load_ts_pair

    test = load_ts_pair(run.config.data.data)[1]
    f = run.spec["features"]
    mean, std = torch.tensor(f["mean"]), torch.tensor(f["std"])
    return LabelledSequences([(x - mean) / std for x in test.inputs], test.labels,
                             list(test.classes), list(test.ids))


def bench_recipes(args) -> list[dict]:
    from rnnkit.recipes.base import load_run

    torch.set_num_threads(1)
    results = []
    for recipe, path in (("charlm", args.charlm), ("splice", args.splice),
                         ("vowels", args.vowels)):
        if path is None:
            continue
        runs = {p: load_run(path, precision=p) for p in PRECISIONS}
        base = runs["float32"]
        if recipe == "charlm":
            metric, scorer, higher = score_charlm(base, args.repeats)
        else:
            test = splice_test(base) if recipe == "splice" else vowels_test(base)
            metric, scorer, higher = score_classifier(base, test)
        with torch.no_grad():
            values = {p: float(scorer(r.model)) for p, r in runs.items()}
            t = medians({p: (lambda r=r, f=scorer: f(r.model)) for p, r in runs.items()},
                        args.repeats, min_sample_s=0)
        row = {"recipe": recipe, "run": str(path), "metric": metric,
               "higher_is_better": higher, "values": values, "seconds": t,
               "speedup_vs_float32": {p: t["float32"] / t[p] for p in PRECISIONS[1:]},
               "train_seed": base.config.train.seed,
               "parameters": sum(p.numel() for p in base.model.parameters()),
               "checkpoint": str(base.file)}
        results.append(row)
        print(f"{recipe}: " + "  ".join(
            f"{p} {values[p]:.4f} ({t[p]:.3f} s)" for p in PRECISIONS))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("layers", "recipes"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--charlm")
    ap.add_argument("--splice")
    ap.add_argument("--vowels")
    args = ap.parse_args(argv)
    started = clock()
    if args.part == "layers":
        body = bench_layers(args)
    else:
        rows = bench_recipes(args)
        body = {"measurement": "rnnkit.quantize: trained runs scored at three precisions",
                "values": {"recipes": rows},
                "text": ", ".join(r["recipe"] for r in rows)}
    body |= measurement_fields("python benchmarks/quantized_inference.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), seed=args.seed, threads=1, since=started)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{args.part}.json"
    out.write_text(json.dumps(body, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

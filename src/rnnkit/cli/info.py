"""``rnnkit info RUN_OR_CKPT``: what a checkpoint holds (config, vocabulary, parameter
count, progress and the run's latest metrics)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="describe a checkpoint or run folder",
                       description=__doc__.replace("``", "`"))
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def describe(path: str) -> dict:
    """Summary of a checkpoint (newest in a run folder) as plain data."""
    from rnnkit.train import checkpoint as ckpt_io
    from rnnkit.train.metrics import read_metrics

    file = ckpt_io.resolve(path)
    ck = ckpt_io.load(file)
    n_params = sum(t.numel() for t in ck["model"].values())
    vocab = ck.get("vocab")
    task = ck.get("task", ck)  # LM checkpoints from before tasks kept "data" at the top
    metrics_file = file.parent / "metrics.jsonl"
    last_valid = None
    if metrics_file.exists():
        valid = [r for r in read_metrics(metrics_file) if r.get("kind") == "valid"
                 and r["step"] <= ck["step"]]
        last_valid = valid[-1] if valid else None
    return {
        "file": str(file), "bytes": Path(file).stat().st_size, "step": ck["step"],
        "recipe": ck["config"].get("recipe"),
        "epoch": task.get("epoch", task.get("data", {}).get("epoch")), "parameters": n_params,
        "data_source": ck.get("data_source"), "data_sha256": ck.get("data_sha256"),
        "vocab": {"level": vocab["level"], "size": len(vocab["tokens"]),
                  "preview": vocab["tokens"][:40]} if vocab else None,
        "classes": (ck.get("classifier") or {}).get("classes"),
        "best_valid_loss": ck.get("loop", {}).get("best"),
        "last_valid": last_valid, "config": ck["config"],
        "checkpoints": [p.name for p in ckpt_io.list_checkpoints(file.parent)],
    }


def run(args: argparse.Namespace) -> int:
    d = describe(args.checkpoint)
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(f"checkpoint  {d['file']} ({d['bytes'] / 1e6:.1f} MB), recipe {d['recipe']}")
    print(f"progress    step {d['step']:,}, epoch {d['epoch']}")
    print(f"parameters  {d['parameters']:,}")
    m = d["config"]["model"]
    print(f"model       {m['cell']} {m['num_layers']}x{m['hidden_size']}, embedding "
          f"{m['embed_size']}, dropout {m['dropout']}")
    v = d["vocab"]
    if v is not None:
        print(f"vocabulary  {v['size']:,} {v['level']} tokens: "
              f"{' '.join('␣' if t == ' ' else repr(t)[1:-1] for t in v['preview'])}")
        print(f"data        {d['data_source']} (sha256 {d['data_sha256']})")
    if d["classes"]:
        print(f"classes     {len(d['classes'])}: {', '.join(d['classes'][:20])}")
    best = d["best_valid_loss"]
    if best is not None and not math.isinf(best):
        print(f"best valid  {best:.4f}" + (f" nats = {best / math.log(2):.4f} bits per token"
                                           if v is not None else " (the task's loss)"))
    print(f"in folder   {', '.join(d['checkpoints']) or '(none)'}")
    print("config      " + json.dumps(d["config"]))
    return 0

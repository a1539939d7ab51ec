"""The triton backend against torch.nn's cuDNN path on a GPU: a parity check, then timings.

    python benchmarks/gpu_bench.py --check               # compiled kernels vs cuDNN; exit 1 if off
    python benchmarks/gpu_bench.py --out benchmarks/results/gpu   # the grid below, ~minutes

One process, interleaved rounds, medians; every timed call ends with torch.cuda.synchronize().
Writes report.md and report.json to --out (the card's name included). Run it without
TRITON_INTERPRET (the kernels must compile for the GPU).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

import torch

import rnnkit
from rnnkit.bench.cases import train_and_infer
from rnnkit.bench.timing import interleaved

CELLS = {"LSTM": (rnnkit.LSTM, torch.nn.LSTM), "GRU": (rnnkit.GRU, torch.nn.GRU),
         "RNN_TANH": (rnnkit.RNN, torch.nn.RNN)}  # fmt: skip


def pair(cell, I, H, **kw):
    ours_cls, theirs_cls = CELLS[cell]
    theirs = theirs_cls(I, H, **kw).cuda()
    ours = ours_cls(I, H, backend="triton", **kw).cuda()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def check() -> bool:
    """Outputs and gradients of 2-layer bidirectional cells, with lengths, against cuDNN."""
    ok = True
    for cell in CELLS:
        torch.manual_seed(0)
        ours, theirs = pair(cell, 32, 96, num_layers=2, bidirectional=True)
        x = torch.randn(30, 8, 32, device="cuda")
        lengths = torch.tensor([30, 3, 17, 1, 30, 8, 29, 12])
        results = []
        for m in (ours, theirs):
            xi = x.clone().requires_grad_()
            packed = torch.nn.utils.rnn.pack_padded_sequence(xi, lengths, enforce_sorted=False)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(m(packed)[0])
            grads = torch.autograd.grad((out * out).sum(), [xi, *m.parameters()])
            results.append([out, *grads])
        err = max((a - b).abs().max().item() for a, b in zip(*results, strict=True))
        good = err < 1e-3 and ours.last_backend == "triton"
        ok &= good
        print(f"{cell}: max |triton - cuDNN| over outputs and gradients {err:.2e}",
              "ok" if good else "MISMATCH", flush=True)  # fmt: skip
    return ok


def synced(fn):
    def run():
        fn()
        torch.cuda.synchronize()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only the parity check")
    ap.add_argument("--out", default="benchmarks/results/gpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", default="50,200")
    ap.add_argument("--batches", default="1,16,64,256")
    ap.add_argument("--hidden", default="64,256,1024")
    args = ap.parse_args()
    if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU and TRITON_INTERPRET unset")
    card = torch.cuda.get_device_name()
    print(f"{card}, torch {torch.__version__}", flush=True)
    if not check():
        sys.exit(1)
    if args.check:
        return
    rows = []
    sizes = (list(map(int, v.split(","))) for v in (args.steps, args.batches, args.hidden))
    grid = itertools.product(CELLS, *sizes)
    for cell, T, B, H in grid:
        ours, theirs = pair(cell, H, H)
        x = torch.randn(T, B, H, device="cuda")
        cases = {}
        for name, m in (("triton", ours), ("cudnn", theirs)):
            train, infer = train_and_infer(m, x)
            cases[f"{name}|train"], cases[f"{name}|infer"] = synced(train), synced(infer)
        timed = {k: v["median_s"] for k, v in interleaved(cases, rounds=args.rounds).items()}
        row = {"cell": cell, "T": T, "B": B, "H": H, **timed,
               "train_speedup": timed["cudnn|train"] / timed["triton|train"],
               "infer_speedup": timed["cudnn|infer"] / timed["triton|infer"]}  # fmt: skip
        rows.append(row)
        print(f"{cell} T={T} B={B} H={H}: triton train x{row['train_speedup']:.2f} infer "
              f"x{row['infer_speedup']:.2f} of cuDNN", flush=True)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"card": card, "rows": rows}, indent=1))
    lines = [f"{card}, torch {torch.__version__}; `python benchmarks/gpu_bench.py --out {out}`",
             "", "| point | train ms triton (cuDNN) | train speed-up | infer speed-up |",
             "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['cell']} T={r['T']} B={r['B']} H={r['H']} | "
                     f"{r['triton|train'] * 1e3:.2f} ({r['cudnn|train'] * 1e3:.2f}) | "
                     f"{r['train_speedup']:.2f} | {r['infer_speedup']:.2f} |")  # fmt: skip
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

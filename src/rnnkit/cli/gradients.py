"""``rnnkit gradients RUN_OR_CKPT --data FILE``: how gradients flow through a trained model.

Scores B windows of T tokens with a loss on the last step only, so the norm of dL/dh_t at
distance d from that step shows how far back the model's gradients reach (see
``rnnkit.diagnostics.flow`` for the definitions). Also prints the spectra of the recurrent
weights, gate saturation on the same windows, and advice where something looks wrong.
"""

from __future__ import annotations

import argparse
import json

import torch


def add_parser(sub) -> None:
    p = sub.add_parser("gradients", help="gradient flow, spectra and gate saturation",
                       description=__doc__.replace("``", "`"))
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--data", required=True, metavar="FILE_OR_FOLDER", help="UTF-8 text")
    p.add_argument("--seq-len", type=int, default=200, help="window length T [200]")
    p.add_argument("--batch-size", type=int, default=16, help="windows B [16]")
    p.add_argument("--threshold", type=float, default=0.01,
                   help="memory span threshold: fraction of the gradient at the loss [0.01]")
    p.add_argument("--seed", type=int, default=0, help="picks the windows [0]")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit import diagnostics as dg
    from rnnkit.data.text import Vocab, read_text, tokenize
    from rnnkit.errors import ConfigError, DataError
    from rnnkit.recipes.base import load_run

    for flag, value in (("--batch-size", args.batch_size), ("--seq-len", args.seq_len)):
        if value < 2:
            raise ConfigError(f"{flag} must be >= 2 (got {value})")
    if not 0 < args.threshold < 1:
        raise ConfigError(f"--threshold must be between 0 and 1 (got {args.threshold})")
    run = load_run(args.checkpoint, ("vocab",))
    model, vocab = run.model, Vocab.from_dict(run.spec)
    ids = vocab.encode(tokenize(read_text(args.data), vocab.level))
    T = args.seq_len
    if len(ids) < T + 1:
        raise DataError(f"{args.data}: needs at least {T + 1} {vocab.level} tokens for "
                        f"--seq-len {T} (has {len(ids)})")
    g = torch.Generator().manual_seed(args.seed)
    starts = torch.randint(0, len(ids) - T, (args.batch_size,), generator=g)
    x = torch.stack([ids[s : s + T] for s in starts.tolist()], dim=1)  # (T, B)
    y = torch.stack([ids[s + T] for s in starts.tolist()])  # (B,) the token after each window

    def last_step_loss():
        logits, _ = model(x)  # (T, B, V)
        return torch.nn.functional.cross_entropy(logits[-1], y)

    flow = dg.gradient_flow(model, last_step_loss, args.threshold)
    spectra = dg.recurrent_spectra(model)
    saturation = dg.gate_saturation(model, lambda: model(x))
    advice = dg.advise(flow, spectra, saturation)
    if args.json:
        print(json.dumps({
            "checkpoint": str(run.file), "loss": flow.loss,
            "layers": [{"module": k[0], "layer": k[1], "direction": k[2], "rho": f.rho,
                        "span": f.span, "ratios": f.ratios.tolist()}
                       for k, f in flow.layers.items()],
            "spectra": [vars(s) for s in spectra],
            "saturation": [vars(s) for s in saturation],
            "advice": advice,
        }, indent=2))
        return 0
    print(f"{run.file}: {args.batch_size} windows of {T} {vocab.level}s, loss on the last "
          f"step = {flow.loss:.4f} nats\n")
    print(flow.summary() + "\n")
    print(f"{'W_hh block':<22}{'sigma_max':>11}{'sigma_min':>11}{'radius':>9}")
    for s in spectra:
        radius = "-" if s.spectral_radius is None else f"{s.spectral_radius:.3f}"
        label = f"{s.module}[{s.layer}]{'.reverse' if s.direction else ''}.{s.gate}"
        print(f"{label:<22}{s.sigma_max:>11.3f}{s.sigma_min:>11.3f}{radius:>9}")
    print(f"\n{'gate':<22}{'near low':>10}{'near high':>11}{'mean':>8}")
    for s in saturation:
        label = f"{s.module}[{s.layer}]{'.reverse' if s.direction else ''}.{s.gate}"
        print(f"{label:<22}{s.low:>10.1%}{s.high:>11.1%}{s.mean:>8.3f}")
    print()
    for line in advice or ["no vanishing, exploding or saturation problem detected"]:
        print(f"- {line}")
    return 0

"""``rnnkit export RUN -o model.onnx``: a run's model as ONNX (batch and time axes dynamic,
variable lengths as a padded batch + lengths), then checked in onnxruntime against PyTorch
on two other batch sizes and lengths. A translation run exports into a folder (``-o DIR``):
encoder.onnx and decoder_step.onnx, checked by greedy decoding. ``--quantize int8`` (or
``bfloat16``) stores the recurrent layers' W_ih and W_hh in that type (a quarter / half of
their float32 bytes), turned into float32 inside the graph; the check then compares with
PyTorch computing in float32 with the same rounded weights. Needs
``pip install 'rnnkit[export]'``."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from rnnkit.recipes.export import EXPORTERS, TOLERANCE

    p = sub.add_parser("export", help="export a run's model to ONNX and check it",
                       description=__doc__.replace("``", "`"))
    p.add_argument("run_dir", metavar="RUN", help="run folder or checkpoint file")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the .onnx file; a folder for a translation run")
    p.add_argument("--exporter", choices=EXPORTERS, default="dynamo",
                   help="torch.onnx.export(dynamo=True), torch's default, or the older "
                        "TorchScript-based one (default: %(default)s)")
    p.add_argument("--quantize", default="float32", choices=("float32", "int8", "bfloat16"),
                   help="store the recurrent weights in int8 or bfloat16 (dynamo exporter; "
                        "default: %(default)s)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help="largest |onnxruntime - PyTorch| accepted (default: %(default)g)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.base import load_run
    from rnnkit.recipes.export import export_run, require_packages

    require_packages()  # before loading anything: the missing extra is the one-line answer
    if args.quantize != "float32" and args.exporter != "dynamo":
        raise ConfigError("--quantize needs --exporter dynamo: the TorchScript exporter folds "
                          "the weights back into float32 constants")
    loaded = load_run(args.run_dir, precision=args.quantize)
    if loaded.kind == "translator":
        return _export_seq2seq(loaded, args)
    checks = export_run(loaded, args.output, args.exporter, args.tolerance)
    print(f"wrote {args.output} ({loaded.kind} model of recipe {loaded.config.recipe}, "
          f"{args.exporter} exporter{_stored(args)})")
    for c in checks:
        print(f"check: onnxruntime vs PyTorch, batch {c.batch}, {c.steps} steps: "
              f"max |diff| {c.max_abs_diff:.2g}")
    return 0


def _export_seq2seq(loaded, args: argparse.Namespace) -> int:
    from rnnkit.recipes.export_seq2seq import FILES, export_run

    checks = export_run(loaded, args.output, args.exporter, args.tolerance)
    print(f"wrote {FILES[0]} and {FILES[1]} in {args.output} (translator model of recipe "
          f"{loaded.config.recipe}, {args.exporter} exporter{_stored(args)})")
    for c in checks:
        print(f"check: onnxruntime vs PyTorch greedy decoding, batch {c.batch}, {c.steps} "
              f"source tokens, {c.decoded} steps: identical tokens, max |log-prob diff| "
              f"{c.max_abs_diff:.2g}")
    return 0


def _stored(args: argparse.Namespace) -> str:
    """What the report adds for --quantize: how the recurrent weights are stored."""
    if args.quantize == "float32":
        return ""
    return f", recurrent weights stored in {args.quantize}"

"""``rnnkit predict RECIPE --fasta FILE``: apply a trained classifier or tagger to new data.

    rnnkit predict splice --fasta my.fa.gz            # newest splice run under runs/
    rnnkit predict splice --fasta my.fa --run runs/splice-seed1 --min-prob 0.9
    rnnkit predict promoters --fasta my.fa --all      # every window, background included
    rnnkit predict genes --fasta genome.fna.gz        # gene intervals (a tagger)

The recipe's reader (``READERS[recipe]["predict"]``, see ``rnnkit.recipes.genome``)
turns the file into model inputs, e.g. sliding windows over every record; each gets the
model's class and probability, printed as tab-separated lines (``--output`` writes them to
a file). Items predicted as the recipe's background class ("n" = no junction) are left out
unless ``--all``. Taggers print runs of one tag per record instead (``record start end
tag mean_probability``, 1-based inclusive). Without ``--run`` the newest run of that recipe
with a ``best.pt`` under ``--runs-dir`` is used. Splice windows are read on the given
strand only: scan the reverse complement for the other one.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from rnnkit.cli.parser import add_quantize_flag


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify a user's sequences with a trained recipe",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe whose model to use (e.g. splice, promoters)")
    p.add_argument("--fasta", "--data", dest="data", required=True, metavar="FILE",
                   help="input file (FASTA, plain or gzipped, for the genome recipes)")
    p.add_argument("--run", dest="run_path", metavar="RUN_OR_CKPT",
                   help="trained run folder or checkpoint (default: the newest run of "
                   "RECIPE under --runs-dir)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="where to look [runs]")
    p.add_argument("--all", action="store_true", help="also print background predictions")
    p.add_argument("--min-prob", type=float, default=0.5, metavar="P",
                   help="print only predictions at least this probable [0.5]")
    p.add_argument("--batch-size", type=int, default=512, help="items per forward pass [512]")
    p.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    add_quantize_flag(p)
    p.set_defaults(run=run)


def newest_run(runs_dir: str | Path, recipe: str) -> Path:
    """The most recently modified run folder of ``recipe`` (by its config.toml) with a
    best.pt, searched up to two levels below ``runs_dir``."""
    from rnnkit.errors import CheckpointError

    found = []
    for cfg_file in list(Path(runs_dir).glob("*/config.toml")) + \
            list(Path(runs_dir).glob("*/*/config.toml")):
        best = cfg_file.parent / "best.pt"
        try:
            same = tomllib.loads(cfg_file.read_text()).get("recipe") == recipe
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # a half-written or foreign folder is not a candidate
        if same and best.is_file():
            found.append((best.stat().st_mtime, cfg_file.parent))
    if not found:
        raise CheckpointError(f"no trained {recipe!r} run with a best.pt under {runs_dir}/; "
                              f"train one (rnnkit train {recipe}) or pass --run")
    return max(found)[1]


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import CheckpointError, ConfigError
    from rnnkit.recipes.base import load_run
    from rnnkit.recipes.registry import reader_for

    entry = reader_for(args.recipe, "predict")
    if not 0.0 <= args.min_prob <= 1.0:
        raise ConfigError(f"--min-prob must be in [0, 1] (got {args.min_prob})")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1 (got {args.batch_size})")
    source = args.run_path or newest_run(args.runs_dir, args.recipe)
    run = load_run(source, ("classifier", "tagger"), args.device, args.quantize)
    model, spec, cfg = run.model, run.spec, run.config
    write = write_intervals if run.kind == "tagger" else write_classes
    if cfg.recipe != args.recipe:
        raise CheckpointError(f"{source}: trained by recipe {cfg.recipe!r}, not "
                              f"{args.recipe!r}")
    out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    try:
        summary = write(model, spec, entry, args, out)
    finally:
        if out is not sys.stdout:
            out.close()
    sys.stderr.write(f"{args.data}: {summary} (model {source})\n")
    return 0


def write_classes(model, spec: dict, entry: dict, args, out) -> str:
    """Classifier: one line per item (background and improbable ones left out)."""
    from rnnkit.recipes.predict import class_probabilities

    classes = spec["classes"]
    skip = None if args.all else entry.get("background")
    counts, n_items = dict.fromkeys(classes, 0), 0
    out.write("\t".join([*entry.get("columns", ("id",)), "class", "probability",
                         *(f"p_{c}" for c in classes)]) + "\n")
    for key, row in class_probabilities(model, entry["predict"](args.data, spec),
                                        args.batch_size):
        n_items += 1
        k = int(row.argmax())
        if classes[k] == skip or float(row[k]) < args.min_prob:
            continue
        counts[classes[k]] += 1
        out.write("\t".join([*map(str, key), classes[k], f"{float(row[k]):.4f}",
                             *(f"{float(v):.4f}" for v in row)]) + "\n")
    shown = ", ".join(f"{c} {n:,}" for c, n in counts.items() if c != skip)
    return f"{n_items:,} items scored; printed: {shown or 'none'}"


def write_intervals(model, spec: dict, entry: dict, args, out) -> str:
    """Tagger: runs of one tag per record (``recipes.predict.tag_records``), printed as
    1-based inclusive intervals with their mean probability."""
    from rnnkit.recipes.predict import tag_records

    classes = spec["classes"]
    skip = None if args.all else entry.get("background")
    out.write("record\tstart\tend\ttag\tmean_probability\n")
    n_bases = n_runs = 0
    for record, bases, runs in tag_records(model, entry["predict"](args.data, spec),
                                           args.batch_size):
        n_bases += bases
        for r in runs:
            if classes[r.tag] == skip or r.mean_probability < args.min_prob:
                continue
            n_runs += 1
            out.write(f"{record}\t{r.start}\t{r.end}\t{classes[r.tag]}\t"
                      f"{r.mean_probability:.4f}\n")
    return f"{n_bases:,} bases tagged; {n_runs:,} intervals printed"

"""``rnnkit train``: a recipe plus a TOML file plus flag overrides, or ``--resume``.

    rnnkit train charlm --cell gru --hidden-size 512 --layers 2
    rnnkit train --config run.toml --name myrun
    rnnkit train --resume runs/myrun [--max-steps 20000]
    torchrun --nproc-per-node 2 -m rnnkit.cli train charlm --name ddp ...
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rnnkit.cli.parser import (
    add_config_flags,
    check_overrides,
    check_runs_dir,
    config_overrides,
)
from rnnkit.errors import CheckpointError, ConfigError

# Settings that may change on --resume without changing what the run computes. A new
# max_steps does not move the cosine horizon: the schedule's state, horizon included, comes
# back from the checkpoint (seen: a run resumed from 20,000 to 35,000 updates stayed at
# its cosine floor), so the extra updates run at the lr the schedule had reached.
RESUMABLE = {"max_steps", "max_seconds", "eval_every", "eval_tokens", "ckpt_every",
             "keep_last", "log_every", "device", "threads", "early_stop", "diagnose"}
# Data fields only the finish step reads (the judges and language models that score a
# trained model), so a finished run can be scored again with another one.
RESUMABLE_DATA = {"lm", "recogniser"}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a recipe (see `rnnkit train --help`)",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", help="recipe name (see `rnnkit train --list`) "
                   "(default: the config file's, else charlm)")
    p.add_argument("--config", metavar="FILE", help="TOML file with recipe/[model]/[data]/[train]")
    p.add_argument("--name", help="run folder name under --runs-dir (default: recipe-cell-time)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="parent of run folders")
    p.add_argument("--resume", metavar="RUN_OR_CKPT",
                   help="continue a run exactly from its newest checkpoint that loads "
                   "(a damaged newer one is skipped and named), or from this file")
    p.add_argument("--smoke", action="store_true",
                   help="the recipe's seconds-long configuration (for checks and tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config as TOML and exit (nothing is trained)")
    add_config_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.recipes import registry
    from rnnkit.train import checkpoint as ckpt_io
    from rnnkit.train.config import RunConfig, read_toml

    if args.list:
        for recipe in registry.all_recipes().values():
            print(f"{recipe.name:<16}{recipe.summary}")
            if recipe.target is not None:
                print(f"{'':<16}target: {recipe.target.text} ({recipe.target.budget})")
        return 0
    overrides = config_overrides(args)
    check_overrides(overrides)
    if args.resume:
        if args.config or args.recipe or args.smoke:
            raise ConfigError("--resume takes its config from the checkpoint; "
                              "drop the recipe, --config and --smoke")
        if Path(args.resume).is_dir():  # its newest checkpoint that loads
            ckpt_file, ck, skipped = ckpt_io.newest_loadable(Path(args.resume))
            for line in skipped:
                print(f"skipped {line}")
        else:  # a file named on purpose: never fall back silently to another one
            ckpt_file = ckpt_io.resolve(args.resume)
            ck = ckpt_io.load(ckpt_file)
        cfg = RunConfig.from_dict(ck["config"], source=str(ckpt_file))
        allowed = {"train": RESUMABLE, "data": RESUMABLE_DATA}
        fixed = [f"--{k.replace('_', '-')}" for s, v in overrides.items() for k in v
                 if k not in allowed.get(s, ())]
        if fixed:
            raise ConfigError(f"cannot change {', '.join(fixed)} when resuming (allowed: "
                              f"{', '.join(sorted(RESUMABLE | RESUMABLE_DATA))})")
        cfg.apply(overrides, source="command line")
        cfg.validate()
        run_dir = ckpt_file.parent
        print(f"resuming {run_dir} from {ckpt_file.name} (step {ck['step']})")
    else:
        file_cfg = read_toml(args.config) if args.config else {}
        name = args.recipe or file_cfg.get("recipe") or "charlm"
        cfg = registry.resolve(name, smoke=args.smoke, file_overrides=file_cfg,
                              cli_overrides=overrides, source=str(args.config))
        run_dir = check_runs_dir(args.runs_dir, args.name or _default_name(cfg))
        if os.environ.get("RANK", "0") == "0" and ckpt_io.list_checkpoints(run_dir):
            raise CheckpointError(f"{run_dir}: run already exists; continue it with "
                                  f"--resume {run_dir} or pick another --name")
        ckpt_file = None
        # Absolute data paths in the saved config, so it repeats from any folder.
        for key in ("data", "valid_data"):
            value = getattr(cfg.data, key)
            if value is not None:
                setattr(cfg.data, key, str(Path(value).expanduser().resolve()))
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not args.name:
            raise ConfigError("--name is required under torchrun (all processes must agree)")
    if args.print_config:
        from rnnkit.train.config import to_toml

        print(to_toml(cfg), end="")
        return 0
    recipe = registry.get(cfg.recipe)
    result = recipe.run(cfg, run_dir, resume_from=ckpt_file, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":
        _summary(result)
    return 130 if result.fit.stopped == "interrupted" else 0


def _default_name(cfg) -> str:
    return f"{cfg.recipe}-{cfg.model.cell}-{time.strftime('%Y%m%d-%H%M%S')}"


def _summary(result) -> None:
    from rnnkit.train.diagnose import read_diagnostics, warnings_from

    fit = result.fit
    print(f"stopped by {fit.stopped} at step {fit.steps} after {fit.elapsed_s:.0f} s")
    for line in result.summary():
        print(line)
    for line in warnings_from(read_diagnostics(result.run_dir / "diagnostics.jsonl")):
        print(f"warning: {line}")
    if fit.last_checkpoint is not None:
        print(f"checkpoint: {fit.last_checkpoint}")
    print(f"run folder: {result.run_dir} (report.md, loss.png, metrics.jsonl)")
    if fit.stopped == "interrupted":
        print(f"resume with: rnnkit train --resume {result.run_dir}")

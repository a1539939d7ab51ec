"""The one way a study trains its runs: each run folder is trained once; starting the
study again skips finished runs (their ``result.json`` exists) and resumes unfinished ones
from their newest checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.recipes.base import Recipe
from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.config import RunConfig


def train_once(recipe: Recipe, cfg: RunConfig, run_dir: Path, *, progress: bool = False,
               log=print) -> None:
    """Train ``recipe`` with ``cfg`` in ``run_dir`` unless it finished before; resume it
    from its newest checkpoint if it started before."""
    if (run_dir / "result.json").is_file():
        log(f"{run_dir.name}: done before")
        return
    found = ckpt_io.list_checkpoints(run_dir)
    log(f"{run_dir.name}: {'resuming from ' + found[-1].name if found else 'training'}")
    recipe.run(cfg, run_dir, progress=progress, resume_from=found[-1] if found else None)


def train_grid(recipe: Recipe, out_dir: Path, seeds, variants, config, *, prefix: str = "",
               progress: bool = False, log=print) -> dict[str, dict[int, Path]]:
    """Each variant with each seed, once (``train_once``), in
    ``out_dir/<prefix><variant>-seed<N>``; ``config(variant, seed)`` gives its config.
    Returns the run folders by variant and seed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[int, Path]] = {v: {} for v in variants}
    for seed in seeds:
        for variant in variants:
            run_dir = out_dir / f"{prefix}{variant}-seed{seed}"
            runs[variant][seed] = run_dir
            train_once(recipe, config(variant, seed), run_dir, progress=progress, log=log)
    return runs


def run_study(recipe: Recipe, out_dir: Path, seeds, variants, config, tabulate, markdown, *,
              prefix: str = "", progress: bool = False, log=print) -> dict:
    """Train what is missing (``train_grid``), then ``tabulate(runs) -> results`` and write
    them with ``markdown(results)`` (``write_results``); returns the results."""
    runs = train_grid(recipe, out_dir, seeds, variants, config, prefix=prefix,
                      progress=progress, log=log)
    results = tabulate(runs)
    write_results(out_dir, results, markdown(results))
    return results


COST = ("parameters", "steps", "cpu_s", "wall_s", "processor", "threads")


def study_rows(runs: dict[str, dict[int, Path]], metrics, *, key: str = "variant",
               extra=None) -> list[dict]:
    """One row per run of a study, read from its result.json: the variant (under ``key``),
    seed and folder, the named ``metrics``, ``extra(record)``'s fields, size and cost."""
    rows = []
    for variant, by_seed in runs.items():
        for seed, run_dir in sorted(by_seed.items()):
            r = json.loads((run_dir / "result.json").read_text())
            rows.append({key: variant, "seed": seed, "run": run_dir.name,
                         **{k: r["metrics"][k] for k in metrics},
                         **(extra(r) if extra is not None else {}),
                         **{k: r[k] for k in COST}})
    return rows


def write_results(out_dir: Path, results: dict, text: str) -> None:
    """A study's ``results.json`` and ``results.md``."""
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / "results.md").write_text(text + "\n")


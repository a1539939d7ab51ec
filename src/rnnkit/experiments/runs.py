"""The one way a study trains its runs: each run folder is trained once; starting the
study again skips finished runs (their ``result.json`` exists) and resumes unfinished ones
from their newest checkpoint."""

from __future__ import annotations

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

"""Recipe registry: name -> defaults, smoke config and runner. A recipe is a task plus
defaults; every recipe trains through the same loop (``rnnkit.train``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnnkit.tasks import charlm, demo
from rnnkit.tasks.runner import run_recipe
from rnnkit.train.config import RunConfig
from rnnkit.train.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    defaults: dict[str, Any]
    smoke: dict[str, Any]
    # run(cfg, run_dir, *, resume_from, progress, should_stop) -> result with .fit, .summary()
    run: Callable[..., Any] = charlm.run


def from_module(name: str, module, summary: str) -> Recipe:
    """A recipe from a module with DEFAULTS, SMOKE and ``build(cfg) -> runner.Setup``."""
    def run(cfg, run_dir, **kw):
        return run_recipe(cfg, run_dir, module.build, **kw)

    return Recipe(name, summary, module.DEFAULTS, module.SMOKE, run)


RECIPES = {
    "charlm": Recipe("charlm", "character/word language model on UTF-8 text "
                     "(default: shipped Shakespeare, 2x384 LSTM, <= 2 h)",
                     charlm.DEFAULTS, charlm.SMOKE),
    "demo": Recipe("demo", "the 3-minute Shakespeare char-LSTM behind `rnnkit demo`",
                   demo.DEFAULTS, charlm.SMOKE),
}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r} (available: {', '.join(RECIPES)})")
    return RECIPES[name]


def resolve(name: str, *, smoke: bool = False, file_overrides: dict | None = None,
            cli_overrides: dict | None = None, source: str = "config") -> RunConfig:
    """defaults < recipe < (smoke) < TOML file < command line; then validated."""
    recipe = get(name)
    cfg = RunConfig(recipe=name)
    cfg.apply(copy.deepcopy(recipe.defaults), source=f"recipe {name}")
    if smoke:
        cfg.apply(copy.deepcopy(recipe.smoke), source=f"recipe {name} (smoke)")
    if file_overrides:
        cfg.apply(file_overrides, source=source)
        cfg.recipe = name
    if cli_overrides:
        cfg.apply(cli_overrides, source="command line")
    cfg.validate()
    return cfg

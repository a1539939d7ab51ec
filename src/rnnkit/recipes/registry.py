"""The one flat recipe registry. Each field package (``rnnkit.recipes.<field>``) calls
``register`` for its recipes when imported; ``all_recipes()`` imports every field once.

    defaults < recipe < (smoke) < TOML file < command line     (``resolve``)
"""

from __future__ import annotations

import copy
import importlib

from rnnkit.errors import ConfigError
from rnnkit.recipes.base import Recipe
from rnnkit.train.config import RunConfig

# Field packages, in the order `rnnkit train --list` shows them.
FIELDS = ("text", "memory", "genome", "handwriting", "speech", "synthesis", "timeseries",
          "translation", "music")

_RECIPES: dict[str, Recipe] = {}


def register(*recipes: Recipe) -> None:
    """Add recipes to the registry (each name once)."""
    for recipe in recipes:
        assert recipe.name not in _RECIPES, f"recipe {recipe.name!r} is defined twice"
        _RECIPES[recipe.name] = recipe


def all_recipes() -> dict[str, Recipe]:
    """Every recipe by name (imports the field packages on first use)."""
    for name in FIELDS:
        importlib.import_module(f"rnnkit.recipes.{name}")
    return _RECIPES


def get(name: str) -> Recipe:
    """The recipe called ``name``; ConfigError listing the choices otherwise."""
    recipes = all_recipes()
    if name not in recipes:
        raise ConfigError(f"unknown recipe {name!r} (choose from: {', '.join(recipes)})")
    return recipes[name]


def reader_for(recipe: str, kind: str) -> dict:
    """The recipe's readers of a user's files (``rnnkit predict`` / ``eval``), which must
    include ``kind`` ("predict" or "labelled"); ConfigError naming the recipes that do."""
    entry = (get(recipe).readers or {})
    if kind not in entry:
        have = sorted(n for n, r in all_recipes().items() if kind in (r.readers or {}))
        raise ConfigError(f"recipe {recipe!r} has no {kind} reader (recipes with one: "
                          f"{', '.join(have) or 'none'})")
    return entry


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

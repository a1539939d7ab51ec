"""Recipe registry: name -> defaults, smoke config and runner. A recipe is a task plus
defaults; every recipe trains through the same loop (``rnnkit.train``).

Language models live in ``charlm``/``demo``; the memory benchmarks in ``memory_recipes``;
classification and tagging on real data in ``sequence_recipes`` (each exports ``RECIPES``).
"""

from __future__ import annotations

import copy

from rnnkit.tasks import charlm, demo, memory_recipes, sequence_recipes
from rnnkit.tasks.runner import Recipe
from rnnkit.train.config import RunConfig
from rnnkit.train.errors import ConfigError

RECIPES = {
    "charlm": Recipe("charlm", "character/word language model on UTF-8 text "
                     "(default: shipped Shakespeare, 2x384 LSTM, <= 2 h)",
                     charlm.DEFAULTS, charlm.SMOKE, charlm.run),
    "demo": Recipe("demo", "the 3-minute Shakespeare char-LSTM behind `rnnkit demo`",
                   demo.DEFAULTS, charlm.SMOKE, charlm.run),
}
for _module in (memory_recipes, sequence_recipes):
    for _name, _recipe in _module.RECIPES.items():
        assert _name not in RECIPES, f"recipe {_name!r} is defined twice"
        RECIPES[_name] = _recipe


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

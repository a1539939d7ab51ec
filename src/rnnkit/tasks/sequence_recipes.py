"""Sequence classification / tagging recipes on real data (issue #6), gathered from
``genome_recipes`` (DNA) and ``signal_recipes`` (handwriting, speech, time series).

Each of those modules exports ``RECIPES`` (name -> ``runner.Recipe``) and may export
``READERS`` (name -> function reading a user's file or folder into model inputs, for
``rnnkit predict`` / ``rnnkit eval``).
"""

from rnnkit.tasks import genome_recipes, signal_recipes

RECIPES: dict = {**genome_recipes.RECIPES}
READERS: dict = {**getattr(genome_recipes, "READERS", {})}
for _module in (signal_recipes,):
    for _name in _module.RECIPES:
        assert _name not in RECIPES, f"recipe {_name!r} is defined twice"
    RECIPES.update(_module.RECIPES)
    READERS.update(getattr(_module, "READERS", {}))

"""Long-range memory recipes (adding, copy, temporal order, pixel digits). Filled in by
issue #5's work; ``recipes.py`` merges ``RECIPES`` into the registry."""

RECIPES: dict = {}

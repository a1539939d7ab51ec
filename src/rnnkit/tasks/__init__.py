"""Recipes: one module per task with its defaults, a seconds-long smoke config and a
target; ``recipes.RECIPES`` lists them. Models and the sampler are shared."""

"""Memory: long-range dependency benchmarks (adding, copy, temporal order, pixel digits)."""

from rnnkit.recipes.memory import tasks
from rnnkit.recipes.registry import register

register(*tasks.RECIPES)

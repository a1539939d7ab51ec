"""Music: ``music``, polyphonic piano rolls (Bach chorales, the JSB benchmark, MIDI)."""

from rnnkit.recipes.base import Recipe
from rnnkit.recipes.music import compose
from rnnkit.recipes.registry import register

register(
    Recipe("music", "polyphonic music: frame RNN + joint output over the keys; chorales, JSB, MIDI",
           compose.DEFAULTS, compose.SMOKE, compose.build, target=compose.TARGET),
)

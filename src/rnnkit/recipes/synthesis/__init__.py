"""Synthesis: ``tts``, text to speech with an attention RNN."""

from rnnkit.recipes.base import Recipe
from rnnkit.recipes.registry import register
from rnnkit.recipes.synthesis import tts

register(
    Recipe("tts", "text to speech: Tacotron-style attention RNN + Griffin-Lim (default: "
           "flite's slt voice reading the fillets-ng English dialogue; --data list.tsv)",
           tts.DEFAULTS, tts.SMOKE, tts.build, tts.TARGET),
)

"""Translation: ``translate``, an RNN encoder-decoder with attention on sentence pairs."""

from rnnkit.recipes.base import Recipe
from rnnkit.recipes.registry import register
from rnnkit.recipes.translation import translate

register(
    Recipe("translate", "sentence translation: RNN encoder-decoder with attention, beam "
           "search (default: fillets-ng dialogue en-de; --data pairs.tsv)",
           translate.DEFAULTS, translate.SMOKE, translate.build, translate.TARGET),
)

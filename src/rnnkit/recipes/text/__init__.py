"""Text: language models on UTF-8 text (``charlm``) and the 3-minute ``demo``."""

from rnnkit.recipes.base import Recipe
from rnnkit.recipes.registry import register
from rnnkit.recipes.text import charlm, demo

register(
    Recipe("charlm", "character/word language model on UTF-8 text "
           "(default: shipped Shakespeare, 2x384 LSTM, <= 2 h)",
           charlm.DEFAULTS, charlm.SMOKE, charlm.build, charlm.TARGET),
    Recipe("demo", "the 3-minute Shakespeare char-LSTM behind `rnnkit demo`",
           demo.DEFAULTS, charlm.SMOKE, charlm.build, demo.TARGET),
)

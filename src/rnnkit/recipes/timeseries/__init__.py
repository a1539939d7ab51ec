"""Time series: ``vowels``, JapaneseVowels speaker identification."""

from rnnkit.data import readers
from rnnkit.recipes.classify import signal_recipe
from rnnkit.recipes.registry import register
from rnnkit.recipes.result import Target
from rnnkit.recipes.timeseries import vowels

register(
    signal_recipe("vowels", "JapaneseVowels speaker identification (aeon), 270/370 split",
                  vowels.build_vowels, {"hidden_size": 64, "embed_size": 32, "dropout": 0.1},
                  {"batch_size": 16, "lr": 3e-3, "max_steps": 1000, "eval_every": 50},
                  target=Target("test_accuracy", ">", 0.941,
                                "beat Kudo et al. 1999 on the same split (94.1%)",
                                budget="1,000 updates", hours=0.05),
                  readers=readers.reader(readers.TS)),
)

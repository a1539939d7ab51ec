"""Speech: ``words``, spoken letters A-Z from one speaker to another; ``asr``, sentence
recognition with CTC."""

from rnnkit.data import readers
from rnnkit.recipes.base import Recipe
from rnnkit.recipes.classify import signal_recipe
from rnnkit.recipes.registry import register
from rnnkit.recipes.result import Target
from rnnkit.recipes.speech import asr, words

register(
    signal_recipe("words", "spoken letters A-Z, held-out speaker (klettres; or --data "
                  "FOLDER of clips)", words.build_words,
                  {"hidden_size": 96, "embed_size": 64, "dropout": 0.2},
                  {"batch_size": 16, "lr": 2e-3, "max_steps": 1500, "eval_every": 100},
                  # DTW reads 15 of the 26 test letters; beating it is reading 16
                  target=Target("test_accuracy", ">", 15 / 26,
                                "beat 1-NN DTW template matching on the klettres voice "
                                "(57.69%, 15 of 26)",
                                budget="1,500 updates", hours=0.3),
                  readers=readers.reader(readers.AUDIO)),
    Recipe("asr", "speech recognition: stacked bidirectional RNN with CTC, beam search and "
           "LM fusion (default: fillets-ng Dutch recordings; --lang cs; --data list.tsv)",
           asr.DEFAULTS, asr.SMOKE, asr.build, asr.TARGET),
)

"""Handwriting: ``lasa`` (LASA motions), ``strokes`` (characters from their strokes) and
``handwriting`` (writing characters)."""

from rnnkit.data import readers
from rnnkit.recipes.base import Recipe
from rnnkit.recipes.classify import signal_recipe
from rnnkit.recipes.handwriting import strokes, writer
from rnnkit.recipes.registry import register
from rnnkit.recipes.result import Target

register(
    signal_recipe("lasa", "LASA handwritten motions (30 shapes), held-out demonstrations",
                  strokes.build_lasa, {"hidden_size": 64, "embed_size": 32, "dropout": 0.1},
                  {"batch_size": 16, "lr": 3e-3, "max_steps": 1500, "eval_every": 100},
                  target=Target("test_accuracy", ">=", 0.95, "test accuracy >= 95% (issue 6)",
                                budget="1,500 updates", hours=0.1),
                  readers=readers.reader(readers.STROKES)),
    signal_recipe("strokes", "200 characters from their strokes: KanjiVG -> "
                  "hanzi-writer-data (or --data FOLDER of stroke files)", strokes.build_strokes,
                  {"hidden_size": 96, "embed_size": 32, "dropout": 0.2},
                  {"batch_size": 32, "lr": 3e-3, "max_steps": 2000, "eval_every": 200},
                  target=Target("test_accuracy", ">", 0.34,
                                "beat the 1-nearest-neighbour template (34.0%)",
                                budget="2,000 updates", hours=0.5),
                  readers=readers.reader(readers.STROKES)),
    Recipe("handwriting", "write characters: a mixture-density RNN conditioned on the "
           "character; KanjiVG -> hanzi-writer-data (or --data FOLDER)",
           writer.DEFAULTS, writer.SMOKE, writer.build, target=writer.TARGET),
)

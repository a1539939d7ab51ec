"""Each recipe's stated target, checked by training it with its own defaults and budget.

Not part of `make test` (minutes to hours each): run them with ``pytest -m target``, one
recipe with ``pytest -m target -k splice``. A recipe whose data is not installed is
skipped with the recipe's own message saying how to get it; ``RNNKIT_TARGET_DATA_<NAME>``
(e.g. ``RNNKIT_TARGET_DATA_WORDS=/data/klettres``) passes ``--data`` for those that need it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rnnkit.errors import DataError
from rnnkit.recipes import registry

# Targets the recipe's defaults are known not to reach (docs/RESULTS.md, docs/MEMORY.md):
# they run, and pass only if that changes.
KNOWN_MISSES = {
    "copy": "the LSTM needs a decayed lr and ~42,000 updates at T = 100 (docs/MEMORY.md)",
    "temporal": "the LSTM stays at chance at T = 100 within the budget (docs/MEMORY.md)",
    "words": "46.2% (seeds 1-3) vs 57.7% for DTW template matching on the held-out speaker",
    "promoters": "13 and 9 leave-one-out errors with seeds 1 and 2 against backprop's 8",
    "translate": "no model beats copying the source on 1,566 training pairs (RESULTS)",
    "pdigits": "87.08% at the default seed 1234 (measured 2026-12-06; 92.20% at seed 1)",
    "handwriting": "2.0% of generated characters recognised at bias 1, seed 1 (RESULTS)",
    "asr": "65% validation CER after 6,000 of 20,000 updates, seed 1 (issue 20 notes)",
}
# --data for recipes whose target is on a benchmark that is not shipped, where ../shared
# holds it (RNNKIT_TARGET_DATA_<NAME> still wins).
SHARED_DATA = {"music": Path(__file__).resolve().parents[2] / "shared" / "data"
               / "jsb-chorales-quarter.json"}
# Recipes whose target is judged by another recipe's trained model: (that recipe, the data
# config field that names its run, the judge's own data settings). The other recipe is
# trained first, on the same data.
JUDGED_BY = {"handwriting": ("strokes", "recogniser", {}),
             "tts": ("asr", "recogniser", {"lang": "en"})}  # flite's voice, as the teacher
WITH_TARGET = [name for name, r in registry.all_recipes().items() if r.target is not None]


def params():
    for name in WITH_TARGET:
        marks = [pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=False)] \
            if name in KNOWN_MISSES else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.target
@pytest.mark.parametrize("name", list(params()))
def test_recipe_meets_its_target(name, tmp_path, torch_globals):
    recipe = registry.get(name)
    data = os.environ.get(f"RNNKIT_TARGET_DATA_{name.upper()}")
    if data is None and name in SHARED_DATA:
        if not SHARED_DATA[name].is_file():
            pytest.skip(f"{name}: its target is on data not shipped ({SHARED_DATA[name]}); "
                        f"set RNNKIT_TARGET_DATA_{name.upper()}")
        data = str(SHARED_DATA[name])
    data_over = {"data": data} if data else {}
    try:
        if name in JUDGED_BY:
            judge, field, judge_data = JUDGED_BY[name]
            judge_cfg = registry.resolve(judge, cli_overrides={"data": {**data_over,
                                                                       **judge_data}})
            registry.get(judge).run(judge_cfg, tmp_path / judge, progress=False)
            data_over[field] = str(tmp_path / judge)
        cfg = registry.resolve(name, cli_overrides={"data": data_over} if data_over else None)
        result = recipe.run(cfg, tmp_path / name, progress=False)
    except DataError as e:
        pytest.skip(f"{name}: data not installed: {e}")
    met = recipe.target.met(result.outcome.metrics)
    assert met, (f"{name}: {recipe.target.text} not met within {recipe.target.budget}: "
                 f"{result.outcome.metrics}")


def test_every_recipe_states_a_target():
    missing = [n for n, r in registry.all_recipes().items() if r.target is None]
    assert not missing, f"recipes without a target: {missing}"

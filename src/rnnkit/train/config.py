"""Run configuration: three small sections (model, data, train) plus the recipe name.

A run is resolved in layers, later ones winning:
    dataclass defaults < recipe defaults < TOML file (``--config``) < command-line flags.
The resolved config is written to ``runs/<name>/config.toml`` and is enough to repeat
the run (``rnnkit train --config runs/<name>/config.toml``).

Every field carries its help text and its check, so the CLI flags, the TOML reader and
the error messages are all generated from this one table.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.backends import BACKEND_CHOICES
from rnnkit.errors import ConfigError, unknown_name


def opt(default, help: str, *, flag: str | None = None, check=None, choices=None, parse=None):
    """A config field with its CLI help, optional flag name, check, allowed values and a
    ``parse`` for string spellings beyond the plain type (e.g. ``every=50``)."""
    meta = {"help": help, "flag": flag, "check": check, "choices": choices, "parse": parse}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Check:
    """A predicate on a value and how to say it in an error message."""

    ok: object  # Callable[[value], bool]
    says: str

    def __call__(self, x) -> bool:
        return bool(self.ok(x))


def parse_every(text: str):
    """``every=N`` (or plain ``N``) -> N; anything else is returned for ``coerce`` to reject."""
    key, sep, value = text.partition("=")
    return value.strip() if sep and key.strip() == "every" else text


positive = Check(lambda x: x > 0, "must be > 0")
non_negative = Check(lambda x: x >= 0, "must be >= 0")
fraction = Check(lambda x: 0.0 <= x < 1.0, "must be in [0, 1)")
open_unit = Check(lambda x: 0.0 < x < 1.0, "must be in (0, 1)")


@dataclass
class ModelConfig:
    """Embedding -> recurrent stack -> linear decoder."""

    cell: str = opt("lstm", "recurrent cell (mgu, lstm_cifg: gated cells on generated kernels)",
                    choices=("lstm", "gru", "rnn_tanh", "rnn_relu", "mgu", "lstm_cifg"))
    hidden_size: int = opt(256, "hidden units per layer", check=positive)
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers", check=positive)
    embed_size: int = opt(64, "token embedding width", check=positive)
    # Dropout between layers and before the decoder (Zaremba et al. 2014, sec. 3):
    # never on the recurrent connections, so the carried state is not corrupted.
    dropout: float = opt(0.0, "dropout between layers and before the decoder", check=fraction)
    backend: str = opt("auto", "rnnkit layer backend (passed to rnnkit.LSTM etc.)",
                       choices=BACKEND_CHOICES)
    bidirectional: bool = opt(False, "sequence recipes: read each sequence both ways")
    pooling: str = opt("last", "sequence classifiers: how steps become one vector",
                       choices=("last", "mean", "max", "attention", "steps"))
    recurrent_init: str = opt("default", "recurrent weights: torch's uniform or orthogonal",
                              choices=("default", "orthogonal"))
    forget_bias: float | None = opt(None, "LSTM: initial forget-gate bias (e.g. 1.0)",
                                    check=non_negative)
    arch: str = opt("rnn", "translation: recurrent encoder-decoder or the Transformer "
                    "baseline; tts: Tacotron (rnn) or characters held for durations from an "
                    "aligner (durations, with --aligner)",
                    choices=("rnn", "transformer", "durations"))
    attention: str = opt("bahdanau", "translation: decoder attention over the source",
                         choices=("bahdanau", "luong_general", "luong_dot", "none"))
    input_feeding: bool = opt(True, "translation: feed the last attentional vector to the "
                              "decoder's next input (Luong et al. 2015, sec. 3.3)")
    tie_embeddings: bool = opt(False, "translation: share the target embedding with the "
                               "output layer")
    copy: bool = opt(False, "translation: copy source tokens through attention "
                     "(pointer-generator, See et al. 2017; one vocabulary for both sides)")
    frame_output: str = opt("independent", "music: a Bernoulli per key, or the keys of a "
                            "frame jointly: a NADE (RNN-NADE) or a GRU across the keys",
                            choices=("independent", "nade", "notes"))
    nade_hidden: int = opt(150, "music: hidden units of the joint output (NADE or notes GRU)",
                           check=positive)
    components: int = opt(20, "handwriting: bivariate normals in the output mixture "
                           "(Graves 2013: 20)", check=positive)
    window: int = opt(0, "handwriting: 0 = recurrent layers; K > 0 = no recurrence, a "
                      "feed-forward net over the last K points (the ablation)",
                      check=non_negative)
    subsample: int = opt(1, "speech recognition: stack this many feature frames into one "
                         "recurrent step (the input gets this many times shorter)",
                         check=positive)


@dataclass
class DataConfig:
    """Where the text comes from and how it is tokenised and split."""

    data: str | None = opt(None, "UTF-8 text file or folder (default: shipped Shakespeare)")
    valid_data: str | None = opt(None, "separate validation text (default: tail of --data)")
    level: str = opt("char", "tokenise into characters, words or subwords (translation)",
                     choices=("char", "word", "subword"))
    vocab_size: int = opt(
        10000, "word level: keep this many most frequent words (+<unk>); subword level: "
        "sentencepiece vocabulary per language", check=positive
    )
    pair: str | None = opt(None, "translation: source-target languages, e.g. en-fr")
    extra_pairs: str | None = opt(None, "translation: more training pairs, comma-separated: "
                                  "TSV files and/or game dialogue from Debian packages, "
                                  "'wesnoth' (Battle for Wesnoth's campaigns), 'freedroid' "
                                  "(FreedroidRPG's NPCs), 'widelands' (Widelands' campaigns "
                                  "and tutorials); validation and test stay as they were")
    # The validation set is the contiguous tail of the text: with a random split,
    # neighbouring sentences of one speech would sit in both sets.
    valid_fraction: float = opt(0.05, "fraction of the text held out for validation",
                                check=open_unit)
    length: int | None = opt(None, "generated tasks: sequence length or lag T; translation: "
                             "longest sentence in tokens", check=positive)
    steps_per_quarter: int = opt(1, "music: MIDI quantisation grid, steps per quarter note",
                                 check=positive)
    transpose: str = opt("c", "music: transpose MIDI pieces to C major / C minor, or not",
                         choices=("c", "none"))
    folds: int | None = opt(None, "cross-validation recipes: run only this many folds, "
                            "evenly spread (default: all)", check=positive)
    holdout: str = opt("drawings", "handwriting: hold out drawings of the trained characters "
                       "(the model writes a requested character) or whole characters (an "
                       "unconditional model, scored on characters it never saw)",
                       choices=("drawings", "characters"))
    copies: int | None = opt(None, "strokes, handwriting: distorted copies of each training "
                             "drawing (default: the recipe's; 24 of each KanjiVG character)",
                             check=non_negative)
    stroke_shift: float = opt(0.0, "handwriting: move each stroke of the training copies "
                              "by up to this much on its own (box units, the box is 2 "
                              "wide), so strokes are placed in the box, not relative to "
                              "the stroke before (the handwriting recipe's default: 0.1)",
                              check=non_negative)
    recogniser: str | None = opt(None, "handwriting: a trained strokes run (folder or "
                                 "checkpoint) that reads the generated characters")
    aligner: str | None = opt(None, "tts --arch durations: a trained asr run (CTC forced "
                              "alignment) or tts run (Tacotron attention) that gives each "
                              "character's duration")
    lang: str | None = opt(None, "speech: language of the fillets-ng recordings (nl, cs; "
                           "en: flite's voice; nl+cs: Czech as extra training data)")
    lm: str | None = opt(None, "speech recognition: a charlm run (folder or checkpoint) for "
                         "shallow fusion in beam search")
    spec_augment: bool = opt(True, "speech recognition: mask random time spans and mel "
                             "bands of the training features (SpecAugment)")
    synthetic_voices: str | None = opt(None, "words: also train on the letter names spoken "
                                       "by synthesisers, comma-separated engine:voice "
                                       "(flite:awb, espeak-ng:en-gb, ...) or 'all' (every "
                                       "English voice of flite and espeak-ng); the test "
                                       "speaker stays real")
    speed_perturb: bool = opt(False, "speech recognition: add copies of the training clips "
                              "played at 0.9x and 1.1x speed")


@dataclass
class TrainConfig:
    """The training loop: TBPTT windows, optimiser, schedule, clipping, stopping, saving."""

    batch_size: int = opt(32, "parallel contiguous streams B (global, across processes)",
                          check=positive)
    seq_len: int = opt(64, "k2: how many steps back gradients flow (window length)",
                       flag="seq-len", check=positive)
    k1: int | None = opt(None, "k1: new tokens per update (default: = seq-len, char-rnn style)",
                         check=positive)
    optimizer: str = opt("adam", "optimiser", choices=("sgd", "adam", "adamw"))
    lr: float = opt(2e-3, "peak learning rate", check=positive)
    momentum: float = opt(0.0, "SGD momentum", check=fraction)
    weight_decay: float = opt(0.0, "weight decay (decoupled for adamw)", check=non_negative)
    schedule: str = opt("cosine", "learning-rate schedule",
                        choices=("constant", "cosine", "step", "plateau"))
    warmup_steps: int = opt(100, "linear warm-up steps (cosine)", check=non_negative)
    # "time" measures cosine progress by max(step/max_steps, elapsed/max_seconds), so a
    # time-bounded run (the demo) finishes its decay on a slow or busy machine too, at the
    # price of bitwise repeatability (the step count already depends on the clock there).
    schedule_clock: str = opt("steps", "cosine progress by update count or by max-seconds",
                              choices=("steps", "time"))
    min_lr_ratio: float = opt(0.1, "cosine floor as a fraction of --lr", check=fraction)
    step_size: int = opt(1000, "step schedule: steps between decays", check=positive)
    gamma: float = opt(0.5, "step/plateau schedule: decay factor", check=open_unit)
    plateau_patience: int = opt(2, "plateau schedule: evaluations without improvement",
                                check=non_negative)
    clip_norm: float | None = opt(5.0, "clip the global gradient norm to this", check=positive)
    label_smoothing: float = opt(0.0, "translation: train towards targets with this much "
                                 "probability spread over the vocabulary (Szegedy et al. "
                                 "2016); validation loss stays unsmoothed", check=fraction)
    scheduled_sampling: float = opt(0.0, "tts: the probability that a decoder step reads "
                                    "its own previous frame instead of the recorded one "
                                    "(Bengio et al. 2015); validation stays teacher-forced",
                                    check=fraction)
    init_from: str | None = opt(None, "start from the weights of this run (folder or "
                                "checkpoint) instead of random ones: fine-tuning; the model "
                                "and its data description must be the same")
    clip_value: float | None = opt(None, "clip each gradient element to +-this", check=positive)
    max_steps: int = opt(2000, "optimiser updates (also the cosine horizon)", check=positive)
    max_seconds: float | None = opt(None, "stop after this much training time",
                                    check=positive)
    eval_every: int = opt(200, "steps between validation passes", check=positive)
    eval_tokens: int | None = opt(None, "cap on validation tokens per pass (default: all)",
                                  check=positive)
    early_stop: int | None = opt(None, "stop after this many evaluations without improvement",
                                 check=positive)
    ckpt_every: int = opt(500, "steps between checkpoints", check=positive)
    keep_last: int = opt(3, "checkpoints to keep", check=positive)
    log_every: int = opt(10, "steps between metrics lines", check=positive)
    seed: int = opt(1234, "seed for every random number generator", check=non_negative)
    device: str = opt("cpu", "device", choices=("cpu", "cuda", "auto"))
    threads: int | None = opt(None, "torch intra-op threads (default: torch's choice)",
                              check=positive)
    diagnose: int | None = opt(None, "every=N: record gradient flow through time, gate "
                               "saturation and spectra every N updates (diagnostics.jsonl, "
                               "report heat-map)", check=positive, parse=parse_every)

    @property
    def k1_steps(self) -> int:
        return self.seq_len if self.k1 is None else self.k1


SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


@dataclass
class RunConfig:
    """Everything that defines a run. ``recipe`` names the task in ``rnnkit.tasks``."""

    recipe: str = "charlm"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (str/int/float/bool/None only): safe for ``weights_only`` loading."""
        return {"recipe": self.recipe, **{s: dataclasses.asdict(getattr(self, s))
                                          for s in SECTIONS}}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config") -> RunConfig:
        cfg = cls()
        cfg.apply(d, source=source)
        return cfg

    def apply(self, d: dict[str, Any], *, source: str) -> None:
        """Overlay a nested dict like the TOML file's onto this config, checking every key."""
        for key, value in d.items():
            if key == "recipe":
                if not isinstance(value, str):
                    raise ConfigError(f"{source}: 'recipe' must be a string")
                self.recipe = value
            elif key in SECTIONS:
                if not isinstance(value, dict):
                    raise ConfigError(f"{source}: [{key}] must be a table")
                section = getattr(self, key)
                for name, v in value.items():
                    set_field(section, name, v, source=f"{source}: {key}.{name}")
            else:
                raise ConfigError(f"{source}: unknown key {key!r} "
                                  f"(expected recipe, {', '.join(SECTIONS)})")

    def validate(self) -> None:
        """Check every field against its metadata; raise ConfigError naming the flag."""
        for s in SECTIONS:
            section = getattr(self, s)
            for f in dataclasses.fields(section):
                check_value(f, getattr(section, f.name), where=f"--{flag_name(f)}")
        t = self.train
        if t.k1_steps > t.seq_len:
            raise ConfigError(f"--k1 ({t.k1_steps}) must not exceed --seq-len ({t.seq_len})")
        if t.schedule_clock == "time" and t.max_seconds is None:
            raise ConfigError("--schedule-clock time needs --max-seconds")


def flag_name(f: dataclasses.Field) -> str:
    """CLI flag (without dashes) of a config field: ``hidden_size`` -> ``hidden-size``."""
    return f.metadata.get("flag") or f.name.replace("_", "-")


def field_choices(section_cls: type, name: str) -> tuple[str, ...]:
    """The allowed values of a choice field, e.g. ``field_choices(TrainConfig, "optimizer")``."""
    f = next(f for f in dataclasses.fields(section_cls) if f.name == name)
    return f.metadata["choices"]


def field_types(section_cls: type) -> dict[str, tuple[type, bool]]:
    """name -> (base type, optional?) for a config dataclass, from its annotations."""
    out = {}
    for f in dataclasses.fields(section_cls):
        ann = str(f.type)
        optional = "None" in ann
        base = {"int": int, "float": float, "str": str, "bool": bool}[ann.split(" |")[0]]
        out[f.name] = (base, optional)
    return out


BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def coerce(value, base: type, optional: bool, where: str):
    """Convert a TOML/CLI value to the field's type, or raise ConfigError."""
    if value is None or (optional and isinstance(value, str) and value.lower() == "none"):
        if optional:
            return None
        raise ConfigError(f"{where}: a value is required")
    if base is bool and isinstance(value, str) and value.lower() in BOOL_WORDS:
        value = BOOL_WORDS[value.lower()]
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if base in (int, float) and isinstance(value, str):
        try:
            value = base(value)
        except ValueError:
            raise ConfigError(f"{where}: expected {base.__name__}, got {value!r}") from None
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {base.__name__}, got {value!r}")
    if base is float and not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {value!r}")
    return value


def check_value(f: dataclasses.Field, value, where: str) -> None:
    if value is None:
        return
    choices, check = f.metadata.get("choices"), f.metadata.get("check")
    if choices and value not in choices:
        what = f.name.replace("_", " ")  # "recurrent init", "schedule clock"
        raise ConfigError(f"{where}: {unknown_name(what, value, choices)}")
    if check is not None and not check(value):
        raise ConfigError(f"{where} {value!r}: {check.says} ({f.metadata['help']})")


def set_field(section, name: str, value, *, source: str) -> None:
    types = field_types(type(section))
    if name not in types:
        raise ConfigError(f"{source}: unknown setting")
    base, optional = types[name]
    parse = next(f for f in dataclasses.fields(section) if f.name == name).metadata.get("parse")
    if parse is not None and isinstance(value, str):
        value = parse(value)
    setattr(section, name, coerce(value, base, optional, source))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; errors name the file."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, expected a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    assert isinstance(v, str), v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(cfg: RunConfig) -> str:
    """Serialise a resolved config. TOML has no null, so unset optional fields are
    written as the string "none", which the reader turns back into None."""
    d = cfg.to_dict()
    lines = ["# Resolved rnnkit run config: rnnkit train --config THIS_FILE repeats the run.",
             f"recipe = {_toml_value(d['recipe'])}"]
    for s in SECTIONS:
        lines += ["", f"[{s}]"]
        lines += [f"{k} = {_toml_value('none' if v is None else v)}" for k, v in d[s].items()]
    text = "\n".join(lines) + "\n"
    assert RunConfig.from_dict(tomllib.loads(text)).to_dict() == d, "TOML round trip"
    return text

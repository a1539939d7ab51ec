"""Recipe ``asr``: speech recognition, a stacked (bidirectional) RNN with a CTC output over
the language's characters.

Default data: the fillets-ng game dialogue as spoken in Dutch (Debian ``fillets-ng-data-nl``
with the transcripts of ``fillets-ng-data``, GPL-2+, fetched and unpacked on first use;
``rnnkit.data.transcribed``); ``--lang cs`` takes the Czech recordings, ``--lang en`` the
English dialogue spoken by flite's ``slt`` voice (``rnnkit.data.teacher_voice``: the ``tts``
recipe's teacher, so this is the judge of its intelligibility). Levels are split
whole into train / valid / test (``SPLIT_SEED``, the same in every run), so test sentences
come from scenes never heard in training. ``--data list.tsv`` (``path<TAB>text`` rows) or
a folder holding one such list trains on the user's recordings, split by utterance.

    rnnkit train asr                                  # Dutch, bidirectional LSTM
    rnnkit train asr --lang cs --cell gru
    rnnkit train asr --bidirectional false            # a model that can stream
    rnnkit train asr --lm runs/charlm-nl              # + shallow fusion in the report

Features: 40 log-mel bands every 10 ms (``SAMPLE_RATE`` audio), stacked 3 to a step
(``--subsample``); SpecAugment masks on training batches. Batches are bucketed by length.
The finish step decodes the test levels greedily and with prefix beam search (and with the
``--lm`` language model, its weight and length bonus chosen on the validation levels) and
scores them with jiwer; it writes ``transcripts.tsv``, ``test_scores.json``, example
alignments, and ``transcripts-train.txt`` (the normalised training transcripts, one per
line: ``rnnkit train charlm --data RUN/transcripts-train.txt`` makes the fusion LM).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from rnnkit.data.sequences import pad_batch, split_groups
from rnnkit.data.transcribed import (
    Utterances,
    load_fillets_speech,
    normalise_transcript,
    read_transcript_list,
)
from rnnkit.errors import ConfigError, DataError, unknown_name
from rnnkit.models.ctc import BLANK, ctc_loss, ctc_model_from_spec, greedy_ctc_decode
from rnnkit.recipes.base import Outcome, Setup, load_best
from rnnkit.recipes.result import Target
from rnnkit.recipes.speech.recogniser import (
    Alphabet,
    Decoding,
    Featuriser,
    Recogniser,
    error_rates,
    feature_spec,
    load_char_lm,
    read_speech,
)
from rnnkit.train.config import RunConfig
from rnnkit.train.task import BatchTask

LANGS = ("nl", "cs", "en")  # en: flite's teacher voice (the tts recipe's judge), not people
DEFAULT_LANG = "nl"
SPLIT = (0.1, 0.1)   # valid, test fractions (of the levels; of the utterances for user data)
SPLIT_SEED = 0       # the same levels in every run
SAMPLE_RATE, N_MELS, HOP_MS = 16000, 40, 10
BEAM = 8
LM_WEIGHTS = (0.25, 0.5, 1.0)    # shallow-fusion grid, chosen on validation
LENGTH_BONUSES = (0.0, 1.0, 2.0)
SHOW = 5                          # example transcripts per list in the report
FREQ_MASKS, FREQ_WIDTH = 2, 8     # SpecAugment (Park et al. 2019), scaled to 40 bands
TIME_MASKS, TIME_FRACTION = 2, 0.05
SPEEDS = (0.9, 1.1)               # --speed-perturb: two more copies of every training clip

# Defaults with their reasons: ~1,300 training clips (~1.2 h) are small data, so dropout
# 0.3 and SpecAugment; stacking 3 frames (30 ms steps) leaves ~3 steps per character and
# runs the recurrent stack 3x fewer steps (Sak et al. 2015); 3 bidirectional LSTM layers
# of 256 as the classic CTC recogniser (Graves et al. 2013 used 5 x 250 on TIMIT).
# Adam at 3e-3: at 1e-3 the full run sat at 63% validation CER from update 1,500 to 3,000
# and an overfitting probe (64 clips, no dropout) reached training loss 1.97 in 600
# updates against 0.52 at 3e-3.
DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 256, "num_layers": 3, "bidirectional": True,
              "dropout": 0.3, "subsample": 3},
    "train": {"batch_size": 16, "optimizer": "adam", "lr": 3e-3, "schedule": "cosine",
              "warmup_steps": 500, "max_steps": 20000, "eval_every": 500, "early_stop": 6,
              "ckpt_every": 500, "log_every": 50, "clip_norm": 5.0, "threads": 1},
}
SMOKE = {
    "model": {"hidden_size": 16, "num_layers": 1, "dropout": 0.0},
    "train": {"batch_size": 4, "max_steps": 4, "eval_every": 2, "ckpt_every": 2,
              "log_every": 1, "warmup_steps": 1, "early_stop": None},
}
TARGET = Target("test_cer", "<=", 0.25, "test CER <= 25% on unseen levels",
                budget="about six CPU-hours", hours=6.0)


def load_utterances(cfg: RunConfig) -> list[tuple[Utterances, bool]]:
    """[(utterances, by_level)] per language: the user's transcript list, else the
    fillets-ng recordings of each ``--lang`` (``nl+cs``: Dutch, with Czech as extra
    training data; ``--data`` may then name the unpacked audio package of one language)."""
    langs = (cfg.data.lang or DEFAULT_LANG).split("+")
    data = Path(cfg.data.data) if cfg.data.data else None
    if data is not None and (data.is_file() or any(data.glob("*.tsv"))):
        return [(read_transcript_list(data, langs[0]), False)]
    if len(set(langs)) != len(langs) or any(lang not in LANGS for lang in langs):
        bad = next((lang for lang in langs if lang not in LANGS), langs[0])
        raise ConfigError(unknown_name("fillets-ng speech language", bad, LANGS) +
                          " (several: nl+cs); or --data list.tsv with your own recordings")
    if data is not None and len(langs) > 1:
        raise ConfigError("--data names one language's audio package; with several "
                          "languages let them be fetched into the data cache")
    out = []
    for lang in langs:
        if lang == "en":
            from rnnkit.data.teacher_voice import teacher_corpus

            out.append((teacher_corpus(), True))
        else:
            out.append((load_fillets_speech(lang, audio_root=data), True))
    return out


def raw_features(utts: Utterances, featuriser: Featuriser, cached: bool, speed: float = 1.0
                 ) -> tuple[list[torch.Tensor | None], dict[str, int]]:
    """Log-mel (T, F) per utterance before normalisation; None for a silent or too short
    clip (counted). ``speed`` != 1 plays each clip that much faster, tempo and pitch
    together (resampled, then read at the original rate: Ko et al. 2015's perturbation).
    The fillets-ng features are kept in the data cache: decoding and resampling 1,600 OGG
    files takes about a minute."""
    from rnnkit.data import files
    from rnnkit.data.audio import resample
    from rnnkit.data.debian import cache_dir

    key = hashlib.sha256(json.dumps([utts.source, featuriser.spec, speed, [
        (str(u.path), u.id) for u in utts.items]]).encode()).hexdigest()[:16]
    path = cache_dir() / "features" / f"asr-{utts.lang}-{key}.pt"
    if cached and path.is_file():
        saved = torch.load(path, weights_only=True)
        return saved["feats"], saved["skipped"]
    feats: list[torch.Tensor | None] = []
    skipped: dict[str, int] = {}
    for u in utts.items:
        try:
            wave = read_speech(u.path, featuriser.sample_rate)
            if speed != 1.0:
                sr = featuriser.sample_rate
                wave = resample(wave, sr, round(sr / speed))
            feats.append(featuriser.raw(wave))
        except DataError as e:
            if not cached:  # the user's own data: say which file, stop
                raise
            why = ("silent audio" if "silent" in str(e) else
                   "too short audio" if "shorter than" in str(e) else "unreadable audio")
            skipped[why] = skipped.get(why, 0) + 1
            feats.append(None)
    if cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomically(path, lambda fh: torch.save(
            {"feats": feats, "skipped": skipped}, fh))
    return feats, skipped


def collate(batch):
    """[(feats (T_i, F), labels (U_i,), index)] -> feats (B, T, F), lengths (B,),
    targets (B, U) (padded with the blank, ignored past target_lengths), target_lengths (B,),
    indices (B,)."""
    feats, labels, idx = zip(*batch, strict=True)
    x, lengths = pad_batch(feats)
    y, y_lengths = pad_batch(labels, BLANK)
    return x, lengths, y.long(), y_lengths, torch.tensor(idx)


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """SpecAugment's frequency and time masks (Park et al. 2019), set to 0 (the normalised
    mean): per utterance ``FREQ_MASKS`` bands of up to ``FREQ_WIDTH`` and ``TIME_MASKS``
    spans of up to ``TIME_FRACTION`` of its length. x (B, T, F) -> (B, T, F), a copy."""
    x = x.clone()
    B, _, Fdim = x.shape
    for b in range(B):
        n = int(lengths[b])
        for _ in range(FREQ_MASKS):
            w = int(torch.randint(0, FREQ_WIDTH + 1, (), generator=g))
            f0 = int(torch.randint(0, Fdim - w + 1, (), generator=g))
            x[b, :, f0:f0 + w] = 0
        for _ in range(TIME_MASKS):
            w = int(torch.randint(0, int(TIME_FRACTION * n) + 1, (), generator=g))
            t0 = int(torch.randint(0, n - w + 1, (), generator=g))
            x[b, t0:t0 + w] = 0
    return x


def build(cfg: RunConfig) -> Setup:
    """Utterances -> split -> features -> alphabet -> CTC model and bucketed BatchTask.
    With several languages, each is split by level; the others' training levels join the
    first's, whose validation and test levels are the only ones scored."""
    parts = load_utterances(cfg)
    items, texts, groups, raw = [], [], [], []
    train_i, valid_i, test_i = [], [], []
    copies: list[tuple[torch.Tensor, int]] = []  # (raw features, utterance) speed copies
    skipped: dict[str, int] = {}
    featuriser = Featuriser(feature_spec(SAMPLE_RATE, N_MELS, HOP_MS, norm="utterance"))
    for k, (part, by_level) in enumerate(parts):
        off = len(items)
        g = [u.group for u in part.items] if by_level else [u.id for u in part.items]
        tr, va, te = split_groups(g, *SPLIT, seed=SPLIT_SEED, source=part.source)
        r, sk = raw_features(part, featuriser, cached=by_level)
        items += part.items
        texts += [normalise_transcript(u.text, part.lang) for u in part.items]
        groups += [f"{part.lang}/{x}" if k else x for x in g]
        raw += r
        train_i += [off + i for i in tr]
        for speed in SPEEDS if cfg.data.speed_perturb else ():
            fast, _ = raw_features(part, featuriser, cached=by_level, speed=speed)
            copies += [(fast[i], off + i) for i in tr if fast[i] is not None]
        if k == 0:
            valid_i, test_i = va, te
        for why, n in {**part.skipped, **sk}.items():
            skipped[why] = skipped.get(why, 0) + n
    by_level = parts[0][1]
    lang = parts[0][0].lang
    utts = Utterances(items, lang, " + ".join(p.source for p, _ in parts), skipped)
    norm = "utterance" if cfg.model.bidirectional else "global"
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        skipped["no letters in the transcript"] = len(empty)

    def keep(idx):
        return [i for i in idx if raw[i] is not None and texts[i]]

    train_i, valid_i, test_i = keep(train_i), keep(valid_i), keep(test_i)
    if not train_i or not valid_i or not test_i:
        raise DataError(f"{utts.source}: too few usable utterances for train / valid / test "
                        f"({len(train_i)} / {len(valid_i)} / {len(test_i)})")
    if norm == "global":  # the training set's statistics per band
        frames = torch.cat([raw[i] for i in train_i])
        mean, std = frames.mean(0), frames.std(0, unbiased=False) + 1e-5
        fspec = feature_spec(SAMPLE_RATE, N_MELS, HOP_MS, norm="global", mean=mean, std=std)
    else:
        fspec = feature_spec(SAMPLE_RATE, N_MELS, HOP_MS, norm="utterance")
    featuriser = Featuriser(fspec)
    feats = [None if f is None else featuriser.normalise(f) for f in raw]
    alphabet = Alphabet.build(texts[i] for i in train_i)

    def examples(idx):
        return [(feats[i], torch.tensor(alphabet.encode(texts[i])), i) for i in idx]

    kept = set(train_i)
    copies = [(featuriser.normalise(x), i) for x, i in copies if i in kept]

    spec = {"alphabet": alphabet.chars, "features": fspec, "lang": lang,
            "num_features": N_MELS, "vocab_size": len(alphabet)}
    try:
        model = ctc_model_from_spec(cfg.model, spec)
    except ValueError as e:
        raise ConfigError(f"asr: {e}") from None
    train_ex, valid_ex = examples(train_i), examples(valid_i)
    train_ex += [(x, torch.tensor(alphabet.encode(texts[i])), i) for x, i in copies]
    task_ref: list[BatchTask] = []

    def loss(model, batch) -> torch.Tensor:
        x, lengths, y, y_lengths, idx = batch
        if model.training and cfg.data.spec_augment:
            t = task_ref[0]  # seeded by the task's position: exact on resume
            g = torch.Generator().manual_seed(
                cfg.train.seed * 1_000_003 + t.epoch * len(t.train) + t.pos)
            x = spec_augment(x, lengths, g)
        lp, out_lengths = model(x, lengths)
        return ctc_loss(lp, out_lengths, y, y_lengths)

    def metrics(model, batches) -> dict[str, float]:
        total = n = 0.0
        hyps, refs = [], []
        for x, lengths, y, y_lengths, idx in batches:
            lp, out_lengths = model(x, lengths)
            total += float(ctc_loss(lp, out_lengths, y, y_lengths)) * len(idx)
            n += len(idx)
            hyps += [alphabet.decode(p) for p in greedy_ctc_decode(lp.cpu(), out_lengths)]
            refs += [texts[int(i)] for i in idx]
        return {"loss": total / max(n, 1.0), "cer": error_rates(hyps, refs)["cer"]}

    task = BatchTask(train_ex, valid_ex, cfg.train.batch_size, collate, loss,
                     seed=cfg.train.seed, metrics=metrics,
                     lengths=[len(x) for x, _, _ in train_ex])
    task.select_by = "cer"  # CTC's loss keeps rising on confident errors while CER falls
    task_ref.append(task)

    def finish(trainer, fit) -> Outcome:
        load_best(trainer)
        run_dir = trainer.run_dir
        (run_dir / "transcripts-train.txt").write_text(
            "".join(texts[i] + "\n" for i in train_i), encoding="utf-8")
        recogniser = Recogniser(trainer.model, spec, trainer.device)
        return score_test(recogniser, utts, texts, feats, valid_i, test_i, run_dir, cfg)

    hours = sum(len(feats[i]) for i in train_i) * HOP_MS / 3.6e6
    speakers = sorted({utts.items[i].speaker for i in test_i} - {""})
    note = "".join(f"; {n} {why} left out" for why, n in sorted(skipped.items()) if n)
    langs = "+".join(p.lang for p, _ in parts)
    describe = (f"{langs} speech, {utts.source}: {len(train_i)} / {len(valid_i)} / "
                f"{len(test_i)} train / valid / test utterances ({hours:.2f} h of training "
                f"audio)" + (f" from {len(set(groups[i] for i in train_i))} / "
                             f"{len(set(groups[i] for i in valid_i))} / "
                             f"{len(set(groups[i] for i in test_i))} levels" if by_level else "")
                + (f"; test speakers {', '.join(speakers)}" if speakers else "")
                + (f"; + {len(copies)} speed-perturbed copies (x{', x'.join(map(str, SPEEDS))})"
                   if copies else "")
                + f"; {len(alphabet)} characters; features {N_MELS} log-mel / {HOP_MS} ms, "
                  f"{norm} normalisation{note}")
    return Setup(model, task, meta={"recogniser": spec}, describe=describe, finish=finish)


def choose_fusion(recogniser: Recogniser, lps, refs, lm) -> tuple[Decoding, float]:
    """The LM weight and length bonus with the lowest validation CER (grid search)."""
    best, best_cer = None, float("inf")
    for w in LM_WEIGHTS:
        for b in LENGTH_BONUSES:
            d = Decoding(BEAM, lm, w, b)
            cer = error_rates(recogniser.decode(lps, d), refs)["cer"]
            if cer < best_cer:
                best, best_cer = d, cer
    return best, best_cer


def score_test(recogniser: Recogniser, utts: Utterances, texts, feats, valid_i, test_i,
               run_dir: Path, cfg: RunConfig) -> Outcome:
    """Greedy, beam and (with ``--lm``) fused transcripts of the test utterances, CER/WER,
    transcripts.tsv, test_scores.json, examples and alignment plots."""
    from rnnkit.recipes.speech.plots import plot_alignment

    refs = [texts[i] for i in test_i]
    lps = recogniser.log_probs([feats[i] for i in test_i])
    decodings = {"greedy": Decoding(), "beam": Decoding(BEAM)}
    scores, hyps = {}, {}
    if cfg.data.lm:
        lm = load_char_lm(cfg.data.lm, recogniser.alphabet)
        v_lps = recogniser.log_probs([feats[i] for i in valid_i])
        decodings["lm"], valid_cer = choose_fusion(recogniser, v_lps, [texts[i] for i in valid_i],
                                                   lm)
    for name, d in decodings.items():
        hyps[name] = recogniser.decode(lps, d)
        scores[name] = {**error_rates(hyps[name], refs), "decoding": d.describe()}
    best = "lm" if "lm" in hyps else "beam"
    (run_dir / "transcripts.tsv").write_text(
        "id\treference\t" + "\t".join(hyps) + "\n" + "".join(
            f"{utts.items[i].id}\t{r}\t" + "\t".join(h[k] for h in hyps.values()) + "\n"
            for k, (i, r) in enumerate(zip(test_i, refs, strict=True))), encoding="utf-8")
    (run_dir / "test_scores.json").write_text(json.dumps(
        {**scores, "n": len(refs), "groups": sorted({utts.items[i].group for i in test_i})},
        indent=1))
    per = [error_rates([h], [r])["cer"] for h, r in zip(hyps[best], refs, strict=True)]
    ranked = sorted(range(len(refs)), key=lambda k: (per[k], k))
    plots = []
    for n, k in enumerate(ranked[:1] + ranked[len(ranked) // 2:len(ranked) // 2 + 1]):
        name = f"alignment-{n + 1}.png"
        plot_alignment(feats[test_i[k]], lps[k], recogniser.alphabet, run_dir / name,
                       title=f"{utts.items[test_i[k]].id}: {refs[k]}")
        plots += ["", f"![alignment]({name})"]

    def examples(ks):
        return [f"- `{hyps[best][k]}` (reference `{refs[k]}`, CER {per[k]:.0%})" for k in ks]

    lines = [f"- test CER **{scores[best]['cer']:.1%}**, WER {scores[best]['wer']:.1%} "
             f"({scores[best]['decoding']}; {len(refs)} utterances from unseen "
             f"{'levels' if utts.items[0].group else 'recordings'})"]
    lines += [f"- {name}: CER {s['cer']:.1%}, WER {s['wer']:.1%} ({s['decoding']})"
              for name, s in scores.items() if name != best]
    if "lm" in scores:
        lines.append(f"- language model `{cfg.data.lm}`: weight and bonus chosen on the "
                     f"validation set (CER {valid_cer:.1%} there)")
    lines += ["", "## Best test transcripts", "", *examples(ranked[:SHOW]),
              "", "## Median test transcripts", "",
              *examples(ranked[len(ranked) // 2:len(ranked) // 2 + SHOW]),
              "", "## Worst test transcripts", "", *examples(ranked[::-1][:SHOW]), *plots]
    metrics = {"test_cer": scores[best]["cer"], "test_wer": scores[best]["wer"],
               "test_n": len(refs)}
    for name, s in scores.items():
        metrics[f"test_cer_{name}"], metrics[f"test_wer_{name}"] = s["cer"], s["wer"]
    return Outcome(lines, metrics)

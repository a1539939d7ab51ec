"""Recipe ``translate``: an RNN encoder-decoder with attention on sentence pairs.

Default data: the fillets-ng game dialogue (Debian ``fillets-ng-data``, GPL-2+, fetched and
unpacked on first use; ``rnnkit.data.fillets``), English -> German (``DEFAULT_PAIR``):
German has 1,981 pairs, within 2% of the largest (Bulgarian, 2,017), and shares the Latin
script with English, so copying the source (names, numbers, punctuation) is a meaningful
floor. ``--pair en-fr`` picks another; ``--data pairs.tsv`` trains on
the user's own tab-separated pairs. Scenes (game levels) are split whole into train /
valid / test, so test sentences come from unseen scenes; the split is fixed (``SPLIT_SEED``)
whatever the training seed, so runs with different seeds are scored on the same sentences.

    rnnkit train translate                         # en -> DEFAULT_PAIR's target
    rnnkit train translate --attention none        # the no-attention baseline
    rnnkit train translate --arch transformer      # the Transformer baseline
    rnnkit train translate --data pairs.tsv --level char

Both sides are tokenised by sentencepiece models trained on the training side only
(``--level subword``, the default) or into characters (``--level char``); the tokenisers
travel inside the checkpoint and are written to the run folder (``src.model``,
``tgt.model``; ``src.chars.json``, ``tgt.chars.json`` for characters). The finish step
decodes the test scenes greedily and with beam search and scores both with sacrebleu
beside the copy-the-source baseline.
"""

from __future__ import annotations

import functools
import json

import torch

from rnnkit.data.parallel import SentencePairs, read_pairs_tsv, split_by_group, straight_quotes
from rnnkit.data.sequences import pad_batch
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.translation import PAD, model_from_spec, translation_spec
from rnnkit.recipes.base import Outcome, Setup, load_best
from rnnkit.recipes.result import Target
from rnnkit.recipes.translation.tokens import encode_pairs, make_tokenizers
from rnnkit.recipes.translation.translator import Translator, corpus_scores, sentence_bleu
from rnnkit.train.config import RunConfig
from rnnkit.train.task import BatchTask

DEFAULT_PAIR = "en-de"
SPLIT = (0.1, 0.1)  # valid, test fractions of the scenes
SPLIT_SEED = 0      # the same scenes in every run
BEAM = 5
LENGTH_PENALTY = 1.0
SHOW = 5            # good and bad example translations in the report
# Game dialogue for --extra-pairs (English -> the run's target; rnnkit.data.<name>).
EXTRA_SOURCES = ("wesnoth", "freedroid", "widelands")

# Defaults with their reasons: ~1,200 training pairs are small data, so a small model with
# strong dropout (Sennrich & Zhang 2019, "Revisiting low-resource NMT": small vocabularies,
# high dropout); 1,000 subwords per language keeps most words whole at this size; batch 32
# is ~50 updates an epoch, so 1,000 updates are ~20 epochs (0.43 s each on one core of
# the 2-core machine, input feeding on or off alike: ~7 minutes); early stopping on
# validation loss picks the checkpoint.
DEFAULTS = {
    "model": {"arch": "rnn", "cell": "lstm", "hidden_size": 256, "num_layers": 1,
              "embed_size": 128, "dropout": 0.3, "bidirectional": True,
              "attention": "bahdanau", "input_feeding": True},
    "data": {"level": "subword", "vocab_size": 1000, "length": 80},
    "train": {"batch_size": 32, "optimizer": "adam", "lr": 2e-3, "schedule": "cosine",
              "warmup_steps": 100, "max_steps": 1000, "eval_every": 100, "early_stop": 4,
              "ckpt_every": 500, "log_every": 20, "clip_norm": 1.0, "threads": 1},
}
SMOKE = {
    "model": {"hidden_size": 16, "embed_size": 8, "dropout": 0.0},
    "data": {"vocab_size": 60},
    "train": {"batch_size": 4, "max_steps": 6, "eval_every": 3, "ckpt_every": 3,
              "log_every": 2, "warmup_steps": 1, "early_stop": None},
}
TARGET = Target("bleu_above_copy", ">=", 5.0,
                "test BLEU (beam) >= 5 points above copying the source",
                budget="<= 1,000 updates", hours=0.2)


def language_pair(cfg: RunConfig) -> tuple[str, str]:
    """("en", "fr") from ``--pair en-fr`` (default ``DEFAULT_PAIR``)."""
    text = cfg.data.pair or DEFAULT_PAIR
    src, sep, tgt = text.partition("-")
    if not sep or not src or not tgt or src == tgt:
        raise ConfigError(f"--pair {text!r}: expected SOURCE-TARGET, e.g. en-fr")
    return src, tgt


def load_pairs(cfg: RunConfig) -> SentencePairs:
    """The user's TSV file, else the fillets-ng dialogue (``--data`` may name its root)."""
    from pathlib import Path

    src, tgt = language_pair(cfg)
    if cfg.data.data and Path(cfg.data.data).is_file():
        return read_user_pairs(cfg.data.data, src, tgt)
    from rnnkit.data.fillets import FILLETS_LANGS, load_fillets

    if src != "en" or tgt not in FILLETS_LANGS:
        pairs = ", ".join(f"en-{lang}" for lang in FILLETS_LANGS)
        raise ConfigError(f"unknown language pair {src}-{tgt} for the fillets-ng dialogue "
                          f"(choose from: {pairs}); or --data pairs.tsv")
    return load_fillets(tgt, Path(cfg.data.data) if cfg.data.data else None)


def load_extra_pairs(cfg: RunConfig) -> SentencePairs | None:
    """``--extra-pairs``: a comma-separated list of game dialogue sources
    (``EXTRA_SOURCES``) and/or the user's TSV files, in the run's language pair, joined in
    the order given (a repeated name once); None without the option. A value that is
    itself a file is read as one file, so a file name may hold a comma. Every part is
    checked before any is read."""
    from pathlib import Path

    text = cfg.data.extra_pairs
    if not text:
        return None
    src, tgt = language_pair(cfg)
    parts = [text] if Path(text).is_file() else [p.strip() for p in text.split(",")]
    parts = list(dict.fromkeys(parts))
    known = ", ".join(f"'{n}'" for n in EXTRA_SOURCES[:-1]) + f" or '{EXTRA_SOURCES[-1]}'"
    for part in parts:
        if part in EXTRA_SOURCES and src != "en":
            raise ConfigError(f"--extra-pairs {part} translates from English, not {src}")
        if part not in EXTRA_SOURCES and not Path(part).is_file():
            raise ConfigError(f"--extra-pairs {part!r}: neither a file nor {known}")
    loaded = [_load_source(part, tgt) if part in EXTRA_SOURCES
              else read_user_pairs(part, src, tgt) for part in parts]
    return functools.reduce(functools.partial(join_pairs, prefix=""), loaded)


def _load_source(name: str, tgt: str) -> SentencePairs:
    """English -> tgt pairs of one of ``EXTRA_SOURCES``."""
    if name == "wesnoth":
        from rnnkit.data.wesnoth import load_wesnoth

        return load_wesnoth(tgt)
    if name == "freedroid":
        from rnnkit.data.freedroid import load_freedroid

        return load_freedroid(tgt)
    from rnnkit.data.widelands import load_widelands

    return load_widelands(tgt)


def read_user_pairs(path, src: str, tgt: str) -> SentencePairs:
    """A user's TSV file of pairs, curly quotes as ASCII (as the fillets reader and the
    Translator's input read them)."""
    pairs = read_pairs_tsv(path, src, tgt)
    pairs.src = [straight_quotes(s) for s in pairs.src]
    pairs.tgt = [straight_quotes(s) for s in pairs.tgt]
    return pairs


def join_pairs(a: SentencePairs, b: SentencePairs, prefix: str = "extra ") -> SentencePairs:
    """a's pairs, then b's (a's languages; b's skipped counts added under
    ``<prefix><reason>``: ``extra <reason>`` for extra pairs joining the training side)."""
    skipped = dict(a.skipped)
    for k, v in b.skipped.items():
        skipped[prefix + k] = skipped.get(prefix + k, 0) + v
    return SentencePairs(a.src + b.src, a.tgt + b.tgt, a.groups + b.groups, a.ids + b.ids,
                         a.src_lang, a.tgt_lang, f"{a.source} + {b.source}", skipped)


def collate_pairs(batch: list[tuple[torch.Tensor, torch.Tensor]]):
    """[(src (S_i,), tgt_in (T_i,), tgt_out (T_i,))] -> src (B, S), src_lengths (B,),
    tgt_in (B, T), tgt_out (B, T), all padded with PAD (ignored by the loss)."""
    srcs, tins, touts = zip(*batch, strict=True)
    src, lengths = pad_batch(srcs, PAD)
    tgt_in, _ = pad_batch(tins, PAD)
    tgt_out, _ = pad_batch(touts, PAD)
    return src, lengths, tgt_in, tgt_out


def pair_loss(model, batch, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy per target token (teacher forcing), smoothed in training."""
    from rnnkit.models.seq2seq import seq2seq_loss

    src, lengths, tgt_in, tgt_out = batch
    return seq2seq_loss(model(src, lengths, tgt_in), tgt_out, PAD,
                        label_smoothing if model.training else 0.0)


def token_metrics(model, batches) -> dict[str, float]:
    """Validation loss per target token (the batches' token-weighted mean) and perplexity."""
    import math

    from rnnkit.models.seq2seq import seq2seq_loss

    total = tokens = 0.0
    for src, lengths, tgt_in, tgt_out in batches:
        n = float((tgt_out != PAD).sum())
        total += float(seq2seq_loss(model(src, lengths, tgt_in), tgt_out, PAD)) * n
        tokens += n
    loss = total / max(tokens, 1.0)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def build(cfg: RunConfig) -> Setup:
    """Pairs -> scene split -> tokenisers (training side) -> ids -> model and BatchTask."""
    if cfg.data.level == "word":
        raise ConfigError("translate: --level is subword or char")
    if cfg.model.arch not in ("rnn", "transformer"):
        raise ConfigError(f"translate: --arch {cfg.model.arch} is for tts (translate: rnn or "
                          "transformer)")
    if cfg.model.copy and cfg.model.arch != "rnn":
        raise ConfigError("translate: --copy is for the recurrent model (--arch rnn)")
    pairs = load_pairs(cfg)
    train, valid, test = split_by_group(pairs, *SPLIT, seed=SPLIT_SEED)
    extra = load_extra_pairs(cfg)
    if extra is not None:  # training side only: the test scenes stay the same
        train = join_pairs(train, extra)
    src_tok, tgt_tok = make_tokenizers(train, cfg.data.level, cfg.data.vocab_size,
                                       joint=cfg.model.copy)
    limit = cfg.data.length
    train_ex, dropped = encode_pairs(train, src_tok, tgt_tok, limit)
    valid_ex, dropped_valid = encode_pairs(valid, src_tok, tgt_tok, limit)
    if not train_ex or not valid_ex:
        raise DataError(f"no training or validation pair within --length {limit} tokens")
    try:
        spec = translation_spec(cfg.model, src_tok.vocab_size, tgt_tok.vocab_size)
        model = model_from_spec(cfg.model, spec)
    except ValueError as e:  # e.g. an odd --hidden-size with a bidirectional encoder
        raise ConfigError(f"translate: {e}") from None
    loss = functools.partial(pair_loss, label_smoothing=cfg.train.label_smoothing)
    task = BatchTask(train_ex, valid_ex, cfg.train.batch_size, collate_pairs, loss,
                     seed=cfg.train.seed, metrics=token_metrics)
    src_lang, tgt_lang = pairs.src_lang, pairs.tgt_lang
    spec.update({"src_tokenizer": src_tok.to_dict(), "tgt_tokenizer": tgt_tok.to_dict(),
                 "src_lang": src_lang, "tgt_lang": tgt_lang, "max_tokens": limit})
    notes = [f"{dropped + dropped_valid} pairs over {limit} tokens left out"] \
        if dropped + dropped_valid else []
    notes += [f"{n} {why} entries skipped by the reader" for why, n in
              (pairs.skipped | train.skipped).items()]
    notes += [tok.note for tok in (src_tok, tgt_tok) if getattr(tok, "note", "")]
    note = "".join(f"; {n}" for n in notes)

    def finish(trainer, fit) -> Outcome:
        load_best(trainer)
        run_dir = trainer.run_dir
        for side, tok in (("src", src_tok), ("tgt", tgt_tok)):
            tok.save(run_dir / f"{side}{tok.suffix}")
        translator = Translator(trainer.model, src_tok, tgt_tok, None, trainer.device)
        return score_test(translator, test, run_dir, cfg)

    more = f" (with {len(extra)} extra pairs: {extra.source})" if extra is not None else ""
    describe = (f"{src_lang} -> {tgt_lang}, {pairs.source}: {len(train)}{more} / {len(valid)} / "
                f"{len(test)} train / valid / test pairs from {len(set(train.groups))} / "
                f"{len(set(valid.groups))} / {len(set(test.groups))} scenes; "
                f"{cfg.data.level} vocabularies {src_tok.vocab_size} / {tgt_tok.vocab_size}"
                f"{note}")
    return Setup(model, task, meta={"translator": spec}, describe=describe, finish=finish)


def score_test(translator: Translator, test: SentencePairs, run_dir, cfg: RunConfig
               ) -> Outcome:
    """Greedy and beam translations of the test scenes, BLEU/chrF beside copying the
    source, translations.tsv, examples and attention plots."""
    from rnnkit.recipes.translation.plots import plot_attention

    refs = list(test.tgt)
    greedy = [n[0].text for n in translator.translate(list(test.src), beam=1)]
    beamed = translator.translate(list(test.src), beam=BEAM, length_penalty=LENGTH_PENALTY)
    best = [n[0].text for n in beamed]
    s_beam, s_greedy = corpus_scores(best, refs), corpus_scores(greedy, refs)
    s_copy = corpus_scores(list(test.src), refs)
    (run_dir / "translations.tsv").write_text("source\treference\tgreedy\tbeam\n" + "".join(
        f"{s}\t{r}\t{g}\t{b}\n" for s, r, g, b in zip(test.src, refs, greedy, best,
                                                      strict=True)))
    (run_dir / "test_scores.json").write_text(json.dumps(
        {"beam": s_beam, "greedy": s_greedy, "copy": s_copy, "beam_size": BEAM,
         "length_penalty": LENGTH_PENALTY, "n": len(refs), "scenes": sorted(set(test.groups))},
        indent=1))
    ranked = sorted(range(len(refs)), key=lambda i: sentence_bleu(best[i], refs[i]))
    shown = [i for i in ranked[::-1][:3] if beamed[i][0].attention is not None]
    plots = []
    for k, i in enumerate(shown):
        name = f"attention-{k + 1}.png"
        plot_attention(beamed[i][0], run_dir / name, title=f"test sentence {i + 1}")
        plots += ["", f"![attention]({name})"]

    def examples(idx):
        return [f"- `{test.src[i]}` -> `{best[i]}` (reference `{refs[i]}`)" for i in idx]

    lines = [f"- test BLEU **{s_beam['bleu']:.2f}** (beam {BEAM}), {s_greedy['bleu']:.2f} "
             f"(greedy); chrF {s_beam['chrf']:.2f} / {s_greedy['chrf']:.2f} "
             f"({len(refs)} sentences from unseen scenes)",
             f"- baseline (copy the source): BLEU {s_copy['bleu']:.2f}, chrF "
             f"{s_copy['chrf']:.2f}",
             f"- sacrebleu: `{s_beam['bleu_signature']}`, `{s_beam['chrf_signature']}`",
             "", "## Best test translations", "", *examples(ranked[::-1][:SHOW]),
             "", "## Worst test translations", "", *examples(ranked[:SHOW]), *plots]
    metrics = {"test_bleu": s_beam["bleu"], "test_chrf": s_beam["chrf"],
               "test_bleu_greedy": s_greedy["bleu"], "test_chrf_greedy": s_greedy["chrf"],
               "bleu_above_copy": s_beam["bleu"] - s_copy["bleu"], "test_n": len(refs)}
    return Outcome(lines, metrics, {"name": "copy the source",
                                    "metrics": {"test_bleu": s_copy["bleu"],
                                                "test_chrf": s_copy["chrf"]}})

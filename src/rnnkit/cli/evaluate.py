"""``rnnkit eval RUN_OR_CKPT --data FILE``: score a trained model on new data.

* language models: bits per character (perplexity for words) on a UTF-8 text. Characters
  (or words) never seen in training count as ``<unk>``; how many there were is reported,
  since a large number makes the score optimistic.
* sequence classifiers (splice, promoters, ...): accuracy, macro-F1 and a per-class report
  on a labelled file read by the recipe's ``READERS[recipe]["labelled"]`` (for the DNA
  recipes: FASTA with the class in each header, or a TSV with class/sequence columns).
* taggers (genes): per-step accuracy, macro-F1 and per-tag F1 (a genome with its
  annotation beside it).
* translation models: BLEU and chrF (sacrebleu, beam search) on a tab-separated file of
  sentence pairs.
* music models: negative log-likelihood per frame (nats, summed over the 88 keys) on a
  JSB-format file's test split or on every piece of a folder of MIDI files.
* speech recognisers: CER and WER (jiwer; greedy and prefix beam search) on a
  ``path<TAB>transcript`` list of recordings.
"""

from __future__ import annotations

import argparse
import math

from rnnkit.cli.parser import add_quantize_flag


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="score a trained model on a text or labelled file",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--data", required=True, metavar="FILE_OR_FOLDER",
                   help="UTF-8 text (language models), a labelled file (classifiers), "
                        "pairs.tsv (translation), MIDI or JSB files (music), a "
                        "path<TAB>text list of recordings (asr)")
    p.add_argument("--batch-size", type=int, default=32, help="parallel streams / "
                   "sequences per batch [32]")
    p.add_argument("--seq-len", type=int, default=100, help="LM window length [100]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    add_quantize_flag(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError

    for flag, value in (("--batch-size", args.batch_size), ("--seq-len", args.seq_len)):
        if value < 1:
            raise ConfigError(f"{flag} must be >= 1 (got {value})")
    from rnnkit.recipes.base import load_run

    run = load_run(args.checkpoint, device=args.device, precision=args.quantize)
    if run.kind == "vocab":
        return run_lm(args, run)
    if run.kind == "translator":
        return run_translation(args)  # loads it again, with its tokenizers
    if run.kind == "music":
        return run_music(args, run)
    if run.kind == "recogniser":
        return run_asr(args, run)
    return run_labelled(args, run)


def run_asr(args: argparse.Namespace, run) -> int:
    """CER/WER of a speech recogniser on the user's transcribed recordings."""
    from rnnkit.data.transcribed import normalise_transcript, read_transcript_list
    from rnnkit.recipes.speech.asr import BEAM
    from rnnkit.recipes.speech.recogniser import Decoding, Recogniser, error_rates

    rec = Recogniser(run.model, run.spec, next(run.model.parameters()).device)
    utts = read_transcript_list(args.data, run.spec["lang"])
    refs = [normalise_transcript(u.text, utts.lang) for u in utts.items]
    lps = rec.file_log_probs([u.path for u in utts.items], args.batch_size)
    print(f"{args.data}: {len(refs):,} recordings transcribed with {run.file}")
    for d in (Decoding(), Decoding(BEAM)):
        s = error_rates(rec.decode(lps, d), refs)
        print(f"  {d.describe()}: CER {s['cer']:.2%}  WER {s['wer']:.2%}")
    return 0


def run_translation(args: argparse.Namespace) -> int:
    """BLEU/chrF of beam-search translations of the source side of a TSV of pairs."""
    from rnnkit.data.parallel import read_pairs_tsv
    from rnnkit.recipes.translation.translate import BEAM, LENGTH_PENALTY
    from rnnkit.recipes.translation.translator import corpus_scores, load_translator

    translator, run = load_translator(args.checkpoint, args.device, args.quantize)
    pairs = read_pairs_tsv(args.data)
    where = [f"{args.data}: pair {i + 1}" for i in range(len(pairs.src))]
    hyps = [n[0].text for n in translator.translate(
        list(pairs.src), beam=BEAM, length_penalty=LENGTH_PENALTY,
        batch_size=args.batch_size, where=where)]
    s = corpus_scores(hyps, list(pairs.tgt))
    print(f"{args.data}: {len(hyps):,} pairs translated with {run.file} (beam {BEAM})")
    print(f"  BLEU {s['bleu']:.2f}  chrF {s['chrf']:.2f}")
    print(f"  {s['bleu_signature']}\n  {s['chrf_signature']}")
    return 0


def run_music(args: argparse.Namespace, run) -> int:
    """NLL per frame of a music model on a JSB file's test split or a MIDI folder."""
    from rnnkit.recipes.music.compose import pieces_to_score, set_nll

    pieces, which = pieces_to_score(args.data, run.config)
    nll = set_nll(run.model, pieces, next(run.model.parameters()).device, args.batch_size)
    frames = sum(len(p.roll) for p in pieces)
    print(f"{which}: {len(pieces):,} pieces, {frames:,} frames scored with {run.file}")
    print(f"  NLL {nll:.4f} nats per frame")
    return 0


def run_labelled(args: argparse.Namespace, run) -> int:
    """Classifier or tagger: the recipe's labelled reader, then the recipe's metrics."""
    from rnnkit.recipes.registry import reader_for

    model, spec, cfg, kind = run.model, run.spec, run.config, run.kind
    device = next(model.parameters()).device
    if kind == "classifier":
        from rnnkit.recipes.classify import batches_of, score
    else:
        from rnnkit.recipes.tagging import batches_of
        from rnnkit.recipes.tagging import score_tags as score
    data = reader_for(cfg.recipe, "labelled")["labelled"](args.data, spec)
    metrics, report = score(model, batches_of(data, args.batch_size, device), spec["classes"])
    unit = "sequences" if kind == "classifier" else "sequences (per-step scores)"
    print(f"{args.data}: {len(data):,} {unit} scored with {args.checkpoint} "
          f"(recipe {cfg.recipe})")
    print(f"  accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.4f}  "
          f"loss {metrics['loss']:.4f}")
    print("\n".join("  " + line for line in str(report).splitlines()))
    return 0


def run_lm(args: argparse.Namespace, run) -> int:
    """Bits per character (or perplexity) of a language model on a text file."""
    from rnnkit.data.text import Vocab, read_text, tokenize
    from rnnkit.errors import DataError
    from rnnkit.train.task import evaluate_lm

    model, vocab = run.model, Vocab.from_dict(run.spec)
    tokens = tokenize(read_text(args.data), vocab.level)
    if len(tokens) < 2:
        raise DataError(f"{args.data}: needs at least 2 {vocab.level} tokens")
    ids = vocab.encode(tokens)
    nats = evaluate_lm(model, ids, args.batch_size, args.seq_len,
                       next(model.parameters()).device)
    unk = int((ids == 0).sum())
    unit = "char" if vocab.level == "char" else "word"
    print(f"{args.data}: {len(tokens) - 1:,} {unit}s predicted with {run.file}")
    print(f"  {nats / math.log(2):.4f} bits/{unit}  ({nats:.4f} nats/{unit})")
    if vocab.level == "word":
        print(f"  perplexity {math.exp(nats):.2f}")
    if unk:
        print(f"  note: {unk:,} {unit}s ({unk / len(tokens):.2%}) were not in the training "
              "vocabulary and were scored as <unk>")
    return 0

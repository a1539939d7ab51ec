"""``rnnkit experiment``: studies that train many runs.

    rnnkit experiment memory --tasks adding --lags 50,100,200 --steps 2000
    rnnkit experiment memory --tasks copy --lags 100          # LSTM 128, lr 1e-2, chrono
    rnnkit experiment memory --smoke                  # the whole pipeline in seconds
    rnnkit experiment remedies --lags 100,200 --steps 1000
    rnnkit experiment translation --seeds 1,2,3       # attention vs no attention vs Transformer
    rnnkit experiment translation --extra-pairs wesnoth --steps 4000 --name translation-wesnoth
    rnnkit experiment music --data jsb.json --seeds 1,2,3   # tanh/LSTM/GRU vs RNN-NADE on JSB
    rnnkit experiment asr --seeds 1,2,3             # speech: LSTM/GRU/tanh CTC, equal size
    rnnkit experiment handwriting --data hanzi --recogniser runs/strokes   # writer + ablations

Results go to RUNS_DIR/NAME/ (default runs/WHICH): one run folder per
training run, results.md/json and plots. Starting the same command again skips finished runs
and resumes unfinished ones from their checkpoints.
"""

from __future__ import annotations

import argparse

from rnnkit.cli.parser import check_runs_dir
from rnnkit.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="studies over many runs (memory, remedies, "
                       "translation, music, asr, handwriting)",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=("memory", "remedies", "translation", "music", "asr",
                                     "handwriting"),
                   help="which experiment")
    p.add_argument("--tasks", default="adding,copy", help="memory: comma-separated tasks")
    p.add_argument("--lags", default=None, help="comma-separated lags T (memory default "
                   "50,100,200,400; remedies: T for the tanh RNN, then for the LSTM, "
                   "default 100,200)")
    p.add_argument("--cells", default=None, help="memory, asr: cells to compare (default "
                   "rnn_tanh,lstm,gru)")
    p.add_argument("--steps", type=int, default=None,
                   help="most updates per run; a run stops once it meets its target "
                        "(default: memory per task, copy 12000, others 2000; remedies 1000)")
    p.add_argument("--seeds", default=None,
                   help="memory, translation, music, asr, handwriting: comma-separated "
                        "seeds (default "
                        "1; 1,2,3)")
    p.add_argument("--pair", default=None, help="translation: e.g. en-fr (the recipe's)")
    p.add_argument("--extra-pairs", default=None, metavar="WHAT",
                   help="translation: more training pairs for every run, comma-separated: "
                        "'wesnoth', 'freedroid', 'widelands' and/or pairs.tsv files (the "
                        "recipe's --extra-pairs)")
    p.add_argument("--lang", default=None, help="asr: nl or cs (the recipe's)")
    p.add_argument("--lm", default=None, metavar="RUN",
                   help="asr: a charlm run fused into every run's beam search (weights "
                        "chosen on validation)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="translation: pairs.tsv or the unpacked fillets-ng-data root; "
                        "music: JSB .json/.pkl or a folder of MIDI files (default: music21's "
                        "chorales); asr: a path<TAB>text list (default: fillets-ng); "
                        "handwriting: the hanzi-writer-data folder (required)")
    p.add_argument("--variants", default=None, help="translation, handwriting: comma-"
                   "separated subset of the study's models (translation: attention, "
                   "no-attention, transformer; handwriting: lstm, lstm-1, window, gru, "
                   "rnn_tanh; default all)")
    p.add_argument("--recogniser", default=None, metavar="RUN",
                   help="handwriting: a strokes run that reads the generated characters")
    p.add_argument("--hidden-size", type=int, default=None,
                   help="LSTM width; other cells get its parameter count (default: "
                        "copy 128, others 64)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 1e-2)")
    p.add_argument("--forget-bias", type=float, default=None,
                   help="memory: the LSTMs' initial forget-gate bias (default: torch's init)")
    p.add_argument("--chrono", default=None, metavar="CELLS",
                   help="memory: comma-separated cells (lstm, gru) whose gate biases start "
                        "chrono-initialised (Tallec & Ollivier 2018); 'none' for none "
                        "(default: copy lstm,gru; others none)")
    p.add_argument("--schedule", choices=("constant", "cosine"), default=None,
                   help="memory: learning-rate schedule (default constant); cosine decays "
                        "to --min-lr-ratio x --lr at --steps")
    p.add_argument("--min-lr-ratio", type=float, default=None,
                   help="memory: the cosine floor as a fraction of --lr (default 0.1)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=None,
                   help="remedies: optimiser (default adam; sgd = plain SGD, no momentum)")
    p.add_argument("--comparisons", default=None,
                   help="remedies: comma-separated subset of clipping,init,forget (default all)")
    p.add_argument("--name", help="experiment folder under --runs-dir (default: WHICH)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--smoke", action="store_true", help="tiny settings, seconds in all")
    p.add_argument("--progress", action="store_true", help="progress bar per run")
    p.set_defaults(run=run)


def int_list(text: str, flag: str) -> tuple[int, ...]:
    """``"50,100"`` -> (50, 100), or a ConfigError naming the flag."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated integers, got {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def variants_of(args: argparse.Namespace, known) -> tuple[str, ...]:
    """``--variants`` (default: all of ``known``), or a ConfigError naming the unknown."""
    variants = names(args.variants or ",".join(known))
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise ConfigError(f"--variants: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(known)}")
    return variants


def run(args: argparse.Namespace) -> int:
    from rnnkit.experiments import memory as mx

    out_dir = check_runs_dir(args.runs_dir, args.name or args.which)
    if args.which == "translation":
        from rnnkit.experiments import translation as tx

        spec = tx.TranslationSpec(seeds=int_list(args.seeds or "1,2,3", "--seeds"),
                                  variants=variants_of(args, tx.VARIANTS), pair=args.pair,
                                  data=args.data, steps=args.steps, threads=args.threads,
                                  smoke=args.smoke)
        if args.extra_pairs:
            spec.extra = {"data": {"extra_pairs": args.extra_pairs}}
        tx.run_translation(out_dir, spec, progress=args.progress)
        print(f"results: {out_dir / 'results.md'}")
        return 0
    if args.which == "music":
        from rnnkit.experiments import music

        spec = music.MusicSpec(seeds=int_list(args.seeds or "1,2,3", "--seeds"),
                               data=args.data, steps=args.steps, threads=args.threads,
                               smoke=args.smoke)
        music.run_music(out_dir, spec, progress=args.progress)
        print(f"results: {out_dir / 'results.md'}")
        return 0
    if args.which == "asr":
        from rnnkit.experiments import asr

        spec = asr.AsrSpec(seeds=int_list(args.seeds or "1,2,3", "--seeds"),
                           cells=names(args.cells or ",".join(asr.CELLS)), lang=args.lang,
                           data=args.data, steps=args.steps, lm=args.lm,
                           threads=args.threads, smoke=args.smoke)
        asr.run_asr(out_dir, spec, progress=args.progress)
        print(f"results: {out_dir / 'results.md'}")
        return 0
    if args.which == "handwriting":
        from rnnkit.experiments import handwriting as hx

        if not args.data:
            raise ConfigError("experiment handwriting: give --data, the hanzi-writer-data "
                              "folder (see docs/recipes/handwriting.md)")
        spec = hx.HandwritingSpec(data=args.data, recogniser=args.recogniser,
                                  seeds=int_list(args.seeds or "1,2,3", "--seeds"),
                                  variants=variants_of(args, hx.VARIANTS),
                                  steps=args.steps, threads=args.threads, smoke=args.smoke)
        hx.run_handwriting(out_dir, spec, progress=args.progress)
        print(f"results: {out_dir / 'results.md'}")
        return 0
    if args.which == "memory":
        spec = mx.MemorySpec(tasks=names(args.tasks),
                             cells=names(args.cells or "rnn_tanh,lstm,gru"),
                             seeds=int_list(args.seeds or "1", "--seeds"),
                             threads=args.threads, smoke=args.smoke)
        if args.smoke:  # tiny sizes first; options given explicitly still win
            for key, value in mx.SMOKE_SPEC.items():
                setattr(spec, key, value)
        if args.lags is not None:
            spec.lags = int_list(args.lags, "--lags")
        for key in ("steps", "hidden_size", "lr", "forget_bias", "schedule", "min_lr_ratio"):
            if getattr(args, key) is not None:
                setattr(spec, key, getattr(args, key))
        if args.chrono is not None:
            spec.chrono = () if args.chrono.strip() == "none" else names(args.chrono)
        rows = mx.run_memory(out_dir, spec, progress=args.progress)
        solved = sum(r["solved"] for r in rows)
        print(f"{len(rows)} runs, {solved} solved; results: {out_dir / 'results.md'}")
        return 0
    spec = mx.RemediesSpec(threads=args.threads, smoke=args.smoke)
    if args.smoke:
        spec.lag, spec.lstm_lag, spec.steps, spec.hidden_size = 8, 8, 12, 8
    if args.hidden_size is not None:
        spec.hidden_size = args.hidden_size
    if args.lags is not None:
        lags = int_list(args.lags, "--lags")
        if len(lags) != 2:
            raise ConfigError("--lags: remedies takes two lags (tanh RNN, LSTM), e.g. 100,200")
        spec.lag, spec.lstm_lag = lags
    if args.steps is not None:
        spec.steps = args.steps
    if args.lr is not None:
        spec.lr = args.lr
    if args.optimizer is not None:
        spec.optimizer = args.optimizer
    if args.comparisons is not None:
        spec.groups = names(args.comparisons)
    mx.run_remedies(out_dir, spec, progress=args.progress)
    print(f"results: {out_dir / 'remedies.md'}")
    return 0

"""The results tables of docs/RESULTS.md, docs/MEMORY.md and docs/PERFORMANCE.md, made
from docs/results/**.

    python -m rnnkit.experiments.docs_tables            # rewrite every table in place
    python -m rnnkit.experiments.docs_tables --check    # exit 1, one line per table that differs
    python -m rnnkit.experiments.docs_tables --add RUN_DIR [RUN_DIR ...] [--command CMD]
    python -m rnnkit.experiments.docs_tables --measure-corpus

``--add`` copies a run folder's ``result.json`` (a recipe run) or ``row.json`` (a run of
``rnnkit experiment memory/remedies``) into docs/results; then regenerate.

A table is the text between ``<!-- table: NAME -->`` and ``<!-- /table -->`` in a doc; the
prose around it is written by hand. ``TABLES`` maps each NAME to the function that renders
it. Result files, one per run (``docs/results/<recipe>/<run>.json``) or per memory
experiment run (``docs/results/memory/<experiment>/<run>.json``), are of three kinds:

* a recipe run: the run's own ``result.json`` (``rnnkit.recipes.result.write_result``),
  copied in by ``--add``, which also keeps what the docs need from the run folder under
  ``run_files`` (config, test report, best step, samples, the data line of report.md);
* a memory-experiment row: the ``row.json`` of ``rnnkit experiment memory/remedies`` plus
  ``experiment``, the experiment's best ratio and gradient flow, and the run's environment;
* a measurement: ``values`` and a ``text`` that formats them (``--measure-corpus`` writes
  one: the Shakespeare split).

Every file names its seed, processor, threads, wall and CPU seconds and date (null where
unknown). A file written by a run carries its git ``commit``; a file transcribed from the
docs after its run folder was lost carries ``provenance`` ("... not re-measured since
DATE") instead, and every table marks its numbers with a dagger and that footnote.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from rnnkit.experiments.docs_format import (
    DOCS,
    MARKER,
    RESULTS,
    ROOT,
    ResultFileError,
    check_record,
    load_results,
)
from rnnkit.experiments.docs_memory_tables import (
    by_lag_cell,
    t_adding_long,
    t_adding_seeds,
    t_copy128,
    t_copy_other,
    t_flow,
    t_memory,
    t_pdigits_line,
    t_remedies,
    t_temporal,
)
from rnnkit.experiments.docs_perf_tables import (
    t_ddp,
    t_quantize_layers,
    t_quantize_recipes,
    t_random,
    t_step,
)
from rnnkit.experiments.docs_results_tables import (
    CLASSIFY,
    GENOME,
    t_asr,
    t_asr_best,
    t_charlm_full,
    t_charlm_sample,
    t_charlm_step_time,
    t_corpus,
    t_data_lines,
    t_demo_cells,
    t_demo_model,
    t_demo_runs,
    t_demo_sample,
    t_handwriting,
    t_handwriting_ablation,
    t_measure,
    t_music,
    t_promoters_note,
    t_recipe_runs,
    t_recipe_summary,
    t_splice_note,
    t_tests,
    t_translate,
    t_translate_summary,
    t_tts,
    t_versus,
)

# ---------------------------------------------------------------- the tables by doc
TABLES: dict[str, dict[str, Callable[[dict], list[str]]]] = {
    "docs/RESULTS.md": {
        "corpus": t_corpus, "demo-runs": t_demo_runs, "demo-model": t_demo_model,
        "demo-sample": t_demo_sample, "charlm-full": t_charlm_full,
        "charlm-step-time": t_charlm_step_time, "charlm-sample": t_charlm_sample,
        "demo-cells": t_demo_cells, "tests": t_tests,
        "classify-data": t_data_lines(CLASSIFY), "classify": t_recipe_summary(CLASSIFY),
        "classify-runs": t_recipe_runs(CLASSIFY), "classify-versus": t_versus(CLASSIFY),
        "lasa-split": t_measure("lasa/split-5-6", "- "),
        "words-study": t_measure("words/augmentation-study", "  "),
        "words-synthetic": t_recipe_runs(("words",), "synthetic-voices"),
        "genome-data": t_data_lines(GENOME), "genome": t_recipe_summary(GENOME),
        "genome-runs": t_recipe_runs(GENOME), "genome-versus": t_versus(GENOME),
        "splice-note": t_splice_note,
        "promoters-note": t_promoters_note,
        "promoters-choice": t_measure("promoters/model-choice", "- "),
        "genes-weighting": t_measure("genes/weighting-choice", "- "),
        "genes-species": t_measure("genes/cross-species", "- "),
        "translate": t_translate, "translate-summary": t_translate_summary,
        "translate-wesnoth": lambda R: t_translate(R, "wesnoth"),
        "translate-wesnoth-summary": lambda R: t_translate_summary(R, "wesnoth"),
        "translate-games": lambda R: t_translate(R, "games"),
        "translate-games-summary": lambda R: t_translate_summary(R, "games"),
        "music": t_music, "handwriting": t_handwriting,
        "handwriting-ablation": t_handwriting_ablation, "asr": t_asr,
        "asr-best": t_asr_best, "tts": t_tts, "tts-nl": lambda R: t_tts(R, "nl"),
        "tts-ladder": t_measure("tts-ladder/tts-s1", "- "),
    },
    "docs/MEMORY.md": {
        "lr-choice": t_measure("memory/lr-choice"),
        "adding": t_memory(("adding",), by_lag_cell), "adding-seeds": t_adding_seeds,
        "adding-long": t_adding_long, "adding-flow": t_flow(("adding",)),
        "copy128": t_copy128,
        "copy128-flow": t_flow(("copy128-cosine", "copy128-s2"),
                               lambda r: f"{r['cell'].upper()} {r['hidden_size']} seed "
                                         f"{r['seed']}, solved at {r['steps']:,}"),
        "copy-other": t_copy_other, "copy": t_memory(("copy",), by_lag_cell),
        "copy-lstm64": t_measure("memory/copy-lstm64-lr1e-3"),
        "copy-flow": t_flow(("copy",), lags=(100,)),
        "remedies": t_remedies(("remedies",)), "remedies-long": t_remedies(("remedies-long",)),
        "remedies-sgd": t_remedies(("remedies-sgd",)), "temporal": t_temporal,
        "pdigits": t_pdigits_line,
    },
    "docs/PERFORMANCE.md": {
        "quantize-layers": t_quantize_layers, "quantize-recipes": t_quantize_recipes,
        "step": t_step, "step-zen4": lambda R: t_step(R, "step/steps-zen4", shapes=False),
        "random": t_random, "random-zen4": lambda R: t_random(R, "zen4"),
        "random-zen4-s13": lambda R: t_random(R, "zen4-s13"),
        "random-zen4-s14": lambda R: t_random(R, "zen4-s14"),
        "random-zen4-lstm-s15": lambda R: t_random(R, "zen4-lstm-s15"),
        "random-zen4-lstm-s16": lambda R: t_random(R, "zen4-lstm-s16"), "ddp": t_ddp,
    },
}


# ---------------------------------------------------------------- regenerate and check
def render(R: dict, doc: str) -> dict[str, str]:
    """Every table of ``doc`` as the text that belongs between its markers."""
    return {name: "\n".join(fn(R)) + "\n" for name, fn in TABLES[doc].items()}


def regenerate(text: str, tables: dict[str, str], doc: str = "doc") -> tuple[str, list[str]]:
    """``text`` with every marked table replaced, and one line per problem or change."""
    seen, problems = set(), []

    def swap(m: re.Match) -> str:
        indent, name, old = m.groups()
        if name not in tables:
            problems.append(f"{doc}: table {name!r} has no renderer in docs_tables.TABLES")
            return m.group(0)
        seen.add(name)
        body = "".join(indent + ln if ln.strip() else ln
                       for ln in tables[name].splitlines(keepends=True))
        if old != body:
            a, b = old.splitlines(), body.splitlines()
            changed = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
            problems.append(f"{doc}: table {name!r} differs from docs/results ({changed} of "
                            f"{len(b)} lines)")
        return f"{indent}<!-- table: {name} -->\n{body}{indent}<!-- /table -->"

    new = MARKER.sub(swap, text)
    problems += [f"{doc}: table {name!r} has no <!-- table: {name} --> marker"
                 for name in tables if name not in seen]
    return new, problems


def check(root: Path = ROOT, write: bool = False) -> list[str]:
    """One line per table (in every doc) that differs from its result files; with
    ``write``, also rewrite the docs. ResultFileError for a bad result file."""
    R = load_results(root)
    problems = []
    for doc in DOCS:
        path = root / doc
        text = path.read_text()
        try:
            tables = render(R, doc)
        except KeyError as e:
            raise ResultFileError(f"{doc}: a table needs result file or field {e} (none in "
                                  f"{RESULTS})") from None
        new, found = regenerate(text, tables, doc)
        problems += found
        if write and new != text:
            path.write_text(new)
    return problems


# ---------------------------------------------------------------- adding runs, measuring the corpus
# The validation metric kept per step from metrics.jsonl, per recipe: the loss curve of the
# language models, the asr learning curve, and the handwriting NLL on the set that chose the
# model (the ablation table reads it at the best step).
VALID_CURVES = {"charlm": "valid_loss", "demo": "valid_loss", "asr": "valid_cer",
                "handwriting": "valid_nll"}


def run_files(run: Path) -> dict:
    """What the docs need from a run folder beyond result.json."""
    out: dict = {}
    if (run / "config.toml").is_file():
        out["config"] = tomllib.loads((run / "config.toml").read_text())
    report = (run / "report.md").read_text() if (run / "report.md").is_file() else ""
    if m := re.search(r"^- recipe `[\w-]+`; (.+)$", report, re.M):
        out["data"] = m.group(1)
    if m := re.search(r"^- model: (.+)$", report, re.M):
        out["model"] = m.group(1)
    refs = re.findall(r"^- (?:reference|baseline) \((.+)\): (.+)$", report, re.M)
    if refs:
        out["references"] = [[name, value] for name, value in refs]
    if m := re.search(r"^- test .*F1 per tag (.+?) \(", report, re.M):
        out["f1_per_tag"] = m.group(1)
    if m := re.search(r"majority[- ]class(?: baseline:)? ([\d.]+)(%?)", report):
        out["majority_baseline"] = round(float(m.group(1)) / (100 if m.group(2) else 1), 6)
    if (run / "test_report.json").is_file():
        t = json.loads((run / "test_report.json").read_text())
        out["test"] = {k: v for k, v in t.items() if not isinstance(v, (dict, list))}
    if (run / "metrics.jsonl").is_file():
        valid = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()
                 if '"valid"' in x]
        best = [r["step"] for r in valid if r.get("best")]
        if best:
            out["best_step"] = best[-1]
        curve = VALID_CURVES.get(out.get("config", {}).get("recipe"))
        if curve:
            out[f"{curve}_at"] = {str(r["step"]): r[curve] for r in valid}
    if (run / "samples.txt").is_file():
        parts = re.split(r"^--- temperature ([\d.]+) ---\n", (run / "samples.txt").read_text(),
                         flags=re.M)
        out["samples"] = {t: s.strip("\n") for t, s in zip(parts[1::2], parts[2::2],
                                                            strict=True)}
    if (run / "loo.json").is_file():
        out["loo"] = loo_summary(json.loads((run / "loo.json").read_text()))
    return out


def loo_summary(loo: dict) -> dict:
    """The promoters recipe's loo.json without the per-fold rows: errors, and how many of
    them were promoters (label 1) called non-promoters."""
    wrong = [f for f in loo["folds"] if f["pred"] != f["label"]]
    return {"errors": len(wrong), "n": len(loo["folds"]),
            "promoters_missed": sum(f["label"] == 1 for f in wrong),
            "epochs": loo["epochs"], "seconds": loo["seconds"], "cpu_seconds": loo["cpu_seconds"]}


def memory_run_files(run: Path, metric: str) -> dict:
    """A memory run's config and what its metrics.jsonl says beyond the row: the median of
    the logged gradient norms, the fraction of clipped updates, the best validation value."""
    out: dict = {}
    if (run / "config.toml").is_file():
        out["config"] = tomllib.loads((run / "config.toml").read_text())
    if (run / "metrics.jsonl").is_file():
        recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
        train = [r for r in recs if r["kind"] == "train"]
        valid = [r[f"valid_{metric}"] for r in recs if r["kind"] == "valid"
                 and f"valid_{metric}" in r]
        if train:
            norms = sorted(r["grad_norm"] for r in train)
            out["logged_grad_norm_median"] = norms[len(norms) // 2]
            out["clipped_fraction"] = sum(r["clipped"] for r in train) / len(train)
        if valid:
            out[f"best_{metric}"] = (min if metric in ("mse", "loss") else max)(valid)
    return out


def add_row(run: Path, root: Path = ROOT, command: str | None = None) -> Path:
    """A memory-experiment run folder (``row.json``) -> docs/results/memory/<experiment>/
    <run>.json: the row, the experiment's best ratio / r(T-1) and gradient flow (from its
    results.json or remedies.json), and the run's environment (from its result.json)."""
    row = json.loads((run / "row.json").read_text())
    env = json.loads((run / "result.json").read_text()) if (run / "result.json").is_file() \
        else {}
    rec = {"experiment": run.parent.name, **row}
    for summary in ("results.json", "remedies.json"):
        path = run.parent / summary
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        rec.update(next((r for r in data["rows"] if r["name"] == row["name"]), {}))
        flow = data.get("gradient_flow", {}).get(row["name"])
        if flow:
            rec["gradient_flow"] = {k: {"r10": f[10] if len(f) > 10 else None,
                                        "r50": f[50] if len(f) > 50 else None, "r_end": f[-1]}
                                    for k, f in ((k, flow[k]) for k in ("fresh", "trained"))}
    rec.pop("run_dir", None)
    rec["run_files"] = memory_run_files(run, row["metric"])
    for key in ("seed", "processor", "threads", "cpu_s", "date", "commit", "rnnkit",
                "config_hash"):
        rec[key] = env.get(key, rec.get(key))
    rec["command"] = command
    check_record(str(run), rec)
    dest = root / RESULTS / "memory" / rec["experiment"] / f"{row['name'].replace(' ', '-')}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    return dest


def add_run(run: Path, root: Path = ROOT, command: str | None = None,
            group: str | None = None) -> Path:
    """Copy ``run/result.json`` to docs/results/<recipe>/[<group>/]<run>.json with
    ``run_files`` (a memory-experiment run, with its ``row.json``, goes through
    ``add_row``). ``group`` keeps a second study of a recipe (same run names) apart."""
    if (run / "row.json").is_file():
        return add_row(run, root, command)
    rec = json.loads((run / "result.json").read_text())
    rec["command"] = command or (f"rnnkit train {rec['recipe']} --seed {rec['seed']} "
                                 f"--threads {rec['threads']}")
    rec["run_files"] = run_files(run)
    check_record(str(run), rec)
    dest = root / RESULTS / rec["recipe"] / (group or "") / f"{rec['run']}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    return dest


def add_bootstrap(experiment: Path, root: Path = ROOT, group: str | None = None) -> Path:
    """docs/results/translate/[<group>/]paired-bootstrap.json from ``rnnkit experiment
    translation``'s results.json: each seed's attention vs no-attention BLEU and p-value,
    and attention vs copying the source where the study has it."""
    from rnnkit.recipes.result import measurement_fields

    res = json.loads((experiment / "results.json").read_text())
    tests, copies = res["paired_bootstrap"], res.get("paired_bootstrap_copy", [])
    values = {f"s{t['seed']}_{k}": t[k] for t in tests
              for k in ("system_bleu", "baseline_bleu", "p_value")}
    values.update({f"c{t['seed']}_{k}": t[k] for t in copies
                   for k in ("system_bleu", "baseline_bleu", "p_value")})
    text = "Paired bootstrap (sacrebleu, BLEU, attention against no attention on each seed's " \
           "test translations): " + "; ".join(
               f"seed {t['seed']}: {{s{t['seed']}_system_bleu:.2f}} vs "
               f"{{s{t['seed']}_baseline_bleu:.2f}}, p = {{s{t['seed']}_p_value:.4f}}"
               for t in tests) + f" (`{tests[0]['signature']}`)." if tests else "none"
    if copies:
        text += " Attention against copying the source: " + "; ".join(
            f"seed {t['seed']}: {{c{t['seed']}_system_bleu:.2f}} vs "
            f"{{c{t['seed']}_baseline_bleu:.2f}}, p = {{c{t['seed']}_p_value:.4f}}"
            for t in copies) + "."
    rec = {"measurement": "translation: paired bootstrap, attention vs no attention",
           "values": values, "text": text,
           **measurement_fields(f"rnnkit experiment translation --seeds "
                        f"{','.join(str(t['seed']) for t in tests)}"
                        + (f" (study {experiment.name})" if group else ""),
                        seed=None, threads=1)}
    dest = root / RESULTS / "translate" / (group or "") / "paired-bootstrap.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1) + "\n")
    return dest


def measure_corpus(root: Path = ROOT) -> Path:
    """docs/results/charlm/shakespeare-corpus.json: the shipped corpus and the split the
    charlm and demo recipes use (rnnkit.recipes.text.charlm.build_corpus)."""
    import torch

    from rnnkit.data import shakespeare
    from rnnkit.recipes.registry import resolve
    from rnnkit.recipes.result import clock, measurement_fields
    from rnnkit.recipes.text.charlm import build_corpus

    started = clock()
    cfg = resolve("charlm")
    corpus = build_corpus(cfg)
    text = shakespeare.load_text()
    demo_tokens = resolve("demo").train.eval_tokens
    values = {"bytes": len(text.encode("utf-8")), "chars": len(text),
              "distinct": len(set(text)), "vocab": len(corpus.vocab),
              "train": len(corpus.train), "valid": len(corpus.valid),
              "valid_fraction": cfg.data.valid_fraction,
              "unigram_full": corpus.unigram_bits(None),
              "demo_tokens": demo_tokens, "unigram_demo": corpus.unigram_bits(demo_tokens)}
    rec = {"measurement": "the shipped Shakespeare corpus and the charlm/demo split",
           "values": values,
           "text": "Data: the shipped Shakespeare corpus (`src/rnnkit/data/assets/shakespeare/`,"
                   " {bytes:,} bytes of UTF-8, {chars:,} characters, {distinct} distinct; "
                   "{vocab}-symbol vocabulary including `<unk>`); validation = the last "
                   "{valid_fraction:.0%} of characters ({valid:,}; {train:,} train). Unigram "
                   "baseline (add-one smoothed training counts): "
                   "{unigram_full:.3f} bpc on the whole validation set, {unigram_demo:.3f} on "
                   "its first {demo_tokens:,} characters.",
           **measurement_fields("python -m rnnkit.experiments.docs_tables --measure-corpus",
                        seed=None, threads=torch.get_num_threads(), since=started)}
    dest = root / RESULTS / "charlm" / "shakespeare-corpus.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    p.add_argument("--add", nargs="+", metavar="RUN_DIR", help="copy runs' result.json in")
    p.add_argument("--command", help="with --add: the command that made the run")
    p.add_argument("--group", help="with --add / --add-bootstrap: a subfolder of the "
                   "recipe's results, for a second study with the same run names")
    p.add_argument("--measure-corpus", action="store_true")
    p.add_argument("--add-bootstrap", metavar="EXPERIMENT_DIR", type=Path,
                   help="the paired bootstrap of `rnnkit experiment translation`")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout [%(default)s]")
    args = p.parse_args(argv)
    if args.add:
        for run in args.add:
            print(f"{run} -> {add_run(Path(run), args.root, args.command, args.group)}")
        return 0
    if args.add_bootstrap:
        print(add_bootstrap(args.add_bootstrap, args.root, args.group))
        return 0
    if args.measure_corpus:
        print(measure_corpus(args.root))
        return 0
    try:
        problems = check(args.root, write=not args.check)
    except ResultFileError as e:
        print(f"bad result file: {e}", file=sys.stderr)
        return 1
    if args.check:
        print("\n".join(problems) or "docs tables match docs/results")
        return 1 if problems else 0
    print("\n".join(p.replace("differs from", "rewritten from") for p in problems)
          or "docs tables already matched docs/results")
    return 0


if __name__ == "__main__":
    sys.exit(main())

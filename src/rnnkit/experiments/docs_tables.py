"""The results tables of docs/RESULTS.md and docs/MEMORY.md, made from docs/results/**.

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
import math
import re
import sys
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from rnnkit.train.scoring import mean_and_spread

ROOT = Path(__file__).resolve().parents[3]  # src/rnnkit/experiments/ -> the checkout
RESULTS = Path("docs/results")
DOCS = ("docs/RESULTS.md", "docs/MEMORY.md")
COMMON = ("seed", "processor", "threads", "wall_s", "cpu_s", "date")
REQUIRED = {
    "recipe": ("recipe", "run", "metrics", "baseline", "target", "steps", "parameters"),
    "experiment": ("experiment", "name", "task", "lag", "cell", "hidden_size", "params",
                   "metric", "value", "ratio", "solved", "steps"),
    "measurement": ("measurement", "values", "text"),
}
# A marker may be indented (a table inside a list item): the table gets the same indent.
MARKER = re.compile(r"^([ \t]*)<!-- table: ([\w.-]+) -->\n(.*?)^\1<!-- /table -->",
                    re.S | re.M)
SINCE = re.compile(r"not re-measured since (\d{4}-\d{2}-\d{2})")
FIRST = re.compile(r" \(first reported in commit (\w+)\)")


class ResultFileError(ValueError):
    """A result file that cannot be read or lacks what the tables need."""


# ---------------------------------------------------------------- reading result files
def kind(rec: dict) -> str:
    return next(k for k in REQUIRED if k in rec)


def check_record(name: str, rec) -> None:
    """Raise ResultFileError naming the first thing ``rec`` lacks."""
    if not isinstance(rec, dict) or not any(k in rec for k in REQUIRED):
        raise ResultFileError(f"{name}: not a result file (no recipe, experiment or measurement)")
    missing = [k for k in REQUIRED[kind(rec)] + COMMON if k not in rec]
    if missing:
        raise ResultFileError(f"{name}: missing field(s) {', '.join(missing)}")
    if rec.get("provenance") is not None:
        if not SINCE.search(rec["provenance"]):
            raise ResultFileError(f"{name}: provenance must say 'not re-measured since DATE'")
    elif not rec.get("commit"):
        raise ResultFileError(f"{name}: neither a commit (written by a run) nor a provenance "
                              "(transcribed from the docs)")


def load_results(root: Path = ROOT) -> dict[str, dict]:
    """Every result file under ``root/docs/results``, keyed by its path there without
    ``.json`` (e.g. ``splice/splice-seed1``); ResultFileError on the first bad one."""
    out = {}
    base = root / RESULTS
    for path in sorted(base.rglob("*.json")):
        name = path.relative_to(base).with_suffix("").as_posix()
        try:
            rec = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultFileError(f"{name}: unreadable ({e})") from None
        check_record(name, rec)
        out[name] = rec
    return out


# ---------------------------------------------------------------- formatting
def transcribed(rec: dict) -> bool:
    return rec.get("provenance") is not None


def missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def exact(x) -> str:
    """A transcribed number as the docs gave it (the shortest repr, no trailing .0)."""
    s = repr(float(x)) if isinstance(x, float) else str(x)
    return s[:-2] if s.endswith(".0") else s


def num(x, rec: dict, spec: str) -> str:
    """``x`` formatted with ``spec``; a transcribed number exactly as stated when ``spec``
    would round it (so ``1.001`` stays ``1.001`` in a ``.3g`` column)."""
    if missing(x):
        return "-"
    s = format(x, spec)
    if transcribed(rec) and float(s.replace(",", "")) != x:
        return exact(x)
    return s


def pct(x, rec: dict, digits: int = 2) -> str:
    """A fraction as a percentage; a transcribed one with the digits the docs gave (at most
    ``digits`` decimals: a transcribed count ratio such as 1 - 13/106 is rounded)."""
    if missing(x):
        return "-"
    if transcribed(rec):
        d = (Decimal(repr(float(x))) * 100).normalize()
        if -d.as_tuple().exponent <= digits:
            return f"{d:f}%"
    return f"{100 * x:.{digits}f}%"


def ints(x) -> str:
    return "-" if missing(x) else f"{x:,.0f}"


def secs(x) -> str:
    return "-" if missing(x) else f"{x:,.0f}"


class Notes:
    """Daggers for transcribed rows and their footnotes (one per distinct provenance and
    machine), plus a line naming the seeds, processors and threads of a table's rows."""

    SYMBOLS = ("†", "‡", "§", "¶", "††", "‡‡", "§§", "¶¶")

    def __init__(self):
        self.notes: dict[str, str] = {}
        self.commits: dict[str, list[str]] = {}
        self.recs: list[dict] = []

    def __call__(self, rec: dict) -> str:
        self.recs.append(rec)
        if not transcribed(rec):
            return ""
        # rows transcribed on the same date from the same machine share a footnote
        first = FIRST.search(rec["provenance"])
        text = FIRST.sub("", rec["provenance"]) + (f". Machine: {rec['machine']}"
                                                   if rec.get("machine") else "")
        if text not in self.notes:
            self.notes[text] = self.SYMBOLS[len(self.notes)]
            self.commits[text] = []
        if first and first.group(1) not in self.commits[text]:
            self.commits[text].append(first.group(1))
        return self.notes[text]

    def lines(self, env: bool = True) -> list[str]:
        out = []
        if env and self.recs:
            seeds = sorted({r["seed"] for r in self.recs if r["seed"] is not None})
            procs = sorted({r["processor"] or "not recorded" for r in self.recs})
            threads = sorted({str(r["threads"]) for r in self.recs if r["threads"] is not None})
            dates = sorted({r["date"] for r in self.recs if r.get("date")})
            out.append("")
            out.append(f"Seeds: {', '.join(map(str, seeds)) or 'not recorded'}; processor: "
                       f"{'; '.join(procs)}; threads: {', '.join(threads) or 'not recorded'}"
                       + (f"; measured {', '.join(dates)}" if dates else "") + ".")
        for text, sym in self.notes.items():
            c = self.commits[text]
            first = f" (first reported in commit{'s' * (len(c) > 1)} {', '.join(c)})" if c else ""
            date = SINCE.search(text).group(0)
            text = text.replace(date, date + first)
            out += ["", f"{sym} {text[0].upper()}{text[1:]}."]
        return out


def table(head: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def pick(R: dict, prefix: str) -> list[dict]:
    """Result records whose name starts with ``prefix`` (sorted by name)."""
    return [R[k] for k in sorted(R) if k.startswith(prefix)]


def sample_block(text: str, lines: int = 8) -> list[str]:
    return ["```", *"\n".join(text.strip("\n").split("\n")[:lines]).rstrip().split("\n"),
            "```"]


def measurement(R: dict, name: str) -> list[str]:
    rec = R[name]
    n = Notes()
    mark = n(rec)
    return [rec["text"].format(**rec["values"]) + mark, *n.lines(env=False)]


# ---------------------------------------------------------------- RESULTS.md: language models
def lm_row_bits(rec: dict) -> str:
    m = rec["metrics"]
    return f"**{num(m['valid_bits'], rec, '.3f')}** ({num(m['valid_nats'], rec, '.3f')})"


def t_corpus(R):
    return measurement(R, "charlm/shakespeare-corpus")


def t_demo_runs(R):
    n = Notes()
    rows = []
    for rec in pick(R, "demo/demo-"):
        f = rec.get("run_files", {})
        cfg = f.get("config", {})
        rows.append([
            f"`{rec.get('command', '')}`{n(rec)}",
            f"{cfg.get('model', {}).get('backend', '-')}, {rec['threads']}",
            str(rec["seed"]), ints(rec["steps"]), secs(rec["training_s"]), secs(rec["wall_s"]),
            secs(rec["cpu_s"]), lm_row_bits(rec),
            num(rec["baseline"]["metrics"]["valid_bits"], rec, ".3f"),
            num(rec["metrics"]["bits_below_unigram"], rec, ".3f"), rec["processor"]])
    return table(["command", "backend, threads", "seed", "updates", "train s", "wall s",
                  "CPU s", "valid bpc (nats)", "unigram bpc", "bits below unigram",
                  "processor"], ["---"] * 2 + ["---:"] * 5 + ["---"] * 4, rows) + n.lines()


def t_demo_model(R):
    rec = R["demo/demo-auto"]
    cfg = rec["run_files"]["config"]
    m, t = cfg["model"], cfg["train"]
    return [f"Model: {m['num_layers']}x{m['hidden_size']} {m['cell'].upper()}, embedding "
            f"{m['embed_size']}, {rec['parameters']:,} parameters; {t['batch_size']} streams x "
            f"{t['seq_len']} characters per update, {t['optimizer'].capitalize()} lr {t['lr']:g} "
            f"with warm-up and cosine decay on the clock. Validation passes score the first "
            f"{t['eval_tokens']:,} held-out characters; the unigram baseline is computed on the "
            "same characters (add-one smoothed counts from the training text)."]


def t_demo_sample(R):
    rec = R["demo/demo-auto"]
    return [f"Sample from the `{rec['command']}` run (temperature 0.5, seed "
            f"{rec['seed']}, final model):", "", *sample_block(rec["run_files"]["samples"]["0.5"])]


def t_charlm_full(R):
    n = Notes()
    rows = []
    for rec in (R[f"charlm/full-{c}"] for c in ("lstm", "gru", "rnn")):
        curve = rec["progress"]["at"]
        m, tg = rec["metrics"], rec["target"]
        verdict = "target met" if tg["met"] else \
            f"misses {exact(tg['value'])} by {m['valid_nats'] - tg['value']:.3f}"
        rows.append([
            {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "tanh-RNN"}[rec["model"]["cell"]] + n(rec),
            rec["model"]["layers_x_hidden"], ints(rec["parameters"]), str(rec["seed"] or "-"),
            f"{ints(rec['steps'])} ({exact(rec['epochs'])} epochs)",
            " / ".join(num(curve.get(str(k)), rec, ".3f") for k in range(1000, 7000, 1000)),
            f"{lm_row_bits(rec)} — {verdict}", secs(rec["training_s"]),
            secs(rec["cpu_s"]), rec["note"] or ""])
    return table(["cell", "layers x hidden", "parameters", "seed", "updates in 2 h",
                  "valid bpc @1k / 2k / 3k / 4k / 5k / 6k updates", "final valid bpc (nats)",
                  "training wall s", "CPU s", "note"],
                 ["---"] * 2 + ["---:"] * 2 + ["---"] * 3 + ["---:"] * 2 + ["---"], rows) \
        + n.lines()


def t_charlm_step_time(R):
    return measurement(R, "charlm/step-time-384-vs-512")


def t_charlm_sample(R):
    rec = R["charlm/full-lstm"]
    n = Notes()
    mark = n(rec)
    return [f"Sample from the LSTM run{mark} ({rec['sample_settings']}):", "",
            *sample_block(rec["sample"], 12)]


def lm_curve(rec: dict) -> dict[str, float]:
    """Validation bits per character by update: a run's metrics.jsonl (nats) or, for a
    transcribed run, the values the docs gave."""
    if "progress" in rec:
        return rec["progress"]["at"]
    return {k: v / math.log(2) for k, v in rec["run_files"]["valid_loss_at"].items()}


def t_demo_cells(R):
    n = Notes()
    rows = []
    for cell in ("lstm", "gru", "rnn_tanh", "mgu", "lstm_cifg"):
        rec = R[f"demo/cmp-{cell}"]
        at = lm_curve(rec)
        model = rec.get("model") or rec["run_files"]["config"]["model"]
        rows.append([f"{cell}{n(rec)}", str(model["hidden_size"]), ints(rec["parameters"]),
                     str(rec["seed"] or "-"), num(at["500"], rec, ".3f"),
                     num(at["1000"], rec, ".3f"), lm_row_bits(rec), secs(rec["training_s"]),
                     secs(rec["wall_s"]), secs(rec["cpu_s"])])
    return table(["cell", "hidden", "parameters", "seed", "valid bpc @500", "@1000",
                  "@1500 (nats)", "train s", "wall s", "CPU s"], ["---"] + ["---:"] * 9,
                 rows) + n.lines()


def t_tests(R):
    return measurement(R, "tests/pytest-toolkit")


# ---------------------------------------------------------------- RESULTS.md: classification
CLASSIFY = ("lasa", "strokes", "digits", "pdigits", "vowels", "words")
GENOME = ("splice", "promoters", "genes")


def score_key(rec: dict) -> str:
    m = rec["metrics"]
    return next(k for k in ("test_accuracy", "accuracy", "loo_accuracy") if k in m)


def runs_of(R: dict, recipe: str) -> list[dict]:
    """A recipe's runs in docs/results, seeds in order (variants such as 'unweighted' last)."""
    recs = [r for k, r in sorted(R.items()) if k.startswith(f"{recipe}/") and "recipe" in r]
    if not recs:
        raise KeyError(f"{recipe}/*")
    return sorted(recs, key=lambda r: ("seed" not in r["run"], r["seed"] or 0, r["run"]))


def reference(rec: dict) -> str:
    """The references a run was judged against: its report's, else its result's baseline;
    plus the majority class and chance where known."""
    refs = rec.get("run_files", {}).get("references") or rec.get("references")
    b = rec.get("baseline") or {}
    if refs:
        parts = [f"{name}: {value}" for name, value in refs]
    elif b:
        key, v = next(iter(b["metrics"].items()))
        parts = [f"{b['name']}: " + (f"{v:.0f} errors" if "errors" in key else pct(v, rec))]
    else:
        parts = []
    maj = rec.get("run_files", {}).get("majority_baseline")
    if maj is not None and b.get("name") != "majority class":
        parts.append(f"majority class {pct(maj, rec)}")
    if rec.get("chance") is not None:
        parts.append(f"chance {pct(rec['chance'], rec)}")
    return "; ".join(parts) or "-"


def target_cell(recs: list[dict]) -> str:
    """The recipe's target and, seed by seed, whether each run met it."""
    t = recs[0].get("target")
    if not t:
        return "-"
    met = [str(r["seed"]) for r in recs if r["target"] and r["target"]["met"]]
    missed = [str(r["seed"]) for r in recs if not (r["target"] and r["target"]["met"])]
    if not missed:
        word = "met" + (" by every seed" if len(recs) > 1 else "")
    elif not met:
        word = "**not met**" + (" by any seed" if len(recs) > 1 else "")
    else:
        word = f"met with seed{'s' * (len(met) > 1)} {', '.join(met)}; **not met** with seed" \
               f"{'s' * (len(missed) > 1)} {', '.join(missed)}"
    return f"{t['text']}: {word}"


HEADLINE = {"genes": "test_macro_f1"}  # the metric a recipe's target names, where not accuracy
ALSO = {"genes": "test_accuracy", "promoters": "loo_errors"}  # shown per seed beside it
LABEL = {"test_macro_f1": "macro-F1", "loo_accuracy": "LOO accuracy", "loo_errors": "errors",
         "test_accuracy": "test accuracy", "accuracy": "test accuracy"}


def metric_fmt(key: str, rec: dict) -> Callable:
    if "errors" in key:
        return lambda v: f"{v:.0f}/{rec['metrics'].get('loo_n', 0):.0f}"
    if "f1" in key:
        return lambda v: num(v, rec, ".3f")
    return lambda v: pct(v, rec)


def t_recipe_summary(recipes: tuple[str, ...]) -> Callable:
    """Per recipe: the headline metric's mean ± sample std over seeds (each seed), the
    references, the target and the command."""
    def render(R):
        n = Notes()
        rows = []
        for recipe in recipes:
            recs = [r for r in runs_of(R, recipe) if "seed" in r["run"] or "-s" in r["run"]]
            recs = [r for r in recs if "unweighted" not in r["run"]]
            marks = "".join(dict.fromkeys(n(r) for r in recs))
            key = HEADLINE.get(recipe, score_key(recs[0]))
            fmt = metric_fmt(key, recs[0])
            vals = [r["metrics"][key] for r in recs]
            s = mean_and_spread(vals)
            cell = f"{LABEL[key]} **{fmt(s['mean'])}**"
            if s["n"] > 1:
                cell += f" ± {fmt(s['std'])} ({', '.join(fmt(v) for v in vals)})"
            if recipe in ALSO:
                also = ALSO[recipe]
                f2 = metric_fmt(also, recs[0])
                cell += f"; {LABEL[also]} {', '.join(f2(r['metrics'][also]) for r in recs)}"
            cmd = recs[0].get("command", "-")
            if len(recs) > 1:
                cmd = re.sub(r"--seed \d+", "--seed S", cmd)
            rows.append([f"`{recipe}`{marks}", ", ".join(str(r["seed"]) for r in recs), cell,
                         reference(recs[0]), target_cell(recs), f"`{cmd}`"])
        return table(["recipe", "seeds", "ours (mean ± sample std over seeds; each seed)",
                      "reference", "recipe target", "reproduce"], ["---"] * 6, rows) \
            + n.lines(env=False)
    return render


def t_recipe_runs(recipes: tuple[str, ...]) -> Callable:
    def render(R):
        n = Notes()
        rows = []
        for recipe in recipes:
            for rec in runs_of(R, recipe):
                m = rec["metrics"]
                key = score_key(rec)
                f1 = m.get("test_macro_f1")
                best = rec.get("run_files", {}).get("best_step", rec.get("best_step"))
                tags = rec.get("run_files", {}).get("f1_per_tag") or rec.get("f1_per_tag")
                rows.append([f"{rec['run']}{n(rec)}", str(rec["seed"]),
                             pct(m[key], rec),
                             num(f1, rec, ".3f") + (f" ({tags})" if tags else ""),
                             f"{ints(rec['steps'])} ({rec['stopped'] or '-'}; best "
                             f"{ints(best)})", secs(rec["training_s"]), secs(rec["wall_s"]),
                             secs(rec["cpu_s"]), rec["processor"] or "not recorded",
                             str(rec["threads"]), rec["date"] or "-", rec.get("note") or ""])
        return table(["run", "seed", "accuracy", "macro-F1", "updates (stopped; best step)",
                      "train s", "wall s", "CPU s", "processor", "threads", "date", "note"],
                     ["---", "---:", "---:", "---:", "---"] + ["---:"] * 3
                     + ["---", "---:", "---", "---"], rows) + n.lines(env=False)
    return render


def better(ours: float, ref: float, key: str) -> int:
    """+1 when ``ours`` beats ``ref`` on metric ``key``, 0 when level, -1 when worse."""
    sign = -1 if "errors" in key or "loss" in key else 1
    return 0 if math.isclose(ours, ref, abs_tol=1e-9) else (1 if sign * (ours - ref) > 0
                                                            else -1)


def t_versus(recipes: tuple[str, ...]) -> Callable:
    """One line per recipe and reference metric: the seeds above, level with and below it."""
    def render(R):
        n = Notes()
        out = []
        for recipe in recipes:
            recs = runs_of(R, recipe)
            b = recs[0]["baseline"]
            recs = [r for r in recs if r.get("baseline") and r["baseline"]["name"] == b["name"]]
            marks = "".join(dict.fromkeys(n(r) for r in recs))
            target = recs[0]["target"]["metric"] if recs[0].get("target") else None
            for key, ref in sorted(b["metrics"].items(), key=lambda kv: kv[0] != target):
                fmt = (lambda v, r: f"{v:.0f}") if "errors" in key else \
                    (lambda v, r: num(v, r, ".3f")) if "f1" in key else pct
                groups = {1: [], 0: [], -1: []}
                for r in recs:
                    groups[better(r["metrics"][key], ref, key)].append(r)
                words = {1: "above it", 0: "level with it", -1: "**below it**"}
                parts = [f"{words[k]} with seed{'s' * (len(g) > 1)} "
                         + ", ".join(f"{r['seed']} ({fmt(r['metrics'][key], r)})" for r in g)
                         for k, g in groups.items() if g]
                label = LABEL[key].removeprefix("test ")
                out.append(f"- `{recipe}`{marks} against {b['name']} ({label} "
                           f"{fmt(ref, recs[0])}): {'; '.join(parts)}.")
        return out + n.lines(env=False)
    return render


def t_data_lines(recipes: tuple[str, ...]) -> Callable:
    def render(R):
        n = Notes()
        out = []
        for recipe in recipes:
            rec = runs_of(R, recipe)[0]
            data = rec.get("run_files", {}).get("data") or rec.get("data")
            model = rec.get("run_files", {}).get("model")
            out.append(f"- `{recipe}`: {data}" + (f"; {model}" if model else "") + n(rec))
        return out + n.lines(env=False)
    return render


def t_splice_note(R):
    recs = runs_of(R, "splice")
    acc = [r["metrics"]["test_accuracy"] for r in recs]
    ref = recs[0]["baseline"]["metrics"]["test_accuracy"]
    s = mean_and_spread(acc)
    below = [f"seed {r['seed']}" for r in recs if r["metrics"]["test_accuracy"] <= ref]
    return [f"- **splice** target: mean {100 * s['mean']:.2f}% over {s['n']} seeds against the "
            f"target's {100 * recs[0]['target']['value']:.1f}% "
            f"({'met' if s['mean'] >= recs[0]['target']['value'] else 'NOT met'}); "
            + (f"lowest seed {100 * s['min']:.2f}%, every seed above StatLog's best "
               f"{100 * ref:.1f}%." if not below else
               f"at or below StatLog's best {100 * ref:.1f}%: {', '.join(below)}.")]


def t_promoters_note(R):
    n = Notes()
    out = []
    for rec in runs_of(R, "promoters"):
        m = rec["metrics"]
        loo = rec.get("run_files", {}).get("loo") or rec.get("loo")
        fn = f", {loo['promoters_missed']} of them promoters called non-promoters" if loo else ""
        out.append(f"- promoters seed {rec['seed']}{n(rec)}: {m['loo_errors']:.0f} LOO errors "
                   f"of {m['loo_n']:.0f}{fn}; {m['epochs']:.0f} epochs per fold (the inner "
                   "CV's choice).")
    return out + n.lines(env=False)


def t_measure(name: str, bullet: str = "") -> Callable:
    """A measurement's line; ``bullet`` (e.g. "- ") puts it in a list."""
    def render(R):
        first, *rest = measurement(R, name)
        return [bullet + first, *rest]
    return render


# ---------------------------------------------------------------- MEMORY.md
def verdict(rec: dict, with_limit: bool = False) -> str:
    if rec["solved"]:
        return f"yes ({ints(rec['steps'])})"
    if rec.get("error"):
        return f"diverged: {rec['error']}"
    return f"no ({ints(rec['steps'])})" if with_limit else "no"


def both(x, best, rec, f) -> str:
    return f(x, rec) + ("" if missing(best) else f" ({f(best, rec)})")


def g3(x, rec):
    return num(x, rec, ".3g")


def g4(x, rec):
    return num(x, rec, ".4g")


def mem_rows(R: dict, experiments: tuple[str, ...]) -> list[dict]:
    return [r for e in experiments for r in pick(R, f"memory/{e}/")]


def t_memory(experiments: tuple[str, ...], order=None) -> Callable:
    """The memory experiment's columns (rnnkit.experiments.memory.memory_table)."""
    def render(R):
        n = Notes()
        recs = mem_rows(R, experiments)
        if order:
            recs.sort(key=order)
        rows = [[r["task"], str(r["lag"]), f"{r['cell']}{n(r)}", str(r["hidden_size"]),
                 ints(r["params"]), r["metric"], g4(r["value"], r), g4(r["loss"], r),
                 g4(r["baseline"], r), g3(r["ratio"], r), g3(r["best_ratio"], r),
                 verdict(r), secs(r["wall_s"])] for r in recs]
        return table(["task", "T", "cell", "hidden", "params", "metric", "value", "loss",
                      "baseline", "loss / baseline", "best loss / baseline", "solved? (step)",
                      "wall s"], ["---", "---:", "---", "---:", "---:", "---"] + ["---:"] * 5
                     + ["---", "---:"], rows) + n.lines()
    return render


CELL_ORDER = {"rnn_tanh": 0, "lstm": 1, "gru": 2}


def by_lag_cell(r):
    return (r["lag"], CELL_ORDER[r["cell"]], r["seed"])


def t_adding_seeds(R):
    n = Notes()
    recs = sorted(mem_rows(R, ("adding200-seeds",)), key=lambda r: (CELL_ORDER[r["cell"]],
                                                                   r["seed"]))
    rows = [[f"{r['cell']}{n(r)}", str(r["seed"]), g4(r["value"], r),
             both(r["ratio"], r["best_ratio"], r, g3), verdict(r), secs(r["wall_s"])]
            for r in recs]
    return table(["cell", "seed", "MSE", "loss / baseline (best)", "solved? (step)", "wall s"],
                 ["---", "---:", "---:", "---:", "---", "---:"], rows) + n.lines()


def t_adding_long(R):
    n = Notes()
    recs = sorted(mem_rows(R, ("adding400", "adding1000")), key=by_lag_cell)
    rows = [[r["task"], str(r["lag"]), f"{r['cell']}{n(r)}", str(r["hidden_size"]),
             ints(r["params"]), g4(r["value"], r), g3(r["ratio"], r), g3(r["best_ratio"], r),
             verdict(r, with_limit=True), secs(r["wall_s"])] for r in recs]
    return table(["task", "T", "cell", "hidden", "params", "MSE", "loss / baseline",
                  "best loss / baseline", "solved? (step)", "wall s"],
                 ["---", "---:", "---", "---:", "---:", "---:", "---:", "---:", "---", "---:"],
                 rows) + n.lines()


def t_flow(experiments: tuple[str, ...], label=None, lags=None) -> Callable:
    """r(10), r(50), r(T-1) of fresh and trained models (memory.flow_table's columns), of
    the runs at ``lags`` (all when None)."""
    def render(R):
        n = Notes()
        rows = []
        for r in sorted((r for r in mem_rows(R, experiments) if "fresh" in
                         r.get("gradient_flow", {}) and (lags is None or r["lag"] in lags)),
                        key=by_lag_cell):
            for which in ("fresh", "trained"):
                f = r["gradient_flow"][which]
                name = label(r) if label else r["name"]
                rows.append([f"{name}{n(r)}", which + (" (chrono init)" if which == "fresh" and
                                                      "chrono" in settings(r) else ""),
                             *(num(f[k], r | {"provenance": None}, ".2e") for k in
                               ("r10", "r50", "r_end"))])
        return table(["run", "model", "r(10)", "r(50)", "r(T-1)"],
                     ["---", "---", "---:", "---:", "---:"], rows) + n.lines(env=False)
    return render


def settings(r: dict) -> str:
    """A memory run's optimiser settings: as transcribed, else from its config."""
    if r.get("settings") or "run_files" not in r:
        return r.get("settings") or ""
    t = r["run_files"]["config"]["train"]
    lr = f"{t['lr']:.0e}".replace("e-0", "e-")
    return f"{t['optimizer'].capitalize()} {lr}" + (
        " cosine" if t["schedule"] == "cosine" else "")


COPY128 = ("copy128", "copy128-tanh", "copy128-s2", "copy128-lstm-s2", "copy128-lstm-s3",
           "copy128-cosine", "copy200-gru")


def t_copy128(R):
    n = Notes()
    rows = []
    for r in sorted(mem_rows(R, COPY128), key=lambda r: (r["lag"], CELL_ORDER[r["cell"]] * -1,
                                                        r["max_steps"] or 0, r["seed"])):
        rows.append([str(r["lag"]), f"{r['cell']}{n(r)}", str(r["seed"]), settings(r),
                     str(r["hidden_size"]), ints(r["params"]),
                     both(r["value"], r.get("best_value"), r, pct), g4(r["loss"], r),
                     g4(r["baseline"], r), both(r["ratio"], r["best_ratio"], r, g3),
                     f"**{verdict(r)}**" if r["solved"] else verdict(r), ints(r["steps"]),
                     secs(r["wall_s"]), secs(r["cpu_s"])])
    return table(["T", "cell", "seed", "settings", "hidden", "params",
                  "recall accuracy final (best)", "loss", "baseline",
                  "loss / baseline final (best)", "solved?", "updates", "loop wall s", "CPU s"],
                 ["---:", "---", "---:", "---", "---:", "---:", "---:", "---:", "---:", "---:",
                  "---", "---:", "---:", "---:"], rows) + n.lines()


OTHER = ("copy/copy-T100-gru-4000", "copy128-lr2e-3/copy-T100-gru", "copy/copy-T100-lstm",
         "copy128-fb3/copy-T100-lstm", "copy128-chrono-lr2e-3/copy-T100-lstm",
         "copy128-lr2e-3/copy-T100-rnn_tanh")


def t_copy_other(R):
    n = Notes()
    rows = []
    for name in OTHER:
        r = R[f"memory/{name}"]
        cpu = secs(r["cpu_s"]) + (f" (to {ints(r['cpu_to_step'])})" if r.get("cpu_to_step")
                                  else "")
        rows.append([f"{r['cell']}{n(r)}", str(r["hidden_size"]), ints(r["params"]),
                     settings(r), ints(r["steps"]), both(r["value"], r.get("best_value"), r,
                                                           pct),
                     both(r["ratio"], r["best_ratio"], r, g3), verdict(r), secs(r["wall_s"]),
                     cpu])
    return table(["cell", "hidden", "params", "settings", "updates",
                  "recall acc. final (best)", "loss / baseline final (best)", "solved?",
                  "loop wall s", "CPU s"], ["---", "---:", "---:", "---", "---:", "---:",
                                            "---:", "---", "---:", "---:"], rows) + n.lines()


REMEDY_ORDER = ("clipping", "init", "forget")


def t_remedies(experiments: tuple[str, ...]) -> Callable:
    """memory.remedies_markdown's columns."""
    def render(R):
        n = Notes()
        recs = sorted(mem_rows(R, experiments), key=lambda r: REMEDY_ORDER.index(
            r["group"].split(" ")[0]))
        rows = [[r["group"] + n(r), r["variant"], r["cell"], str(r["lag"]), g4(r["value"], r),
                 g3(r["ratio"], r), verdict(r), g3(r["max_grad_norm"], r),
                 num(r["r_end_fresh"], r | {"provenance": None}, ".2e"), secs(r["wall_s"])]
                for r in recs]
        return table(["comparison", "variant", "cell", "T", "MSE", "MSE / 0.167",
                      "solved? (step)", "max grad norm", "r(T-1) at init", "wall s"],
                     ["---", "---", "---", "---:", "---:", "---:", "---", "---:", "---:",
                      "---:"], rows) + n.lines()
    return render


def t_temporal(R):
    n = Notes()
    rows = [[r["task"], str(r["lag"]), f"{r['cell']}{n(r)}", str(r["hidden_size"]),
             ints(r["params"]), pct(r["value"], r), both(r["ratio"], r["best_ratio"], r, g3),
             verdict(r, with_limit=True), secs(r["wall_s"])]
            for r in sorted(mem_rows(R, ("temporal",)), key=by_lag_cell)]
    return table(["task", "T", "cell", "hidden", "params", "accuracy", "loss / baseline (best)",
                  "solved? (step)", "wall s"], ["---", "---:", "---", "---:", "---:", "---:",
                                                "---:", "---", "---:"], rows) + n.lines()


def t_pdigits_line(R):
    p, d = runs_of(R, "pdigits")[0], runs_of(R, "digits")[0]
    cfg = p["run_files"]["config"]["model"]
    return [f"Permuted digits (`pdigits`, {cfg['cell'].upper()} {cfg['hidden_size']}, "
            f"T = 64, seed {p['seed']}): {pct(p['metrics']['accuracy'], p)} test accuracy after "
            f"{p['steps']:,} updates (target {p['target']['text']}: "
            f"{'met' if p['target']['met'] else 'NOT met'}; unpermuted `digits`: "
            f"{pct(d['metrics']['accuracy'], d)}, docs/RESULTS.md)."]


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
        "genome-data": t_data_lines(GENOME), "genome": t_recipe_summary(GENOME),
        "genome-runs": t_recipe_runs(GENOME), "genome-versus": t_versus(GENOME),
        "splice-note": t_splice_note,
        "promoters-note": t_promoters_note,
        "promoters-choice": t_measure("promoters/model-choice", "- "),
        "genes-weighting": t_measure("genes/weighting-choice", "- "),
        "genes-species": t_measure("genes/cross-species", "- "),
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
        if out.get("config", {}).get("recipe") in ("charlm", "demo"):
            out["valid_loss_at"] = {str(r["step"]): r["valid_loss"] for r in valid}
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


def add_run(run: Path, root: Path = ROOT, command: str | None = None) -> Path:
    """Copy ``run/result.json`` to docs/results/<recipe>/<run>.json with ``run_files``
    (a memory-experiment run, with its ``row.json``, goes through ``add_row``)."""
    if (run / "row.json").is_file():
        return add_row(run, root, command)
    rec = json.loads((run / "result.json").read_text())
    rec["command"] = command or (f"rnnkit train {rec['recipe']} --seed {rec['seed']} "
                                 f"--threads {rec['threads']}")
    rec["run_files"] = run_files(run)
    check_record(str(run), rec)
    dest = root / RESULTS / rec["recipe"] / f"{rec['run']}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    return dest


def measure_corpus(root: Path = ROOT) -> Path:
    """docs/results/charlm/shakespeare-corpus.json: the shipped corpus and the split the
    charlm and demo recipes use (rnnkit.recipes.text.charlm.build_corpus)."""
    import time

    import torch

    from rnnkit.data import shakespeare
    from rnnkit.recipes.registry import resolve
    from rnnkit.recipes.result import git_commit, processor
    from rnnkit.recipes.text.charlm import build_corpus

    t0, c0 = time.perf_counter(), time.process_time()
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
           "command": "python -m rnnkit.experiments.docs_tables --measure-corpus",
           "seed": None, "rnnkit": None, "commit": git_commit(), "processor": processor(),
           "threads": torch.get_num_threads(), "wall_s": time.perf_counter() - t0,
           "cpu_s": time.process_time() - c0, "date": time.strftime("%Y-%m-%d", time.gmtime())}
    from rnnkit import __version__
    rec["rnnkit"] = __version__
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
    p.add_argument("--measure-corpus", action="store_true")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout [%(default)s]")
    args = p.parse_args(argv)
    if args.add:
        for run in args.add:
            print(f"{run} -> {add_run(Path(run), args.root, args.command)}")
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

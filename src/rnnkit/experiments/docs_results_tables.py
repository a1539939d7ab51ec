"""The tables of docs/RESULTS.md (language models, classification, genomes), each a
function of the loaded result files (``docs_format.load_results``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from rnnkit.experiments.docs_format import (
    Notes,
    exact,
    ints,
    mean_pm,
    measurement,
    num,
    pct,
    pick,
    sample_block,
    secs,
    table,
    training_cpu,
)
from rnnkit.experiments.handwriting import DIVERSITY, RECOGNISED, WINDOW
from rnnkit.train.scoring import mean_and_spread


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


def runs_of(R: dict, recipe: str, group: str = "") -> list[dict]:
    """A recipe's runs in docs/results, seeds in order (variants such as 'unweighted' last):
    those of ``docs/results/<recipe>/``, or of its sub-folder ``group`` (a second study)."""
    where = f"{recipe}/{group}/" if group else f"{recipe}/"
    recs = [r for r in pick(R, where, groups=False) if "recipe" in r]
    if not recs:
        raise KeyError(f"{where}*")
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


def t_recipe_runs(recipes: tuple[str, ...], group: str = "") -> Callable:
    def render(R):
        n = Notes()
        rows = []
        for recipe in recipes:
            for rec in runs_of(R, recipe, group):
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




# ---------------------------------------------------------------- translation
TRANSLATE_VARIANTS = ("attention", "no-attention", "transformer")


def translate_runs(R: dict, group: str = "") -> list[dict]:
    """The translation experiment's runs (``translate/[<group>/]<variant>-seed<N>``),
    variant order."""
    prefix = f"translate/{group}/" if group else "translate/"
    recs = [r for r in pick(R, prefix, groups=False) if r.get("recipe") == "translate"]
    return sorted(recs, key=lambda r: (TRANSLATE_VARIANTS.index(r["run"].rsplit("-seed", 1)[0]),
                                       r["seed"]))


def t_translate(R, group: str = ""):
    """Per run: BLEU/chrF of beam and greedy decoding, copying the source, size and cost."""
    n = Notes()
    rows = []
    for rec in translate_runs(R, group):
        m = rec["metrics"]
        rows.append([f"{rec['run'].rsplit('-seed', 1)[0]}{n(rec)}", str(rec["seed"]),
                     num(m["test_bleu"], rec, ".2f"), num(m["test_bleu_greedy"], rec, ".2f"),
                     num(m["test_chrf"], rec, ".2f"), num(m["test_chrf_greedy"], rec, ".2f"),
                     num(rec["baseline"]["metrics"]["test_bleu"], rec, ".2f"),
                     num(rec["baseline"]["metrics"]["test_chrf"], rec, ".2f"),
                     ints(rec["parameters"]), ints(rec["steps"]),
                     ints(rec.get("run_files", {}).get("best_step")),
                     secs(training_cpu(rec))])
    return table(["model", "seed", "BLEU beam 5", "BLEU greedy", "chrF beam", "chrF greedy",
                  "copy BLEU", "copy chrF", "parameters", "updates", "best at",
                  "training CPU s"],
                 ["---"] + ["---:"] * 11, rows) + n.lines()


def t_translate_summary(R, group: str = ""):
    """Mean ± sample std over seeds per model, and the paired bootstrap lines."""
    out = []
    recs = translate_runs(R, group)
    for variant in TRANSLATE_VARIANTS:
        mine = [r for r in recs if r["run"].startswith(variant + "-seed")]
        if not mine:
            continue
        s = {k: mean_and_spread([r["metrics"][k] for r in mine])
             for k in ("test_bleu", "test_bleu_greedy", "test_chrf")}
        out.append(f"- {variant}: BLEU {s['test_bleu']['mean']:.2f} ± {s['test_bleu']['std']:.2f} "
                   f"(greedy {s['test_bleu_greedy']['mean']:.2f} ± "
                   f"{s['test_bleu_greedy']['std']:.2f}), chrF {s['test_chrf']['mean']:.2f} ± "
                   f"{s['test_chrf']['std']:.2f}, {len(mine)} seeds")
    boot = f"translate/{group}/paired-bootstrap" if group else "translate/paired-bootstrap"
    if boot in R:
        out += ["", *measurement(R, boot)]
    return out


# ---------------------------------------------------------------- music
MUSIC_CORPORA = {"jsb": "JSB Chorales (benchmark split)", "music21": "music21 chorales "
                 "(our split)"}
MUSIC_VARIANTS = ("rnn_tanh", "lstm", "gru", "gru-nade", "gru-notes")
MUSIC_NAMES = {"rnn_tanh": ("tanh RNN", "independent"), "lstm": ("LSTM", "independent"),
               "gru": ("GRU", "independent"), "gru-nade": ("GRU-NADE", "nade"),
               "gru-notes": ("GRU + notes GRU", "notes")}


def study_runs(R: dict, study: str, corpora, variants) -> dict[tuple[str, str], list[dict]]:
    """A study's runs (``<study>/<corpus>-<variant>-seed<N>``, as ``rnnkit experiment``
    names them) by (corpus, variant), in table order, each list by seed."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in pick(R, f"{study}/"):
        corpus, _, rest = rec["run"].partition("-")
        variant = rest.rsplit("-seed", 1)[0]
        if corpus in corpora and variant in variants:
            groups.setdefault((corpus, variant), []).append(rec)
    order = [(c, v) for c in corpora for v in variants]
    return {k: sorted(groups[k], key=lambda r: r["seed"]) for k in order if k in groups}


def t_music(R):
    """Per corpus and model: test NLL mean ± std over seeds, the best published figure for
    that setting (JSB only), size and cost."""
    from rnnkit.recipes.music.compose import PUBLISHED

    n = Notes()
    rows = []
    for (corpus, variant), recs in study_runs(R, "music", MUSIC_CORPORA, MUSIC_VARIANTS).items():
        for rec in recs:
            n(rec)
        s = mean_and_spread([r["metrics"]["test_nll"] for r in recs])
        name, output = MUSIC_NAMES[variant]
        ref = [f"{nll:.2f} ({src})" for kind, model, nll, src in PUBLISHED
               if corpus == "jsb" and kind == ("independent" if output == "independent"
                                               else "nade")
               and (output != "independent" or model == name)]
        rows.append([MUSIC_CORPORA[corpus], name, output, f"**{s['mean']:.3f}** ± "
                     f"{s['std']:.3f}", str(s["n"]), "; ".join(ref) or "-",
                     ints(recs[0]["parameters"]), ints(sum(r["steps"] for r in recs) / len(recs)),
                     secs(sum(r["cpu_s"] for r in recs) / len(recs))])
    return table(["data", "model", "output", "test NLL (nats/frame)", "seeds", "published",
                  "parameters", "updates", "CPU s per run"],
                 ["---", "---", "---", "---:", "---:", "---", "---:", "---:", "---:"],
                 rows) + n.lines()


# ---------------------------------------------------------------- handwriting generation
ABLATION_STUDY = "handwriting/study/"  # docs_tables --add RUN --group study
HANDWRITING_ABLATIONS = {"lstm": "LSTM, 20 normals (the recipe)", "lstm-1": "LSTM, 1 normal",
                         "window": f"no recurrence ({WINDOW}-point window), 20 normals",
                         "gru": "GRU, 20 normals", "rnn_tanh": "tanh RNN, 20 normals"}


def t_handwriting(R):
    """Per writer run: held-out NLL per point, then recognition and diversity of the real
    held-out drawings and of generated ones at each sampling bias."""
    n = Notes()
    out = []
    for rec in pick(R, "handwriting/", groups=False):  # the study's runs are a group
        m = rec["metrics"]
        mark = n(rec)
        out += [f"- `{rec['run']}`{mark}: test NLL **{num(m['test_nll'], rec, '.3f')}** nats "
                f"per point (validation {num(m['valid_nll'], rec, '.3f')}), "
                f"{ints(rec['parameters'])} parameters, {ints(rec['steps'])} updates, "
                f"{secs(training_cpu(rec))} training CPU s", ""]
        rows = [["real held-out drawings", pct(m.get("recognised_real"), rec, 1),
                 num(m.get("diversity_real"), rec, ".3f")]]
        biases = sorted(float(k.rsplit("_", 1)[1]) for k in m if k.startswith("diversity_bias_"))
        for b in biases:
            rows.append([f"generated, bias {b:g}", pct(m.get(f"recognised_bias_{b:g}"), rec, 1),
                         num(m[f"diversity_bias_{b:g}"], rec, ".3f")])
        out += table(["drawings", "recognised", "diversity"], ["---", "---:", "---:"], rows)
        out.append("")
    return out[:-1] + n.lines() if out else ["(no runs yet)"]


def ablation_records(R) -> dict[str, list[dict]]:
    """``rnnkit experiment handwriting``'s runs (``handwriting/study/<variant>-seed<N>``)
    by variant, in the table's order, each list by seed."""
    groups: dict[str, list[dict]] = {}
    for rec in pick(R, ABLATION_STUDY):
        groups.setdefault(rec["run"].rsplit("-seed", 1)[0], []).append(rec)
    return {v: sorted(groups[v], key=lambda r: r["seed"])
            for v in HANDWRITING_ABLATIONS if v in groups}


def chosen_on_nll(rec: dict) -> float | None:
    """NLL per point (box units) at the run's best step on the set that chose it: fresh
    distortions of the KanjiVG training drawings (``docs_tables.run_files``)."""
    files = rec.get("run_files", {})
    return files.get("valid_nll_at", {}).get(str(files.get("best_step")))


def mean_or_dash(values: list, fmt: str = ".3f") -> str:
    """The mean of ``values`` formatted, "-" where any run lacks the value."""
    return "-" if None in values else format(sum(values) / len(values), fmt)


def t_handwriting_ablation(R):
    """Per ablation of the writer: held-out NLL per point (mean ± std over seeds), and the
    share of generated characters recognised at the chosen bias, at one budget."""
    from rnnkit.recipes.handwriting.samples import CHOSEN_BIAS

    n = Notes()
    rows = []
    for variant, recs in ablation_records(R).items():
        for rec in recs:
            n(rec)
        nll = mean_and_spread([r["metrics"]["test_nll"] for r in recs])
        rows.append([HANDWRITING_ABLATIONS[variant], ints(recs[0]["parameters"]),
                     f"**{mean_pm(nll)}**", mean_or_dash([chosen_on_nll(r) for r in recs]),
                     str(nll["n"]),
                     mean_or_dash([r["metrics"].get(RECOGNISED) for r in recs], ".1%"),
                     mean_or_dash([r["metrics"].get(DIVERSITY) for r in recs]),
                     ints(sum(r["steps"] for r in recs) / len(recs)),
                     secs(sum(training_cpu(r) for r in recs) / len(recs))])
    if not rows:
        return ["No runs recorded yet."]
    return table(["model", "parameters", "test NLL, hanzi-writer (nats/point)",
                  "NLL, fresh KanjiVG distortions", "seeds",
                  f"recognised (bias {CHOSEN_BIAS:g})", "diversity", "updates",
                  "training CPU s per run"],
                 ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"],
                 rows) + n.lines()


# ---------------------------------------------------------------- speech recognition
ASR_CORPORA = {"nl": "fillets-ng Dutch", "nl+cs": "fillets-ng Dutch (+ Czech training levels)",
               "cs": "fillets-ng Czech"}
ASR_CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "tanh RNN"}


def t_asr(R):
    """Per corpus and cell: test CER and WER (best decoding the run had) mean ± std over
    seeds, the greedy and beam CER beside them, size and cost."""
    n = Notes()
    rows = []
    runs = study_runs(R, "asr", ASR_CORPORA, ASR_CELLS)
    if not runs:
        return ["No runs recorded yet."]
    for (corpus, cell), recs in runs.items():
        for rec in recs:
            n(rec)
        stat = {k: mean_and_spread([r["metrics"][k] for r in recs])
                for k in ("test_cer", "test_wer", "test_cer_greedy", "test_cer_beam")}
        cols = {k: mean_pm(s, ".1f", 100) for k, s in stat.items()}
        rows.append([ASR_CORPORA[corpus], ASR_CELLS[cell], f"**{cols['test_cer']}**",
                     cols["test_wer"], cols["test_cer_greedy"], cols["test_cer_beam"],
                     str(len(recs)), ints(recs[0]["parameters"]),
                     ints(sum(r["steps"] for r in recs) / len(recs)),
                     secs(sum(training_cpu(r) for r in recs) / len(recs))])
    return table(["data", "model", "test CER %", "test WER %", "greedy CER %", "beam CER %",
                  "seeds", "parameters", "updates", "training CPU s per run"],
                 ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"],
                 rows) + n.lines()


def t_asr_best(R):
    """Single runs outside the study (``asr/best/<run>``): test CER/WER by decoding, size,
    cost, and validation CER at every evaluation (the learning curve)."""
    n = Notes()
    out = []
    for rec in pick(R, "asr/best/"):
        m, files = rec["metrics"], rec.get("run_files", {})
        data = files.get("config", {}).get("data", {})
        decodings = [(k, m[f"test_cer_{k}"], m[f"test_wer_{k}"])
                     for k in ("greedy", "beam", "lm") if f"test_cer_{k}" in m]
        out.append(f"- `{rec['run']}`{n(rec)} (language {data.get('lang') or 'nl'}, speed "
                   f"perturbation {'on' if data.get('speed_perturb') else 'off'}; "
                   f"{files.get('model', '?')}): test CER **{pct(m['test_cer'], rec, 1)}**, "
                   f"WER {pct(m['test_wer'], rec, 1)} on {ints(m['test_n'])} utterances; "
                   + ", ".join(f"{k} {pct(c, rec, 1)} / {pct(w, rec, 1)}"
                               for k, c, w in decodings)
                   + f" (CER / WER); {ints(rec['steps'])} updates, best at "
                   f"{ints(files.get('best_step'))}; training CPU "
                   f"{secs(training_cpu(rec))} s")
        curve = files.get("valid_cer_at", {})
        if curve:
            out.append("  validation CER by update: " + ", ".join(
                f"{int(step):,}: {100 * cer:.1f}%"
                for step, cer in sorted(curve.items(), key=lambda kv: int(kv[0]))))
    return (out + n.lines()) if out else ["No runs recorded yet."]


def t_tts(R, group: str | None = None):
    """Per voice-synthesis run (``tts/<run>``, or ``tts/<group>/<run>`` from ``docs_tables
    --add RUN --group GROUP``): quality, alignment, speed and, judged by a recogniser, CER
    on the teacher's (or the real speaker's) audio against ours."""
    n = Notes()
    rows = []
    prefix = f"tts/{group}/" if group else "tts/"
    for rec in pick(R, prefix, groups=False):
        n(rec)
        m = rec["metrics"]
        judged = "cer_ratio" in m
        arch = rec.get("run_files", {}).get("config", {}).get("model", {}).get("arch")
        rows.append([rec["run"], "durations" if arch == "durations" else "Tacotron",
                     f"{m['test_mcd']:.2f}", f"{m['test_mel_l1']:.3f}",
                     f"{m['aligned_fraction']:.0%}", f"{m['stopped_fraction']:.0%}",
                     f"{m['real_time_factor']:.3f}",
                     f"{100 * m['cer_teacher']:.1f}" if judged else "-",
                     f"**{100 * m['cer_ours']:.1f}**" if judged else "-",
                     f"{m['cer_ratio']:.2f}x" if judged else "-",
                     str(int(m["test_n"])), ints(rec["parameters"]), ints(rec["steps"]),
                     secs(training_cpu(rec))])
    if not rows:
        return ["No runs recorded yet."]
    return table(["run", "model", "test MCD dB", "mel L1", "alignment reaches end",
                  "ends by itself", "real-time factor", "judge CER teacher %",
                  "judge CER ours %", "ratio", "test sentences", "parameters", "updates",
                  "training CPU s"],
                 ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:",
                  "---:", "---:", "---:", "---:"], rows) + n.lines()

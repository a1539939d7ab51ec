"""The tables of docs/MEMORY.md (the memory benchmarks and remedies), each a function of
the loaded result files."""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.experiments.docs_format import (
    Notes,
    ints,
    missing,
    num,
    pct,
    pick,
    secs,
    table,
)
from rnnkit.experiments.docs_results_tables import (
    runs_of,
)


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



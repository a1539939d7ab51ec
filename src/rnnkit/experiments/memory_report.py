"""The memory study's reports: results.md tables, the loss-ratio and gradient-decay plots
(``memory.run_memory``), and remedies.md (``memory.run_remedies``). ``spec`` arguments are
a ``memory.MemorySpec`` / ``memory.RemediesSpec``."""

from __future__ import annotations

import math
from pathlib import Path

from rnnkit.recipes.memory import tasks as mr


def _fmt(x, spec: str = ".4g") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def memory_table(rows: list[dict]) -> list[str]:
    """The markdown results table, one row per run."""
    out = ["| task | T | cell | hidden | params | metric | value | loss | baseline | "
           "loss / baseline | best loss / baseline | solved? (step) | wall s | seed |",
           "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        verdict = f"yes ({r['steps']})" if r["solved"] else ("diverged" if r["error"] else "no")
        out.append(f"| {r['task']} | {r['lag']} | {r['cell']} | {r['hidden_size']} | "
                   f"{_fmt(r['params'], ',')} | {r['metric']} | {_fmt(r['value'])} | "
                   f"{_fmt(r['loss'])} | {_fmt(r['baseline'])} | {_fmt(r['ratio'], '.3g')} | "
                   f"{_fmt(r.get('best_ratio'), '.3g')} | {verdict} | {_fmt(r['wall_s'], '.0f')} | "
                   f"{r['seed']} |")
    return out


def flow_table(flows: dict) -> list[str]:
    """r(d) at a few distances for fresh and trained models: how far gradients reach."""
    out = ["| run | model | r(10) | r(50) | r(T-1) |", "|---|---|---:|---:|---:|"]
    for name, f in flows.items():
        for kind in ("fresh", "trained"):
            r = f[kind]
            pick = [r[d] if d < len(r) else math.nan for d in (10, 50)] + [r[-1]]
            out.append(f"| {name} | {kind} | " + " | ".join(_fmt(v, ".2e") for v in pick) + " |")
    return out


def settings_text(task: str, st) -> str:
    """e.g. ``copy: LSTM width 128 sets the parameter budget, lr 0.002, <= 10000 updates``."""
    fb = "" if st.forget_bias is None else f", LSTM forget-gate bias {st.forget_bias:g}"
    chrono = f", chrono init for {'/'.join(st.chrono)}" if st.chrono else ""
    lr = f"lr {st.lr:g} (constant)" if st.schedule == "constant" else \
        f"lr {st.lr:g} cosine-decayed to {st.lr * st.min_lr_ratio:g}"
    return (f"{task}: LSTM width {st.hidden_size} sets the parameter budget, {lr}, "
            f"<= {st.steps} updates{fb}{chrono}")


def memory_markdown(spec, rows: list[dict], flows: dict) -> str:
    """results.md: settings, the table, the gradient-flow summary and the two plots."""
    total = sum(r["wall_s"] for r in rows if not math.isnan(r["wall_s"]))
    targets = "; ".join(f"{t}: {mr.target_text(t)}" for t in spec.tasks)
    settings = "; ".join(settings_text(t, spec.settings(t)) for t in spec.tasks)
    lines = [
        "# Long-range memory: tanh RNN vs LSTM vs GRU at equal parameters", "",
        f"Settings: tasks {', '.join(spec.tasks)}; lags {', '.join(map(str, spec.lags))}; "
        f"cells {', '.join(spec.cells)}; {settings}; Adam (clip 1.0), batch 64"
        f"{' (smoke settings)' if spec.smoke else ''}; seeds {', '.join(map(str, spec.seeds))}; "
        f"a run stops once its target is met ({targets}). "
        f"Training time in all: {total:.0f} s.", "",
        *memory_table(rows), "",
        "![loss / baseline vs lag](ratio.png)", "",
        "## Gradient flow: r(d) = ||dL/dh at distance d from the loss|| / ||dL/dh at the loss||",
        "", *flow_table(flows), "", "![gradient decay](gradients.png)", ""]
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt
    return plt


COLORS = {"rnn_tanh": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}  # plot order too
TASK_ORDER = list(mr.GENERATED)  # adding, copy, temporal


def plot_ratio(rows: list[dict], out_png: Path) -> Path:
    """Validation loss / baseline against lag, one panel per task, one line per cell
    (mean over seeds); below 1 the model beats the trivial predictor."""
    plt = _plt()
    tasks = sorted({r["task"] for r in rows}, key=TASK_ORDER.index)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), dpi=80,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for cell in COLORS:
            pts: dict[int, list[float]] = {}
            for r in rows:
                if r["task"] == task and r["cell"] == cell and not math.isnan(r["ratio"]):
                    pts.setdefault(r["lag"], []).append(r["ratio"])
            if pts:
                lags = sorted(pts)
                ax.plot(lags, [sum(pts[T]) / len(pts[T]) for T in lags], "o-",
                        color=COLORS.get(cell), label=cell)
        ax.axhline(1.0, color="grey", ls="--", lw=1, label="baseline")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("lag T")
        ax.set_ylabel("validation loss / baseline")
        ax.set_title(task)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def plot_gradients(flows: dict, out_png: Path) -> Path:
    """r(d) against distance d at each task's longest lag: solid after training, dashed at
    initialisation, one colour per cell."""
    plt = _plt()
    tasks = sorted({f["task"] for f in flows.values()}, key=TASK_ORDER.index) or ["none"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), dpi=80,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = [f for f in flows.values() if f["task"] == task]
        longest = max((f["lag"] for f in mine), default=0)
        for f in mine:
            if f["lag"] != longest:
                continue
            c = COLORS.get(f["cell"])
            for kind, ls in (("trained", "-"), ("fresh", "--")):
                r = [max(v, 1e-30) for v in f[kind]]
                ax.plot(range(len(r)), r, ls, color=c, lw=1.5,
                        label=f"{f['cell']} {kind}")
        ax.set_yscale("log")
        ax.set_xlabel("distance d from the loss (steps)")
        ax.set_ylabel("||dL/dh|| at d / at 0")
        ax.set_title(f"{task}, T = {longest}")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:  # no runs to label: no legend
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def remedies_markdown(spec, rows: list[dict]) -> str:
    """remedies.md: one table, one row per variant."""
    lines = [
        "# Remedies on the adding problem", "",
        f"Clipping and init: tanh RNN at T = {spec.lag} (the clipping pair starts from an "
        f"orthogonal W_hh rescaled to spectral radius {spec.radius:g}); forget gate: "
        f"LSTM {spec.hidden_size} at T = {spec.lstm_lag}. "
        f"{'Adam' if spec.optimizer == 'adam' else 'plain SGD'} lr {spec.lr:g}, "
        f"<= {spec.steps} updates, stop at MSE < 0.01.", "",
        "| comparison | variant | cell | T | MSE | MSE / 0.167 | solved? (step) | "
        "max grad norm | r(T-1) at init | wall s |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        verdict = f"yes ({r['steps']})" if r["solved"] else (
            f"diverged: {r['error']}" if r["error"] else "no")
        lines.append(f"| {r['group']} | {r['variant']} | {r['cell']} | {r['lag']} | "
                     f"{_fmt(r['value'])} | {_fmt(r['ratio'], '.3g')} | {verdict} | "
                     f"{_fmt(r['max_grad_norm'], '.3g')} | {_fmt(r['r_end_fresh'], '.2e')} | "
                     f"{_fmt(r['wall_s'], '.0f')} |")
    return "\n".join(lines) + "\n"

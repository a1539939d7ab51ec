"""The handwriting study: the writer against the issue's ablations, over seeds.

    rnnkit experiment handwriting --data hanzi --recogniser runs/strokes --seeds 1,2,3
    rnnkit experiment handwriting --data hanzi --variants lstm,window --seeds 1

Each variant trains the ``handwriting`` recipe with its defaults on the same split (KanjiVG
drawings for training, hanzi-writer's for validation and test):

- ``lstm``: the recipe's writer (3 LSTM layers with skip connections, 20 bivariate normals);
- ``lstm-1``: the same with one normal instead of twenty (Graves 2013's mixture ablation);
- ``window``: no recurrence, a feed-forward net over the last ``WINDOW`` points with the
  same inputs (pen position, stroke plan, character);
- ``gru`` and ``rnn_tanh``: other cells, sized to the LSTM writer's parameter count (the
  window model too).

``results.json`` / ``results.md`` hold the held-out NLL per point and, with a recogniser,
the share of generated characters it reads at the target's bias, per run and as means over
seeds; starting the command again skips finished runs and resumes unfinished ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.experiments.runs import run_study, study_rows
from rnnkit.models.handwriting import StrokeWriter
from rnnkit.models.language import count_parameters, matching_width
from rnnkit.recipes import registry
from rnnkit.recipes.handwriting.samples import CHOSEN_BIAS
from rnnkit.train.scoring import mean_and_spread

WINDOW = 16  # points the feed-forward ablation sees: about one stroke at the recipe's spacing
# variant -> (cell, components, window)
VARIANTS = {"lstm": ("lstm", 20, 0), "lstm-1": ("lstm", 1, 0), "window": ("lstm", 20, WINDOW),
            "gru": ("gru", 20, 0), "rnn_tanh": ("rnn_tanh", 20, 0)}
# Sizes for matching parameter counts only (the embeddings are the same in every variant):
# the recipe's 200 characters and a plan of up to 30 strokes.
NOMINAL_CHARS, NOMINAL_STROKES = 200, 30


@dataclass
class HandwritingSpec:
    """What to run: seeds, variants, the hanzi-writer data, the recogniser and budget."""

    data: str
    recogniser: str | None = None
    seeds: tuple[int, ...] = (1, 2, 3)
    variants: tuple[str, ...] = tuple(VARIANTS)
    steps: int | None = None
    threads: int = 1
    smoke: bool = False

    def config(self, variant: str, seed: int):
        cell, components, window = VARIANTS[variant]
        m = registry.resolve("handwriting", smoke=self.smoke).model
        model = {"cell": cell, "components": components, "window": window,
                 "hidden_size": matching_hidden(variant, m.hidden_size, m.num_layers,
                                                m.embed_size)}
        train = {"seed": seed, "threads": self.threads}
        if self.steps is not None:
            train["max_steps"] = self.steps
        data = {"data": self.data,
                **({"recogniser": self.recogniser} if self.recogniser else {})}
        return registry.resolve("handwriting", smoke=self.smoke,
                                cli_overrides={"model": model, "data": data, "train": train})


def writer_size(variant: str, hidden: int, layers: int, embed: int) -> int:
    """Parameters of ``variant``'s writer at width ``hidden`` (nominal character set)."""
    cell, components, window = VARIANTS[variant]
    return count_parameters(StrokeWriter(NOMINAL_CHARS, cell, hidden, layers,
                                         components=components, char_embed=embed,
                                         max_strokes=NOMINAL_STROKES, window=window))


def matching_hidden(variant: str, lstm_hidden: int, layers: int, embed: int) -> int:
    """The width of ``variant`` whose writer has the parameter count closest to the LSTM
    writer's of ``lstm_hidden`` units; the LSTM variants keep ``lstm_hidden`` (the one-normal
    ablation changes the output, not the network)."""
    if VARIANTS[variant][0] == "lstm" and not VARIANTS[variant][2]:
        return lstm_hidden
    target = writer_size("lstm", lstm_hidden, layers, embed)
    return matching_width(lambda h: writer_size(variant, h, layers, embed), target,
                          8 * lstm_hidden)


def run_handwriting(out_dir: Path, spec: HandwritingSpec, *, progress: bool = False,
                    log=print) -> dict:
    """Train what is missing, then tabulate; returns (and writes) the results."""
    return run_study(registry.get("handwriting"), out_dir, spec.seeds, spec.variants,
                     spec.config, tabulate, markdown, progress=progress, log=log)


RECOGNISED = f"recognised_bias_{CHOSEN_BIAS:g}"
DIVERSITY = f"diversity_bias_{CHOSEN_BIAS:g}"


def tabulate(runs: dict[str, dict[int, Path]]) -> dict:
    """Per-run held-out NLL (and recognisability where measured), size and cost; mean and
    spread over seeds per variant."""
    rows = study_rows(runs, ("test_nll", "valid_nll"), extra=lambda r: {
        k: r["metrics"].get(k) for k in (RECOGNISED, DIVERSITY, "recognised_real")})
    summary = {}
    for v in runs:
        mine = [r for r in rows if r["variant"] == v]
        if mine:
            summary[v] = {k: mean_and_spread([r[k] for r in mine])
                          for k in ("test_nll", RECOGNISED) if mine[0][k] is not None}
    return {"rows": rows, "summary": summary}


def markdown(results: dict) -> str:
    """The per-run table and the means over seeds."""
    def pct(x):
        return "-" if x is None else f"{x:.1%}"

    out = [f"| model | seed | test NLL | valid NLL | recognised (bias {CHOSEN_BIAS:g}) | "
           "diversity | parameters | updates | CPU s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        div = "-" if r[DIVERSITY] is None else f"{r[DIVERSITY]:.3f}"
        out.append(f"| {r['variant']} | {r['seed']} | {r['test_nll']:.3f} | "
                   f"{r['valid_nll']:.3f} | {pct(r[RECOGNISED])} | {div} | "
                   f"{r['parameters']:,} | {r['steps']:,} | {r['cpu_s']:.0f} |")
    out.append("")
    for variant, s in results["summary"].items():
        nll = s["test_nll"]
        line = (f"- {variant}: test NLL {nll['mean']:.3f} ± {nll['std']:.3f} nats per point "
                f"(n={nll['n']})")
        if RECOGNISED in s:
            line += f", recognised {s[RECOGNISED]['mean']:.1%} ± {s[RECOGNISED]['std']:.1%}"
        out.append(line)
    return "\n".join(out)

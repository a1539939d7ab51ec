"""Writing with a trained handwriting model and judging what it wrote: ``write`` (the one
sampler of the ``handwriting`` recipe and ``rnnkit sample handwriting``), recognisability
by a ``strokes`` recogniser, diversity, and the sample sheets of a run's report.

Drawings come out of ``write`` as (T, 3) offsets (dx, dy, pen) in box units (the [-1, 1]
box the data is normalised to); ``as_points`` sums them into (x, y, pen) positions, the
form the recogniser's reader and the pictures take.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.data.readers import prepare_strokes
from rnnkit.data.sequences import LabelledSequences
from rnnkit.data.stroke_drawing import offsets_to_points, strokes_svg
from rnnkit.data.strokes import normalise
from rnnkit.errors import ConfigError
from rnnkit.recipes.base import LoadedRun
from rnnkit.recipes.classify import batches_of, predict

BIASES = (0.0, 0.5, 1.0, 2.0)  # Graves' sampling bias: 0 = the trained distribution
CHOSEN_BIAS = 1.0     # the target's bias, fixed before any run: a middle of the range
SAMPLES_PER_CHAR = 5  # generated drawings per character and bias for the measures
SHEET_ROWS, SHEET_COLUMNS = 8, 8  # samples.png: a row per character, reals then samples
SHAPE_POINTS = 64     # diversity: each drawing re-sampled to this many positions


def character_ids(spec: dict, characters: list[str]) -> Tensor:
    """The model's ids of ``characters``; ConfigError naming those it was not trained on."""
    known = list(spec["characters"])
    pos = {c: k for k, c in enumerate(known)}
    unknown = list(dict.fromkeys(c for c in characters if c not in pos))
    if unknown:
        sep = "" if all(len(c) == 1 for c in known) else ", "
        raise ConfigError(f"not trained on {', '.join(unknown[:10])}"
                          f"{f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''}; "
                          f"the model knows {len(known)} characters, e.g. "
                          f"{sep.join(known[:10])}")
    return torch.tensor([pos[c] for c in characters], dtype=torch.long)


def write(model, spec: dict, characters: list[str] | None = None, *, count: int = 1,
          bias: float = 0.0, temperature: float = 1.0, seed: int | None = None,
          max_points: int | None = None) -> list[Tensor]:
    """Generated drawings, (T_i, 3) (dx, dy, pen) in box units on the CPU: one per entry of
    ``characters`` (a conditional model), or ``count`` (an unconditional one)."""
    if model.num_chars is None:
        if characters is not None:
            raise ConfigError("this model is unconditional (trained with whole characters "
                              "held out): it cannot be asked for characters")
        chars = None
    else:
        if characters is None:
            raise ConfigError("this model writes requested characters: give some")
        chars = character_ids(spec, characters)
    counts = spec.get("stroke_counts")  # runs before it: the stop bit alone ends drawings
    strokes = (torch.tensor([counts[int(k)] or 1_000_000 for k in chars])
               if counts is not None and chars is not None else None)
    drawn = model.generate(chars, max_points or spec["max_points"], bias, temperature, seed,
                           batch=count, strokes=strokes)
    out = []
    for d in drawn:
        d = d.cpu().clone()                                             # (T, 3)
        d[:, :2] *= spec["scale"]
        out.append(d)
    return out


def as_points(offsets: Tensor) -> Tensor:
    """(T, 3) (dx, dy, pen) -> float32 (x, y, pen)."""
    return offsets_to_points(offsets).float()


def shape_vector(points: Tensor, k: int = SHAPE_POINTS) -> Tensor:
    """(T, 3) (x, y, pen) -> (k, 2): the positions normalised to the box and linearly
    re-sampled by point index (points are evenly spaced along the strokes)."""
    xy = normalise(points)[:, :2]                                       # (T, 2)
    if len(xy) == 1:
        return xy.expand(k, 2)
    return F.interpolate(xy.T[None], size=k, mode="linear", align_corners=True)[0].T


def diversity(groups: list[list[Tensor]]) -> float:
    """Mean over groups (one per character) of the mean distance between two of its
    drawings, (x, y, pen) each: the mean Euclidean distance between matching positions of
    their ``shape_vector``s, in box units (the box is 2 wide). Groups of fewer than two
    drawings are skipped; NaN when none is left."""
    means = []
    for g in groups:
        if len(g) < 2:
            continue
        v = torch.stack([shape_vector(x) for x in g])                    # (n, k, 2)
        d = (v[:, None] - v[None]).norm(dim=-1).mean(-1)                  # (n, n)
        means.append(float(d.sum()) / (len(g) * (len(g) - 1)))
    return sum(means) / len(means) if means else float("nan")


@torch.no_grad()
def recognised(recogniser: LoadedRun, drawings: list[Tensor], names: list[str]) -> float:
    """Share of (x, y, pen) ``drawings`` the recogniser reads as ``names``, each drawing
    prepared as the recogniser's recipe prepares a file (``readers.prepare_strokes``)."""
    classes = list(recogniser.spec["classes"])
    f = recogniser.spec["features"]
    ds = LabelledSequences([prepare_strokes(x, f) for x in drawings],
                           torch.tensor([classes.index(c) for c in names]), classes)
    y, pred, _ = predict(recogniser.model, batches_of(ds, 64, "cpu"))
    return float((y == pred).float().mean())


def bias_table(model, spec: dict, real: tuple[LabelledSequences, ...],
               recogniser: LoadedRun | None, seed: int) -> tuple[list[str], dict]:
    """Recognition (with a recogniser) and diversity of real and generated drawings."""
    classes = list(spec["characters"])
    groups: dict[str, list[Tensor]] = {c: [] for c in classes}
    for ds in real:
        for x, y in zip(ds.inputs, ds.labels.tolist(), strict=True):
            groups[classes[y]].append(x)
    readable = [c for c in classes if recogniser is None or c in recogniser.spec["classes"]]
    held = [(x, classes[y]) for ds in real[1:] for x, y in
            zip(ds.inputs, ds.labels.tolist(), strict=True) if classes[y] in readable]
    metrics = {"diversity_real": diversity(list(groups.values()))}
    rows = [("real drawings", metrics["diversity_real"], None)]
    if recogniser is not None:
        rows[0] = ("real held-out drawings", metrics["diversity_real"],
                   recognised(recogniser, [x for x, _ in held], [c for _, c in held]))
        metrics["recognised_real"] = rows[0][2]
    asked = [c for c in readable for _ in range(SAMPLES_PER_CHAR)]
    for b in BIASES:
        drawn = [as_points(d) for d in write(model, spec, asked, bias=b, seed=seed)]
        by_char = [drawn[i:i + SAMPLES_PER_CHAR] for i in range(0, len(drawn),
                                                                 SAMPLES_PER_CHAR)]
        metrics[f"diversity_bias_{b:g}"] = diversity(by_char)
        acc = recognised(recogniser, drawn, asked) if recogniser is not None else None
        if acc is not None:
            metrics[f"recognised_bias_{b:g}"] = acc
        rows.append((f"generated, bias {b:g}" + (" (the target's)" if b == CHOSEN_BIAS
                                                  else ""), metrics[f"diversity_bias_{b:g}"],
                     acc))
    what = (f"the recogniser reads {SAMPLES_PER_CHAR} samples of each of the "
            f"{len(readable)} characters it knows (seed {seed}), and the {len(held)} real "
            "held-out drawings of them" if recogniser is not None else
            f"{SAMPLES_PER_CHAR} samples of each of {len(readable)} characters (seed "
            f"{seed}); recognition needs --recogniser RUN, a strokes run")
    lines = ["", f"Recognisability and diversity: {what}. Diversity is the mean distance "
             f"between two drawings of a character ({SHAPE_POINTS} positions each, box "
             "units); for real drawings, between those of a character in the data.", "",
             "| drawings | recognised | diversity |", "|---|---|---|"]
    lines += [f"| {name} | {'-' if acc is None else f'{acc:.1%}'} | {div:.3f} |"
              for name, div, acc in rows]
    return lines, metrics


def sheet(model, spec: dict, real: tuple[LabelledSequences, ...], run_dir: Path,
          seed: int) -> list[str]:
    """samples.png: a row per character (the first ``SHEET_ROWS``), its real drawings then
    samples at the target's bias; written.svg: the same characters' first samples in a row."""
    from rnnkit.recipes.handwriting.plots import plot_examples

    classes = list(spec["characters"])[:SHEET_ROWS]
    reals = {c: [] for c in classes}
    for ds, name in zip(real, ("", "held out", "held out"), strict=True):
        for x, y in zip(ds.inputs, ds.labels.tolist(), strict=True):
            c = ds.classes[y]
            if c in reals and len(reals[c]) < SHEET_COLUMNS // 2:
                reals[c].append((x, f"{c} {name or 'trained'}"))
    asked = [c for c in classes for _ in range(SHEET_COLUMNS - len(reals[c]))]
    drawn = iter(write(model, spec, asked, bias=CHOSEN_BIAS, seed=seed))
    items, firsts = [], []
    for c in classes:
        mine = [next(drawn) for _ in range(SHEET_COLUMNS - len(reals[c]))]
        firsts.append(mine[0])
        items += reals[c] + [(as_points(d), f"{c} bias {CHOSEN_BIAS:g}") for d in mine]
    plot_examples([x for x, _ in items], [t for _, t in items], run_dir / "samples.png",
                  "real drawings (left) and samples", limit=len(items), flip_y=True)
    strokes_svg(firsts, run_dir / "written.svg")
    return ["", f"![real drawings and samples at bias {CHOSEN_BIAS:g}](samples.png)", "",
            f"`written.svg`: {''.join(classes)} as written at bias {CHOSEN_BIAS:g} "
            f"(seed {seed})."]


def sheet_unconditional(model, spec: dict, test: LabelledSequences, run_dir: Path,
                        seed: int) -> list[str]:
    """samples.png: real held-out drawings in the first row, unconditional samples after."""
    from rnnkit.recipes.handwriting.plots import plot_examples

    reals = [(x, f"{test.classes[y]} held out") for x, y in
             zip(test.inputs[:SHEET_COLUMNS], test.labels.tolist(), strict=False)]
    drawn = write(model, spec, count=SHEET_COLUMNS * (SHEET_ROWS - 1), bias=CHOSEN_BIAS,
                  seed=seed)
    items = reals + [(as_points(d), f"sample {k + 1}") for k, d in enumerate(drawn)]
    plot_examples([x for x, _ in items], [t for _, t in items], run_dir / "samples.png",
                  "held-out drawings (first row) and unconditional samples",
                  limit=len(items), flip_y=True)
    strokes_svg(drawn[:SHEET_COLUMNS], run_dir / "written.svg")
    return ["", f"![held-out drawings and unconditional samples at bias {CHOSEN_BIAS:g}]"
            "(samples.png)", "", f"`written.svg`: {SHEET_COLUMNS} unconditional samples at "
            f"bias {CHOSEN_BIAS:g} (seed {seed})."]

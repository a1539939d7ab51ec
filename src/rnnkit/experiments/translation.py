"""The translation study: the attention model against its baselines, over seeds.

    rnnkit experiment translation --seeds 1,2,3          # ~minutes per run, one core each

For each seed it trains the ``translate`` recipe three ways on the same data and the same
test scenes: with attention (the recipe's default), without attention (the decoder sees
only the encoder's final state: Sutskever et al. 2014 / Cho et al. 2014) and the
Transformer baseline (``--arch transformer``, about the same parameter count), each with
the recipe's budget. Copying the source is scored by every run. Then sacrebleu's paired
bootstrap test (1,000 resamples) compares attention with no attention, and with copying the
source, on each seed's test translations. ``results.json`` / ``results.md`` hold the table;
when the command is started again, finished runs are skipped and unfinished ones resume
from their newest checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.experiments.runs import run_study, study_rows
from rnnkit.recipes import registry
from rnnkit.train.scoring import mean_and_spread

# variant name -> model overrides on top of the recipe's defaults
VARIANTS = {"attention": {}, "no-attention": {"attention": "none", "input_feeding": False},
            "transformer": {"arch": "transformer"}}
BOOTSTRAP_SAMPLES = 1000


@dataclass
class TranslationSpec:
    """What to run: seeds, variants, data and budget (None: the recipe's)."""

    seeds: tuple[int, ...] = (1, 2, 3)
    variants: tuple[str, ...] = tuple(VARIANTS)
    pair: str | None = None
    data: str | None = None
    steps: int | None = None
    threads: int = 1
    smoke: bool = False
    extra: dict = field(default_factory=dict)  # further {"model"/"data"/"train": {...}}

    def config(self, variant: str, seed: int):
        train = {"seed": seed, "threads": self.threads}
        if self.steps is not None:
            train["max_steps"] = self.steps
        data = {k: v for k, v in (("pair", self.pair), ("data", self.data)) if v is not None}
        over = {"model": {**VARIANTS[variant], **self.extra.get("model", {})},
                "data": {**data, **self.extra.get("data", {})},
                "train": {**train, **self.extra.get("train", {})}}
        return registry.resolve("translate", smoke=self.smoke, cli_overrides=over)


def run_translation(out_dir: Path, spec: TranslationSpec, *, progress: bool = False,
                    log=print) -> dict:
    """Train what is missing, then compare; returns (and writes) the results."""
    return run_study(registry.get("translate"), out_dir, spec.seeds, spec.variants,
                     spec.config, compare, markdown, progress=progress, log=log)


def compare(runs: dict[str, dict[int, Path]]) -> dict:
    """Per-run scores, means over seeds, and on each seed's test set the paired bootstrap of
    attention against no attention and against copying the source."""
    rows = study_rows(runs, ("test_bleu", "test_chrf", "test_bleu_greedy"),
                      extra=lambda r: {"copy_bleu": r["baseline"]["metrics"]["test_bleu"]})
    summary = {}
    for variant in runs:
        mine = [r for r in rows if r["variant"] == variant]
        summary[variant] = {k: mean_and_spread([r[k] for r in mine])
                            for k in ("test_bleu", "test_chrf", "test_bleu_greedy")} \
            if mine else {}
    tests, copy_tests = [], []
    for seed, run in sorted(runs.get("attention", {}).items()):
        src, refs, ours = read_translations(run)
        copy_tests.append({"seed": seed, **paired_bootstrap(refs, src, ours)})
        if seed in runs.get("no-attention", {}):
            _, refs2, theirs = read_translations(runs["no-attention"][seed])
            assert refs == refs2, "the two runs were scored on different test sets"
            tests.append({"seed": seed, **paired_bootstrap(refs, theirs, ours)})
    return {"rows": rows, "summary": summary, "paired_bootstrap": tests,
            "paired_bootstrap_copy": copy_tests}


def read_translations(run_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """A translate run's test sources, references and beam translations (translations.tsv)."""
    rows = [line.split("\t") for line in
            (run_dir / "translations.tsv").read_text().splitlines()[1:]]
    return [r[0] for r in rows], [r[1] for r in rows], [r[3] for r in rows]


def paired_bootstrap(refs: list[str], baseline: list[str], system: list[str]) -> dict:
    """sacrebleu's paired bootstrap (BLEU) of two systems' outputs for one test set."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    test = PairedTest([("baseline", baseline), ("system", system)], {"BLEU": BLEU()}, [refs],
                      test_type="bs", n_samples=BOOTSTRAP_SAMPLES)
    signatures, scores = test()
    result = scores["BLEU"][1]
    return {"baseline_bleu": scores["BLEU"][0].score, "system_bleu": result.score,
            "p_value": float(result.p_value), "system_ci": float(result.ci),
            "signature": str(signatures["BLEU"])}


def markdown(results: dict) -> str:
    """The per-run table, the means, and the significance lines."""
    out = ["| variant | seed | test BLEU (beam) | greedy BLEU | chrF | copy BLEU | parameters "
           "| updates | CPU s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        out.append(f"| {r['variant']} | {r['seed']} | {r['test_bleu']:.2f} | "
                   f"{r['test_bleu_greedy']:.2f} | {r['test_chrf']:.2f} | {r['copy_bleu']:.2f} "
                   f"| {r['parameters']:,} | {r['steps']:,} | {r['cpu_s']:.0f} |")
    out.append("")
    for variant, s in results["summary"].items():
        if s:
            out.append(f"- {variant}: BLEU {s['test_bleu']['mean']:.2f} ± "
                       f"{s['test_bleu']['std']:.2f}, chrF {s['test_chrf']['mean']:.2f} ± "
                       f"{s['test_chrf']['std']:.2f} (n={s['test_bleu']['n']})")
    for t in results["paired_bootstrap"]:
        out.append(f"- seed {t['seed']}: attention {t['system_bleu']:.2f} vs no attention "
                   f"{t['baseline_bleu']:.2f}, paired bootstrap p = {t['p_value']:.4f} "
                   f"(`{t['signature']}`)")
    for t in results.get("paired_bootstrap_copy", []):
        out.append(f"- seed {t['seed']}: attention {t['system_bleu']:.2f} vs copying the source "
                   f"{t['baseline_bleu']:.2f}, paired bootstrap p = {t['p_value']:.4f}")
    return "\n".join(out)

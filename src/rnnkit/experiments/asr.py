"""The speech-recognition study: Graves et al.'s ordering (2013: bidirectional LSTM CTC far
below a tanh RNN) on the fillets-ng recordings, over seeds.

    rnnkit experiment asr --seeds 1,2,3                    # Dutch: LSTM, GRU, tanh RNN
    rnnkit experiment asr --lang cs --cells lstm --seeds 1
    rnnkit experiment asr --lm runs/charlm-nl --seeds 1,2,3   # + shallow fusion in each run

Each cell trains the ``asr`` recipe with its defaults (3 bidirectional layers, the same
updates); the GRU and the tanh RNN get the hidden size whose model has the LSTM's
parameter count. ``results.json`` / ``results.md`` hold the test CER and WER per run and
the means over seeds; starting the command again skips finished runs and resumes
unfinished ones from their checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.experiments.runs import run_study, study_rows
from rnnkit.models.ctc import CTCModel
from rnnkit.models.language import count_parameters, matching_width
from rnnkit.recipes import registry
from rnnkit.recipes.speech.asr import DEFAULT_LANG, N_MELS
from rnnkit.train.scoring import mean_and_spread

CELLS = ("lstm", "gru", "rnn_tanh")
ALPHABET = 31  # the Dutch training transcripts' characters: sizes the output layer only


@dataclass
class AsrSpec:
    """What to run: seeds, cells, language, data (None: fillets-ng) and budget."""

    seeds: tuple[int, ...] = (1, 2, 3)
    cells: tuple[str, ...] = CELLS
    lang: str | None = None
    data: str | None = None
    steps: int | None = None
    lm: str | None = None   # a charlm run fused in every run's test decoding
    threads: int = 1
    smoke: bool = False

    @property
    def corpus(self) -> str:
        return "user" if self.data else (self.lang or DEFAULT_LANG)

    def config(self, cell: str, seed: int):
        base = registry.resolve("asr", smoke=self.smoke)
        m = base.model
        model = {"cell": cell,
                 "hidden_size": matching_hidden(cell, m.hidden_size, m.num_layers,
                                                m.bidirectional, m.subsample)}
        train = {"seed": seed, "threads": self.threads}
        if self.steps is not None:
            train["max_steps"] = self.steps
        data = {**({"lang": self.lang} if self.lang else {}),
                **({"data": self.data} if self.data else {}),
                **({"lm": self.lm} if self.lm else {})}
        return registry.resolve("asr", smoke=self.smoke,
                                cli_overrides={"model": model, "data": data, "train": train})


def matching_hidden(cell: str, lstm_hidden: int, layers: int, bidirectional: bool,
                    subsample: int) -> int:
    """The hidden size of ``cell`` whose CTC model has the parameter count closest to the
    LSTM's of ``lstm_hidden`` units (same layers, directions and input)."""
    def size(c, h):
        return count_parameters(CTCModel(N_MELS, ALPHABET, c, h, layers, bidirectional,
                                         subsample=subsample))

    target = size("lstm", lstm_hidden)
    return matching_width(lambda h: size(cell, h), target, 8 * lstm_hidden)


def run_asr(out_dir: Path, spec: AsrSpec, *, progress: bool = False, log=print) -> dict:
    """Train what is missing, then tabulate; returns (and writes) the results."""
    return run_study(registry.get("asr"), out_dir, spec.seeds, spec.cells, spec.config,
                     tabulate, markdown, prefix=f"{spec.corpus}-", progress=progress, log=log)


def tabulate(runs: dict[str, dict[int, Path]]) -> dict:
    """Per-run test CER/WER, size and cost; mean and spread over seeds per cell."""
    rows = study_rows(runs, ("test_cer", "test_wer", "test_cer_greedy", "test_wer_beam"),
                      key="cell")
    summary = {c: {k: mean_and_spread([r[k] for r in rows if r["cell"] == c])
                   for k in ("test_cer", "test_wer")}
               for c in runs if any(r["cell"] == c for r in rows)}
    return {"rows": rows, "summary": summary}


def markdown(results: dict) -> str:
    """The per-run table and the means over seeds (test CER/WER of the run's best decoding:
    with a language model where one was given; beam WER is without it)."""
    out = ["| cell | seed | test CER | test WER | greedy CER | beam WER | parameters | updates "
           "| CPU s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        out.append(f"| {r['cell']} | {r['seed']} | {r['test_cer']:.1%} | {r['test_wer']:.1%} "
                   f"| {r['test_cer_greedy']:.1%} | {r['test_wer_beam']:.1%} | "
                   f"{r['parameters']:,} | {r['steps']:,} | {r['cpu_s']:.0f} |")
    out.append("")
    for cell, s in results["summary"].items():
        cer, wer = s["test_cer"], s["test_wer"]
        out.append(f"- {cell}: test CER {cer['mean']:.1%} ± {cer['std']:.1%}, WER "
                   f"{wer['mean']:.1%} ± {wer['std']:.1%} (n={cer['n']})")
    return "\n".join(out)

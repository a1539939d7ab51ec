"""Reading docs/results files and formatting their numbers for the docs tables
(``docs_tables``): checks of a record's fields, daggers for transcribed numbers, number
and table formatting."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # src/rnnkit/experiments/ -> the checkout
RESULTS = Path("docs/results")
DOCS = ("docs/RESULTS.md", "docs/MEMORY.md", "docs/PERFORMANCE.md")
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


def mean_pm(s: dict, fmt: str = ".3f", scale: float = 1.0) -> str:
    """A ``mean_and_spread`` summary as "mean ± std", the mean alone for one value."""
    mean = format(scale * s["mean"], fmt)
    return mean if s["n"] == 1 else f"{mean} ± {format(scale * s['std'], fmt)}"


def training_cpu(rec: dict) -> float:
    """A recipe run's training CPU seconds, summed over resumed sessions where recorded
    (``cpu_s`` is the last process's alone: training, then scoring)."""
    return rec.get("training_cpu_s") or rec["cpu_s"]


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


def pick(R: dict, prefix: str, groups: bool = True) -> list[dict]:
    """Result records whose name starts with ``prefix`` (sorted by name); without ``groups``,
    only those directly under it, not in a group's sub-folder (``docs_tables --group``)."""
    return [R[k] for k in sorted(R)
            if k.startswith(prefix) and (groups or "/" not in k[len(prefix):])]


def sample_block(text: str, lines: int = 8) -> list[str]:
    return ["```", *"\n".join(text.strip("\n").split("\n")[:lines]).rstrip().split("\n"),
            "```"]


def measurement(R: dict, name: str) -> list[str]:
    rec = R[name]
    n = Notes()
    mark = n(rec)
    return [rec["text"].format(**rec["values"]) + mark, *n.lines(env=False)]



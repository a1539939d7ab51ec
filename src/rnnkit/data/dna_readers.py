"""Reading a user's DNA files into model inputs, for ``rnnkit predict`` and ``rnnkit eval``.

Two kinds of file:

* sequences to scan (``--fasta``): FASTA, plain or gzipped; every record is cut into
  sliding windows of the model's width (``window_scanner``), one model input per window.
* labelled sequences (``eval --data``): either FASTA whose header names the class, as the
  first word of the description or as ``class=NAME`` anywhere in it::

      >seq1 ei                      >seq2 source=me class=n
      CAGGTAAGT...                  TTACGGA...

  or a tab-separated file with a header line holding ``class`` and ``sequence`` columns
  (other columns ignored), which is also the format of the shipped ``splice.tsv``.

Errors (missing/empty/corrupt files, unknown classes, wrong lengths) are ``DataError``
naming the file and record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from torch import Tensor

from rnnkit.data import fasta, files
from rnnkit.data.sequences import LabelledSequences, labels_from_names
from rnnkit.errors import DataError


def window_scanner(window: int, anchor: int | None = None
                   ) -> Callable[[str | Path, dict], Iterator[tuple[tuple, Tensor]]]:
    """A ``predict`` reader: every ``window``-base window of every record, step 1.

    Yields ((record, start, end[, site]), window (window,) int64) with 1-based inclusive
    ``start``/``end``; with ``anchor`` (a 0-based offset inside the window) ``site`` is the
    1-based record position of the window's base ``anchor``: for splice windows
    (anchor 29) the last base before the candidate junction.
    """
    def read(path: str | Path, spec: dict) -> Iterator[tuple[tuple, Tensor]]:
        for rec in fasta.iter_fasta(path, alphabet="dna"):
            where = f"{path}: record {rec.id!r}"
            if len(rec) < window:
                raise DataError(f"{where} is {len(rec)} nt long, shorter than the "
                                f"{window}-nt window the model reads")
            x = fasta.encode_index(rec.sequence, where=where)
            for s in range(len(rec) - window + 1):
                key = (rec.id, s + 1, s + window)
                yield (key + (s + anchor + 1,) if anchor is not None else key), \
                    x[s:s + window]

    return read


def genome_chunks(path: str | Path, spec: dict) -> Iterator[tuple[tuple, Tensor]]:
    """A ``predict`` reader for taggers: every record in consecutive chunks of the model's
    training length ``spec["length"]`` (the last one shorter). Yields ((record, offset),
    chunk (L,) int64) with 0-based ``offset``; ``rnnkit predict`` joins the chunks' tags
    back into per-record intervals."""
    length = int(spec.get("length") or 500)
    for rec in fasta.iter_fasta(path, alphabet="dna"):
        x = fasta.encode_index(rec.sequence, where=f"{path}: record {rec.id!r}")
        for s in range(0, len(x), length):
            yield (rec.id, s), x[s:s + length]


def _class_of(description: str) -> str | None:
    words = description.split()
    for w in words:
        if w.startswith("class="):
            return w[len("class="):]
    return words[0] if words else None


def _read_tsv_rows(path: Path, lines: list[str]) -> list[tuple[str, str, str]]:
    """(id, class, sequence) rows of a TSV with ``class`` and ``sequence`` columns."""
    lines = [ln for ln in lines if ln.strip()]
    header = lines[0].split("\t")
    if "class" not in header or "sequence" not in header:
        raise DataError(f"{path}: not a labelled file: FASTA needs '>' headers, a table "
                        "needs a tab-separated header with 'class' and 'sequence'")
    ci, si = header.index("class"), header.index("sequence")
    ri = header.index("row") if "row" in header else None
    rows = []
    for k, ln in enumerate(lines[1:], start=2):
        cols = ln.split("\t")
        if len(cols) != len(header):
            raise DataError(f"{path}: line {k}: {len(cols)} columns, the header has "
                            f"{len(header)}")
        rows.append((cols[ri] if ri is not None else f"line {k}", cols[ci], cols[si]))
    return rows


def _read_labelled_rows(path: Path) -> list[tuple[str, str, str]]:
    # Whole, not streamed: a labelled set is small, and the first line picks the format.
    lines = files.read_text(path, "a labelled FASTA or TSV file").split("\n")
    first = next(ln for ln in lines if ln.strip())  # read_text: not only whitespace
    if not first.lstrip().startswith(">"):
        return _read_tsv_rows(path, lines)
    rows = []
    for rec in fasta.iter_fasta(path, alphabet="dna"):
        label = _class_of(rec.description)
        if label is None:
            raise DataError(f"{path}: record {rec.id!r} has no class in its header "
                            "(write '>ID CLASS' or '>ID ... class=CLASS')")
        rows.append((rec.id, label, rec.sequence))
    return rows


def labelled_dna(length: int | None = None
                 ) -> Callable[[str | Path, dict], LabelledSequences]:
    """A ``labelled`` reader for DNA classifiers: FASTA or TSV (module docstring) ->
    LabelledSequences in the checkpoint's class order; every sequence must be ``length``
    bases when that is given (the model's window)."""
    def read(path: str | Path, spec: dict) -> LabelledSequences:
        path = Path(path)
        rows = _read_labelled_rows(path)
        if not rows:
            raise DataError(f"{path}: no labelled sequences")
        inputs, names, ids = [], [], []
        for rid, label, seq in rows:
            where = f"{path}: record {rid!r}"
            if length is not None and len(seq) != length:
                raise DataError(f"{where} is {len(seq)} nt long; this model reads "
                                f"{length}-nt windows")
            inputs.append(fasta.encode_index(seq.upper(), where=where))
            names.append(label)
            ids.append(rid)
        classes = list(spec["classes"])
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DataError(f"{path}: classes {unknown[:5]} are not the model's "
                            f"({', '.join(classes)})")
        labels, _ = labels_from_names(names, classes)
        return LabelledSequences(inputs, labels, classes, ids)

    return read

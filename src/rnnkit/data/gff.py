"""GFF3 feature tables and per-base tags, for tagging a genome (gene vs non-gene).

GFF3 (Sequence Ontology spec): ``##`` directives and ``#`` comments, then one feature per
line with 9 tab-separated columns: seqid, source, type, start, end, score, strand, phase,
attributes. Coordinates are 1-based and inclusive; here they become 0-based half-open
(Python slices). A ``##FASTA`` directive ends the table (an embedded FASTA section follows).

``interval_tags`` turns features into one tag per base, what ``SequenceTagger`` learns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.files import open_text_lines
from rnnkit.errors import DataError


@dataclass(frozen=True)
class Feature:
    """One GFF3 line; ``start:end`` is 0-based half-open."""

    seqid: str
    type: str
    start: int
    end: int
    strand: str  # "+", "-", "." or "?"
    attributes: dict[str, str]


def read_gff(path: str | Path, types: Iterable[str] | None = ("CDS",)) -> list[Feature]:
    """Features of the given types (None: all) from a plain or gzipped GFF3 file.

    Raises DataError (file and line) for a line without 9 columns, non-integer or
    inverted coordinates, an unknown strand, or a file with no feature lines at all.
    """
    path = Path(path)
    want = None if types is None else set(types)
    out, n_lines = [], 0
    for lineno, raw in enumerate(open_text_lines(path, "a GFF3 file"), start=1):
        line = raw.rstrip("\n")
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        n_lines += 1
        cols = line.split("\t")
        where = f"{path}: line {lineno}"
        if len(cols) != 9:
            raise DataError(f"{where}: {len(cols)} tab-separated columns, GFF3 has 9")
        try:
            start, end = int(cols[3]), int(cols[4])
        except ValueError:
            raise DataError(f"{where}: start/end {cols[3]!r}, {cols[4]!r} are not "
                            "integers") from None
        if not 1 <= start <= end:
            raise DataError(f"{where}: need 1 <= start <= end, got {start}..{end}")
        if cols[6] not in ("+", "-", ".", "?"):
            raise DataError(f"{where}: strand {cols[6]!r} is not +, -, . or ?")
        if want is not None and cols[2] not in want:
            continue
        attrs = dict(kv.split("=", 1) for kv in cols[8].strip().split(";") if "=" in kv)
        out.append(Feature(cols[0], cols[2], start - 1, end, cols[6], attrs))
    if n_lines == 0:
        raise DataError(f"{path}: no feature lines (empty or not a GFF3 file)")
    return out


def interval_tags(length: int, features: Iterable[Feature], stranded: bool = False
                  ) -> torch.Tensor:
    """(length,) int64 per-base tags: 1 inside any feature, 0 outside; with ``stranded``,
    1 = on a + strand feature, 2 = on a - strand feature (overlaps: the later one wins).

    Raises DataError if a feature runs past ``length`` (GFF and FASTA do not match).
    """
    tags = torch.zeros(length, dtype=torch.long)
    for f in features:
        if f.end > length:
            raise DataError(f"feature {f.type} {f.start + 1}..{f.end} on {f.seqid!r} runs "
                            f"past the sequence end ({length} bp): wrong FASTA for this GFF?")
        tags[f.start:f.end] = (2 if f.strand == "-" else 1) if stranded else 1
    return tags


def prodigal_features(path: str | Path) -> list[Feature]:
    """Gene features from the headers of a Prodigal gene FASTA (``.fna``/``.faa``, plain
    or gz): ``>SEQID_N # start # end # strand(1|-1) # attributes``. These are Prodigal's
    predictions, not curated annotation; say so where they are used as labels."""
    from rnnkit.data.fasta import iter_fasta

    out = []
    for rec in iter_fasta(path, alphabet=None):
        fields = [f.strip() for f in rec.description.split("#")]
        where = f"{path}: record {rec.id!r}"
        if len(fields) < 5 or fields[0] != "":
            raise DataError(f"{where}: header is not '>ID # start # end # strand # attrs'")
        try:
            start, end, strand = int(fields[1]), int(fields[2]), int(fields[3])
        except ValueError:
            raise DataError(f"{where}: start/end/strand are not integers") from None
        if not 1 <= start <= end or strand not in (1, -1):
            raise DataError(f"{where}: need 1 <= start <= end and strand 1 or -1, got "
                            f"{start}, {end}, {strand}")
        seqid = rec.id.rsplit("_", 1)[0]  # "<seqid>_<gene number>"
        attrs = dict(kv.split("=", 1) for kv in fields[4].split(";") if "=" in kv)
        out.append(Feature(seqid, "CDS", start - 1, end, "+" if strand == 1 else "-", attrs))
    return out

"""FASTA files (plain or gzipped): records, alphabet checks, DNA encodings, sliding windows.

A FASTA file is a list of records, each a header line ``>ID optional description`` followed
by sequence lines. Reading is strict: every error names the file, the line and the record,
because a bad character 3 Mbp into a genome is otherwise hard to find.

DNA encodings (A, C, G, T in that order everywhere):

* ``encode_index``: (L,) int64, A=0 C=1 G=2 T=3, and N=4 for any ambiguous base (IUPAC
  codes R, Y, K, M, S, W, B, D, H, V, N) unless ``ambiguous="error"``. Feeds ``nn.Embedding``.
* ``one_hot``: (L, 4) float. An ambiguous base either spreads its mass evenly over the bases
  it may stand for (``"iupac"``: R = A or G -> [.5, 0, .5, 0], N -> [.25] * 4, so the row
  still sums to one), or is all zeros (``"zeros"``), or is an error.

Lower case (soft-masked repeats in genome assemblies) is read as upper case.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.files import open_text_lines
from rnnkit.errors import DataError

DNA = "ACGT"
# IUPAC nucleotide codes -> the bases each may stand for (Cornish-Bowden 1985).
IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "K": "GT", "M": "AC", "S": "CG", "W": "AT",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
PROTEIN = "ACDEFGHIKLMNPQRSTVWY" + "BZXJUO*"  # 20 amino acids + ambiguity/rare codes + stop
ALPHABETS = {"dna": frozenset(IUPAC), "protein": frozenset(PROTEIN)}
N_INDEX = 4  # index of every ambiguous base in encode_index


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``>id description`` and its sequence (upper case, no whitespace)."""

    id: str
    description: str
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)


def iter_fasta(path: str | Path, alphabet: str | None = "dna") -> Iterator[FastaRecord]:
    """Yield the records of a FASTA file one at a time (memory: one record).

    Args:
        path: a ``.fa``/``.fasta``/``.fna`` file, plain or gzip-compressed.
        alphabet: "dna" (A, C, G, T and IUPAC ambiguity codes), "protein", or None to accept
            any letters. Checked per character; the error gives line and column.
    Raises:
        DataError: missing/empty/binary/corrupt file, text before the first header, a header
            without an id, a record without sequence, or a character outside the alphabet.
    """
    path = Path(path)
    if alphabet is not None and alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)} or None, got {alphabet!r}")
    allowed = ALPHABETS.get(alphabet) if alphabet else None
    header: tuple[str, str, int] | None = None  # (id, description, line number)
    chunks: list[str] = []
    n_records = 0

    def finish() -> FastaRecord:
        rid, desc, hline = header
        if not chunks:
            raise DataError(f"{path}: record {n_records + 1} ({rid!r}, line {hline}) has no "
                            "sequence (truncated file?)")
        return FastaRecord(rid, desc, "".join(chunks))

    # UTF-8, not ASCII: headers may name species or authors with accents; sequence lines
    # are checked against the alphabet anyway.
    for lineno, raw in enumerate(open_text_lines(path, "a FASTA file"), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if header is not None:
                yield finish()
                n_records += 1
            parts = line[1:].strip().split(maxsplit=1)
            if not parts:
                raise DataError(f"{path}: line {lineno}: header '>' has no record id")
            header = (parts[0], parts[1] if len(parts) > 1 else "", lineno)
            chunks = []
        elif line.startswith(";"):
            continue  # old-style FASTA comment line
        else:
            if header is None:
                raise DataError(f"{path}: line {lineno}: sequence before the first '>' header "
                                "(not a FASTA file?)")
            seq = "".join(line.split()).upper()
            if allowed is not None and not allowed.issuperset(seq):
                col, bad = next((k, c) for k, c in enumerate(seq) if c not in allowed)
                raise DataError(
                    f"{path}: line {lineno}, column {col + 1}: character {bad!r} in record "
                    f"{header[0]!r} is not in the {alphabet} alphabet"
                )
            chunks.append(seq)
    if header is None:
        raise DataError(f"{path}: no FASTA records (empty file, or no '>' header line)")
    yield finish()


def read_fasta(path: str | Path, alphabet: str | None = "dna") -> list[FastaRecord]:
    """All records of a FASTA file; see ``iter_fasta`` for arguments and errors."""
    return list(iter_fasta(path, alphabet))


def write_fasta(records, path: str | Path, width: int = 60) -> Path:
    """Write records (FastaRecord or (id, sequence) pairs); gzip if the name ends in .gz."""
    path = Path(path)
    lines = []
    for rec in records:
        rid, desc, seq = (rec.id, rec.description, rec.sequence) if isinstance(
            rec, FastaRecord) else (rec[0], "", rec[1])
        lines.append(f">{rid} {desc}".rstrip())
        lines += [seq[k:k + width] for k in range(0, len(seq), width)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="ascii") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="ascii")
    return path


# ---- encodings -----------------------------------------------------------------------------

_AMBIGUOUS = ("iupac", "zeros", "error")
# Byte -> index lookup tables, so a genome encodes in one vectorised gather.
_INDEX_LUT = torch.full((256,), -1, dtype=torch.long)
_ONEHOT_LUT = torch.zeros(256, 4)
for _code, _bases in IUPAC.items():
    for _c in (_code, _code.lower()):
        _INDEX_LUT[ord(_c)] = DNA.index(_bases) if len(_bases) == 1 else N_INDEX
        for _b in _bases:
            _ONEHOT_LUT[ord(_c), DNA.index(_b)] = 1.0 / len(_bases)


def _bytes(seq: str, where: str) -> torch.Tensor:
    try:
        raw = seq.encode("ascii")
    except UnicodeEncodeError as e:
        raise DataError(f"{where}: non-ASCII character {seq[e.start]!r} at position "
                        f"{e.start + 1}") from None
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()  # (L,)


def _check_known(codes: torch.Tensor, seq: str, where: str) -> None:
    bad = (_INDEX_LUT[codes] < 0).nonzero()
    if len(bad):
        k = int(bad[0])
        raise DataError(f"{where}: character {seq[k]!r} at position {k + 1} is not a DNA base "
                        "or IUPAC code")


def encode_index(seq: str, ambiguous: str = "n", where: str = "sequence") -> torch.Tensor:
    """DNA string -> (L,) int64: A=0 C=1 G=2 T=3, ambiguous -> 4 (``ambiguous="n"``).

    ``ambiguous="error"`` raises on any base other than A/C/G/T instead. ``where`` names the
    sequence (file and record) in errors.
    """
    if ambiguous not in ("n", "error"):
        raise ValueError(f"ambiguous must be 'n' or 'error', got {ambiguous!r}")
    codes = _bytes(seq, where)
    _check_known(codes, seq, where)
    idx = _INDEX_LUT[codes]
    if ambiguous == "error" and (idx == N_INDEX).any():
        k = int((idx == N_INDEX).nonzero()[0])
        raise DataError(f"{where}: ambiguous base {seq[k]!r} at position {k + 1} "
                        "(ambiguous='error')")
    return idx


def one_hot(seq: str, ambiguous: str = "iupac", where: str = "sequence") -> torch.Tensor:
    """DNA string -> (L, 4) float32 over (A, C, G, T); see the module docstring for
    the ambiguity policies "iupac" (spread evenly), "zeros" and "error"."""
    if ambiguous not in _AMBIGUOUS:
        raise ValueError(f"ambiguous must be one of {_AMBIGUOUS}, got {ambiguous!r}")
    codes = _bytes(seq, where)
    _check_known(codes, seq, where)
    x = _ONEHOT_LUT[codes]  # (L, 4)
    is_amb = _INDEX_LUT[codes] == N_INDEX
    if ambiguous == "error" and is_amb.any():
        k = int(is_amb.nonzero()[0])
        raise DataError(f"{where}: ambiguous base {seq[k]!r} at position {k + 1} "
                        "(ambiguous='error')")
    if ambiguous == "zeros":
        x[is_amb] = 0.0
    return x


def decode_index(idx: torch.Tensor) -> str:
    """Inverse of ``encode_index`` (4 -> 'N')."""
    return "".join((DNA + "N")[int(i)] for i in idx)


# ---- sliding windows -----------------------------------------------------------------------


def sliding_windows(x: torch.Tensor, window: int, step: int = 1) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
    """Cut a long sequence (L, ...) into windows (N, window, ...) for scanning.

    Windows start at 0, step, 2*step, ...; if the last one does not reach the end, one more
    window aligned to the end is added so every position is covered. Returns the windows
    (a copy) and their start offsets (N,) int64.

    Raises ValueError if the sequence is shorter than the window (the caller knows which
    record that is and should name it).
    """
    if window < 1 or step < 1:
        raise ValueError(f"window and step must be >= 1, got window={window}, step={step}")
    L = x.shape[0]
    if L < window:
        raise ValueError(f"sequence of length {L} is shorter than the window ({window})")
    starts = list(range(0, L - window + 1, step))
    if starts[-1] != L - window:
        starts.append(L - window)
    starts_t = torch.tensor(starts, dtype=torch.long)
    idx = starts_t[:, None] + torch.arange(window)  # (N, window)
    return x[idx], starts_t

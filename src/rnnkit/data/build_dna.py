"""Build the shipped DNA assets (StatLog splice junctions, E. coli promoters) from Debian's
R data packages. Run once by a maintainer; users get the committed result.

    apt-get download r-cran-mlbench r-cran-kernlab   # or let this script do it
    dpkg -x r-cran-mlbench_*.deb ROOT && dpkg -x r-cran-kernlab_*.deb ROOT
    pip install rdata==1.1.0
    python -m rnnkit.data.build_dna --root ROOT src/rnnkit/data/assets

Writes ``splice/splice.tsv`` and ``promoters/promoters.tsv``: tab-separated, one header
line, one sequence per line, rows in the packages' order (which fixes the StatLog split).
Without ``--root`` the packages are downloaded with apt-get into a temporary folder.

StatLog decoding: mlbench's ``DNA`` stores each of the 60 bases as 3 indicator columns,
A=100, C=010, G=001, T=000 (King et al. 1995, StatLog, sec. 9.5.3). The mapping is checked
against biology below: exon->intron (EI) sites have the intron's GT at positions 31-32 and
intron->exon (IE) sites the intron's AG at positions 29-30 in almost every sequence.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

MLBENCH = "usr/lib/R/site-library/mlbench/data/DNA.rda"
KERNLAB = "usr/lib/R/site-library/kernlab/data/promotergene.rda"
PACKAGES = ("r-cran-mlbench", "r-cran-kernlab")
_TRIPLET = {(1, 0, 0): "A", (0, 1, 0): "C", (0, 0, 1): "G", (0, 0, 0): "T"}


def unpack_packages(dest: Path) -> Path:
    """apt-get download + dpkg -x the two R packages into dest; returns the root folder."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"build_dna: {tool} not found; this step needs a Debian/Ubuntu "
                             "system (or pass --root with the packages already unpacked)")
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=dest, check=True)
    root = dest / "root"
    for deb in sorted(dest.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def _read_rda(path: Path, name: str):
    import rdata  # build-time only (pip install rdata); users never need it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: "Unknown encoding", harmless here
        return rdata.read_rda(str(path))[name]


def splice_rows(root: Path) -> list[tuple[str, str, str, str]]:
    """(row, split, class, 60-nt sequence) for the 3,186 StatLog rows."""
    df = _read_rda(root / MLBENCH, "DNA")
    bits = df.iloc[:, :180].astype(int).to_numpy().reshape(len(df), 60, 3)
    rows = []
    for k, (name, cls, b) in enumerate(zip(df.index, df["Class"], bits, strict=True)):
        seq = "".join(_TRIPLET[tuple(int(v) for v in t)] for t in b)
        split = "train" if k < 2000 else "test"  # the StatLog split: first 2,000 / last 1,186
        rows.append((str(name), split, str(cls), seq))
    assert len(rows) == 3186, len(rows)
    ei = [r[3] for r in rows if r[2] == "ei"]
    ie = [r[3] for r in rows if r[2] == "ie"]
    assert sum(s[30:32] == "GT" for s in ei) > 0.95 * len(ei), "EI donor sites lack GT"
    assert sum(s[28:30] == "AG" for s in ie) > 0.95 * len(ie), "IE acceptor sites lack AG"
    return rows


def promoter_rows(root: Path) -> list[tuple[str, str, str]]:
    """(row, class, 57-nt sequence) for the 106 promoter/non-promoter sequences."""
    df = _read_rda(root / KERNLAB, "promotergene")
    rows = []
    for name, rec in df.iterrows():
        seq = "".join(str(v) for v in rec.iloc[1:]).upper()
        assert len(seq) == 57 and set(seq) <= set("ACGT"), (name, seq)
        rows.append((str(name), str(rec["Class"]), seq))
    assert len(rows) == 106
    return rows


def write_tsv(path: Path, header: tuple[str, ...], rows) -> str:
    """Write and return the sha256 of the bytes written."""
    text = "\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("ascii"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="assets folder (gets splice/ and promoters/)")
    ap.add_argument("--root", type=Path, help="folder the two .deb files were dpkg -x'ed into")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or unpack_packages(Path(tmp))
        h1 = write_tsv(args.out / "splice" / "splice.tsv", ("row", "split", "class", "sequence"),
                       splice_rows(root))
        h2 = write_tsv(args.out / "promoters" / "promoters.tsv", ("row", "class", "sequence"),
                       promoter_rows(root))
    print(f"splice.tsv     sha256 {h1}\npromoters.tsv  sha256 {h2}")


if __name__ == "__main__":
    main()

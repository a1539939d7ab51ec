"""FASTA reading, DNA encodings, sliding windows, and the shipped DNA sets."""

from __future__ import annotations

import gzip

import pytest
import torch

from rnnkit.data import dna_datasets, fasta, gff
from rnnkit.data.sequences import collate, pad_batch
from rnnkit.errors import DataError

GOOD = ">chr1 first test record\nACGTN\nacgtr\n\n>chr2\nGGGG\n"


def test_reads_plain_and_gzip_identically(tmp_path):
    plain = tmp_path / "a.fa"
    plain.write_text(GOOD)
    packed = tmp_path / "a.fa.gz"
    packed.write_bytes(gzip.compress(GOOD.encode()))
    for path in (plain, packed):
        recs = fasta.read_fasta(path)
        assert [r.id for r in recs] == ["chr1", "chr2"]
        assert recs[0].description == "first test record"
        assert recs[0].sequence == "ACGTNACGTR"  # lines joined, upper-cased
        assert len(recs[1]) == 4


def test_write_then_read_roundtrip(tmp_path):
    recs = [fasta.FastaRecord("x", "d e", "ACGT" * 40), fasta.FastaRecord("y", "", "TTT")]
    for name in ("r.fa", "r.fa.gz"):
        assert fasta.read_fasta(fasta.write_fasta(recs, tmp_path / name)) == recs


@pytest.mark.parametrize("content, message", [
    ("", "no FASTA records"),
    ("\n\n", "no FASTA records"),
    ("ACGT\n>x\nACGT\n", "sequence before the first '>'"),
    (">\nACGT\n", "has no record id"),
    (">a\nACGT\n>b\n", r"record 2 \('b', line 3\) has no sequence"),
    (">a\nACGT\n>b\nACXT\n", r"line 4, column 3: character 'X' in record 'b'"),
])
def test_bad_fasta_names_file_and_record(tmp_path, content, message):
    path = tmp_path / "bad.fa"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        fasta.read_fasta(path)
    assert str(path) in str(info.value)


def test_missing_binary_truncated_and_corrupt_gzip(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        fasta.read_fasta(tmp_path / "nope.fa")
    with pytest.raises(DataError, match="is a folder"):
        fasta.read_fasta(tmp_path)
    binary = tmp_path / "bin.fa"
    binary.write_bytes(b">a\n\xff\xfe\x00\x01")
    with pytest.raises(DataError, match=r"bin\.fa: not a FASTA file \(binary: NUL byte at "
                                         r"offset 5\)"):
        fasta.read_fasta(binary)
    accents = tmp_path / "accents.fa"
    accents.write_text(">x Saccharomyces cerevisiæ\nACGT\n", encoding="utf-8")
    assert fasta.read_fasta(accents)[0].description == "Saccharomyces cerevisiæ"
    accents.write_text(">x\nACGé\n", encoding="utf-8")
    with pytest.raises(DataError, match="character 'É' in record 'x' is not in the dna"):
        fasta.read_fasta(accents)
    data = gzip.compress((">a\n" + "ACGT" * 5000 + "\n").encode())
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        fasta.read_fasta(cut)
    bad = bytearray(data)
    bad[20:40] = b"\x00" * 20
    corrupt = tmp_path / "corrupt.fa.gz"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"corrupt\.fa\.gz"):
        fasta.read_fasta(corrupt)


def test_protein_and_free_alphabets(tmp_path):
    path = tmp_path / "p.fa"
    path.write_text(">p\nMKVLE*\n")
    assert fasta.read_fasta(path, alphabet="protein")[0].sequence == "MKVLE*"
    with pytest.raises(DataError, match="column 4: character 'L' in record 'p' is not in the dna"):
        fasta.read_fasta(path)
    assert fasta.read_fasta(path, alphabet=None)[0].sequence == "MKVLE*"
    with pytest.raises(ValueError, match="alphabet must be"):
        fasta.read_fasta(path, alphabet="rna")


def test_index_encoding_and_ambiguity_policy():
    assert fasta.encode_index("ACGTacgt").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert fasta.encode_index("ANRY").tolist() == [0, 4, 4, 4]
    assert fasta.decode_index(fasta.encode_index("GATTACA")) == "GATTACA"
    with pytest.raises(DataError, match=r"chr9: ambiguous base 'N' at position 3"):
        fasta.encode_index("ACN", ambiguous="error", where="chr9")
    with pytest.raises(DataError, match=r"'Z' at position 2 is not a DNA base"):
        fasta.encode_index("AZ")


def test_one_hot_iupac_spreads_mass():
    x = fasta.one_hot("ACGTRN")  # (6, 4)
    assert x.shape == (6, 4) and x.dtype == torch.float32
    assert torch.equal(x[:4], torch.eye(4))
    assert x[4].tolist() == [0.5, 0.0, 0.5, 0.0]  # R = A or G
    assert x[5].tolist() == [0.25] * 4
    assert torch.allclose(x.sum(1), torch.ones(6))
    assert fasta.one_hot("AN", ambiguous="zeros")[1].sum() == 0
    with pytest.raises(DataError, match="ambiguous base 'N'"):
        fasta.one_hot("AN", ambiguous="error")


def test_sliding_windows_cover_the_end():
    x = torch.arange(10)
    w, starts = fasta.sliding_windows(x, window=4, step=3)
    assert starts.tolist() == [0, 3, 6]  # 6 + 4 = 10: already ends at the end
    w, starts = fasta.sliding_windows(x, window=4, step=4)
    assert starts.tolist() == [0, 4, 6]  # extra window aligned to the end
    assert w[-1].tolist() == [6, 7, 8, 9]
    w2, _ = fasta.sliding_windows(torch.zeros(10, 4), window=5, step=5)
    assert w2.shape == (2, 5, 4)
    with pytest.raises(ValueError, match="shorter than the window"):
        fasta.sliding_windows(x, window=11)


def test_splice_set_matches_statlog():
    train = dna_datasets.load_splice("train")
    test = dna_datasets.load_splice("test")
    assert (len(train), len(test)) == (2000, 1186)
    assert train.class_counts() == {"ei": 464, "ie": 485, "n": 1051}
    assert test.class_counts() == {"ei": 303, "ie": 280, "n": 603}
    assert train.ids[0] == "1" and test.ids[0] == "2001"
    x, lengths = pad_batch(train.inputs)
    assert x.shape == (2000, 60) and set(lengths.tolist()) == {60}
    # Donor sites carry the intron's GT right after the boundary (positions 31-32).
    ei = x[train.labels == 0]
    gt = (ei[:, 30] == 2) & (ei[:, 31] == 3)
    assert gt.float().mean() > 0.95
    oh = dna_datasets.load_splice("test", encoding="onehot")
    assert oh.inputs[0].shape == (60, 4) and oh.num_features == 4


def test_promoters_and_bad_arguments():
    ds = dna_datasets.load_promoters()
    assert len(ds) == 106 and ds.class_counts() == {"-": 53, "+": 53}
    assert {len(s) for s in ds.inputs} == {57}
    with pytest.raises(ValueError, match="split must be"):
        dna_datasets.load_splice("valid")
    with pytest.raises(ValueError, match="encoding must be"):
        dna_datasets.load_promoters(encoding="kmer")


def test_damaged_asset_fails_checksum(tmp_path, monkeypatch):
    copy = tmp_path / "splice.tsv"
    copy.write_text(dna_datasets._asset("splice", "splice.tsv").read_text().replace(
        "\tn\t", "\tei\t", 1))
    monkeypatch.setattr(dna_datasets, "_asset", lambda name, filename: copy)
    with pytest.raises(DataError, match="does not match the shipped"):
        dna_datasets.load_splice()


def test_scan_fasta_windows_and_short_record(tmp_path):
    path = fasta.write_fasta([("long", "ACGT" * 20), ("short", "ACGT")], tmp_path / "s.fa")
    scans = dna_datasets.scan_fasta(path, window=60, step=10)
    rid, windows, starts = next(scans)
    assert rid == "long" and windows.shape == (3, 60) and starts.tolist() == [0, 10, 20]
    with pytest.raises(DataError, match="record 'short' is 4 nt long"):
        next(scans)


def test_collate_pads_and_reports_lengths():
    batch = [(torch.ones(3, 2), torch.tensor(1)), (torch.ones(5, 2), torch.tensor(0))]
    x, lengths, y = collate(batch)
    assert x.shape == (2, 5, 2) and lengths.tolist() == [3, 5] and y.tolist() == [1, 0]
    assert x[0, 3:].abs().sum() == 0


# ---- GFF3 -> per-base tags --------------------------------------------------------------

GFF = """##gff-version 3
# a comment
chr1\tprodigal\tCDS\t3\t5\t.\t+\t0\tID=1_1;partial=00
chr1\tprodigal\tgene\t1\t10\t.\t+\t.\tID=g1
chr1\tprodigal\tCDS\t8\t10\t.\t-\t0\tID=1_2
##FASTA
>chr1
ACGT
"""


def test_gff_features_and_tags(tmp_path):
    path = tmp_path / "a.gff.gz"
    path.write_bytes(gzip.compress(GFF.encode()))
    cds = gff.read_gff(path)
    assert [(f.start, f.end, f.strand) for f in cds] == [(2, 5, "+"), (7, 10, "-")]
    assert cds[0].attributes == {"ID": "1_1", "partial": "00"}
    assert len(gff.read_gff(path, types=None)) == 3
    assert gff.interval_tags(12, cds).tolist() == [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0]
    assert gff.interval_tags(10, cds, stranded=True).tolist()[6:] == [0, 2, 2, 2]
    with pytest.raises(DataError, match=r"runs past the sequence end \(9 bp\)"):
        gff.interval_tags(9, cds)


@pytest.mark.parametrize("line, message", [
    ("chr1\tx\tCDS\t3\t5\t.\t+\t0", "8 tab-separated columns"),
    ("chr1\tx\tCDS\tthree\t5\t.\t+\t0\t.", "start/end .three., .5. are not integers"),
    ("chr1\tx\tCDS\t6\t5\t.\t+\t0\t.", r"need 1 <= start <= end, got 6..5"),
    ("chr1\tx\tCDS\t3\t5\t.\tplus\t0\t.", "strand 'plus'"),
])
def test_bad_gff(tmp_path, line, message):
    path = tmp_path / "bad.gff"
    path.write_text("##gff-version 3\n" + line + "\n")
    with pytest.raises(DataError, match=r"bad\.gff: line 2: " + message):
        gff.read_gff(path)
    path.write_text("##gff-version 3\n")
    with pytest.raises(DataError, match="no feature lines"):
        gff.read_gff(path)


def test_prodigal_gene_headers(tmp_path):
    path = tmp_path / "genes.fna"
    path.write_text(">contig_7_1 # 205 # 945 # -1 # ID=1_1;partial=00\nATG\n"
                    ">contig_7_2 # 1249 # 2211 # 1 # ID=1_2\nATG\n")
    feats = gff.prodigal_features(path)
    assert [(f.seqid, f.start, f.end, f.strand) for f in feats] == [
        ("contig_7", 204, 945, "-"), ("contig_7", 1248, 2211, "+")]
    assert feats[0].attributes["partial"] == "00"
    path.write_text(">g_1 # 9 # 5 # 1 # ID=1\nATG\n")
    with pytest.raises(DataError, match=r"record 'g_1': need 1 <= start <= end"):
        gff.prodigal_features(path)
    path.write_text(">g_1 plain description\nATG\n")
    with pytest.raises(DataError, match="header is not '>ID # start"):
        gff.prodigal_features(path)

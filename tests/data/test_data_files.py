"""The one triage of unreadable files (``rnnkit.data.files``), case by case, and every
public reader giving its one-line DataError for a missing, an empty and a binary file."""

from __future__ import annotations

import gzip
import importlib.util
import os

import pytest

from rnnkit.data import audio, dna_readers, fasta, files, gff, handwriting, strokes, text
from rnnkit.data import timeseries as ts
from rnnkit.errors import DataError

# A PNG header: a NUL at offset 8, but an invalid UTF-8 byte (0x89) before it, and no NUL
# on its first "line" (b"\x89PNG\r\n"), so it must be judged binary from more than that.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def lines_text(path, what="a UTF-8 text file") -> str:
    return "".join(files.open_text_lines(path, what))


# Both text readers of the helper: whole (read_text) and streamed (open_text_lines).
TEXT_READERS = [files.read_text, lines_text]


def message(call, *args) -> str:
    with pytest.raises(DataError) as info:
        call(*args)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# ---- the helper, one case at a time ---------------------------------------------------------


@pytest.mark.parametrize("read", [files.read_bytes, files.check_file, *TEXT_READERS])
def test_missing_file_and_folder(tmp_path, read):
    missing = tmp_path / "nope.fa"
    assert message(read, missing, "a FASTA file") == f"{missing}: no such file"
    assert message(read, tmp_path, "a FASTA file") == (f"{tmp_path}: is a folder, expected a "
                                                       "FASTA file")


@pytest.mark.parametrize("read", [files.read_bytes, files.check_file, files.read_text])
def test_empty_file(tmp_path, read):
    path = tmp_path / "e.ts"
    path.write_bytes(b"")
    assert message(read, path, "a .ts file") == f"{path}: empty file, expected a .ts file"


def test_blank_text_and_empty_gzip_are_empty(tmp_path):
    blank, packed = tmp_path / "blank.txt", tmp_path / "nothing.gz"
    blank.write_bytes(b" \r\n\n\t")
    packed.write_bytes(gzip.compress(b""))
    for path in (blank, packed):
        assert message(files.read_text, path) == (f"{path}: empty file, expected a UTF-8 "
                                                  "text file")
    # A streaming reader sees no lines and reports "no records" itself.
    assert list(files.open_text_lines(packed)) == []


@pytest.mark.skipif(IS_ROOT, reason="root reads any file whatever its permissions")
@pytest.mark.parametrize("read", [files.read_bytes, files.check_file, *TEXT_READERS])
def test_permission_denied(tmp_path, read):
    path = tmp_path / "secret.txt"
    path.write_text("hello")
    path.chmod(0)
    try:
        assert message(read, path) == f"{path}: cannot read (Permission denied)"
    finally:
        path.chmod(0o600)


def test_permission_denied_as_any_user(tmp_path, monkeypatch):
    """The same branch for root too: open() refusing as it does for a chmod 0 file."""
    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    path = tmp_path / "secret.txt"
    path.write_text("hello")
    monkeypatch.setattr(files, "open", refuse, raising=False)
    for read in [files.read_bytes, files.check_file, *TEXT_READERS]:
        assert message(read, path) == f"{path}: cannot read (Permission denied)"


@pytest.mark.parametrize("read", TEXT_READERS)
def test_binary_nul_bytes(tmp_path, read):
    path = tmp_path / "x.fa"
    path.write_bytes(PNG)
    assert message(read, path, "a FASTA file") == (f"{path}: not a FASTA file (binary: NUL "
                                                   "byte at offset 8)")
    path.write_bytes(b">a\nACGT\n" * 5000 + b"AC\x00GT\n")  # past the first buffer
    assert message(read, path, "a FASTA file") == (f"{path}: not a FASTA file (binary: NUL "
                                                   "byte at offset 40002)")


@pytest.mark.parametrize("read", TEXT_READERS)
def test_not_utf8_gives_the_byte_and_its_offset(tmp_path, read):
    path = tmp_path / "latin1.txt"
    path.write_bytes("line one\ncafé crème\n".encode("latin-1"))
    assert message(read, path) == (f"{path}: not a UTF-8 text file (not valid UTF-8: byte "
                                   "0xe9 at offset 12)")
    packed = tmp_path / "latin1.txt.gz"
    packed.write_bytes(gzip.compress("café".encode("latin-1")))
    assert message(read, packed).endswith("byte 0xe9 at offset 3 of the decompressed data)")


@pytest.mark.parametrize("read", TEXT_READERS)
def test_truncated_and_corrupt_gzip(tmp_path, read):
    data = gzip.compress(("ACGT" * 5000 + "\n").encode())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert message(read, cut) == (f"{cut}: gzip stream is truncated or corrupt (Compressed "
                                  "file ended before the end-of-stream marker was reached)")
    bad = bytearray(data)
    bad[-8] ^= 0xFF  # the CRC-32 in the trailer
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(bytes(bad))
    assert message(read, corrupt).startswith(f"{corrupt}: gzip stream is truncated or corrupt "
                                             "(CRC check failed")
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b\x09\x00rest")  # compression method 9 does not exist
    assert message(read, garbage).startswith(f"{garbage}: gzip stream is truncated or corrupt")


@pytest.mark.parametrize("read", TEXT_READERS)
def test_text_plain_gzipped_bom_and_newlines_read_alike(tmp_path, read):
    content = "\ufeffa\r\nb\rc\nd é"
    plain, packed = tmp_path / "t.txt", tmp_path / "t.bin"  # gzip by magic, not by name
    plain.write_bytes(content.encode("utf-8"))
    packed.write_bytes(gzip.compress(content.encode("utf-8")))
    assert read(plain) == read(packed) == "a\nb\nc\nd é"
    assert list(files.open_text_lines(plain)) == ["a\n", "b\n", "c\n", "d é"]
    assert files.read_bytes(packed) == packed.read_bytes()  # bytes are left as they are


@pytest.mark.parametrize("block", [1, 3, 1 << 20])
def test_streamed_lines_match_open_whatever_the_block_size(tmp_path, monkeypatch, block):
    monkeypatch.setattr(files, "_BLOCK", block)  # lines and "\r\n" across block edges
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffhead é\r\nx\ry\n\n\r\nlast line, no newline".encode())
    with open(path, encoding="utf-8-sig", newline=None) as fh:
        assert list(files.open_text_lines(path)) == list(fh)
    path.write_bytes(b"ok\n" * 10 + b"caf\xe9\n")
    assert message(lines_text, path).endswith("(not valid UTF-8: byte 0xe9 at offset 33)")


# ---- every public reader --------------------------------------------------------------------

SPEC = {"classes": ["ei", "ie", "n"], "length": 60}
HAS_SOUNDFILE = importlib.util.find_spec("soundfile") is not None


def drain(iterator) -> None:
    for _ in iterator:
        pass


# (name, file name, call, reads text: a binary file is then reported as binary)
READERS = [
    ("read_text", "corpus.txt", text.read_text, True),
    ("read_fasta", "genome.fa", fasta.read_fasta, True),
    ("read_gff", "genes.gff3", gff.read_gff, True),
    ("prodigal_features", "genes.fna", gff.prodigal_features, True),
    ("window_scanner", "scan.fa", lambda p: drain(dna_readers.window_scanner(60)(p, SPEC)),
     True),
    ("genome_chunks", "genome.fa", lambda p: drain(dna_readers.genome_chunks(p, SPEC)), True),
    ("labelled_dna", "labelled.tsv", lambda p: dna_readers.labelled_dna(60)(p, SPEC), True),
    ("read_ts", "cases.ts", ts.read_ts, True),
    ("read_csv_wide", "wide.csv", ts.read_csv_wide, True),
    ("read_csv_long", "long.csv", ts.read_csv_long, True),
    ("read_strokes json", "drawing.json", strokes.read_strokes, True),
    ("hanzi_medians", "hanzi.json", handwriting.hanzi_medians, True),
    ("read_strokes npy", "drawing.npy", strokes.read_strokes, False),
    ("read_strokes svg", "drawing.svg", strokes.read_strokes, False),
    ("read_sound_list", "sounds.xml", audio.read_sound_list, False),
    ("read_audio", "clip.wav", audio.read_audio, False),
    ("load_audio", "clip.ogg", audio.load_audio, False),
]


@pytest.mark.parametrize("case", ["missing", "empty", "binary"])
@pytest.mark.parametrize("name, filename, read, reads_text", READERS,
                         ids=[r[0] for r in READERS])
def test_every_reader_names_the_file_in_one_line(tmp_path, case, name, filename, read,
                                                 reads_text):
    if "audio" in name and not HAS_SOUNDFILE:
        pytest.skip("soundfile is not installed")
    path = tmp_path / filename
    if case != "missing":
        path.write_bytes(b"" if case == "empty" else PNG)
    msg = message(read, path)
    assert msg.startswith(f"{path}: "), msg
    if case == "missing":
        assert msg.startswith(f"{path}: no such file"), msg  # read_text: "... or folder"
    elif case == "empty":
        assert "empty" in msg, msg
    elif reads_text:
        assert "(binary: NUL byte at offset 8)" in msg, msg
